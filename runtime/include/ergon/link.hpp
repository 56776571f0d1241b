// Links and exit signals: processes that live and die together (Erlang's link/1, unlink/1,
// spawn_link, exit/2, process_flag(trap_exit, ...)).
//
//   ergon::trap_exits(true);                        // exit signals become Exit messages
//   ergon::Pid w = ergon::spawn_link([] { work(); });
//   ergon::receive([](const ergon::Exit& e) { ... e.from, e.reason ... });
//
// A link is two-way. When a process ends, each process linked to it gets an exit signal with
// its reason: a process that traps exits receives it as an Exit message; one that does not
// ends with the same reason, unless the reason is normal, which it ignores. exit(pid, reason)
// sends the same signal without a link; ExitReason::kill() cannot be trapped and ends the
// target with reason killed. A process ended by a signal stops at its next blocking call,
// yield or end of slice (its stack unwinds; its destructors run).
#pragma once

#include "ergon/detail/api.hpp"
#include "ergon/monitor.hpp"
#include "ergon/options.hpp"
#include "ergon/pid.hpp"

namespace ergon {

// What a process that traps exits receives instead of ending.
struct Exit {
  Pid from;
  ExitReason reason;
};

// Links the caller and `pid`. If `pid` names no live process: a caller that traps exits gets
// Exit{pid, noproc}; otherwise this throws Error. Linking twice is one link.
void link(Pid pid);
// Removes the link, if any; no exit signal comes through it afterwards.
void unlink(Pid pid);
// Turns exit signals into Exit messages (true) or not (false, the start). Returns the old
// setting.
bool trap_exits(bool on);
// Sends `pid` an exit signal with `reason` (see the top). Any process; NotInProcess outside.
void exit(Pid pid, const ExitReason& reason);
// Ends the calling process with `reason` (its stack unwinds like an exception's).
[[noreturn]] void exit(ExitReason reason);

// spawn, with the child linked to the caller before it can run (so it cannot end unlinked).
template <class F>
Pid spawn_link(F&& fn, SpawnOptions opts = {}) {
  opts.link = true;
  return detail::spawn_into(nullptr, std::forward<F>(fn), opts);
}

}  // namespace ergon
