// Process: the runtime's record of one process (what users spawn).
//
// Records live in the process table (process_table.hpp) and are never freed, only reused: a
// record's memory stays a Process for the life of the program ("type-stable"). That lets a
// sender, a timer or the shutdown sweep touch a record that may have just ended without any
// reference counting: the worst they can do to a reused record is a spurious wake-up, which
// every wait tolerates (receive re-checks; sleep re-checks the clock).
//
// Ownership of the fields (see docs/design.md, "Process states"):
//   - generation, state, sched: written by the worker that starts or ends the process; read
//     by anyone (atomics).
//   - mailbox: its inbox is multi-producer; the cache belongs to the process.
//   - fiber, stack, closure, reason, deadline: the process itself, or the worker that
//     is running it (one at a time, handed over by the switch).
//   - link: whoever holds the record in a queue (global queue, a worker's inbox, a free list).
//   - timer_*: the worker in timer_owner while it is set (see timer_wheel.hpp).
//   - inject_crashes, fault_rng, overflowed: the process only (set at spawn while the record is
//     private; overflowed also by the stack guard's handler, on the process's own thread).
//   - exiting, monitors, held, links, trap_exit, kill_reason: sig_lock, taken by the process
//     and by any process that monitors, links or signals it (monitor.cpp, link.cpp).
//   - parent and the observed fields (reductions, on_worker, waiting_in, stack_*): reset at
//     spawn under sig_lock, then written by their one writer each (see below) and read by
//     process_info (process_info.cpp) under sig_lock after it checked the generation, so a
//     reader never mixes two occupants of the record.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/fiber.hpp"
#include "core/stack_pool.hpp"
#include "core/switches.hpp"
#include "ergon/detail/api.hpp"
#include "ergon/mailbox/mailbox.hpp"
#include "ergon/monitor.hpp"
#include "ergon/options.hpp"
#include "ergon/tenant.hpp"
#include "util/spin_lock.hpp"
#include "util/xoshiro.hpp"

namespace ergon::detail {

class Worker;
class WorkerPool;
struct IoHandle;
struct TenantRec;

// Why a process switched back to its worker.
// kLost: its carrier lost the worker while it ran (carrier.hpp); it is requeued there.
// kHibernate: it unwound for ergon::hibernate; its worker takes its stack (hibernate.hpp).
enum class SwitchReason : std::uint8_t { kYield, kBlock, kExit, kMove, kLost, kHibernate };

enum class ProcessState : std::uint8_t { kFree, kAlive };

struct Process {
  // Identity. generation: written (release) by the worker that ends the process; read
  // (acquire) by senders checking a Pid. Never 0.
  std::atomic<std::uint32_t> generation{1};
  std::uint32_t index = 0;
  // Written when the slot is taken and when it is freed; read by the shutdown sweep.
  // release/acquire: a sweep that sees kAlive also sees sched.
  std::atomic<ProcessState> state{ProcessState::kFree};
  // The scheduler the record belongs to, or last belonged to after its process ended (a late
  // send from outside the runtime is counted there); cleared by that scheduler's destructor.
  std::atomic<Scheduler*> sched{nullptr};

  mailbox::Mailbox mailbox;
  Fiber fiber;
  Stack stack;
  Closure closure;

  Process* link = nullptr;  // intrusive link for the queue that holds the record

