// StackGuard: turns a fault in a process's guard page into a report that names the process
// and the stack size to raise, instead of a bare segmentation fault.
//
// Each worker thread gets an alternate signal stack (the faulting stack is unusable) and
// records, while it runs a process, that process's stack bounds and pid in a thread_local
// that only the worker thread and its signal handler read (never code on a process stack).
// The SIGSEGV/SIGBUS handler checks whether the fault address lies in the running process's
// guard zone, the StackPool::kGuardZone bytes below its stack (stack_pool.hpp: the zone is as
// large as the largest frame code built without -fstack-clash-protection may make, so such a
// frame's first store faults there instead of landing in the stack below, another process's);
// if so it writes the report with write(2) (async-signal-safe) and aborts. Any other fault
// goes to the handler that was installed before ours (a sanitizer's, or the default). Below
// the zone lies the next stack down, which is mapped and does not fault, or another mapping:
// a fault there is not an overflow this handler can vouch for.
//
// Rejected: recovering the process (unwinding from a signal handler is undefined behaviour,
// and abandoning the stack leaks whatever it owned); growing the stack (frames hold raw
// pointers into it).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ergon::detail {

struct StackGuard {
  static void install_on_this_thread() noexcept;
  static void remove_from_this_thread() noexcept;
  static void set_running(const char* stack_lo, std::size_t size, std::uint64_t pid) noexcept;
  static void clear_running() noexcept;
};

}  // namespace ergon::detail
