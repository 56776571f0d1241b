// ergon: Erlang-style lightweight processes for C++.
//
//   #include <ergon/ergon.hpp>
//
//   int main() {
//     ergon::Runtime rt;
//     rt.run([] {
//       ergon::Pid echo = ergon::spawn([] {
//         auto [from, text] = ergon::receive<std::pair<ergon::Pid, std::string>>();
//         ergon::send(from, text);
//       });
//       ergon::send(echo, std::make_pair(ergon::self(), std::string("hello")));
//       std::string reply = ergon::receive<std::string>();
//     });
//   }
//
// docs/api.md describes every call; docs/design.md how they work.
#pragma once

// The standard check comes before every other include.
// clang-format off
#include "ergon/detail/cxx20.hpp"
// clang-format on

#include "ergon/call.hpp"
#include "ergon/errors.hpp"
#include "ergon/faults.hpp"
#include "ergon/link.hpp"
#include "ergon/monitor.hpp"
#include "ergon/net.hpp"
#include "ergon/nursery.hpp"
#include "ergon/options.hpp"
#include "ergon/pid.hpp"
#include "ergon/pool.hpp"
#include "ergon/preempt.hpp"
#include "ergon/process.hpp"
#include "ergon/process_info.hpp"
#include "ergon/receive.hpp"
#include "ergon/registry.hpp"
#include "ergon/runtime.hpp"
#include "ergon/server.hpp"
#include "ergon/stats.hpp"
#include "ergon/supervisor.hpp"
#include "ergon/tenant.hpp"
#include "ergon/top.hpp"
#include "ergon/trace.hpp"