  // What check_signals must look at after every switch, in one byte so that its fast path is
  // one load and a branch (docs/benchmarks.md, issue 15):
  //   kSigKill       set by the shutdown sweep or an exit signal (release RMW), then the
  //                  process's mailbox is notified (MpscInbox U2, so the wake-up is not lost);
  //                  read by the process (acquire: is_killed, check_signals);
  //   kSigInterrupt  set (release RMW) by a nursery child that failed, for the nursery's owner,
  //                  which is this process; notified like a kill. The process clears it
  //                  (take_interrupt, acq_rel) when it throws Interrupted, or when its nursery
  //                  takes the failure over (nursery.cpp);
  //   kSigInject     whether its reduction points may crash it by fault injection (faults.hpp):
  //                  set at spawn, cleared by the process (relaxed: it reads it only itself).
  // Other threads set bits while the process clears its own: every change is an RMW. A record
  // that is private (being spawned or recycled) is reset with a plain store.
  // Rejected: three flags (three loads and branches per check, twice per wait: 24
  // instructions per pingpong round trip); a summary flag beside them (clearing it races with
  // a setter unless both sides are seq_cst).
  static constexpr std::uint8_t kSigKill = 1, kSigInterrupt = 2, kSigInject = 4;
  std::atomic<std::uint8_t> signals{0};
  // Its scheduling class (class_queue.hpp): kClassPriority while its priority is not normal,
  // kClassTenant while its tenant is not the default one. 0 (the common case) keeps it on the
  // worker's ring, runnext and stealing; anything else routes its wake-ups and yields to its
  // pool's ClassQueue. Beside `signals`, in padding: the record does not grow, and the checks
  // of it (push_back, slice_part_end, the send) read a line they touch anyway. Written by the
  // process itself (set_priority, move_to) or at spawn while the record is private; read by
  // the worker that queues it after the switch (which orders it) and by senders on any thread
  // (so an atomic, relaxed on both sides: a stale value misattributes one message count; no
  // other data is read through it).
  static constexpr std::uint8_t kClassPriority = 1, kClassTenant = 2;
  // relaxed everywhere: see above.
  std::atomic<std::uint8_t> sclass{0};
  std::uint8_t cls() const noexcept { return sclass.load(std::memory_order_relaxed); }
  void set_cls(std::uint8_t c) noexcept { sclass.store(c, std::memory_order_relaxed); }
  // With sclass: written by the process or at spawn, read by whoever queues it after the
  // switch (ordered by it).
  Priority priority = Priority::kNormal;
  bool is_killed() const noexcept {
    return (signals.load(std::memory_order_acquire) & kSigKill) != 0;  // acquire: see above
  }
  void set_killed() noexcept {
    signals.fetch_or(kSigKill, std::memory_order_release);  // release: pairs with is_killed
  }
  void set_interrupt() noexcept {
    // release: pairs with take_interrupt's acquire.
    signals.fetch_or(kSigInterrupt, std::memory_order_release);
  }
  bool take_interrupt() noexcept {
    // acq_rel: pairs with set_interrupt's release.
    return (signals.fetch_and(static_cast<std::uint8_t>(~kSigInterrupt),
                              std::memory_order_acq_rel) &
            kSigInterrupt) != 0;
  }
  bool inject_crashes() const noexcept {
    return (signals.load(std::memory_order_relaxed) & kSigInject) != 0;  // relaxed: own bit
  }
  void stop_injecting_crashes() noexcept {  // the process itself (or its end)
    if (inject_crashes())
      signals.fetch_and(static_cast<std::uint8_t>(~kSigInject), std::memory_order_relaxed);
  }
  // A private record: spawn and recycling. relaxed: published by spawn_commit's state store.
  void reset_signals(std::uint8_t to) noexcept { signals.store(to, std::memory_order_relaxed); }
  // The process only. While shield > 0, `killed` does not throw: a nursery that is cancelling
  // its children must still wait for them (nursery.cpp).
  std::uint32_t shield = 0;
  // The process only: its innermost open nursery (a NurseryCore on its stack), or nullptr.
  void* nursery = nullptr;
  // The process only: called as its very last act, after its Downs and exit signals (a
  // nursery child reports its end this way, nursery.cpp). Cleared at spawn.
  void (*at_end)(void*) = nullptr;
  void* at_end_arg = nullptr;
  // The process that spawned it (Pid{} if spawned from outside): a supervisor's parent is
  // the one whose exit signal stops it (supervisor.cpp). Written at spawn.
  Pid parent;
  // Holds a registered name (registry.hpp): set under the registry's lock, read when the
  // process ends. relaxed: a hint; the registry re-checks liveness on every lookup.
  std::atomic<bool> registered{false};

