// Hibernation: ergon::hibernate(fn), as erlang:hibernate. A hibernated process has no stack:
// it costs its record and its mailbox.
//
// Design
// ------
// A hibernated process is a record whose fiber is not started and whose stack is empty: the
// state of a process spawned and not yet run, minus the stack. Steps:
//   H1 ergon::hibernate (process code): the next callable goes into the Hibernate thrown, the
//      inbox is fetched into the cache (so the park below can succeed), and Hibernate is
//      thrown: the stack unwinds, every destructor runs.
//   H2 process_entry catches it, destroys the old callable, installs the next one as the
//      closure, and switches to its worker for the last time on this stack (kHibernate).
//   H3 the worker (Worker::hibernate), off that stack: forgets the fiber, releases the stack's
//      pages (MADV_DONTNEED) and gives it to the pool, then parks the process on its mailbox
//      (MpscInbox C2). A message that slipped in makes it runnable at once.
//   H4 the next message wakes it as any blocked process; Worker::run finds a fiber that is not
//      started and, only there, an empty stack: it takes a fresh stack and starts the fiber at
//      process_entry, which runs the new closure. So running processes pay nothing: the check
//      sits inside the branch that starts a fresh fiber, which they never take.
// A kill or an exit signal to a hibernated process wakes it the same way; process_entry sees
// the kill and ends it without running the closure.
//
// Rejected: keeping the stack and only trimming it (a parked stack still costs its top page
// and page tables: ergon-bench memory's 4.5 KB); copying the live frames out (C++ frames hold
// raw pointers into the stack). The price is one madvise per hibernation and a page fault or
// two on the first run after it.
#pragma once

#include "ergon/detail/api.hpp"

namespace ergon::detail {

class Fiber;
struct Process;

// H2: in process_entry, after the stack unwound for Hibernate. Never returns.
// `next`: the callable it continues in, copied from the caught Hibernate.
[[noreturn]] void leave_hibernated(Fiber* f, Process* p, const Hibernate& next) noexcept;

}  // namespace ergon::detail
