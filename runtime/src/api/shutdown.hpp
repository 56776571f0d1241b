// Shutdown as the Runtime sees it: ending every process at the end of a run and in ~Runtime,
// naming the processes that refuse to end, and abandoning a System that cannot be destroyed.
//
// Design
// ------
// The core ends the processes and gives up at a deadline (core/scheduler.hpp, SD1..SD4); it
// knows nothing of registered names or of what a process waits in. Here, after a stall:
//   SD5 name the refusers: two process_info snapshots kSampleGap apart. A process whose
//       reductions or status changed between them reaches reduction points, so it catches
//       the kill and goes on; one running with neither changed reached none (a loop with no
//       reduction point, or a call blocked outside ergon::blocking); one waiting caught the
//       kill and waits again. Deterministic mode takes one snapshot: nothing runs between two.
//   SD6 decide, in run(): if main returned, throw ShutdownTimeout naming them; if main failed,
//       rethrow its exception and print the report to stderr (the caller learns of both).
//   SD7 abandon, in ~Runtime (which cannot throw): print the report, keep the System for good
//       (a list of abandoned ones, reachable so that leak checkers do not count it) and
//       return. The refusers go on running on its threads; one that lets the kill through
//       later still ends properly, since everything it touches is still there. Processes
//       spawned after it are born killed, and carriers that exit (a spare past its
//       keep-alive) detach themselves, since nobody will join them (Scheduler::abandon).
// Why the whole System stays: a refuser's carrier enters the runtime at its next reduction
// point or at its end, and touches its worker, the scheduler, its stack (the stack pool's), the
// lifecycle and the registry. A carrier that never reaches a reduction point keeps its thread;
// the watchdog has handed its worker to a spare carrier, so the other processes could end.
// Rejected:
//   - Waiting forever (what this replaced): run() and ~Runtime hung without a word.
//   - Detaching only the stuck carriers and destroying the rest: the use after free above.
//   - Ending the thread (pthread_cancel, or a signal that throws on it): code that was not
//     compiled to be interrupted at any instruction cannot be unwound from one, and a thread
//     ended while it holds a lock (the C library's malloc, the program's own) hangs the rest.
//     Erlang's init:stop kills brutally after its shutdown time; ergon cannot, and says so.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ergon/pid.hpp"

namespace ergon::detail {

class System;

// The processes that refused to end, as SD5 found them.
struct Refusers {
  std::vector<Pid> pids;  // all of them
  std::string lines;      // "\n  <pid> ...: what it does", for the first kListed of them
};

// SD1..SD5: ends every process of `sys` (Scheduler::kill_all_and_wait with the runtime's
// shutdown_timeout); std::nullopt when none is left, else the ones that refuse. The thread
// that owns the Runtime.
std::optional<Refusers> end_all_processes(System& sys);

// The report of a stall, for an error or stderr: `caller` ("ergon::Runtime::run"), how many
// and for how long (naming the option and its variable), `r`'s lines, `consequence` (what
// happens to them now), and the fix.
std::string stall_report(const char* caller, const System& sys, const Refusers& r,
                         const char* consequence);

// SD7: keeps `sys` alive until the program exits.
void abandon(std::unique_ptr<System> sys) noexcept;

}  // namespace ergon::detail
