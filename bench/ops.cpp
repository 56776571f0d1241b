// Operations the instruction budget (bench/budget.py, bench/budget.txt) counts that no compass
// workload isolates. The budget's other operations reuse compass workloads (pingpong, ring,
// yield, spawn_one); this file holds the rest.
//
//   ergon-bench send_blocked [scale]    RESULT send_blocked ergon wall_ms=... sends=<n>
//   ergon-bench call_rt [scale]         RESULT call_rt ergon wall_ms=... ns_per_call=... calls=<n>
//   ergon-bench wake_rt [scale]         RESULT wake_rt ergon wall_ms=... ns_per_rt=...
//   round_trips=<n>
//
// send_blocked: the pingpong exchange, with every send made through send_to_blocked(), a
// function that is never inlined, so callgrind can count only what a send costs
// (--toggle-collect=*send_to_blocked*): building the envelope, the push, the receiver's wake.
// With one worker the receiver is always blocked in receive when the other sends (each side
// sends and then blocks), so each counted call is a send to a blocked receiver.
//
// call_rt: ergon::call round trips to an ergon::Server on the same runtime (call + reply, with
// a 5 s timeout as gen_server's default), the issue-17 bar: at most 1.5x a pingpong round
// trip (bench/budget.py counts both in instructions).
//
// wake_rt: the pingpong exchange between two pools of one worker each ("a" and "b"), so that
// every send wakes the other pool's worker through its inbox (Scheduler::wake, W3) instead of
// running the receiver on the sender's worker (W2): a round trip is two cross-worker
// wake-ups. With ERGON_SPIN_ROUNDS=0 each woken worker was parked (a futex wake and its
// return); against `pingpong`'s round trip this gives the simulated mode's kWakeNs and
// kUnparkNs (testing/deterministic.hpp; bench/sim_costs.sh).
//
// Rejected: timing the send. A send is ~40 ns; a wall clock on a shared machine cannot resolve
// a 2 % change in it, while the instruction count does not move with the noise.
#include <chrono>
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

struct OpSquare {
  using Reply = std::int64_t;
  std::int64_t v;
};

// The server of call_rt: an ergon::Server that answers OpSquare with its argument.
struct OpServer {
  using Calls = ergon::Handles<OpSquare>;
  std::int64_t handle_call(const OpSquare& q) { return q.v; }
};

void call_rt(double s) {
  const std::int64_t n = cnt(1e6, s);
  ergon::Runtime rt;
  rt.run([n] {
    const ergon::Pid server = ergon::start_server<OpServer>();
    const clk::time_point t0 = clk::now();
    std::int64_t sum = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      sum += ergon::call(server, OpSquare{i}, std::chrono::seconds(5));
    }
    const std::int64_t ns = ns_since(t0);
    check(sum == n * (n - 1) / 2, "sum=" + std::to_string(sum));
    finish(fmt_result(ns, kvf("ns_per_call", double(ns) / n) + kvi("calls", n)));
  });
}

void wake_rt(double s) {
  const std::int64_t n = cnt(2e5, s);
  ergon::Options o;
  o.pools = {{"a", 1, {}}, {"b", 1, {}}};
  ergon::Runtime rt(o);
  const ergon::Pool b = rt.pool("b");
  rt.run([n, b] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid echo = ergon::spawn(
        [main] {
          for (bool running = true; running;) {
            ergon::receive([&](const OpPing& p) { ergon::send(main, p); },
                           [&](OpStop) { running = false; });
          }
        },
        ergon::SpawnOptions{.stack_size = 0, .pool = b});
    std::int64_t sum = 0;
    const clk::time_point t0 = clk::now();
    for (std::int64_t i = 0; i < n; ++i) {
      ergon::send(echo, OpPing{i});
      sum += ergon::receive<OpPing>().v;
    }
    const std::int64_t ns = ns_since(t0);
    ergon::send(echo, OpStop{});
    check(sum == n * (n - 1) / 2, "sum=" + std::to_string(sum));
    finish(fmt_result(ns, kvf("ns_per_rt", double(ns) / n) + kvi("round_trips", n)));
  });
}

const Workload kOps[] = {
    {"call_rt", call_rt, "ergon::call round trips to a server (call + reply, 5 s timeout)"},
    {"send_blocked", send_blocked, "pingpong whose sends are counted alone (bench/budget.py)"},
    {"wake_rt", wake_rt, "pingpong across two 1-worker pools: two cross-worker wake-ups a trip"},
};

}  // namespace

std::span<const Workload> ops_workloads() { return kOps; }

}  // namespace bench
