// Carrier: an OS thread that runs a worker's loop; the pool of spare carriers.
//
// Design (after Go's M and P)
// ------
// A Worker (worker.hpp) is scheduling state: run queue, runnext, inbox, timers. A Carrier is
// the OS thread that runs a worker's loop and the processes it picks. A runtime starts one
// carrier per worker. When a carrier is stuck in one process (a loop with no reduction point,
// a blocking system call), the watchdog (watchdog.hpp) takes the worker away from it and
// hands it to a spare carrier, which goes on running the worker's other processes. The stuck
// carrier finishes its process's slice alone. When that process next enters the runtime, it
// finds that its carrier lost the worker: it switches back to the carrier (reason kLost), the
// carrier sends it to the worker's inbox and joins the spare pool. ergon::blocking(fn) does
// the same on purpose, before the call.
//
// Ownership of a worker
// ---------------------
// Worker::owner_ names the carrier that may touch the worker's owner-only state, or is one of
// kDeciding (the watchdog is taking it) and kReleased (its carrier is inside
// ergon::blocking). A carrier runs process code and runtime code in turn; in_user_ is 1 while
// it runs process code. The protocol, with the owner carrier O and the watchdog D:
//   E1 (O enters the runtime from process code) in_user_ = 0, then a compiler fence (a full
//      fence when the kernel has no membarrier);
//   E2 (O) load owner_: if it is O, the worker is O's until E3. kDeciding: wait for D's
//      decision. Anything else: O has lost the worker (see above).
//   E3 (O returns to process code) in_user_ = 1 (release).
//   T1 (D, under the pool lock) CAS owner_ O -> kDeciding; membarrier(PRIVATE_EXPEDITED), a
//      full fence on every thread of the program that is running;
//   T2 (D) load O's in_user_ (acquire) and the worker's slice counter: if O is in process
//      code and has not switched since D's sample, owner_ = the spare carrier (commit);
//      otherwise owner_ = O again (abort).
// A carrier runs its loop and waits in the pool with in_user_ = 0: the pool clears it when it
// hands a worker over, and a carrier that learns it lost its worker clears it before it
// switches back to its loop.
// Invariant: after a commit, O does not touch the worker. Proof: if D read in_user_ = 1, O's
// last E1 that D did not see came after the fence that T1 forced on O's thread, so O's E2
// after it sees kDeciding or the new owner. The acquire in T2 pairs with O's E3: everything O
// wrote to the worker before it returned to process code is visible to the new carrier
// (D hands the worker over under the pool lock).
//
// Reductions
// ----------
// The running process's reduction budget is a thread-local of the carrier (ergon_budget),
// set when a slice starts. ergon::checkpoint() decrements it with one instruction on
// %fs (x86-64), which no compiler can hoist across a switch (docs/design.md, "thread_local
// across a context switch"); the runtime reads it through budget_slot(). The watchdog asks a
// process to yield by storing 0 into its carrier's budget.
//
// CPU time
// --------
// The watchdog must tell a carrier that computes from one the kernel did not run (an
// oversubscribed machine) or one blocked in a system call: wall-clock age says neither. Each
// carrier publishes its thread's CPU clock (pthread_getcpuclockid) when its thread starts, and
// the watchdog reads it with clock_gettime (cpu_ns). Rejected: /proc/self/task/<tid>/schedstat,
// which also gives the time spent waiting for a CPU, but is a file to open and parse on every
// reading and exists only with CONFIG_SCHED_INFO.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/fiber.hpp"
#include "util/held_locks.hpp"

extern "C" {
// The reduction budget of the process running on this thread (see above). Exported for the
// inline ergon::checkpoint(); anything else goes through ergon::detail::budget_slot().
extern __thread std::int32_t ergon_budget;
}

namespace ergon::detail {

// Whether membarrier(PRIVATE_EXPEDITED) is registered (carrier.cpp): set once by the first
// CarrierPool before it starts any carrier (thread creation publishes it to them); later pools
// find it set. A plain bool, read on every runtime entry (E1) without a guard.
extern bool g_membarrier;

class Scheduler;
class Worker;
struct Process;

class Carrier {
 public:
  // Sentinels for Worker::owner_.
  static Carrier* const kDeciding;
  static Carrier* const kReleased;

  Carrier(Scheduler& sched, unsigned id);
  Carrier(const Carrier&) = delete;
  Carrier& operator=(const Carrier&) = delete;

