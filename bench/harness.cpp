// ergon-bench harness; see harness.hpp.
#include "harness.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace bench {

std::string g_workload;

std::int64_t cnt(double base, double scale) {
  std::int64_t n = std::llround(base * scale);
  return n < 1 ? 1 : n;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

long vmrss_kb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) {
      kb = std::strtol(line + 6, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return kb;
}

std::string kvf(const char* key, double v) {
  char buf[128];
  std::snprintf(buf, sizeof buf, " %s=%.3f", key, v);
  return buf;
}

std::string kvi(const char* key, long long v) {
  char buf[128];
  std::snprintf(buf, sizeof buf, " %s=%lld", key, v);
  return buf;
}

std::string kvs(const char* key, const std::string& v) { return std::string(" ") + key + "=" + v; }

std::string fmt_result(double wall_ns, const std::string& metrics) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "RESULT %s %s wall_ms=%.3f", g_workload.c_str(), kRuntime,
                wall_ns / 1e6);
  return std::string(buf) + metrics;
}

std::string fmt_error(const std::string& why) {
  return "ERROR " + g_workload + " " + kRuntime + " " + why;
}

void emit(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void finish(const std::string& line) {
  emit(line);
  _exit(line.rfind("ERROR", 0) == 0 ? 2 : 0);
}

void fail(const std::string& why) { finish(fmt_error(why)); }

std::uint64_t Hist::pct(double q) const {
  std::uint64_t need = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n)));
  if (need < 1) need = 1;
  std::uint64_t acc = 0;
  for (int b = 0; b < kBuckets; ++b) {
    acc += counts[b];
    if (acc >= need) return std::min(mid(b), max);
  }
  return max;
}

std::string measure_line(std::vector<double> per, std::int64_t batch, double wall_ns, double ops,
                         double setup_ns) {
  std::sort(per.begin(), per.end());
  const std::size_t n = per.size();
  const double med = n % 2 ? per[n / 2] : (per[n / 2 - 1] + per[n / 2]) / 2;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                " ns_per_iter=%.3f iters=%lld samples=%lld batch=%lld ns_per_op=%.3f setup_ms=%.3f",
                med, static_cast<long long>(n) * static_cast<long long>(batch),
                static_cast<long long>(n), static_cast<long long>(batch), med / ops,
                setup_ns / 1e6);
  return fmt_result(wall_ns, buf);
}

}  // namespace bench
