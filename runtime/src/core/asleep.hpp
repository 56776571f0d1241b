// AsleepWatch: noticing, in a threaded run, that every process waits and nothing inside the
// runtime can wake one (Go's "all goroutines are asleep"), for one extra wake-up per idle
// episode.
//
// Design
// ------
// Deterministic mode knows when nothing can run: its one thread finds no work and no timer
// (testing/deterministic.hpp). A threaded run has no such place: each worker parks on its own
// (idle.hpp, K1..K4), and what could still wake a process is spread over the workers' timers,
// the reactor, the delay line, threads inside ergon::blocking and threads outside the runtime.
// So the last worker to park looks, once, after a grace period (Options::asleep_after). Per
// worker, `seq` counts its sleeps with no deadline: odd while it sleeps in K3 with no timer
// armed, even otherwise. A worker with a timer parks with a deadline and stays even, so while
// any timer is armed (a receive with a timeout, a sleep) nobody looks at all.
//   Z1 (worker W, after K2 succeeded, with no timer of its own) seq_W += 1, odd (seq_cst
//      store), then load every other worker's seq (seq_cst). One even: that worker is awake or
//      has a timer, and will park later (or its timer will run something): W sleeps as
//      before. All odd, some process ran since the last verdict (the sum of the workers' slice
//      counts differs from `verdict_runs_`), and no other worker holds the detector's role
//      (a CAS on `detector_`): W is the detector. It keeps the sum of the seqs it saw and
//      sleeps until now + asleep_after instead of for ever.
//   Z2 (W leaves K3) the detector, if its sleep ended by its deadline (its futex word still
//      0, no socket event), checks (Z3) first, still odd and still counted parked; either way
//      it gives the role back. Then seq_W += 1, even (seq_cst store), before it runs anything.
//   Z3 (the check)
//      a. every worker's seq is odd and their sum is the one Z1 kept (a seq only grows, so an
//         equal sum means no worker has left its sleep since), and no worker's futex word is
//         set (seq_cst loads): nobody was woken, nothing was handed to a sleeper;
//      b. the injector holds no delayed message (its delay line would deliver it);
//      c. every live process of this scheduler is blocked in its mailbox (MpscInbox C2): not
//         running (a process inside ergon::blocking, or one whose worker was handed off, is
//         not blocked), runnable or exiting; and none owns a socket with a waiter in a read
//         or write slot or an armed active-mode hook (the network could wake it, PE1/PE2 of
//         io_handle.hpp). At least one process lives;
//      d. a. again: the snapshot of c was taken while no worker ran.
//      All four: the verdict is "asleep". a or d failed: no verdict (a worker woke, and will
//      start a detection of its own when it parks again). b or c failed: the verdict is
//      "awake" (something in the runtime may still wake a process).
//   Z4 a verdict, either, stores the sum of the slice counts in `verdict_runs_`: no worker is a
//      detector again until some process has run. An episode is looked at once, and a runtime
//      that stays idle with, say, a blocking call in flight costs one wake-up, not one per
//      grace period.
//   Z5 (W, after K4, counted awake again) "asleep" goes to the Asleep hook (hooks.hpp), which
//      reports it or not (it knows whether a run() waits for its main process).
// Why some worker becomes the detector: Z1 is a store-load pair on seq_cst operations, so of
// two workers that park at once at least one sees the other's odd seq. Why one at a time: two
// detectors of one episode voided each other's checks for seconds (each one's Z2 and next Z1
// change the seq sum the other kept; measured with 2 and 4 workers, a 50 ms grace period:
// reports after up to 5.8 s; one at a time: 52 to 127 ms, 80 runs). A worker that parks while the
// role is held sleeps for ever; if that makes the detector's check void (its seq sum changed), the
// detector parks again, takes the role again and checks one grace period later.
//
// What it cannot know: whether a thread outside the runtime (or a process of another Runtime)
// will still send. Any thread that holds the Runtime or a Pid can, at any time. So the verdict
// says "nothing inside this runtime can wake them", and the hook's report says so.
//
// Cost: nothing on the send, receive or switch paths. A park with no timer adds two seq_cst
// stores and loads of the other workers' seqs (until the first even one); the detector's
// check walks the process table once per episode, and its wake-up pokes the side threads (D2)
// like any worker's, so they tick until every worker is parked again.
//
// Rejected: a side thread of its own (a thread per runtime, woken by every worker's D2 poke);
// the watchdog's idle sleep (the watchdog may be off, watchdog_tick = 0); counting waiters at
// every block and wake (a store on the receive path); treating any open socket as a waiter
// (a program holding an idle connection would never be told).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace ergon::detail {