  // Monitors, both sides (monitor.cpp has the protocol). `monitors`: the monitors on this
  // process, who gets a Down when it ends. `held`: the monitors this process holds on others,
  // so that its end can take them off their targets and a target's end can take them off
  // here. Both guarded by sig_lock, with `exiting`, which the process sets (under the lock)
  // when it starts ending: a monitor() that finds it set, or finds the generation changed,
  // answers noproc. monitor() adds to both lists at once under lock_two.
  struct MonitorEntry {
    std::uint64_t ref;
    Pid watcher;
  };
  struct HeldMonitor {
    std::uint64_t ref;
    Pid target;
    std::string name;  // the registered name it was made by (monitor(name)), or empty
  };
  SpinLock sig_lock;
  bool exiting = false;                // guarded by sig_lock
  std::vector<MonitorEntry> monitors;  // guarded by sig_lock
  std::vector<HeldMonitor> held;       // guarded by sig_lock
  // Downs whose held entry an ending target has taken out (under sig_lock) and not yet pushed
  // into this mailbox: incremented under sig_lock, decremented (release) after the push, read
  // (acquire) by demonitor's flush. Never reset: a target may finish a send to a record that
  // has been reused since, and its decrement must still balance its increment.
  std::atomic<std::uint32_t> downs_in_flight{0};
  // Links (link.hpp), guarded by sig_lock like the monitors; trap_exit is written by the
  // process under the lock and read by signal senders under it. kill_reason: set with
  // kSigKill by an exit signal that ends the process; it ends with that reason.
  std::vector<Pid> links;
  bool trap_exit = false;
  bool has_kill_reason = false;
  ExitReason kill_reason;
  Pid kill_sender;  // the process whose signal set kill_reason
  // The sockets it owns (io_handle.hpp, "Ownership"), a list through IoHandle::owned_*.
  // Guarded by sig_lock; empty when the process ends (its end closes them), so a new process
  // of the record starts with none.
  IoHandle* io_owned = nullptr;

  // --- Observed (ergon/process_info.hpp) ------------------------------------------------------
  // Each has one writer at a time, named below, and is read by process_info on any thread.
  // relaxed everywhere: advisory statistics, nothing is read through them (the generation
  // check under sig_lock is what ties them to one process). No RMW: load + store.
  // Reductions its slices spent: the worker running it (Worker::run, try_direct_switch).
  std::atomic<std::uint64_t> reductions{0};
  // The worker it runs on, or last ran on: written with `home`.
  std::atomic<std::uint32_t> on_worker{0};
  // What it waits in, as wait()'s caller named it ("sleep", "nursery", ...; static strings),
  // or nullptr for a receive: the process, before every block (detail::wait). Meaningful
  // while its mailbox is blocked; waiting_label() resolves it.
  std::atomic<const char*> waiting_in{nullptr};
  // Its stack's top and size, set at spawn (the bytes in use when it last switched out are
  // top minus Fiber::saved_context()).
  std::atomic<std::uintptr_t> stack_top{0};
  std::atomic<std::size_t> stack_bytes{0};
  // What its receives wait in while a detail::WaitLabel is in scope (e.g. "supervisor call"
  // around a receive), or nullptr. Written by the process; read by process_info. relaxed: a
  // label, advisory like waiting_in.
  std::atomic<const char*> wait_label{nullptr};

