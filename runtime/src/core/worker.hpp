// Worker: the scheduling state of one scheduler thread, and its loop.
//
// Design
// ------
// A worker is run by one carrier (an OS thread, carrier.hpp) at a time; owner_ names it. The
// watchdog may hand the worker to another carrier while its carrier is stuck in a process.
// A worker runs processes from, in order of preference:
//   1. `runnext_`: the process that a process on this worker just woke by sending it a
//      message. It runs next and inherits the rest of the sender's time slice (Go's runnext):
//      a request/reply pair runs back to back on one core, with no queue traffic and no
//      cross-core wake-up.
//   2. every 8th pick, processes moved here on purpose (move_to_worker), which thieves may
//      not take (otherwise they come after the local queue);
//   2b. every 61st pick, its pool's global queue first (so it cannot starve behind busy
//      local work);
//   3. its inbox (processes woken from other threads), moved to the back of the local queue;
//   4. its local RunQueue (spawns at the front, wakes and yields at the back), refilled from
//      its overflow list when the pool balances;
//   5. its pool's global queue;
//   6. as a searcher (see idle.hpp), half of another worker's queue of its pool, if the pool's
//      policy steals;
//   7. otherwise it parks (idle.hpp, steps K1..K4), with a timeout at its next timer.
// An inactive worker (compacted away by the balancer, worker_pool.hpp) runs only what was
// moved to it on purpose (2) and its current process: every other process that becomes
// runnable on it is forwarded to an active worker of its pool (forward()), and it parks.
//
// Running a process is one switch into its fiber; the process switches back with a reason:
//   - kYield: its slice is spent or it called yield(): to the back of the queue.
//   - kBlock: it waits for a message (and maybe a deadline). The worker, now on its own stack,
//     arms the timer and blocks the mailbox (MpscInbox::try_block). Only now, after the
//     process's context is saved, may another thread wake it and resume it elsewhere; if a
//     message slipped in, the block fails and the process runs again at once.
//   - kExit: the worker closes its mailbox, bumps the generation (stale pids stop reaching the
//     slot) and recycles the record and the stack.
//   - kLost: the carrier lost this worker while the process ran (carrier.hpp): the loop
//     returns at once, without touching the worker, and the carrier requeues the process.
//
// Observability: a slice is cut into parts at each direct switch; slice_part_begin/end charge
// each part's reductions to the process that ran it (Process::reductions, for process_info)
// and, while observed, report it as one event (hooks.hpp, the tracer). When tracing is off that is
// one relaxed load and a branch per part.
//
// Per-worker state is reached from process code only through current_worker(), a function
// the compiler cannot inline or see through, because a process may resume on another worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/carrier.hpp"
#include "core/fiber.hpp"
#include "core/hooks.hpp"
#include "core/intrusive_fifo.hpp"
#include "core/process.hpp"
#include "core/run_queue.hpp"
#include "core/stack_pool.hpp"
#include "core/timer_wheel.hpp"
#include "ergon/mailbox/mpsc_inbox.hpp"

namespace ergon::detail {

class Scheduler;
class WorkerPool;
class Parker;

class Worker {
 public:
  Worker(Scheduler& sched, WorkerPool& pool, unsigned id);
  ~Worker();

