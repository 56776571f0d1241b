// Switches: the calls that take a process off its carrier on its own behalf (yield, wait,
// charge, checkpoint, the blocking hand-off), and the crash point they share.
//
// Design
// ------
// Every switch a process makes is a Fiber::suspend() after setting Process::reason; the
// worker, back on its own stack, acts on the reason (worker.hpp). A switch that touches the
// worker enters the runtime first (in_runtime.hpp). After a switch back, the process checks
// its signals (Process::check_signals: a kill, a nursery interrupt, an injected crash).
// Reductions are counted down in the carrier's budget (carrier.hpp); reaching 0 yields.
// The public entrances (ergon/detail/api.hpp: wait, charge, checkpoint_slow, blocking_begin,
// ...) are defined in switches.cpp; below are those for the runtime's own parts.
#pragma once

#include <cstdint>

namespace ergon::detail {

struct Process;

// yield_process(p, check), the yield every other switch here builds on, is inline in
// process.hpp: the send path inlines it on its cold side (as one out-of-line call there the
// send path kept two more instructions on its hot side).
// charge() for spawn_commit, which has entered the runtime already (Carrier::enter). Its
// yield does not check the caller's signals: a spawn must return the pid of the child it has
// started (a nursery counts every child it spawned); a kill or an interrupt is seen at the
// caller's next switch.
void charge_entered(Process* p, std::uint32_t reductions);
// A crash point of fault injection in process `p` (which has inject_crashes), at `where`:
// throws InjectedFault if its stream says crash. Nothing while p is shielded (a closing
// nursery must wait for its children).
void crash_point(Process* p, const char* where);

}  // namespace ergon::detail
