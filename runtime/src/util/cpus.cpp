// available_cpus(): the affinity mask and the cgroup CPU quota. See cpus.hpp.
#include "util/cpus.hpp"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace ergon::detail {
namespace {

unsigned affinity_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) {
    return std::max(1u, std::thread::hardware_concurrency());
  }
  return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
}

// The quota in CPUs of the cgroup `rel` (a path from /proc/self/cgroup) under the mount whose
// root is `root` at `mount_point`, or 0 when it has none.
double quota_at(const std::string& mount_point, const std::string& root, const std::string& rel,
                bool v2) {
  std::string sub = rel;
  if (root != "/" && sub.compare(0, root.size(), root) == 0) sub = sub.substr(root.size());
  const std::string dir = mount_point + (sub == "/" ? "" : sub);
  if (v2) {
    std::ifstream f(dir + "/cpu.max");
    std::string quota;
    double period = 0;
    if (!(f >> quota >> period) || quota == "max" || period <= 0) return 0;
    return std::stod(quota) / period;
  }
  std::ifstream q(dir + "/cpu.cfs_quota_us"), p(dir + "/cpu.cfs_period_us");
  double quota = -1, period = 0;
  if (!(q >> quota) || !(p >> period) || quota <= 0 || period <= 0) return 0;
  return quota / period;
}

double cgroup_quota() {
  // /proc/self/cgroup: "0::/path" (v2) or "4:cpu,cpuacct:/path" (v1).
  std::string v2_path, v1_path;
  {
    std::ifstream f("/proc/self/cgroup");
    std::string line;
    while (std::getline(f, line)) {
      const std::size_t a = line.find(':'), b = line.find(':', a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      const std::string controllers = "," + line.substr(a + 1, b - a - 1) + ",";
      if (line.compare(0, a, "0") == 0 && controllers == ",,") v2_path = line.substr(b + 1);
      if (controllers.find(",cpu,") != std::string::npos) v1_path = line.substr(b + 1);
    }
  }
  // /proc/self/mountinfo: "id parent dev root mount-point opts ... - fstype source super".
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    const std::size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash)), tail(line.substr(dash + 3));
    std::string id, parent, dev, root, point, fstype, source, super;
    head >> id >> parent >> dev >> root >> point;
    tail >> fstype >> source >> super;
    if (fstype == "cgroup2" && !v2_path.empty()) {
      if (double q = quota_at(point, root, v2_path, true); q > 0) return q;
    } else if (fstype == "cgroup" && !v1_path.empty() &&
               ("," + super + ",").find(",cpu,") != std::string::npos) {
      if (double q = quota_at(point, root, v1_path, false); q > 0) return q;
    }
  }
  return 0;
}

}  // namespace

unsigned available_cpus() noexcept {
  unsigned n = affinity_cpus();
  try {
    if (const double q = cgroup_quota(); q > 0) {
      n = std::min(n, std::max(2u, static_cast<unsigned>(std::ceil(q))));
    }
  } catch (...) {  // a limit we cannot read is no limit
  }
  return std::max(1u, n);
}

}  // namespace ergon::detail
