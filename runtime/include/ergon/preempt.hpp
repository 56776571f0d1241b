// Preemption: checkpoint() for long loops, blocking(fn) for calls that block their thread.
//
// Every process runs with a budget of reductions per time slice (Options::reductions); send,
// receive, spawn, yield and timers charge it, and a process that spends it yields. A loop that
// calls none of these can still be stopped: the watchdog asks it to yield at its next
// reduction point once its slice is older than Options::preempt_after, and past
// Options::handoff_after it moves the worker's other processes to another thread, leaving the
// loop to finish its slice alone (docs/design.md, "Preemption").
//
//   for (auto& row : rows) { work(row); ergon::checkpoint(); }   // yields when due
//   auto n = ergon::blocking([&] { return ::read(fd, buf, size); });  // hands the worker off
#pragma once

#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "ergon/detail/api.hpp"

namespace ergon {

// One reduction point: charges one reduction and yields when the slice is spent or the
// watchdog asked. Costs about a nanosecond (one decrement of a thread-local and a branch).
// Outside a process it does nothing, so library code may call it anywhere. Throws only the
// runtime's shutdown signal (like every call that may switch).
inline void checkpoint() {
#if defined(__x86_64__) && defined(__GNUC__)
  // The budget lives in a thread-local of the thread running the process (its carrier), and a
  // process may resume on another thread after any switch: address it through %fs inside the
  // instruction, so that no compiler can keep the address of one thread's budget in a
  // register across the slow path (docs/design.md, "thread_local across a context switch").
  // The offset of ergon_budget in the static TLS block is the same for every thread.
  long offset;
  __asm__("movq ergon_budget@gottpoff(%%rip), %0" : "=r"(offset));
  __asm__ goto("subl $1, %%fs:(%0)\n\tjle %l[slow]" : : "r"(offset) : "cc" : slow);
  return;
slow:
  detail::checkpoint_slow();
#else
  detail::checkpoint_portable();
#endif
}

// Runs fn(), a call that the caller knows may block its thread (a system call, a lock held
// elsewhere, a library without an asynchronous interface), and returns what it returns.
// If the calling process's worker has other work, the worker moves to another thread at once;
// otherwise the watchdog moves it one tick later if the call is still blocked. When fn
// returns, the process goes on on its old thread if its worker is still there, and otherwise
// resumes on the worker's new thread. fn runs outside the process: it must not call ergon
// functions that need one (receive, self, yield...; they throw NotInProcess); send works.
// Outside a process, blocking(fn) just calls fn.
template <class F>
decltype(auto) blocking(F&& fn) {
  using R = std::invoke_result_t<F>;
  detail::blocking_begin();
  if constexpr (std::is_void_v<R>) {
    try {
      std::invoke(std::forward<F>(fn));
    } catch (...) {
      detail::blocking_end();
      throw;
    }
    detail::blocking_end();
  } else if constexpr (std::is_reference_v<R>) {
    std::remove_reference_t<R>* r = nullptr;
    try {
      r = &std::invoke(std::forward<F>(fn));
    } catch (...) {
      detail::blocking_end();
      throw;
    }
    detail::blocking_end();
    return static_cast<R>(*r);
  } else {
    std::optional<R> r;
    try {
      r.emplace(std::invoke(std::forward<F>(fn)));
    } catch (...) {
      detail::blocking_end();
      throw;
    }
    detail::blocking_end();
    return R(std::move(*r));
  }
}

}  // namespace ergon