  // --- this carrier's thread only ----------------------------------------------------------
  Worker* worker() const noexcept { return worker_; }
  Process* current() const noexcept { return current_.load(std::memory_order_relaxed); }
  // relaxed: single writer; the watchdog reads it only to name the process in a report.
  void set_current(Process* p) noexcept { current_.store(p, std::memory_order_relaxed); }
  SwitchPoint& switch_point() noexcept { return switch_point_; }
  bool in_blocking() const noexcept { return blocking_; }
  // E1 + E2: the worker this carrier owns, ready for runtime code; on a lost worker, sends
  // the calling process `p` back to its worker and returns the worker it then runs on.
  // `now`, if given, receives the carrier that runs p when enter returns. Inline, in
  // worker.hpp (it reads Worker::owner_): every send and every blocking receive enters.
  inline Worker* enter(Process* p, Carrier** now = nullptr) noexcept;
  // enter() with both answers returned by value (in registers: no address of a local escapes
  // into the slow path, so callers keep them out of memory).
  struct Entered {
    Worker* w;     // the worker, or nullptr inside ergon::blocking
    Carrier* now;  // the carrier that runs p when this returns
  };
  inline Entered enter2(Process* p) noexcept;
  // E3.
  void leave() noexcept {
    // release: pairs with the watchdog's acquire in T2 (see above).
    in_user_.store(1, std::memory_order_release);
  }
  // The worker was taken while `p` ran: remember p for the loop, which requeues it.
  void set_lost(Process* p) noexcept { lost_ = p; }
  Process* lost() const noexcept { return lost_; }

  // ergon::blocking, around the call (see core/switches.cpp).
  void release_for_blocking() noexcept;
  void reclaim_after_blocking(Process* p) noexcept;
  // A blocking call inside another one changes nothing; these count the nesting.
  void enter_nested_blocking() noexcept { ++blocking_depth_; }
  bool leave_nested_blocking() noexcept {  // true: an outer blocking call is still active
    if (blocking_depth_ == 0) return false;
    --blocking_depth_;
    return true;
  }

  // --- the watchdog ------------------------------------------------------------------------
  // acquire: pairs with leave() (T2).
  bool in_user() const noexcept { return in_user_.load(std::memory_order_acquire) != 0; }
  Process* running() const noexcept { return current_.load(std::memory_order_relaxed); }
  std::int32_t* budget() const noexcept { return budget_slot_; }
  int tid() const noexcept { return tid_.load(std::memory_order_relaxed); }
  // The CPU time this carrier's thread has used, in nanoseconds, or -1 when it cannot be read
  // (the thread has not started, has exited, or the clock is refused). A system call (about
  // 1 us on a busy machine): the watchdog reads it only for slices older than preempt_after.
  std::int64_t cpu_ns() const noexcept;
  unsigned id() const noexcept { return id_; }
  Scheduler& scheduler() const noexcept { return sched_; }

  // --- deterministic mode (deterministic.hpp): the one carrier, on the driving thread -----
  // Makes the calling thread this carrier (its process switches, budget and overflow guard)
  // until unbind; the thread must not be a carrier already.
  void bind_to_this_thread() noexcept;
  void unbind_from_this_thread() noexcept;
  // The worker the next step runs.
  void drive(Worker* w) noexcept { worker_ = w; }

 private:
  friend class CarrierPool;
  void main();
  Entered enter_slow(Process* p, Worker* w) noexcept;

  Scheduler& sched_;
  const unsigned id_;
  std::thread thread_;
  SwitchPoint switch_point_;               // this thread only
  Worker* worker_ = nullptr;               // this thread only: the worker it believes it owns
  Worker* blocked_worker_ = nullptr;       // this thread only: released by ergon::blocking
  Process* lost_ = nullptr;                // this thread only
  bool blocking_ = false;                  // this thread only: inside ergon::blocking
  unsigned blocking_depth_ = 0;            // this thread only: nested blocking calls
  std::atomic<std::uint32_t> in_user_{0};  // E1/E3 (see above)
  std::atomic<Process*> current_{nullptr};
  std::int32_t* budget_slot_ = nullptr;  // &ergon_budget of this thread; set before it is pooled
  std::atomic<int> tid_{0};              // relaxed: for the stall report's /proc lookup
  // The thread's CPU clock (a clockid_t), or kNoCpuClock: written by the thread when it starts
  // and before it exits, read by the watchdog (cpu_ns). relaxed: a self-contained value; a
  // stale one reads an exited thread's clock, which fails (-1), or is the sentinel.
  static constexpr std::int64_t kNoCpuClock = INT64_MIN;
  std::atomic<std::int64_t> cpu_clock_{kNoCpuClock};
  void publish_cpu_clock() noexcept;  // this carrier's thread: its own clock

  // Guarded by the pool's lock.
  Worker* assigned_ = nullptr;  // the worker handed to this spare carrier
  bool idle_ = false;           // in the spare pool
  bool exited_ = false;         // its thread has returned (joinable)
  bool demoted_ = false;        // its priority was lowered (demote)
  std::condition_variable cv_;
};

// The carriers of one scheduler: one per worker to begin with, plus spares.
class CarrierPool {
 public:
  CarrierPool(Scheduler& sched, unsigned max_spare, std::chrono::nanoseconds keepalive);
  ~CarrierPool();

