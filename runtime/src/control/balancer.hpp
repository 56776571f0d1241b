// Balancer: the migration thread. It reads every worker's load each balance_interval, moves
// runnable processes from long run queues to short ones, and compacts the load of a pool onto
// as few workers as it needs.
//
// Design (after BEAM's check_balance, erl_process.c, with a thread of its own)
// ------
// BEAM balances inline, every 4-8 M reductions of one run queue, and migrates lazily; here a
// thread ticks every balance_interval (1 ms) while any worker is awake, and sleeps with no
// timeout when all are parked (tick_sleep.hpp, D1/D2). Each tick, for each pool whose policy
// balances (worker_pool.hpp):
//
//   B1 Sample.  Per worker: run-queue length, and utilization over the window since the last
//      tick (1 - time parked / window; Worker::parked_ns includes a park in progress).
//   B2 Compact.  Over a window of at least kCompactWindow (and 8 ticks), demand = the pool's
//      busy time / the window, in workers. At the window's end the pool needs
//      want = ceil(demand / kTargetUtil) workers (kTargetUtil = 0.75): more than active, it
//      rises to want; fewer, it drops one worker (BEAM's last_active - 1). Between windows it
//      also rises by one when every active worker stayed busy (>= 90 %) with work queued for
//      kRiseTicks ticks in a row: a backlog the active workers cannot clear. A rise unparks
//      the newly active workers. The window is long against a burst, so a pool that is busy
//      for 1 ms every 10 ms stays compacted instead of flapping. Workers first+active.. are
//      marked inactive: they forward whatever becomes runnable on them (Worker::forward) and
//      park.
//   B3 Migrate.  Among the active workers, pair the longest queue with the shortest while
//      they differ by more than max(2, avg / 8) (hysteresis); move half the difference, taken
//      from the front of the giver's queue with the thieves' CAS (RunQueue::steal) and pushed
//      into the taker's inbox (lock-free MPSC; the push unparks the taker). A worker that
//      received processes in a tick gives none in the next (no bouncing). Inactive workers'
//      leftovers are moved whole.
//   F  With Options::force_migration, every tick also moves one process off each worker that
//      has a queued one, to the next worker of its pool, in every pool: a test aid.
//
// Only runnable processes in run queues move: the running one, runnext (it inherits its
// waker's slice), processes moved on purpose (pinned) and blocked ones stay. A moved process
// is resumed by the taker like a stolen one: nothing on the process's side changes.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "core/side_thread.hpp"

namespace ergon::detail {

class Scheduler;
class WorkerPool;

class Balancer final : public SideThread {
 public:
  explicit Balancer(Scheduler& sched);
  ~Balancer() override;
  void start() override;  // starts the thread if some pool balances (or force_migration is on)
  // One round (B1..B3, F) at time `now`: the thread's loop, or the deterministic driver.
  void tick(std::int64_t now) override;
  // While the thread runs, each worker's utilization is B1's estimate over the last tick.
  void add_stats(Stats& s) const override;

  // B2's constants (docs/design.md, "The balancer"). None of the four is swept by a
  // benchmark; each is a reasoned bound:
  // 0.75: the utilization a pool is sized for, a quarter of headroom for bursts.
  static constexpr double kTargetUtil = 0.75;
  // 0.90: what counts as busy for a rise between windows: near full, short of every tick.
  static constexpr double kBusyUtil = 0.90;
  // 2: a backlog must last two ticks in a row, so one tick's burst does not grow the pool.
  static constexpr unsigned kRiseTicks = 2;
  // 20 ms: two periods of idle_cpu's 10 ms cycle, so a pool busy for 1 ms in 10 averages out
  // and stays compacted (docs/benchmarks.md, "idle_cpu": one worker within ~20 ms).
  static constexpr std::int64_t kCompactWindowNs = 20'000'000;

 private:
  struct WorkerSample {
    std::int64_t parked = 0;          // Worker::parked_ns at the last tick
    std::uint64_t received_tick = 0;  // the last tick that moved processes here
  };
  struct PoolState {
    unsigned rise_votes = 0;
    std::int64_t window_ns = 0;  // B2's window so far
    double busy_ns = 0;          // the pool's busy time in it (worker-nanoseconds)
  };
  void compact(WorkerPool& pool, PoolState& st, std::int64_t window, const double* util,
               const std::uint32_t* len);
  void set_active(WorkerPool& pool, unsigned active, unsigned want);
  void migrate(WorkerPool& pool, std::uint32_t* len);
  void force(WorkerPool& pool);
  std::uint32_t move(unsigned from, unsigned to, std::uint32_t n);

  Scheduler& sched_;
  const std::int64_t interval_ns_;
  std::vector<WorkerSample> samples_;  // balancer thread only
  std::vector<PoolState> pools_;       // balancer thread only
  std::int64_t last_ns_ = 0;           // balancer thread only
  std::uint64_t ticks_ = 0;            // balancer thread only
  // Every 10th tick (10 ms at the default balance_interval) a sample of each tenant's counters
  // goes to the trace: fine enough to see shares move, 100 events a second per tenant.
  static constexpr std::uint64_t kTenantSampleTicks = 10;
};

}  // namespace ergon::detail