class Scheduler;
class Asleep;

class AsleepWatch {
 public:
  // `grace_ns`: Options::asleep_after; 0 turns the watch off.
  AsleepWatch(Scheduler& sched, unsigned workers, std::int64_t grace_ns);

  // Before start(): the hook a verdict goes to (nullptr, or deterministic mode: off).
  void install(Asleep* hook, bool driven) noexcept {
    hook_ = hook;
    on_ = hook != nullptr && !driven && grace_ns_ > 0;
  }

  // Z1, worker `w` in park() after K2, about to sleep until `deadline` (INT64_MAX: none).
  // Returns the deadline to sleep until. Owner of `w`.
  std::int64_t enter(unsigned w, std::int64_t deadline) noexcept {
    if (!on_ || deadline != INT64_MAX) return deadline;
    return enter_slow(w);
  }
  // Z2..Z4, worker `w` leaving K3 that slept until `until` (what enter returned); `woken`: its
  // futex word is set or the reactor returned events. True: Z5 is due (report(), after K4).
  bool leave(unsigned w, std::int64_t until, bool woken) noexcept {
    if (!on_) return false;
    return leave_slow(w, until, woken);
  }
  // Z5: worker `w`, whose leave() returned true, after K4.
  void report(unsigned w) noexcept;

 private:
  struct alignas(64) Slot {
    // Odd while the worker sleeps in K3 with no deadline. Written by its worker (seq_cst: Z1's
    // store, the partner of the other workers' Z1 loads; Z2's, the partner of Z3's loads),
    // read by the other workers (Z1, Z3).
    std::atomic<std::uint64_t> seq{0};
    // The worker only: it is a detector (Z1) and what it saw then.
    bool detecting = false;
    std::uint64_t seq_sum = 0;
    std::uint64_t runs = 0;
    std::size_t waiting = 0;  // Z3's count, for Z5
  };

  std::int64_t enter_slow(unsigned w) noexcept;
  bool leave_slow(unsigned w, std::int64_t until, bool woken) noexcept;
  bool all_asleep(std::uint64_t seq_sum) const noexcept;  // Z3a (and d)
  std::uint64_t runs() const noexcept;                    // the workers' slice counts, summed
  std::size_t all_waiting() const noexcept;               // Z3c: how many, 0 if not all

  Scheduler& sched_;
  const unsigned workers_;
  const std::int64_t grace_ns_;
  Asleep* hook_ = nullptr;  // set before any thread starts
  bool on_ = false;         // likewise
  std::unique_ptr<Slot[]> slots_;
  // Z4: the summed slice counts at the last verdict (UINT64_MAX: none yet). Written by a
  // detector, read by the next Z1. relaxed: the detector writes it before its Z2 seq store,
  // and a Z1 that loaded that seq or a later one (seq_cst, which acquires) sees it. A Z1 that
  // loaded an older seq of the detector reads an older value: one more check of the episode
  // (and perhaps a second report of it), never a report of an episode that is not asleep.
  std::atomic<std::uint64_t> verdict_runs_{UINT64_MAX};
  // The worker that holds the detector's role (Z1), or -1. relaxed: a CAS takes it, its holder
  // gives it back (Z2); the role guards no data (each detector's is in its own slot).
  std::atomic<int> detector_{-1};
};

}  // namespace ergon::detail
