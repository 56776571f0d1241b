// Watchdog: the thread that notices a worker stuck in one process.
//
// Design (after Go's sysmon and BEAM's scheduler watchdog)
// ------
// Every `watchdog_tick` the watchdog samples each worker: its owner carrier and its slice
// counter (Worker::processes_run, bumped each time a process is switched to). A worker whose
// counter has not moved is running the same process slice; the watchdog dates the slice from
// the tick that first saw it. Per worker, a slice goes through these states:
//   WD0 running:        younger than `preempt_after`; nothing to do.
//   WD1 asked to yield: from `preempt_after`, each tick stores 0 into the carrier's
//                       reduction budget, so the process yields at its next reduction point
//                       (ergon::checkpoint, reduce, send, receive...).
//   WD2 handed off:     from `handoff_after`, if the carrier is in process code, the worker goes
//                       to a spare carrier (carrier.hpp, T1..T2) and a stall report is made.
//                       If the spare pool is at its cap, the worker stays, the report says so,
//                       and the next tick tries again.
// A worker released by ergon::blocking that is still released one tick later is handed to a
// spare carrier too.
//
// The watchdog costs nothing when the runtime is idle: when every worker is parked it sleeps
// with no timeout (tick_sleep.hpp, D1/D2).
//
// Stall reports name the process, the worker, how long the slice has run, and where the
// carrier is when that is cheap to learn: /proc/self/task/<tid>/syscall gives the system
// call a blocked thread waits in and its program counter (resolved with dladdr). At most one
// report per second is made; the next one counts those left out.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "core/side_thread.hpp"
#include "ergon/options.hpp"

namespace ergon::detail {

class Scheduler;
class Carrier;

class Watchdog final : public SideThread {
 public:
  explicit Watchdog(Scheduler& sched);
  ~Watchdog() override;
  void start() override;  // starts the thread unless watchdog_tick is 0
  void tick(std::int64_t now) override;
  // yield_requests and stalls.
  void add_stats(Stats& s) const override;

  // Statistics. relaxed: counters.
  std::uint64_t stalls() const noexcept { return stalls_.load(std::memory_order_relaxed); }
  std::uint64_t yield_requests() const noexcept {
    return yield_requests_.load(std::memory_order_relaxed);
  }

 private:
  struct Seen {
    std::uint64_t runs = 0;
    Carrier* owner = nullptr;
    std::int64_t since = 0;           // first tick that saw this slice
    std::int64_t released_since = 0;  // first tick that saw the worker released, or 0
    bool reported = false;
  };
  void report(const StallReport& r);

  Scheduler& sched_;
  const std::int64_t tick_ns_, preempt_ns_, handoff_ns_;
  std::vector<Seen> seen_;                       // watchdog thread only
  std::int64_t last_report_ns_ = INT64_MIN / 2;  // watchdog thread only
  std::uint64_t suppressed_ = 0;                 // watchdog thread only
  std::atomic<std::uint64_t> stalls_{0}, yield_requests_{0};
};

// Where the thread `tid` is, if it waits in a system call ("in nanosleep (syscall 35) at
// clock_nanosleep+0x6b"), else "running". For stall reports.
std::string where_is(int tid);

}  // namespace ergon::detail