  // --- the owner carrier only --------------------------------------------------------------
  // Runs processes until the carrier loses the worker or the scheduler stops.
  void loop(Carrier& c);
  // Returns what the worker caches (stacks, records) to the shared pools; after the loop.
  void release_caches() noexcept;
  // Whether anything waits to run here (for ergon::blocking's hand-off).
  bool has_work() const noexcept;
  // Makes a woken `p` runnable here. `by_process`: woken by a send from the running process
  // (p goes to runnext); otherwise to the back of the queue.
  // Inline (below): the fast path of every send that wakes its receiver is runnext.
  inline void make_runnable(Process* p, bool by_process) noexcept;
  // A newly spawned process: front of the queue.
  void push_spawn(Process* p) noexcept;
  void disarm_timer(Process* p) noexcept;
  // Called by a process `p` of this worker that is about to block with no deadline: if
  // runnext holds a started process, switches straight to it (Fiber::switch_to) and completes
  // p's block there. Returns false, having done nothing, otherwise. On true, p has been
  // resumed again (possibly on another worker): the caller must not touch `this` any more.
  // Inline, in core/direct_switch.hpp, for its one caller (wait, core/switches.cpp): every
  // blocking receive that hands the thread on goes through it.
  inline bool try_direct_switch(Carrier& c, Process* p) noexcept;
  StackCache& stack_cache() noexcept { return stack_cache_; }
  Process* take_record();  // a free process record (throws SpawnError)
  void counted_spawn() noexcept {
    bump(live_, 1);
    bump(spawned_, 1);
  }
  void count_sent() noexcept { bump(sent_, 1); }
  void count_dropped() noexcept { bump(dropped_, 1); }

  // --- any thread --------------------------------------------------------------------------
  // Hands `p` (whose wake-up the caller owns) to this worker through its inbox.
  void remote_wake(Process* p) noexcept;
  unsigned id() const noexcept { return id_; }
  // Its parking state, for Idle::unpark and the scheduler's shutdown (idle.hpp).
  Parker& parker() const noexcept { return parker_; }
  Scheduler& scheduler() const noexcept { return sched_; }
  WorkerPool& pool() const noexcept { return pool_; }
  // Compacted away (worker_pool.hpp). relaxed: written by the balancer; a stale read only
  // delays a forward by one scheduling round.
  bool inactive() const noexcept { return inactive_.load(std::memory_order_relaxed); }
  void set_inactive(bool v) noexcept { inactive_.store(v, std::memory_order_relaxed); }
  // The active worker this worker forwards its processes to while inactive.
  Worker& forward_target() const noexcept;
  // Balancer (any thread but the owner): takes up to `max` processes from the front of the
  // run queue into `out`, at most half of it. Returns how many.
  std::uint32_t take_for_migration(Process** out, std::uint32_t max) noexcept {
    return queue_.steal(out, max);
  }
  // Nanoseconds spent parked since the start, including a park in progress (any thread).
  std::int64_t parked_ns(std::int64_t now) const noexcept;
  void count_migrated_in(std::uint64_t n) noexcept {
    migrated_in_.fetch_add(n, std::memory_order_relaxed);  // relaxed: statistic, many writers
  }
  void count_migrated_out(std::uint64_t n) noexcept {
    migrated_out_.fetch_add(n, std::memory_order_relaxed);  // relaxed: as above
  }
  // Written by the balancer. relaxed: statistic.
  void set_utilization_ppm(std::uint32_t v) noexcept {
    util_ppm_.store(v, std::memory_order_relaxed);
  }

  // --- installing the scheduler's hooks (Scheduler::install, before any process runs) -------
  void set_observer(Observer* o) noexcept { observer_ = o; }

