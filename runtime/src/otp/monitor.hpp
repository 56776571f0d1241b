// Monitors, the runtime's side (monitor.cpp has the protocol, M1 and ME1..ME4): what a process's
// birth and end do to them, and monitoring on behalf of a name.
#pragma once

#include <string>

#include "ergon/monitor.hpp"
#include "ergon/pid.hpp"

namespace ergon::detail {

struct Process;

// A reused record starts with no monitors and no links, on either side.
void reset_monitors(Process* p) noexcept;
// An ending process takes its held monitors off their targets, sends its exit signals and its
// Downs (from its own stack, as process code) before it switches out for the last time.
void send_downs(Process* p, const ExitReason& reason) noexcept;
// M1: `self` monitors `pid`, which a name (`name`, or "") resolved to; Pid{} when nobody
// held the name (a Down with kNoProc comes at once).
Ref monitor_as(Process* self, Pid pid, std::string&& name);
// MD1 (and the flush) of demonitor(ref, flush), for `self`, the calling process.
bool demonitor_as(Process* self, const Ref& ref, bool flush);

}  // namespace ergon::detail
