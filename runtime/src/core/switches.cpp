// Switches: yield, wait, charge, checkpoint and the blocking hand-off. See switches.hpp.
#include "core/switches.hpp"

#include <climits>
#include <string>

#include "core/direct_switch.hpp"
#include "core/in_runtime.hpp"
#include "core/scheduler.hpp"
#include "ergon/errors.hpp"

namespace ergon::detail {
namespace {
// The reductions given to code outside any process, so that its checkpoints stay cheap.
constexpr std::int32_t kOutsideBudget = INT32_MAX;
}  // namespace

Process* current_process() noexcept {
  Carrier* c = current_carrier();
  return c != nullptr && !c->in_blocking() ? c->current() : nullptr;
}

namespace {
// Out of line and cold: the message is built only when it is thrown, so the callers' fast
// path (every receive) saves no registers for it.
[[noreturn, gnu::cold, gnu::noinline]] void throw_not_in_process(const char* what) {
  Carrier* c = current_carrier();
  if (c != nullptr && c->in_blocking()) {
    throw NotInProcess(std::string(what) +
                       " was called inside ergon::blocking(...). The function given to "
                       "blocking runs on a thread of its own, outside the process: call " +
                       what + " before or after blocking, not inside it.");
  }
  throw NotInProcess(std::string(what) +
                     " was called outside a process. Call it from a function run by "
                     "ergon::spawn or ergon::Runtime::run (from another thread, use "
                     "Runtime::spawn and ergon::send).");
}
}  // namespace

Process* current_process_or_throw(const char* what) {
  Carrier* c = current_carrier();
  Process* p = c != nullptr && !c->in_blocking() ? c->current() : nullptr;
  if (p == nullptr) [[unlikely]]
    throw_not_in_process(what);
  return p;
}

std::int64_t now_ns() noexcept {
  // The clock of the calling process's runtime: logical in deterministic mode.
  Carrier* c = current_carrier();
  return c != nullptr ? c->scheduler().now() : monotonic_ns();
}

void crash_point(Process* p, const char* where) {
  if (p->shield != 0) return;  // a closing nursery must wait for its children
  // relaxed: a process's own scheduler was published to it before it first ran.
  Injector* f = p->sched.load(std::memory_order_relaxed)->injector();
  if (f != nullptr) f->crash_point(p, where);
}

namespace {
[[gnu::always_inline]] inline bool wait_inline(Process* p, std::int64_t deadline_ns,
                                               const char* where) {
  p->check_signals();
  // For process_info: what it waits in. A plain store to its own record (relaxed, see
  // Process::waiting_in), next to a context switch. (Its stack depth needs no store: the
  // switch saves its context on the stack, Fiber::saved_context.)
  p->waiting_in.store(where, std::memory_order_relaxed);  // Process::waiting_label resolves it
  {
    InRuntime in(p);
    p->timed_out = false;
    p->deadline.store(deadline_ns, std::memory_order_relaxed);  // relaxed: see Process::deadline
    p->reason = SwitchReason::kBlock;
    // A deadline does not stop a direct switch: complete_block arms its timer.
    if (!in.w->try_direct_switch(*in.carrier, p)) {
      p->fiber.suspend();
    }
  }
  p->check_signals();
  return p->timed_out;
}
}  // namespace

bool wait(Process* p, std::int64_t deadline_ns, const char* where) {
  return wait_inline(p, deadline_ns, where);
}

bool wait_on(mailbox::Mailbox* mb, std::int64_t deadline_ns) {
  return wait_inline(Process::of_mailbox(mb), deadline_ns, nullptr);
}

void charge_entered(Process* p, std::uint32_t reductions) {
  if (take_budget(static_cast<std::int32_t>(reductions)) <= 0)
    yield_process(p, false);  // no signal check: see switches.hpp
}

namespace {
// charge()'s slow paths, out of line so that its fast path (every receive) saves no registers.
[[gnu::noinline]] void charge_crash_point(Process* p) {
  crash_point(p, "a reduction point (receive or reduce)");
}
[[gnu::noinline]] void charge_yield(Process* p) {
  InRuntime in;
  yield_process(p);
}

[[gnu::always_inline]] inline void charge_inline(Process* p, std::uint32_t reductions) {
  // The one branch fault injection adds here: receive and reduce are crash points.
  if (p->inject_crashes()) [[unlikely]]
    charge_crash_point(p);
  if (take_budget(static_cast<std::int32_t>(reductions)) <= 0) [[unlikely]]
    charge_yield(p);
}
}  // namespace

void charge(Process* p, std::uint32_t reductions) { charge_inline(p, reductions); }

namespace {
// receive_start's slow side (a crash point is armed, or the budget ran out), reached by a tail
// call, so that the fast side keeps nothing across a call and saves no register.
[[gnu::noinline]] ReceiveStart receive_start_slow(Process* p, bool charged) {
  if (!charged) {
    if (p->inject_crashes()) charge_crash_point(p);
    if (take_budget(1) <= 0) charge_yield(p);
  } else {
    charge_yield(p);
  }
  return {&p->mailbox, p->pid().generation()};
}

[[gnu::always_inline]] inline ReceiveStart receive_start_inline(Process* p) {
  if (p->inject_crashes()) [[unlikely]]
    return receive_start_slow(p, false);
  if (take_budget(1) <= 0) [[unlikely]]
    return receive_start_slow(p, true);
  return {&p->mailbox, p->pid().generation()};
}
}  // namespace

ReceiveStart receive_start(Process* p) { return receive_start_inline(p); }

ReceiveStart receive_start_current() {
  Carrier* c = current_carrier();
  Process* p = c != nullptr && !c->in_blocking() ? c->current() : nullptr;
  if (p == nullptr) [[unlikely]]
    throw_not_in_process("ergon::receive");
  return receive_start_inline(p);
}

void checkpoint_slow() {
  Process* p = current_process();
  if (p == nullptr) {  // outside a process (or inside ergon::blocking): nothing to yield
    store_budget(budget_slot(), kOutsideBudget);
    return;
  }
  InRuntime in;
  yield_process(p);
}

void checkpoint_portable() {
  std::int32_t* b = budget_slot();
  const std::int32_t left = load_budget(b) - 1;
  store_budget(b, left);
  if (left <= 0) checkpoint_slow();
}

void blocking_begin() {
  Carrier* c = current_carrier();
  if (c == nullptr || c->in_blocking() || c->current() == nullptr) {
    if (c != nullptr && c->in_blocking()) c->enter_nested_blocking();
    return;  // not in a process (or nested): the call just runs
  }
  // Deterministic mode has no other thread to hand the worker to: the call runs in place.
  if (c->scheduler().driver() != nullptr) return;
  InRuntime in;
  current_carrier()->release_for_blocking();
}

void blocking_end() noexcept {
  Carrier* c = current_carrier();
  if (c == nullptr || !c->in_blocking()) return;
  if (c->leave_nested_blocking()) return;
  Process* p = c->current();
  c->reclaim_after_blocking(p);  // may move p to the carrier that now has its worker
  Carrier* now = current_carrier();
  (void)now->enter(p);
  now->leave();
}

}  // namespace ergon::detail
