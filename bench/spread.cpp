// spread (ergon only): processes that all start on one worker spread out; how long until the
// load is even? Run it under each policy (ERGON_POLICY=balance, steal, balance+steal).
//
//   ergon-bench spread [scale]        scale 1.0 = 10,000 processes
//
// Design
// ------
//   - One runtime with the default Options, so ERGON_POLICY (and ERGON_WORKERS) pick the setup.
//   - The imbalance is built before the clock starts. The main process moves itself to worker 0
//     (ergon::move_to_worker) and spawns N = cnt(10,000) processes. Each child moves to worker
//     0, says Ready and blocks in receive. Once all are Ready, main starts the sampler, takes
//     t0 and sends each child Go from worker 0: a woken process comes to the waker's worker,
//     so all N become runnable on worker 0 at once. Each child then loops: store
//     ergon::worker_id() into its own slot, ergon::yield(), until the stop flag is set; then
//     it sends Done to main.
//   - The sampler, a plain std::thread outside the runtime, wakes every 100 us and counts, per
//     worker, the slots that hold that worker (a slot starts at kNotStarted). The load is even
//     at the first sample where all N processes have started and every worker holds at least
//     0.9 x N / workers of them. It then sends main Evened with the time from t0 to that sample
//     (ergon::send works from any thread), or -1 after 10 s without evening out. A sampler
//     that falls behind (a scan of N slots on cores busy with the workers) skips ahead instead
//     of sampling in a burst: on the 2-vCPU VM the period is about 200 us in practice.
//   - Main sets the stop flag, collects the N Done messages and joins the sampler.
//
//   RESULT spread ergon wall_ms=.. evened_ms=.. procs=.. workers=.. policy=.. migrations=..
//       steals=.. counts=c0/c1/...
// migrations and steals are the sums over the workers of WorkerStats::migrations_in and
// WorkerStats::steals at the end; counts are the per-worker counts at the deciding sample.
// wall_ms covers spawning to the last Done.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ergon/ergon.hpp>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace bench {
namespace {

constexpr unsigned kNotStarted = std::numeric_limits<unsigned>::max();
constexpr auto kSampleEvery = std::chrono::microseconds(100);
constexpr auto kGiveUpAfter = std::chrono::seconds(10);
constexpr double kEvenShare = 0.9;  // of N / workers, on every worker

struct Evened {
  double ns;  // t0 to the deciding sample; -1: not even within kGiveUpAfter
  std::string counts;
};
struct Done {};
struct Ready {};
struct Go {};

void spread(double s) {
  const std::int64_t n = cnt(10'000, s);
  ergon::Runtime rt;  // default options: ERGON_POLICY picks the policy
  const unsigned workers = rt.workers();
  const char* env = std::getenv("ERGON_POLICY");
  const std::string policy = env != nullptr && *env != '\0' ? env : "default";

  // relaxed: each child overwrites its own slot and the sampler only counts what it sees; no
  // other data travels with a slot.
  std::vector<std::atomic<unsigned>> slots(static_cast<std::size_t>(n));
  for (auto& slot : slots) slot.store(kNotStarted, std::memory_order_relaxed);
  // relaxed: a stop signal only; the children report back with a message, which carries the
  // ordering that main needs.
  std::atomic<bool> stop{false};

  rt.run([&] {
    ergon::move_to_worker(0);
    const ergon::Pid main = ergon::self();
    std::vector<ergon::Pid> children;
    children.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      std::atomic<unsigned>* slot = &slots[static_cast<std::size_t>(i)];
      children.push_back(ergon::spawn([slot, &stop, main] {
        ergon::move_to_worker(0);
        ergon::send(main, Ready{});
        ergon::receive<Go>();
        while (!stop.load(std::memory_order_relaxed)) {                // relaxed: see `stop`
          slot->store(ergon::worker_id(), std::memory_order_relaxed);  // relaxed: see `slots`
          ergon::yield();
        }
        ergon::send(main, Done{});
      }));
    }
    for (std::int64_t i = 0; i < n; ++i) ergon::receive<Ready>();
    ergon::move_to_worker(0);  // (main may have been moved meanwhile)
    const clk::time_point t0 = clk::now();
    std::thread sampler([&slots, main, t0, workers, n] {
      std::vector<std::int64_t> per(workers);
      clk::time_point next = t0;
      for (;;) {
        next += kSampleEvery;
        std::this_thread::sleep_until(next);
        const clk::time_point at = clk::now();
        if (next < at) next = at;  // behind (a busy core): do not sample in a burst
        std::fill(per.begin(), per.end(), 0);
        std::int64_t started = 0;
        for (const auto& slot : slots) {
          const unsigned w = slot.load(std::memory_order_relaxed);  // relaxed: see `slots`
          if (w == kNotStarted) continue;
          started++;
          if (w < workers) per[w]++;
        }
        const std::int64_t least = *std::min_element(per.begin(), per.end());
        const bool even = started == n && static_cast<double>(least) >=
                                              kEvenShare * static_cast<double>(n) / workers;
        const bool late = at - t0 >= kGiveUpAfter;
        if (even || late) {
          std::string counts;
          for (unsigned w = 0; w < workers; ++w) {
            if (w > 0) counts += '/';
            counts += std::to_string(per[w]);
          }
          ergon::send(main, Evened{even ? ns_between(t0, at) : -1.0, std::move(counts)});
          return;
        }
      }
    });
    for (const ergon::Pid& c : children) ergon::send(c, Go{});
    const Evened e = ergon::receive<Evened>();
    stop.store(true, std::memory_order_relaxed);  // relaxed: see `stop`
    for (std::int64_t i = 0; i < n; ++i) ergon::receive<Done>();
    const double wall_ns = ns_between(t0, clk::now());
    sampler.join();  // it has sent Evened: it is returning
    const ergon::Stats st = rt.stats();
    std::uint64_t migrations = 0, steals = 0;
    for (const ergon::WorkerStats& w : st.workers) {
      migrations += w.migrations_in;
      steals += w.steals;
    }
    finish(fmt_result(wall_ns, kvf("evened_ms", e.ns < 0 ? -1.0 : e.ns / 1e6) + kvi("procs", n) +
                                   kvi("workers", workers) + kvs("policy", policy) +
                                   kvi("migrations", static_cast<long long>(migrations)) +
                                   kvi("steals", static_cast<long long>(steals)) +
                                   kvs("counts", e.counts)));
  });
}

const Workload kSpread[] = {
    {"spread", spread, "10,000 yielding processes start on worker 0: ms until the load is even"},
};

}  // namespace

std::span<const Workload> spread_workloads() { return kSpread; }

}  // namespace bench
