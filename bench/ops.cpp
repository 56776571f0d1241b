// Operations the instruction budget (bench/budget.py, bench/budget.txt) counts that no compass
// workload isolates. The budget's other operations reuse compass workloads (pingpong, ring,
// yield, spawn_one); this file holds the rest.
//
//   ergon-bench send_blocked [scale]    RESULT send_blocked ergon wall_ms=... sends=<n>
//
// send_blocked: the pingpong exchange, with every send made through send_to_blocked(), a
// function that is never inlined, so callgrind can count only what a send costs
// (--toggle-collect=*send_to_blocked*): building the envelope, the push, the receiver's wake.
// With one worker the receiver is always blocked in receive when the other sends (each side
// sends and then blocks), so each counted call is a send to a blocked receiver.
//
// Rejected: timing the send. A send is ~40 ns; a wall clock on a shared machine cannot resolve
// a 2 % change in it, while the instruction count does not move with the noise.
#include <cstdint>
#include <ergon/ergon.hpp>
#include <string>

#include "harness.hpp"

namespace bench {
namespace {

struct OpPing {
  std::int64_t v;
};
struct OpStop {};

[[gnu::noinline]] void send_to_blocked(ergon::Pid to, std::int64_t v) {
  ergon::send(to, OpPing{v});
}

void send_blocked(double s) {
  const std::int64_t n = cnt(1e6, s);
  ergon::Runtime rt;
  rt.run([n] {
    const ergon::Pid main = ergon::self();
    const clk::time_point t0 = clk::now();
    const ergon::Pid echo = ergon::spawn([main] {
      for (bool running = true; running;) {
        ergon::receive([&](const OpPing& p) { send_to_blocked(main, p.v); },
                       [&](OpStop) { running = false; });
      }
    });
    std::int64_t sum = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      send_to_blocked(echo, i);
      sum += ergon::receive<OpPing>().v;
    }
    const std::int64_t ns = ns_since(t0);
    ergon::send(echo, OpStop{});
    check(sum == n * (n - 1) / 2, "sum=" + std::to_string(sum));
    finish(fmt_result(ns, kvf("ns_per_send", double(ns) / (2 * n)) + kvi("sends", 2 * n)));
  });
}

const Workload kOps[] = {
    {"send_blocked", send_blocked, "pingpong whose sends are counted alone (bench/budget.py)"},
};

}  // namespace

std::span<const Workload> ops_workloads() { return kOps; }

}  // namespace bench