  // Starts one carrier per worker.
  void start(unsigned workers);
  // Stops and joins every carrier (the workers must be out of work).
  void stop();
  // The pool will never be stopped (Scheduler::abandon): carriers that have exited are
  // detached, and those that exit later detach themselves, since nobody will join them.
  void abandon();

  // T1..T2 for a worker owned by `owner` that the watchdog saw in process code in slice
  // `runs`: takes it and hands it to a spare carrier. Returns false (having changed nothing)
  // if the carrier had moved on, or no spare carrier may be started (the cap).
  bool retake(Worker* w, Carrier* owner, std::uint64_t runs);
  // Hands a worker released by ergon::blocking (owner_ == kReleased) to a spare carrier.
  bool take_released(Worker* w);
  // For the carrier `c` that owns `w` and is about to make a blocking call: hands `w` to a
  // spare carrier now. False if none may be started.
  bool hand_off_now(Worker* w, Carrier* c);
  // Asks the process running on `owner` (which owns `w`) to yield at its next reduction
  // point, if `owner` still owns `w`.
  void request_yield(Worker* w, Carrier* owner);
  // Lowers the priority of a carrier that lost its worker to a loop with no reduction point
  // (nice `nice`), so that the workers' threads win the cores from it. The carrier restores
  // its priority before it carries a worker again, or exits if the system refuses.
  void demote(Carrier* c, int nice);

  // The processes that carriers run at this moment (process_info's kRunning). Any thread; a
  // snapshot, stale as soon as it returns. Process code calls it (process_info), outside the
  // runtime's entry: the lock counts as held (util/held_locks.hpp).
  std::vector<const Process*> running_processes() {
    std::lock_guard<std::mutex> g(mu_);
    CountedSection counted;
    std::vector<const Process*> v;
    for (auto& c : all_) {
      if (const Process* p = c->running()) v.push_back(p);
    }
    return v;
  }

  // Statistics. relaxed: counters.
  std::uint64_t handoffs() const noexcept { return handoffs_.load(std::memory_order_relaxed); }
  std::uint64_t cap_hits() const noexcept { return cap_hits_.load(std::memory_order_relaxed); }
  unsigned carriers() const noexcept { return live_.load(std::memory_order_relaxed); }

 private:
  friend class Carrier;
  // Requires mu_. A spare carrier for `w` (an idle one, or a new one), or nullptr at the cap.
  Carrier* spare_for(Worker* w);
  // A spare carrier waits here; nullptr means exit.
  Worker* wait_for_work(Carrier* c);
  void reap();  // requires mu_: joins carriers that have exited

  Scheduler& sched_;
  const unsigned max_spare_;
  const std::chrono::nanoseconds keepalive_;
  unsigned workers_ = 0;
  std::mutex mu_;
  std::vector<std::unique_ptr<Carrier>> all_;  // guarded by mu_
  std::vector<Carrier*> idle_;                 // guarded by mu_
  bool stopping_ = false;                      // guarded by mu_
  bool abandoned_ = false;                     // guarded by mu_ (abandon)
  std::atomic<unsigned> live_{0};              // carriers whose thread runs
  std::atomic<std::uint64_t> handoffs_{0}, cap_hits_{0};
};

// The carrier running on this thread, or nullptr. Never inlined: a process may resume on
// another carrier after any switch.
Carrier* current_carrier() noexcept;
// &ergon_budget of this thread. Never inlined, for the same reason.
std::int32_t* budget_slot() noexcept;
// Whether membarrier(PRIVATE_EXPEDITED) is available (E1 then needs only a compiler fence).
bool have_membarrier() noexcept;
// T1's fence on every running thread.
void heavy_fence() noexcept;

// Relaxed access to a budget (the watchdog writes other carriers' budgets).
inline std::int32_t load_budget(const std::int32_t* b) noexcept {
  return __atomic_load_n(b, __ATOMIC_RELAXED);
}
inline void store_budget(std::int32_t* b, std::int32_t v) noexcept {
  __atomic_store_n(b, v, __ATOMIC_RELAXED);
}

// Takes `n` reductions from this thread's budget and returns what is left: one instruction
// on %fs and one load (x86-64), as ergon::checkpoint() does, with no call to budget_slot().
// The address is formed inside the instructions, so no compiler can carry one thread's budget
// address across a switch. The watchdog's store of 0 may land between the two: the load then
// sees it and the caller yields, as it should.
inline std::int32_t take_budget(std::int32_t n) noexcept {
#if defined(__x86_64__) && defined(__GNUC__)
  long offset;
  std::int32_t left;
  __asm__("movq ergon_budget@gottpoff(%%rip), %0" : "=r"(offset));
  __asm__ volatile("subl %2, %%fs:(%1)\n\tmovl %%fs:(%1), %0"
                   : "=r"(left)
                   : "r"(offset), "r"(n)
                   : "cc", "memory");
  return left;
#else
  std::int32_t* b = budget_slot();
  const std::int32_t left = load_budget(b) - n;
  store_budget(b, left);
  return left;
#endif
}

}  // namespace ergon::detail