  // --- a driver (deterministic mode: one thread carries every worker, hooks.hpp) -----------
  // Makes the driver's carrier the worker's owner for good and seeds its steals.
  void drive_by(Driver* d, Carrier* c, std::uint64_t steal_seed) noexcept;
  // The next runnable process, or nullptr where the worker would park.
  Process* next_process();
  // Runs `p`'s slice (and any direct switches it makes) on carrier `c`.
  void run(Carrier& c, Process* p);
  // The earliest armed timer (INT64_MAX: none).
  std::int64_t next_timer() const noexcept { return timers_.next_deadline(); }
  // For the simulated mode's cost model (testing/deterministic.hpp, DP1..DP6), on the
  // driving thread: whether runnable work waits here (runnext, queue, overflow, inbox, pinned;
  // not timers), whether the inbox is empty, the reductions the part of a slice in progress has
  // spent so far (its budget at the part's start less what `budget`, the driving carrier's,
  // has left; until slice_part_end adds them to reductions()), and parking on the logical
  // clock (what park() records on the real one, for the balancer's B1).
  bool has_runnable() const noexcept {
    return runnext_ != nullptr || queue_.size_relaxed() != 0 || !overflow_.empty() ||
           !inbox_.empty() || !pinned_.empty();
  }
  bool inbox_empty() const noexcept { return inbox_.empty(); }
  std::uint64_t part_reductions(const std::int32_t* budget) const noexcept {
    const std::int32_t left = load_budget(budget);
    return slice_mark_ > left
               ? static_cast<std::uint64_t>(static_cast<std::int64_t>(slice_mark_) - left)
               : 0;
  }
  void simulated_park(std::int64_t since) noexcept {
    bump(parks_, 1);
    park_since_.store(since, std::memory_order_relaxed);  // relaxed: see park_since_
  }
  void simulated_unpark(std::int64_t now) noexcept {
    const std::int64_t since = park_since_.load(std::memory_order_relaxed);
    if (since != 0 && now > since) bump(parked_ns_, now - since);
    park_since_.store(0, std::memory_order_relaxed);  // relaxed: see park_since_
    bump(wakeups_, 1);
  }