  // At spawn, before the record is published: the parent and the observed fields, under
  // sig_lock (see the ownership notes at the top).
  void reset_observed(Pid spawner, const Stack& s, unsigned worker) noexcept {
    sig_lock.lock();
    parent = spawner;
    reductions.store(0, std::memory_order_relaxed);
    on_worker.store(worker, std::memory_order_relaxed);
    waiting_in.store(nullptr, std::memory_order_relaxed);
    stack_top.store(reinterpret_cast<std::uintptr_t>(s.lo) + s.size, std::memory_order_relaxed);
    stack_bytes.store(s.size, std::memory_order_relaxed);
    wait_label.store(nullptr, std::memory_order_relaxed);
    sig_lock.unlock();
  }
  // The running worker, at the end of a slice of this process (or its part of one).
  void add_reductions(std::uint64_t n) noexcept {
    reductions.store(reductions.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // Bytes of its stack in use when it last switched out (0 before it first ran). Any thread,
  // under sig_lock like the other observed fields.
  std::size_t stack_in_use() const noexcept {
    const auto top = stack_top.load(std::memory_order_relaxed);
    const auto at = reinterpret_cast<std::uintptr_t>(fiber.saved_context());
    const auto size = stack_bytes.load(std::memory_order_relaxed);
    return at != 0 && at < top && top - at <= size ? top - at : 0;
  }
  // What it waits in, for process_info: the wait's own name, else the WaitLabel in scope, else
  // a plain receive, with or without a timeout. Resolved here, by the reader, so that a block
  // stores one word. Any thread, under sig_lock.
  const char* waiting_label() const noexcept {
    if (const char* w = waiting_in.load(std::memory_order_relaxed)) return w;
    if (const char* l = wait_label.load(std::memory_order_relaxed)) return l;
    return deadline.load(std::memory_order_relaxed) == kNoDeadline ? "receive" : "receive (after)";
  }

  Worker* home = nullptr;  // the worker it last ran on (written by that worker)
  // The pool it runs in: set at spawn, changed only by a move (kMove), both while nobody else
  // can reach the record; a waker reads it after winning the wake-up (which orders it).
  WorkerPool* pool = nullptr;
  Worker* timer_owner = nullptr;  // non-null while a timer is armed for it (see above)
  Process* timer_prev = nullptr;  // timer wheel links, owned by timer_owner
  Process* timer_next = nullptr;
  std::int64_t timer_deadline = 0;
  bool timer_linked = false;  // in timer_owner's wheel (false once expired)

  // Of the current wait: written by the process (wait()) and by whoever frees or spawns the
  // record; read by its worker after the switch (which orders it) and by process_info, for
  // "receive (after)". relaxed: the switch orders the worker's read; process_info's is advisory.
  std::atomic<std::int64_t> deadline{kNoDeadline};
  // Set by the timer owner when the deadline woke the process; read by the process after it
  // resumes (the run-queue hand-off orders the two).
  bool timed_out = false;
  SwitchReason reason = SwitchReason::kYield;
  unsigned move_target = 0;  // with kMove: the worker to resume on
  bool pinned = false;       // with kMove: the target keeps it from thieves

  // The process only (faults.hpp): the stream its fault decisions are drawn from (whether
  // they are drawn at all is kSigInject). Set at spawn; unseeded when fault injection is off.
  // Set by the stack guard's handler, on the process's own thread, when it ends the process
  // for a stack overflow (Options::on_stack_overflow = kEndProcess, stack_guard.hpp); read by
  // the process's end (overflow_entry, the closure's destructors: a nursery child's, run()'s
  // main) and by the handler, which aborts on a second overflow. The process only; cleared at
  // spawn. (It fills padding before fault_rng: the record does not grow.)
  bool overflowed = false;
  Xoshiro256 fault_rng;
  // (Last among the fields: the generator is 32 bytes, which must not push the hot fields above
  // onto other cache lines; pingpong measured 2 ns per round trip when it sat near the top.)

  // The call alias (otp/call.cpp, docs/design.md "Calls and aliases"): the tag of the call()
  // this process waits in, or 0. Written by the process (activate: store; withdraw: CAS to 0)
  // and by a reply() on any thread (claim: CAS tag -> 0); exactly one of withdraw and claim
  // wins, and only a claimed Reply is pushed. Reset at birth (OtpLifecycle::born). After
  // fault_rng: nothing hot moves for a field that only calls touch.
  std::atomic<std::uint64_t> alias{0};

  // --- Bounded mailbox (core/bounded.hpp; cold, so after the hot fields) -------------------
  // The policy of a bounded mailbox (SpawnOptions): written at spawn while the record is
  // private; read by senders after their generation check. relaxed: published with the record
  // (spawn_commit's release); a sender that read a later occupant's values sends a message
  // the stamp check drops.
  std::atomic<MailboxPolicy> overflow{MailboxPolicy::kBlock};
  std::atomic<std::int64_t> send_timeout_ns{0};  // 0: forever
  std::atomic<std::uint64_t> fallback{0};        // Pid::raw()
  // Messages its policy dropped: senders (drop newest, forward with nowhere to go) and the
  // process (drop oldest), by RMW. relaxed: a statistic. Reset at spawn.
  std::atomic<std::uint64_t> mailbox_dropped{0};
  // The senders waiting for a slot in this mailbox (bounded.hpp, B2/B3), guarded by
  // senders_lock together with the mailbox's waiter count (Mailbox::add_waiter).
  SpinLock senders_lock;
  std::vector<Process*> waiting_senders;
  // The pid (raw) whose full mailbox this process waits to send to, or 0: written by the
  // process around a wait for a slot, read by other senders looking for a cycle. seq_cst on
  // both sides: two processes that start waiting on each other at once store, then load the
  // other's; seq_cst forbids both loads missing both stores (the store-load hazard).
  std::atomic<std::uint64_t> send_blocked_on{0};
  // --- Class (class_queue.hpp, tenant.hpp; cold: read only when sclass != 0) ---------------
  // Its tenant, or nullptr for the default one; written like sclass. When it entered a
  // ClassQueue: written by the pusher, read by the picker, under the queue's lock.
  // relaxed: as sclass.
  std::atomic<TenantRec*> tenant{nullptr};
  TenantRec* tenant_rec() const noexcept { return tenant.load(std::memory_order_relaxed); }
  std::int64_t queued_at = 0;
  // A private record (its end, or an aborted spawn): back to no class.
  void clear_class() noexcept {
    set_cls(0);
    priority = Priority::kNormal;
    tenant.store(nullptr, std::memory_order_relaxed);  // relaxed: the record is private
  }

  // After every switch back into the process: a kill (unless shielded) ends it, a nursery
  // interrupt unwinds it to its nursery, and fault injection may crash it (crash_point).
  void check_signals() {
    // acquire: pairs with the release RMWs of the shutdown sweep, signal_exit and the
    // interrupter. One load: every bit is rare.
    const std::uint8_t s = signals.load(std::memory_order_acquire);
    if (s != 0) [[unlikely]]
      act_on_signals(s);
  }
  // check_signals' slow side, in the order it always had: a kill, an interrupt, a crash point.
  [[gnu::noinline]] void act_on_signals(std::uint8_t s) {
    if ((s & kSigKill) != 0 && shield == 0) throw Shutdown{};
    if ((s & kSigInterrupt) != 0 && take_interrupt()) throw Interrupted{};
    if ((s & kSigInject) != 0)
      crash_point(this, "a switch back into it (after a wait, a yield or a move)");
  }

  Pid pid() const noexcept {
    // relaxed: the process reads its own generation, which only its worker changes at exit.
    return Pid(index, generation.load(std::memory_order_relaxed));
  }

  // The record whose `mailbox` is `mb` (the receive loop holds only the mailbox: wait_on,
  // release_counted). Process is standard-layout (asserted below), so offsetof is defined.
  static Process* of_mailbox(mailbox::Mailbox* mb) noexcept {
    return reinterpret_cast<Process*>(reinterpret_cast<char*>(mb) - offsetof(Process, mailbox));
  }
};
static_assert(std::is_standard_layout_v<Process>, "Process::of_mailbox needs offsetof");

// Switches the calling process `p` out to the back of its queue (inside an entry,
// in_runtime.hpp); with `check`, checks its signals when it is back (switches.hpp).
inline void yield_process(Process* p, bool check = true) {
  p->reason = SwitchReason::kYield;
  p->fiber.suspend();
  if (check) p->check_signals();
}

// Names what the calling process waits in, for process_info, while it lives: the waits in its
// scope store `what` (a static string) instead of their default. The process only.
class WaitLabel {
 public:
  // relaxed: see Process::wait_label.
  WaitLabel(Process* p, const char* what) noexcept
      : p_(p), old_(p->wait_label.load(std::memory_order_relaxed)) {
    p->wait_label.store(what, std::memory_order_relaxed);
  }
  ~WaitLabel() { p_->wait_label.store(old_, std::memory_order_relaxed); }
  WaitLabel(const WaitLabel&) = delete;
  WaitLabel& operator=(const WaitLabel&) = delete;

 private:
  Process* p_;
  const char* old_;
};

// Whether `pid` still names the live process of record `p`, and it is not ending. Requires
// p->sig_lock. The generation check makes a stale pid harmless.
inline bool alive_locked(const Process* p, Pid pid) noexcept {
  // acquire: pairs with the release stores of the generation (Worker::finish) and the state
  // (spawn_commit, Worker::finish).
  return p->generation.load(std::memory_order_acquire) == pid.generation() &&
         p->state.load(std::memory_order_acquire) == ProcessState::kAlive && !p->exiting;
}

// Locks the sig_locks of two records (or one, when a == b) in address order, the one way to
// hold two of them at once (so two processes locking each other's records cannot deadlock).
inline void lock_two(Process* a, Process* b) noexcept {
  if (a == b) {
    a->sig_lock.lock();
  } else if (a < b) {
    a->sig_lock.lock();
    b->sig_lock.lock();
  } else {
    b->sig_lock.lock();
    a->sig_lock.lock();
  }
}
inline void unlock_two(Process* a, Process* b) noexcept {
  a->sig_lock.unlock();
  if (a != b) b->sig_lock.unlock();
}

}  // namespace ergon::detail
