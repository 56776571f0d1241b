// Reading process records for ergon::process_info and ergon::processes (process_info.cpp has
// the protocol, PI1..PI4). The public calls (api/observe_calls.cpp) pass the runtime's registry
// for the registered names.
#pragma once

#include <optional>
#include <vector>

#include "ergon/process_info.hpp"

namespace ergon::detail {

class Registry;
class Scheduler;

// One process of `s` (std::nullopt when `pid` names no live process of it), or every live one.
// Any thread.
std::optional<ProcessInfo> process_info(Scheduler& s, Registry& names, Pid pid);
std::vector<ProcessInfo> processes(Scheduler& s, Registry& names);

}  // namespace ergon::detail
