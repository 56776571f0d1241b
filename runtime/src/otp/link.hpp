// Links and exit signals, the runtime's side (link.cpp has the rules).
#pragma once

#include "ergon/monitor.hpp"
#include "ergon/pid.hpp"

namespace ergon::detail {

struct Process;

// An exit signal from `from` to `to` (through a link, or ergon::exit(pid, reason)).
void signal_exit(Pid to, Pid from, const ExitReason& reason, bool through_link) noexcept;
// Links a child to its spawner before the child is published (SpawnOptions::link).
void link_at_spawn(Process* parent, Process* child) noexcept;

}  // namespace ergon::detail
