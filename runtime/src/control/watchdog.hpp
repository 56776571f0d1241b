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
//                       (ergon::checkpoint, reduce, send, receive...). The first request
//                       also reads the carrier thread's CPU clock (Carrier::cpu_ns): C0.
//   WD2 handed off:     the slice is stuck, and its carrier is in process code, when either
//                       - it computes: its thread has used `handoff_after - preempt_after`
//                         of CPU time since C0 (at least 1 ns when the two are equal), time in
//                         which any reduction point would have ended the slice; or
//                       - it is blocked: the slice is older than `handoff_after` and its
//                         thread waits in the kernel (/proc/self/task/<tid>/syscall names a
//                         system call): a blocking call outside ergon::blocking.
//                       Then the worker goes to a spare carrier (carrier.hpp, T1..T2) and a
//                       stall report is made. If the spare pool is at its cap, the worker
//                       stays, the report says so, and the next tick tries again.
// A slice that is old by the wall clock but neither computed nor blocked was descheduled: the
// kernel ran other threads (an oversubscribed machine). That is not the process's fault: no
// report, no hand-off (a spare thread would only add to the threads that wait for a core), and
// the yield request, on wall-clock age, makes it yield as soon as it runs. When the CPU clock
// cannot be read, WD2 falls back to the wall clock (older than `handoff_after`) and the report
// says so.
// A worker released by ergon::blocking that is still released one tick later is handed to a
// spare carrier too.
//
// The watchdog costs nothing when the runtime is idle: when every worker is parked it sleeps
// with no timeout (tick_sleep.hpp, D1/D2).
//
// Stall reports name the process, the worker, the CPU time it computed after it was asked to
// yield, how old its slice is, and where the carrier is when that is cheap to learn:
// /proc/self/task/<tid>/syscall gives the system call a blocked thread waits in and its
// program counter (resolved with dladdr). A report states only what was measured: CPU time as
// computing, a named system call as blocking, and never wall-clock age as running.
//
// Reports are rate-limited per process: at most one per pid per second (kReportIntervalNs),
// and the next one about that process counts those left out. So a second process stuck at the
// same time is reported at once, never hidden behind the first; and one process that stalls
// again and again (a 2 ms loop between reduction points) makes one line a second, not a flood.
// The table of last reports (by pid, the watchdog thread's only) drops entries a whole
// interval old whenever it doubles, so it holds about the processes that stalled lately.
//
// Rejected designs
// - Judging a slice by its wall-clock age alone (what this replaced): on a loaded machine a
//   carrier that the kernel does not run looks stuck. Issue 14 saw code full of reduction
//   points reported as "ran 4.7 ms without a reduction point", and 2 workers grow to 6 threads.
// - Reading the CPU clock when a slice is first seen (WD0): one clock_gettime on another
//   thread's CPU clock costs 0.8 to 1.4 us here (200,000 reads of a spinning thread's clock in
//   a scratch program, 2-core VM), and a busy worker starts a new slice at nearly every tick:
//   4,000 reads a second per worker, about 1 % of a core for two workers, ten times the
//   watchdog's own cost. Read at the first yield request, the clock costs only slices older
//   than preempt_after, and that is the right origin: before the request a reduction point
//   did not end the slice, so CPU time spent then proves nothing.
// - One report a second for the whole runtime (what per-pid limits replaced): while one
//   process was stuck, every other stuck process was left out, counted but never named.
// - /proc/self/task/<tid>/schedstat (CPU time and time spent waiting for a CPU): a file to
//   open and parse at every reading, and absent without CONFIG_SCHED_INFO. It is read only to
//   tell blocked from descheduled, which the CPU clock cannot.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>
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
    bool asked = false;               // WD1 reached: cpu_at_ask is C0
    std::int64_t cpu_at_ask = -1;     // C0, the owner's CPU time at the first request; -1: unknown
    bool reported = false;
  };
  void report(const StallReport& r);

  Scheduler& sched_;
  const std::int64_t tick_ns_, preempt_ns_, handoff_ns_;
  const std::int64_t cpu_needed_ns_;  // WD2's CPU time after C0: handoff - preempt, at least 1
  std::vector<Seen> seen_;            // watchdog thread only
  // The rate limit (see above): by Pid::raw(), when its last report was made and how many
  // have been left out since. The watchdog thread only.
  struct Limit {
    std::int64_t last_ns = 0;
    std::uint64_t suppressed = 0;
  };
  std::unordered_map<std::uint64_t, Limit> limits_;
  std::size_t prune_at_ = 64;  // limits_'s size that triggers the next pruning
  std::atomic<std::uint64_t> stalls_{0}, yield_requests_{0};
};

// Where the thread `tid` is: blocked in the kernel, with the system call it waits in
// ("in nanosleep (syscall 35) at clock_nanosleep+0x6b"), or "running" (on a CPU, or runnable
// and waiting for one; also when /proc cannot tell). For WD2 and stall reports.
struct ThreadPlace {
  bool blocked = false;
  std::string text = "running";
};
ThreadPlace where_is(int tid);

}  // namespace ergon::detail
