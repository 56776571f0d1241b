// The send path, steps 2-4. See send.hpp.
#include "core/send.hpp"

#include "core/bounded.hpp"
#include "core/hooks.hpp"
#include "core/in_runtime.hpp"
#include "core/process_table.hpp"
#include "core/scheduler.hpp"
#include "core/switches.hpp"
#include "core/tenant.hpp"
#include "ergon/mailbox/mailbox.hpp"

namespace ergon::detail {
namespace {

void count_drop(Worker* w, Scheduler* s) noexcept {
  if (w != nullptr) {
    w->count_dropped();
  } else if (s != nullptr) {
    s->external_dropped.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  }
}

// A push that found the receiver gone: the envelope is dropped and counted, and a counted one
// gives its slot back (B3). Out of line and cold, so that the send's hot path keeps its
// registers (bench/budget.py send_blocked).
[[gnu::noinline, gnu::cold]] void closed_push(mailbox::Envelope* e, Process* target, Scheduler* s,
                                              Worker* w, bool by_process) noexcept {
  if ((e->flags & mailbox::kCounted) != 0 &&
      target->mailbox.release_slot() == mailbox::Mailbox::Release::kSenderWaits) {
    wake_one_sender(target, w, by_process);
  }
  mailbox::dispose(e);
  count_drop(w, s);
}

// The tenants' message counters, for a send between processes of which at least one has a
// tenant (Stats::tenants). Out of line: a send between default-tenant processes pays a test.
[[gnu::noinline, gnu::cold]] void count_tenant_message(const Process* from,
                                                       const Process* to) noexcept {
  // relaxed: statistics.
  if (TenantRec* t = from->tenant_rec()) t->messages_out.fetch_add(1, std::memory_order_relaxed);
  if (TenantRec* t = to->tenant_rec()) t->messages_in.fetch_add(1, std::memory_order_relaxed);
}

// Steps 2-4 of a send (docs/design.md, "From send to a handler"): the pid's record, its
// generation, the push and the wake-up. Returns false when `e` was dropped (and counted).
// `by_process`: the sender is a process of `w` (it has entered the runtime, InRuntime).
[[gnu::always_inline]] inline bool push_envelope(Pid to, mailbox::Envelope* e, Process* target,
                                                 Scheduler* s, Worker* w,
                                                 bool by_process) noexcept {
  e->stamp = to.generation();
  switch (target->mailbox.push(e)) {
    case mailbox::PushResult::kQueued:
      break;
    case mailbox::PushResult::kUnblockedReader:
      // We own the wake-up. The acquire in push() made the blocker's writes (sched, timer)
      // visible.
      target->sched.load(std::memory_order_relaxed)->wake_from(w, by_process, target);
      break;
    case mailbox::PushResult::kClosed:
      closed_push(e, target, s, w, by_process);
      return false;
  }
  return true;
}

// A send whose pid has no live record: a pid of another node goes to the Remote hook (the
// distribution library, hooks.hpp); anything else is dropped and counted. Out of line and
// cold, like closed_push: a remote pid costs the local send path nothing.
[[gnu::noinline, gnu::cold]] void dropped_or_remote(Pid to, mailbox::Envelope* e, Worker* w,
                                                    Scheduler* s) noexcept {
  if (to.is_remote()) {
    if (Remote* r = remote_hook(); r != nullptr) {
      r->send(to, e, w);
      return;
    }
  }
  mailbox::dispose(e);
  count_drop(w, s);
}

// The live record `to` names, with its scheduler in *s; or nullptr, after disposing of `e`
// and counting the drop (a dead, stale or null pid) or handing it to the Remote hook. Inlined into
// every sender below.
[[gnu::always_inline]] inline Process* live_target(Pid to, mailbox::Envelope* e, Worker* w,
                                                   Scheduler*& s) noexcept {
  Process* target = ProcessTable::instance().lookup(to.index());
  // The scheduler the record belongs, or last belonged, to (finish() keeps it; a scheduler's
  // destructor clears it): where a drop from a thread outside any worker is counted.
  s = target != nullptr ? target->sched.load(std::memory_order_acquire) : nullptr;
  // acquire: pairs with the release store of the generation when a process ends.
  if (target == nullptr || !to ||
      target->generation.load(std::memory_order_acquire) != to.generation()) {
    dropped_or_remote(to, e, w, s);
    return nullptr;
  }
  return target;
}

// A send made by a process leaves the runtime where it entered (E3): on `carrier` while no
// switch came in between, on whatever carrier runs it after one (current_carrier()).
struct LeaveAfterSwitch {
  Process* p;
  ~LeaveAfterSwitch() {
    if (p != nullptr) current_carrier()->leave();
  }
};

// The send's slow ends, out of line and cold so that its hot path keeps its registers and
// needs no InRuntime on its stack (bench/budget.py pingpong_rt): the budget ran out (yield,
// then leave on the carrier that runs p afterwards, even if a signal throws), and fault
// injection (which may crash or delay the sender, so it leaves the same way).
[[gnu::noinline, gnu::cold]] void yield_after_send(Process* p) {
  LeaveAfterSwitch leave{p};
  yield_process(p);
}

[[gnu::noinline, gnu::cold]] void send_injected(Injector* f, Process* p, Worker* w, Pid to,
                                                mailbox::Envelope* e, Process* target, Scheduler* s,
                                                bool crash_point);

// send_envelope (kCrashPoint) and post_envelope (not). Returns false, before touching `e`,
// when the receiver's mailbox is bounded and `e` is an ordinary message (kBounded: the check
// is made): the caller takes the bounded path (bounded.hpp), outside the runtime.
// The entry is InRuntime's (in_runtime.hpp), written out: the guard's object on the stack
// and its second current_carrier() cost the send a dozen instructions (docs/benchmarks.md).
template <bool kCrashPoint, bool kBounded>
[[gnu::always_inline]] inline bool send_impl(Pid to, mailbox::Envelope* e) {
  Process* p = nullptr;
  Worker* w = nullptr;
  Carrier* carrier = nullptr;
  if (Carrier* c = current_carrier(); c != nullptr && !c->in_blocking()) {
    p = c->current();
    if (p == nullptr) {
      w = c->worker();  // runtime code on the carrier's own stack: owns its worker
    } else {
      const Carrier::Entered in = c->enter2(p);  // E1/E2; in.now: another carrier if p moved
      w = in.w;
      carrier = in.now;
    }
  }
  Scheduler* s = nullptr;
  Process* target = live_target(to, e, w, s);
  if (target == nullptr) {
    if (p != nullptr) carrier->leave();  // E3
    return true;
  }
  // The one branch a capacity adds to an unbounded send: a field beside the inbox head.
  if constexpr (kBounded) {
    if (target->mailbox.capacity() != 0 && (e->flags & mailbox::kSystem) == 0) [[unlikely]] {
      if (p != nullptr) carrier->leave();  // E3
      return false;
    }
  }
  // The one branch fault injection adds to a send when it is off. `s` is not null here: the
  // receiver is alive, and only a scheduler with no live process forgets its records.
  if (Injector* f = s->injector(); f != nullptr) [[unlikely]] {
    send_injected(f, p, w, to, e, target, s, kCrashPoint);
    return true;
  }
  if (!push_envelope(to, e, target, s, w, p != nullptr)) {
    if (p != nullptr) carrier->leave();  // E3
    return true;
  }
  if (w != nullptr) {
    w->count_sent();
    if (p != nullptr) {
      // A tenant's messages in and out (Stats::tenants): one test of two bytes the send has
      // touched. target's class may be a later occupant's: it misattributes one count.
      if (((p->cls() | target->cls()) & Process::kClassTenant) != 0) [[unlikely]]
        count_tenant_message(p, target);
      // No switch since the entry: this thread's budget is p's (take_budget, carrier.hpp).
      if (take_budget(1) <= 0) [[unlikely]] {
        yield_after_send(p);  // leaves after the switch
        return true;
      }
    }
  } else if (s != nullptr) {
    s->external_sent.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  }
  if (p != nullptr) carrier->leave();  // E3, on the carrier of the entry: no switch since
  return true;
}

void send_injected(Injector* f, Process* p, Worker* w, Pid to, mailbox::Envelope* e,
                   Process* target, Scheduler* s, bool crash_point) {
  LeaveAfterSwitch leave{p};  // on_send may crash the sender or switch
  if (!f->on_send(p, w, to, e, crash_point) && !push_envelope(to, e, target, s, w, p != nullptr))
    return;
  if (w != nullptr) {
    w->count_sent();
    if (p != nullptr) {
      if (((p->cls() | target->cls()) & Process::kClassTenant) != 0)
        count_tenant_message(p, target);
      if (take_budget(1) <= 0) yield_process(p);
    }
  } else if (s != nullptr) {
    s->external_sent.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  }
}

}  // namespace

void send_envelope(Pid to, mailbox::Envelope* e) {
  if (!send_impl<true, true>(to, e)) [[unlikely]]
    send_bounded(to, e);
}

void post_envelope(Pid to, mailbox::Envelope* e) {
  e->flags |= mailbox::kSystem;  // the runtime's own messages never count, are never dropped
  (void)send_impl<false, false>(to, e);
}

void send_unbounded(Pid to, mailbox::Envelope* e) { (void)send_impl<true, false>(to, e); }

void push_counted(Pid to, mailbox::Envelope* e, Process* target) noexcept {
  InRuntime in;
  e->flags |= mailbox::kCounted;
  Scheduler* s = target->sched.load(std::memory_order_acquire);  // acquire: as live_target
  if (s == nullptr) {  // the record's scheduler is gone: nobody will take it
    if (target->mailbox.release_slot() == mailbox::Mailbox::Release::kSenderWaits)
      wake_one_sender(target, in.w, in.p != nullptr);
    mailbox::dispose(e);
    return;
  }
  if (!push_envelope(to, e, target, s, in.w, in.p != nullptr)) return;
  if (in.w != nullptr) {
    in.w->count_sent();
  } else {
    s->external_sent.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  }
}

void deliver_envelope(Pid to, mailbox::Envelope* e, Worker* w) noexcept {
  Scheduler* s = nullptr;
  Process* target = live_target(to, e, w, s);
  if (target == nullptr) return;
  // The wake-up as Scheduler::wake makes it: from the carrier this thread is, if any.
  Carrier* c = current_carrier();
  (void)push_envelope(to, e, target, s, c != nullptr ? c->worker() : nullptr,
                      c != nullptr && c->current() != nullptr);
}

void drop_stale(mailbox::Envelope* e) noexcept {
  InRuntime in;
  mailbox::dispose(e);
  count_drop(in.w, nullptr);
}

void wake_unblocked(Scheduler* s, Process* p) noexcept {
  // Scheduler::wake may touch the caller's worker (W2): process code must enter the runtime
  // first (E1/E2), or a carrier that the watchdog has taken the worker from would touch state
  // that another carrier now owns.
  InRuntime in;
  s->wake(p);
}

}  // namespace ergon::detail
