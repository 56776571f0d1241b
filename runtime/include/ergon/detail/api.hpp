// The out-of-line entry points that ergon's header templates (spawn, send, receive) call.
// Not part of the public API: names and signatures here may change at any time.
//
// Everything that reads per-worker state lives behind these non-inlined functions, because a
// process may resume on another worker after any switch (docs/design.md, "thread_local
// across a context switch").
#pragma once

// The standard check comes before every other include.
// clang-format off
#include "ergon/detail/cxx20.hpp"
// clang-format on

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <ratio>
#include <string>
#include <type_traits>
#include <utility>

#include "ergon/errors.hpp"
#include "ergon/mailbox/mailbox.hpp"
#include "ergon/options.hpp"
#include "ergon/pid.hpp"

namespace ergon {
class Runtime;
}

namespace ergon::detail {

class Scheduler;
class System;
struct Process;

// Thrown inside a process that the runtime is ending (shutdown of run()). It unwinds the
// process's stack so its destructors run. Do not swallow it: a catch (...) that does not
// rethrow keeps the process alive until its next blocking call throws it again.
struct Shutdown {};

// Thrown inside the owner of a nursery when one of the nursery's children failed: it unwinds
// the owner to the nursery, which cancels the other children and rethrows the failure
// (nursery.hpp). Not a std::exception, for the same reason as Shutdown.
struct Interrupted {};

// Thrown by ergon::exit(reason) to end the calling process with that reason. Not a
// std::exception, for the same reason as Shutdown.
struct ExitSignal {
  int kind;  // ExitReason::Kind
  std::string what;
};

// Thrown by ergon::hibernate to unwind the calling process's stack (its destructors run) to its
// entry, which then parks it without a stack (core/hibernate.cpp). Not a std::exception, for the
// same reason as Shutdown: do not swallow it.
// It carries the callable the process continues in (on the heap, run by `invoke`, destroyed by
// `destroy` and freed with operator delete), so that the record needs no field for it.
struct Hibernate {
  void (*invoke)(void*);
  void (*destroy)(void*);
  void* target;
};

// The function a process runs, stored in the process itself when it is small enough.
struct Closure {
  static constexpr std::size_t kInline = 64;
  void (*invoke)(void*) = nullptr;
  void (*destroy)(void*) = nullptr;  // destroys the callable; the runtime frees heap storage
  void* target = nullptr;
  bool on_heap = false;
  alignas(std::max_align_t) unsigned char storage[kInline];
};

// Spawning in three steps, so the header can build the callable in place.
// `sched` == nullptr means the scheduler of the calling process (throws NotInProcess if none).
Process* spawn_begin(Scheduler* sched, const SpawnOptions& opts, Closure** closure);
Pid spawn_commit(Process* p);
void spawn_abort(Process* p) noexcept;

template <class F>
Pid spawn_into(Scheduler* sched, F&& f, const SpawnOptions& opts) {
  using Fn = std::decay_t<F>;
  static_assert(std::is_invocable_v<Fn&>, "spawn takes a callable with no arguments");
  Closure* c = nullptr;
  Process* p = spawn_begin(sched, opts, &c);
  try {
    constexpr bool kInline =
        sizeof(Fn) <= Closure::kInline && alignof(Fn) <= alignof(std::max_align_t);
    void* mem = kInline ? static_cast<void*>(c->storage) : ::operator new(sizeof(Fn));
    try {
      ::new (mem) Fn(std::forward<F>(f));
    } catch (...) {
      if (!kInline) ::operator delete(mem);
      throw;
    }
    c->target = mem;
    c->on_heap = !kInline;
    c->invoke = [](void* t) { (*static_cast<Fn*>(t))(); };
    c->destroy = [](void* t) { static_cast<Fn*>(t)->~Fn(); };
  } catch (...) {
    spawn_abort(p);
    throw;
  }
  return spawn_commit(p);
}

// The type a message of type T travels as: T decayed, except that a string literal or a
// char pointer is sent as a std::string. A receive<std::string> would never match the
// `const char*` that send(pid, "hello") would otherwise carry (messages match by exact
// type), and a pointer into the sender's memory is rarely what a message should hold.
template <class T>
struct WireType {
  using Type = std::decay_t<T>;
};
template <class T>
requires std::is_same_v < std::decay_t<T>,
const char* > || std::is_same_v<std::decay_t<T>, char*> struct WireType<T> {
  using Type = std::string;
};
template <class T>
using wire_t = typename WireType<T>::Type;

// ergon::hibernate's out-of-line part: hands the callable the process continues in (`target`,
// on the heap, run by `invoke`, destroyed by `destroy` and then freed with operator delete)
// to the Hibernate it throws; outside a process, destroys it and throws NotInProcess.
[[noreturn]] void hibernate_into(void (*invoke)(void*), void (*destroy)(void*), void* target);

// The calling process; throws NotInProcess naming `what` when called outside a process.
Process* current_process_or_throw(const char* what);
// The calling process, or nullptr.
Process* current_process() noexcept;
Scheduler* scheduler_of(Runtime& rt) noexcept;

mailbox::Mailbox& mailbox_of(Process* p) noexcept;
std::uint32_t generation_of(Process* p) noexcept;
Pid pid_of(Process* p) noexcept;

// Delivers `e` to `to`, or drops (disposes and counts) it if `to` is dead. Any thread.
void send_envelope(Pid to, mailbox::Envelope* e);

// The receiver, whose mailbox is `mb`, took `e`, a kCounted envelope, out of it: gives its slot
// back and wakes a waiting sender. With `trim`, a drop_oldest mailbox over its capacity drops
// its oldest counted messages, `e` first: then it returns true, having disposed of `e`, and
// the caller scans again (core/bounded.hpp).
bool release_counted(mailbox::Mailbox* mb, mailbox::Envelope* e, bool trim) noexcept;

// A message whose stamp is not the receiver's generation was meant for an earlier process
// in the same slot: dispose and count it.
void drop_stale(mailbox::Envelope* e) noexcept;

// For Runtime::run's main process, ended by the kill it is unwinding from: a KilledBySignal
// naming the exit signal's sender and reason, or nullptr when the kill was the runtime's.
std::exception_ptr main_killed_error() noexcept;
// For Runtime::run's main process, as its closure is destroyed: a StackOverflow when the
// calling process was ended alone by a stack overflow (Options::on_stack_overflow =
// kEndProcess), else nullptr.
std::exception_ptr main_overflow_error() noexcept;

// Monotonic clock in nanoseconds, the one every deadline uses.
std::int64_t now_ns() noexcept;
inline constexpr std::int64_t kNoDeadline = INT64_MAX;

// `d` in nanoseconds, saturated to INT64_MIN..INT64_MAX instead of overflowing: hours::max(),
// years(1000) or a double of 1e300 seconds are "forever", never a negative (already due) wait.
// Integral durations with a whole number of nanoseconds per tick (the standard ones) check
// against a compile-time bound; any other period goes through long double.
template <class Rep, class Period>
constexpr std::int64_t saturating_ns(std::chrono::duration<Rep, Period> d) noexcept {
  using PerTick = std::ratio_divide<Period, std::nano>;  // nanoseconds per tick
  if constexpr (std::is_integral_v<Rep> && PerTick::den == 1 && PerTick::num <= INT64_MAX) {
    constexpr std::int64_t kLimit = INT64_MAX / PerTick::num;
    if constexpr (std::is_signed_v<Rep>) {
      if (d.count() < -kLimit) return INT64_MIN;
      if (d.count() > kLimit) return INT64_MAX;
    } else {
      if (d.count() > static_cast<std::uint64_t>(kLimit)) return INT64_MAX;
    }
    return static_cast<std::int64_t>(d.count()) * static_cast<std::int64_t>(PerTick::num);
  } else {
    const long double ns = static_cast<long double>(d.count()) * PerTick::num / PerTick::den;
    if (!(ns > -9.2e18L)) return ns != ns ? 0 : INT64_MIN;  // NaN: no wait
    if (ns >= 9.2e18L) return INT64_MAX;
    return static_cast<std::int64_t>(ns);
  }
}

// The deadline `d` nanoseconds after `now`: kNoDeadline when it lies beyond the clock's range.
constexpr std::int64_t deadline_after(std::int64_t now, std::int64_t d) noexcept {
  if (d <= 0) return now;
  return d >= kNoDeadline - now ? kNoDeadline : now + d;
}

// Parks `p` (the calling process) until its inbox gets a message, `deadline_ns` passes, or the
// runtime shuts down. May return spuriously; callers re-check. Throws the shutdown signal.
// Returns true when the process was woken by its deadline (no clock read needed to know).
// `where` names the wait for process_info (a static string; nullptr: the process's current
// WaitLabel, else "receive" or "receive (after)").
bool wait(Process* p, std::int64_t deadline_ns, const char* where = nullptr);
// wait(p, deadline_ns) for the process whose mailbox is `mb`: the receive loop keeps the one
// pointer a ReceiveStart gives it.
bool wait_on(mailbox::Mailbox* mb, std::int64_t deadline_ns);

// Charges reductions to the calling process; yields when its slice is spent.
void charge(Process* p, std::uint32_t reductions);

// The start of every receive in one call: charge(p, 1) (a reduction point), then what the
// receive loop reads of the calling process `p`. Two words, returned in registers; one call
// where three (charge, mailbox_of, generation_of) cost about 12 instructions a receive. The
// loop reaches the process through its mailbox (wait_on, release_counted).
struct ReceiveStart {
  mailbox::Mailbox* mb;
  std::uint64_t gen;  // 32 bits; a full word, so that returning it merges no padding bits
};
ReceiveStart receive_start(Process* p);
// receive_start for the calling process, for ergon::receive (NotInProcess names it outside a
// process). One call where current_process_or_throw and receive_start cost a receive two.
ReceiveStart receive_start_current();

// checkpoint()'s slow path: the budget ran out (or the watchdog emptied it).
void checkpoint_slow();
// checkpoint() where the inline x86-64 path is not available.
void checkpoint_portable();

// For tests only, not for programs: how many monitors are on the live process `pid` (its
// watchers) and how many it holds on other processes; zeros when `pid` names no process that
// has not ended. A snapshot: other processes may change both at any time.
struct MonitorCounts {
  std::size_t on = 0;
  std::size_t held = 0;
};
MonitorCounts monitor_counts(Pid pid) noexcept;

// Around the call in ergon::blocking: release the worker / take it back.
void blocking_begin();
void blocking_end() noexcept;

}  // namespace ergon::detail
