// top's loop, for the public calls (api/observe_calls.cpp); top_table, the formatting, is
// public (ergon/top.hpp). See top.cpp for the design.
#pragma once

#include <functional>
#include <string>

#include "ergon/top.hpp"

namespace ergon::detail {

// The loop of top(): `table` takes and formats a snapshot; `in_process`: the caller is a
// process (the snapshot runs in ergon::blocking, the wait is ergon::sleep_for).
void run_top(const TopOptions& o, bool in_process, const std::function<std::string()>& table);

}  // namespace ergon::detail
