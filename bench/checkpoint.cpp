// checkpoint_cost (ergon only): what ergon::checkpoint() adds to a tight loop. The same LCG
// loop runs with and without a checkpoint per iteration, in one process on a one-worker
// runtime with nothing else to run (so a spent budget's yield comes straight back); the
// difference per iteration is the cost of one checkpoint, amortised yields included. reduce_ns
// is the same for ergon::reduce(1), the out-of-line call. per_checkpoint_alone_ns is the worst
// case: checkpoints back to back with no work to overlap them.
//
//   RESULT checkpoint_cost ergon wall_ms=.. plain_ns=.. checkpoint_ns=.. reduce_ns=..
//       per_checkpoint_ns=.. per_reduce_ns=.. per_checkpoint_alone_ns=..
#include <chrono>
#include <cstdint>
#include <ergon/ergon.hpp>

#include "harness.hpp"

namespace bench {
namespace {

volatile std::uint64_t g_keep = 0;

[[gnu::noinline]] std::uint64_t plain_loop(std::int64_t n) {
  std::uint64_t acc = 1;
  for (std::int64_t i = 0; i < n; ++i) {
    acc = (acc * 1103515245u + 12345u) & 0x7fffffffu;
    __asm__ volatile("" : "+r"(acc));  // the same loop shape in all three
  }
  return acc;
}

[[gnu::noinline]] std::uint64_t checkpoint_loop(std::int64_t n) {
  std::uint64_t acc = 1;
  for (std::int64_t i = 0; i < n; ++i) {
    acc = (acc * 1103515245u + 12345u) & 0x7fffffffu;
    __asm__ volatile("" : "+r"(acc));
    ergon::checkpoint();
  }
  return acc;
}

[[gnu::noinline]] std::uint64_t reduce_loop(std::int64_t n) {
  std::uint64_t acc = 1;
  for (std::int64_t i = 0; i < n; ++i) {
    acc = (acc * 1103515245u + 12345u) & 0x7fffffffu;
    __asm__ volatile("" : "+r"(acc));
    ergon::reduce(1);
  }
  return acc;
}

// Back-to-back checkpoints with no work between them: the worst case, where nothing hides the
// decrement's store-to-load chain through memory.
[[gnu::noinline]] std::uint64_t empty_loop(std::int64_t n) {
  std::uint64_t acc = 0;
  for (std::int64_t i = 0; i < n; ++i) __asm__ volatile("" : "+r"(acc));
  return acc;
}

[[gnu::noinline]] std::uint64_t empty_checkpoint_loop(std::int64_t n) {
  std::uint64_t acc = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    __asm__ volatile("" : "+r"(acc));
    ergon::checkpoint();
  }
  return acc;
}

template <class F>
double best_ns_per_iter(F loop, std::int64_t n) {
  double best = 1e300;
  for (int rep = 0; rep < 5; ++rep) {  // the best of 5: the loop's own cost, least disturbed
    const clk::time_point t0 = clk::now();
    g_keep = g_keep + loop(n);
    best = std::min(best, static_cast<double>(ns_since(t0)) / static_cast<double>(n));
  }
  return best;
}

void checkpoint_cost(double s) {
  const std::int64_t n = cnt(100'000'000, s);
  ergon::Options o;
  o.workers = 1;
  ergon::Runtime rt(o);
  rt.run([n] {
    const clk::time_point t0 = clk::now();
    const double plain = best_ns_per_iter(plain_loop, n);
    const double cp = best_ns_per_iter(checkpoint_loop, n);
    const double red = best_ns_per_iter(reduce_loop, n);
    const double empty = best_ns_per_iter(empty_loop, n);
    const double empty_cp = best_ns_per_iter(empty_checkpoint_loop, n);
    finish(fmt_result(static_cast<double>(ns_since(t0)),
                      kvf("plain_ns", plain) + kvf("checkpoint_ns", cp) + kvf("reduce_ns", red) +
                          kvf("per_checkpoint_ns", cp - plain) + kvf("per_reduce_ns", red - plain) +
                          kvf("per_checkpoint_alone_ns", empty_cp - empty) + kvi("iterations", n)));
  });
}

const Workload kCheckpoint[] = {
    {"checkpoint_cost", checkpoint_cost,
     "ns one ergon::checkpoint() adds to a tight loop (and ergon::reduce(1))"},
};

}  // namespace

std::span<const Workload> checkpoint_workloads() { return kCheckpoint; }

}  // namespace bench
