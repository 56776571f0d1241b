// Shutdown as the Runtime sees it: ending every process at the end of a run and in ~Runtime,
// naming the processes that refuse to end, and abandoning a System that cannot be destroyed.
// Also the lines that name processes in every report (process_label, waiting_lines).
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
#include "ergon/process_info.hpp"

namespace ergon::detail {

class System;

// How many processes a report names one by one; the rest are counted. A screenful.
inline constexpr std::size_t kListed = 20;

// The head of a report's line about a process, shared by every report that names processes
// (SD5's refusers, deterministic mode's Deadlock, the asleep report of api/asleep.hpp):
// `<pid> "name" (main) on worker N`, the name if it is registered, "(main)" if it is `main`.
std::string process_label(const ProcessInfo& i, Pid main = Pid{});

// "\n  <label>: waiting in X" for each of `ps` (the first kListed, then "... and N more"): what
// it waits in as process_info names it, and for a sender waiting on a full bounded mailbox the
// receiver ("send (mailbox full) to <pid>"). For a process that is not waiting, its status.
// For the deadlock and asleep reports; `sys` resolves the mailbox a sender waits on.
std::string waiting_lines(const System& sys, const std::vector<ProcessInfo>& ps, Pid main);

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