  // Statistics. relaxed: single writer (this worker), read by stats().
  // acquire: pairs with the release decrement in finish() (Scheduler::kill_all_and_wait).
  std::int64_t live() const noexcept { return live_.load(std::memory_order_acquire); }
  std::uint64_t spawned() const noexcept { return spawned_.load(std::memory_order_relaxed); }
  std::uint64_t sent() const noexcept { return sent_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t processes_run() const noexcept { return runs_.load(std::memory_order_relaxed); }
  std::uint64_t steals() const noexcept { return steals_.load(std::memory_order_relaxed); }
  std::uint64_t reductions() const noexcept { return reductions_.load(std::memory_order_relaxed); }
  std::uint64_t migrated_in() const noexcept {
    return migrated_in_.load(std::memory_order_relaxed);
  }
  std::uint64_t migrated_out() const noexcept {
    return migrated_out_.load(std::memory_order_relaxed);
  }
  std::uint32_t utilization_ppm() const noexcept {
    return util_ppm_.load(std::memory_order_relaxed);
  }
  std::uint64_t parks() const noexcept { return parks_.load(std::memory_order_relaxed); }
  std::uint64_t wakeups() const noexcept { return wakeups_.load(std::memory_order_relaxed); }
  std::int64_t stacks_net() const noexcept {
    return stack_cache_.net.load(std::memory_order_relaxed);
  }
  // The carrier that owns the worker, or Carrier::kDeciding / kReleased (the watchdog).
  // acquire: the carrier read is fully constructed (its record is published under the pool
  // lock before it owns anything).
  Carrier* owner() const noexcept { return owner_.load(std::memory_order_acquire); }
  // Processes waiting in the run queue, overflow included (any thread; advisory).
  std::uint32_t queue_length() const noexcept {
    return queue_.size_relaxed() + overflow_len_.load(std::memory_order_relaxed);
  }

 private:
  friend class Scheduler;
  friend class Carrier;
  friend class CarrierPool;

  Process* find_work();
  Process* search();
  Process* steal();
  bool stopping_and_done() noexcept;  // the scheduler stops and no process is left
  void park();
  static void complete_block(void* prev) noexcept;
  static void complete_timed_block(Process* prev) noexcept;
  void finish(Process* p) noexcept;
  // H3 and H4 of hibernation (hibernate.hpp): takes the stack of a process that unwound for
  // ergon::hibernate and parks it; gives a woken hibernated process a fresh stack.
  void hibernate(Process* p) noexcept;
  void rehydrate(Process* p) noexcept;
  void drain_inbox() noexcept;
  Process* pop_pinned() noexcept;
  void push_pinned(Process* p) noexcept;
  void fire_timers(std::int64_t now) noexcept;
  void push_back(Process* p) noexcept;  // to the back of the ring, or spill() when it is full
  // The one policy for a full ring: `p` goes to the overflow list if the pool balances, else
  // half of the ring goes to the pool's global queue (Go's runqputslow). `front`: p was meant
  // for the ring's front (a spawn's displaced runnext), so it stays first.
  [[gnu::noinline]] void spill(Process* p, bool front) noexcept;
  void to_global(Process* p) noexcept;  // into the pool's global queue, waking a worker
  // A process with a class (Process::sclass): into its pool's ClassQueue, waking a worker.
  [[gnu::noinline]] void push_classed(Process* p) noexcept;
  Process* pick_classed() noexcept;  // ClassQueue::pick for this worker
  // slice_part_end's slow side: charges `spent` to a classed process's tenant.
  [[gnu::noinline]] void charge_class(Process* p, std::uint64_t spent) noexcept;
  void forward(Process* p) noexcept;          // while inactive: to forward_target()'s inbox
  void queue_displaced(Process* p) noexcept;  // make_runnable's slow path: back of the queue
  void forward_to(Worker& to, Process* p) noexcept;
  void evacuate() noexcept;                 // while inactive: forward runnext_ and the queue
  Process* pop_local() noexcept;            // the ring's front, refilled from overflow_
  void notify_after_search() noexcept;      // the last searcher wakes another (idle.hpp)
  void notify() noexcept;                   // work was pushed here: wake a thief if any steal
  bool work_visible() const noexcept;       // K2's re-check
  std::int64_t sched_now() const noexcept;  // Scheduler::now()
  void trace_slice(Process* p) noexcept;    // the part that began at slice_t0_ ends now
  // Observability (process_info.hpp, trace.hpp): the part of a slice that process `p` ran
  // ends with `left` reductions in the budget / another part begins. Owner only. Defined
  // below, inline: they run on every switch.
  void slice_part_end(Process* p, std::int32_t left) noexcept;
  void slice_part_begin(std::int32_t budget) noexcept;
  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  static void bump(std::atomic<std::int64_t>& c, std::int64_t n) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  Scheduler& sched_;
  WorkerPool& pool_;
  const unsigned id_;
  Observer* observer_;                 // the scheduler's (hooks.hpp); never null
  std::atomic<bool> inactive_{false};  // see inactive()
  // The carrier that runs this worker, or Carrier::kDeciding / kReleased (carrier.hpp).
  std::atomic<Carrier*> owner_{nullptr};

  RunQueue queue_;                                     // owner + thieves
  mailbox::MpscInbox<Process, &Process::link> inbox_;  // any thread pushes; owner takes
  Process* runnext_ = nullptr;                         // owner only
  IntrusiveFifo pinned_;                               // owner only: moved here on purpose
  // Owner only: runnable processes beyond the ring's 256, in order behind it, when the pool
  // balances (a BEAM run queue has no bound; the balancer moves the excess). Under the steal
  // policy the excess goes to the global queue instead, as in Go and Tokio.
  IntrusiveFifo overflow_;
  // overflow_'s length: written by the owner, read by the balancer. relaxed: advisory.
  std::atomic<std::uint32_t> overflow_len_{0};
  TimerWheel timers_;                   // owner only
  StackCache stack_cache_;              // owner only (but `net`)
  std::vector<Process*> free_records_;  // owner only
  std::uint64_t tick_ = 0;              // owner only
  std::int32_t slice_left_ = 0;         // owner only
  bool inherit_ = false;                // owner only
  bool searching_ = false;              // owner only
  std::uint32_t default_turns_ = 0;     // owner only: ClassQueue::pick's count
  // Owner only: a classed process armed a timer here since the wheel was last empty; the
  // timers are then checked at every pick (next_process).
  bool classed_timers_ = false;
  std::uint64_t rng_;  // owner only
  // The deterministic driver (hooks.hpp), or nullptr: set before any process runs.
  Driver* driver_ = nullptr;
  // Owner only: the budget when the current part of a slice began (a direct switch starts a
  // new part), and its start time while tracing (0: not traced).
  std::int32_t slice_mark_ = 0;
  std::int64_t slice_t0_ = 0;

  Parker& parker_;  // this worker's, owned by its pool's Idle (idle.hpp)

  std::atomic<std::int64_t> live_{0};  // spawned here minus ended here
  std::atomic<std::uint64_t> spawned_{0}, sent_{0}, dropped_{0}, runs_{0}, steals_{0}, parks_{0},
      wakeups_{0}, reductions_{0};
  // Time parked: parked_ns_ sums finished parks, park_since_ is the start of the current one
  // (0 when awake). Written by the owner, read by the balancer. relaxed: the balancer's
  // utilization is an estimate, clamped to 0..1; a torn pair of reads costs one window.
  std::atomic<std::int64_t> parked_ns_{0}, park_since_{0};
  // Any thread (forwards, the balancer). relaxed: statistics.
  std::atomic<std::uint64_t> migrated_in_{0}, migrated_out_{0};
  std::atomic<std::uint32_t> util_ppm_{0};  // the balancer's last estimate
};

// The end of a process that the stack guard abandoned for an overflow (stack_guard.hpp, SO3):
// runs from the top of its own stack, as process code, and ends it with reason stack_overflow
// the way every process ends. Passed to Fiber::restart by the guard's signal handler.
void overflow_entry(Fiber* f) noexcept;

inline void Worker::slice_part_begin(std::int32_t budget) noexcept {
  slice_mark_ = budget;
  slice_t0_ = observer_->on() ? sched_now() : 0;
}

inline void Worker::slice_part_end(Process* p, std::int32_t left) noexcept {
  // In 64 bits: a budget may be INT32_MAX and end overdrawn.
  if (slice_mark_ > left) {
    const auto spent = static_cast<std::uint64_t>(static_cast<std::int64_t>(slice_mark_) - left);
    bump(reductions_, spent);
    p->add_reductions(spent);
    if (p->cls() != 0) [[unlikely]]
      charge_class(p, spent);
  }
  if (slice_t0_ != 0) [[unlikely]] {
    trace_slice(p);
    slice_t0_ = 0;
  }
}

// The worker of the carrier running on this thread, or nullptr. Never inlined (see above).
// From process code, valid only between Carrier::enter and the next switch.
Worker* current_worker() noexcept;

// Carrier::enter2 and enter (carrier.hpp), here because they read owner_.
inline Carrier::Entered Carrier::enter2(Process* p) noexcept {
  Worker* w = worker_;
  if (w == nullptr) return {nullptr, this};  // inside ergon::blocking: no worker
  // relaxed + fence: E1 (see carrier.hpp). With membarrier the watchdog's T1 supplies the
  // full fence on our side, so ours only keeps the compiler from reordering E1 and E2.
  in_user_.store(0, std::memory_order_relaxed);
  if (g_membarrier) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  // relaxed: E2. Only this carrier installs itself as owner (or the pool, before this
  // carrier ran the worker, under its lock).
  if (w->owner_.load(std::memory_order_relaxed) == this) [[likely]]
    return {w, this};
  return enter_slow(p, w);
}

inline void Worker::make_runnable(Process* p, bool by_process) noexcept {
  if (by_process && !inactive()) [[likely]] {
    Process* old = runnext_;
    runnext_ = p;
    if (old == nullptr) return;
    p = old;  // the displaced one goes to the back, where others may steal it
  }
  queue_displaced(p);  // forwards it instead while this worker is inactive
}

inline Worker* Carrier::enter(Process* p, Carrier** now) noexcept {
  const Entered e = enter2(p);
  if (now != nullptr) *now = e.now;
  return e.w;
}

}  // namespace ergon::detail
