// The calls a process makes: spawn, self, send, yield, sleep, now, reductions.
//
// spawn and send work from any thread. self, yield, sleep_for, sleep_until and reduce need a
// running process and throw NotInProcess otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "ergon/detail/api.hpp"
#include "ergon/mailbox/message.hpp"
#include "ergon/options.hpp"
#include "ergon/pid.hpp"

namespace ergon {

// Spawns `fn` as a new process of the calling process's runtime. The process is runnable at
// once; the caller goes on. Throws SpawnError when no process can be created (the limit in
// Options::max_processes, or no memory or map area for its stack), NotInProcess outside a
// process (use Runtime::spawn there).
template <class F>
Pid spawn(F&& fn, SpawnOptions opts = {}) {
  return detail::spawn_into(nullptr, std::forward<F>(fn), opts);
}

// The calling process's pid.
inline Pid self() { return detail::pid_of(detail::current_process_or_throw("ergon::self")); }

// Sends a copy (or the moved value) of `msg` to `to`. Never blocks, unless `to` has a bounded
// mailbox (SpawnOptions::mailbox_capacity) that is full: then its MailboxPolicy decides (the
// sender may wait for a slot, or get MailboxFull). A message to a process that has ended, or to
// a stale pid, is dropped and counted in Stats::messages_dropped. Messages from one sender to
// one receiver arrive in the order they were sent. Any thread.
// A string literal or char pointer is sent as a std::string (detail::WireType): receive it
// with receive<std::string>().
template <class T>
void send(Pid to, T&& msg) {
  using M = detail::wire_t<T>;
  detail::send_envelope(to, mailbox::make_message<M>(std::forward<T>(msg)));
}

// Constructs the message in place.
template <class T, class... A>
void send_new(Pid to, A&&... args) {
  detail::send_envelope(to, mailbox::make_message<T>(std::forward<A>(args)...));
}

// Like erlang:hibernate: unwinds the calling process's stack (its destructors run, as for an
// exception: do not catch (...) it without rethrowing), gives the stack back to the pool with
// its pages released, and parks the process until a message arrives; then it continues in `fn`
// on a fresh stack. Its mailbox, pid, links, monitors and name stay. A hibernated process costs
// its record and mailbox only. Never returns. A process whose `fn` returns ends as usual.
// Throws NotInProcess outside a process.
template <class F>
[[noreturn]] void hibernate(F&& fn) {
  using Fn = std::decay_t<F>;
  static_assert(std::is_invocable_v<Fn&>, "hibernate takes a callable with no arguments");
  void* target = ::operator new(sizeof(Fn));
  try {
    ::new (target) Fn(std::forward<F>(fn));
  } catch (...) {
    ::operator delete(target);
    throw;
  }
  detail::hibernate_into([](void* t) { (*static_cast<Fn*>(t))(); },
                         [](void* t) { static_cast<Fn*>(t)->~Fn(); }, target);
}

// Puts the calling process at the back of its worker's run queue.
void yield();

// Suspends the calling process for `d` (or until `t`). Messages that arrive meanwhile stay in
// the mailbox.
// `what` names the call in the NotInProcess error.
void sleep_until_ns(std::int64_t deadline_ns, const char* what = "ergon::sleep_until");
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  sleep_until_ns(detail::deadline_after(detail::now_ns(), detail::saturating_ns(d)),
                 "ergon::sleep_for");
}
inline void sleep_until(std::chrono::steady_clock::time_point t) {
  sleep_until_ns(detail::saturating_ns(t.time_since_epoch()), "ergon::sleep_until");
}

// The runtime's clock, the one every deadline uses: steady_clock in a real run and outside
// any process; the logical clock in deterministic mode; in the simulated mode
// (Options::simulate), the clock of the worker running the calling process, which includes
// the cost of what its slice did so far. Any thread.
inline std::chrono::steady_clock::time_point now() noexcept {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(detail::now_ns()));
}

// The index (0 .. workers-1) of the worker running the calling process. A process may move
// to another worker at any switch (yield, receive, send, spawn), so the answer can change
// between two calls. Throws NotInProcess outside a process.
unsigned worker_id();

// Moves the calling process to worker `worker` (taken modulo the worker count): it suspends
// here and resumes there. Used by tests and by load balancing code; ordinary programs never
// need it. Throws NotInProcess outside a process.
void move_to_worker(unsigned worker);

// Charges `n` reductions to the calling process: long loops call it so that they yield when
// their time slice is spent.
void reduce(std::uint32_t n = 1);

}  // namespace ergon
