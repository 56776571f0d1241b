// StackGuard: turns a fault in a process's guard page into a report that names the process
// and the stack size to raise, instead of a bare segmentation fault; and, when asked to
// (Options::on_stack_overflow = kEndProcess), ends only that process.
//
// Each worker thread gets an alternate signal stack (the faulting stack is unusable). The
// SIGSEGV/SIGBUS handler finds the process running on its thread through the thread's carrier
// (Carrier::current, which every switch sets) and checks whether the fault address lies in its
// guard zone, the StackPool::kGuardZone bytes below its stack (stack_pool.hpp: the zone is as
// large as the largest frame code built without -fstack-clash-protection may make, so such a
// frame's first store faults there instead of landing in the stack below, another process's);
// if so it writes the report with write(2) (async-signal-safe) and aborts. Any other fault
// goes to the handler that was installed before ours (a sanitizer's, or the default). Below
// the zone lies the next stack down, which is mapped and does not fault, or another mapping:
// a fault there is not an overflow this handler can vouch for.
//
// Ending the process alone (kEndProcess)
// --------------------------------------
// The process's stack cannot be unwound: the fault leaves no room on it, a destructor would
// fault again, and unwinding from a signal handler is undefined behaviour anyway. So it is
// abandoned, and the process ends as if its function had ended with reason stack_overflow:
//   SO1 the handler checks that ending the process cannot break the runtime (below); if any
//       check fails it writes the report, says why it cannot end the process alone, and
//       aborts as kAbort does;
//   SO2 it records what it measured (last_overflow, for the report), marks the process
//       `overflowed`, and restores the signal mask of the fault (the handler runs with SIGSEGV
//       blocked; sigreturn, which would unblock it, never comes), so the next overflow is
//       caught too;
//   SO3 it restarts the process's fiber at the top of its own stack (Fiber::restart, SX):
//       every frame on it is abandoned, and overflow_entry (worker.cpp) runs there as process
//       code, on this thread: the report (Scheduler::report_overflow, on_crash), then the end
//       every process has (the closure's destruction, Lifecycle::ending: the name, the links'
//       exit signals, the monitors' Downs, the nursery slot; then E1/E2 and finish()). Its
//       worker recycles the record and the stack as after any end: the stack's pages hold only
//       dead frames, and its guard zone was never written (a fault writes nothing).
// The checks of SO1, each a way the end itself, or the runtime after it, would go wrong:
//   - the fault came from code on the process's stack (the saved stack pointer lies in it or
//     its zone: x86-64 and AArch64 only), on the carrier that runs it, in process code (the
//     carrier's in_user_, carrier.hpp): inside the runtime's own entry (a send, spawn, wait or
//     switch in progress) the worker's state may be half-written;
//   - the thread holds none of ergon's locks (util/held_locks.hpp: a sig_lock in a monitor,
//     link or exit signal, the registry's or the tracer's mutex), which the end needs;
//   - the faulting instruction is not in a shared library whose calls may hold a lock or keep
//     state across calls: the C library (malloc, stdio), the C++ runtime (static-local guards),
//     the unwinder, jemalloc or tcmalloc, the dynamic loader (their code ranges are read once
//     with dl_iterate_phdr when the handler is installed). A call into one that faults at its
//     `call` has not started, and is fine: its return address is pushed by the caller;
//   - no exception is propagating (the C++ unwinder may hold its own locks and state);
//   - the process has no nursery open (its children refer to the nursery on its stack);
//   - it has not overflowed already (a fault in its own end);
//   - the build has neither ASAN nor TSAN, which track stacks and signal handlers themselves.
// What no check can see, and the option's documentation says: objects on the stack are never
// destroyed (their memory leaks, a lock they hold stays held); a library call still in progress
// in an older frame (one that called back into the program, which then faulted) and any call
// into a statically linked library (whose code cannot be told from the program's) is
// abandoned halfway, with whatever it held; so is the mailbox library's once-per-thread
// registration of its envelope counter, whose mutex that library (which includes nothing of
// the runtime) does not count.
//
// Rejected: unwinding (see above); growing the stack (frames hold raw pointers into it);
// jumping to the worker's loop and ending the process there, on the worker's stack (the end
// sends and may switch, which only process code may do, and a carrier that lost its worker
// meanwhile must hand the process on, which only a process can be); editing the signal
// frame's saved registers so that sigreturn lands in overflow_entry (per-architecture register
// names, where Fiber::restart uses Boost.Context's portable switch).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ergon::detail {

struct StackGuard {
  static void install_on_this_thread() noexcept;
  static void remove_from_this_thread() noexcept;

  // What SO2 measured: the stack's size, how far below it the fault was, and the size the
  // report suggests. The ended process reads it first thing in overflow_entry, on the thread
  // that faulted, before any switch (it is that thread's).
  struct Overflow {
    std::size_t stack_size = 0;
    std::size_t reach = 0;
    std::size_t suggested = 0;
  };
  static Overflow last_overflow() noexcept;
};

}  // namespace ergon::detail
