// OtpLifecycle: what a process's birth and end mean to the other processes, in Erlang's terms
// (the core's Lifecycle hook, core/hooks.hpp).
//
// Design
// ------
// The core runs a process's function and settles how it ended (returned, threw, was killed);
// everything after that is fault tolerance and lives here, behind one call (ending):
//   LC0 its registered name is released, before anyone can learn of its end (BEAM's order:
//      a supervisor restarting it, or a monitor's owner, finds the name free);
//   LC1 the reason: a kill that came as an exit signal (link.cpp) ends it with the signal's
//       reason instead of the runtime's kShutdown;
//   LC2 its Downs and exit signals (monitor.cpp, ME1..ME4: links first, then monitors);
//   LC3 its nursery slot (nursery.cpp): the child's last act, after LC2, so that when the
//       nursery's owner sees the slot the Downs and signals are out.
// A name registered after LC0 (nothing can: the function has ended) would be released at the
// record's close, on its worker (unregister). At birth
// (born) a reused record forgets the monitors, links and nursery of its previous process, and
// a spawn_link child is linked before it is published.
#pragma once

#include "core/hooks.hpp"

namespace ergon::detail {

class Registry;

class OtpLifecycle final : public Lifecycle {
 public:
  explicit OtpLifecycle(Registry& names) noexcept : names_(names) {}

  void born(Process* child, Process* link_to) noexcept override;
  void ending(Process* p, ExitReason& reason) noexcept override;  // LC0..LC3
  void unregister(Pid pid) noexcept override;

 private:
  Registry& names_;
};

}  // namespace ergon::detail
