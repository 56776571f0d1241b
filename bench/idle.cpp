// idle_blocked (ergon only): the idle bar. A runtime with 4 workers holds 10,000
// processes blocked in receive with no timeout; cpu_s is the user+sys CPU the whole program
// uses over the next 10 s (getrusage), cpu_pct the same as a percentage of one core. scale
// multiplies the process count (the 10 s window does not shrink).
#include <chrono>
#include <cmath>
#include <ergon/ergon.hpp>
#include <string>

#include "harness.hpp"

namespace bench {
namespace {

struct Stop {};
struct Ready {};

void idle_blocked(double s) {
  const long n = std::lround(10'000 * s);
  ergon::Options o;
  o.workers = 4;
  ergon::Runtime rt(o);
  rt.run([n] {
    const ergon::Pid main = ergon::self();
    for (long i = 0; i < n; ++i) {
      ergon::spawn([main] {
        ergon::send(main, Ready{});
        ergon::receive<Stop>();
      });
    }
    for (long i = 0; i < n; ++i) ergon::receive<Ready>();
    const double cpu0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    ergon::sleep_for(std::chrono::seconds(10));
    const double cpu = cpu_seconds() - cpu0;
    const double wall_ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    finish(fmt_result(wall_ns, kvf("cpu_s", cpu) + kvf("cpu_pct", cpu / (wall_ns / 1e9) * 100) +
                                   kvi("procs", n) + kvi("workers", 4)));
  });
}

const Workload kIdle[] = {
    {"idle_blocked", idle_blocked, "4 workers, 10,000 processes blocked in receive: cpu over 10 s"},
};

}  // namespace

std::span<const Workload> idle_workloads() { return kIdle; }

}  // namespace bench
