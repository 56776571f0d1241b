// Supervisors: processes that start, watch and restart other processes (Erlang's supervisor
// behaviour).
//
//   ergon::SupervisorSpec spec;
//   spec.strategy = ergon::Strategy::kOneForOne;
//   spec.intensity = 3;                          // at most 3 restarts ...
//   spec.period = std::chrono::seconds(5);       // ... in 5 seconds, else the supervisor exits
//   spec.children = {
//       {.id = "db", .start = [] { run_db(); }},
//       {.id = "cache", .start = [] { run_cache(); }, .restart = ergon::Restart::kTransient},
//       ergon::supervisor_child("workers", workers_spec),   // a nested supervisor
//   };
//   ergon::Pid sup = ergon::start_supervisor(spec);          // linked to the caller
//   ...
//   ergon::supervisor::stop(sup);                            // ordered shutdown
//
// The rules, as in Erlang:
//   - The supervisor traps exits and starts its children in order, each linked to it
//     (start_supervisor returns once all are started). A child is a process running
//     ChildSpec::start.
//   - When a child ends, its restart type decides: kPermanent is always restarted, kTransient
//     only after an abnormal end (not normal, not shutdown), kTemporary never (it is forgotten).
//   - The strategy decides what else restarts: kOneForOne only that child; kOneForAll every
//     child (the others are shut down first, in reverse start order); kRestForOne the children
//     started after it (shut down in reverse order), then it and them, in order.
//   - Intensity: more than `intensity` restarts within `period` and the supervisor shuts all
//     its children down and exits with reason shutdown: reached_max_restart_intensity, which
//     its own supervisor sees like any child's end.
//   - Shutting a child down: unlink, exit signal `shutdown`, wait for its end up to
//     ChildSpec::shutdown, then kill (kBrutalKill: kill at once; kInfinity: wait). A worker
//     that does not trap exits ends at its next blocking call, yield or slice end.
//   - An exit signal from its parent (the process that spawned it) stops a supervisor: its
//     children are shut down in reverse start order and it exits with the same reason. Exit
//     signals from other processes are ignored. supervisor::stop shuts it down and ends it
//     with reason normal.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "ergon/monitor.hpp"
#include "ergon/options.hpp"
#include "ergon/pid.hpp"

namespace ergon {

enum class Strategy : std::uint8_t { kOneForOne, kOneForAll, kRestForOne };
enum class Restart : std::uint8_t { kPermanent, kTransient, kTemporary };
enum class ChildType : std::uint8_t { kWorker, kSupervisor };

struct ChildSpec {
  static constexpr std::chrono::milliseconds kBrutalKill{0};
  static constexpr std::chrono::milliseconds kInfinity{-1};

  std::string id;               // unique within the supervisor
  std::function<void()> start;  // the child's body (run in a new process at each start)
  Restart restart = Restart::kPermanent;
  // How long a shutdown waits before it kills: kBrutalKill, a time, or kInfinity.
  std::chrono::milliseconds shutdown{5000};
  ChildType type = ChildType::kWorker;
  SpawnOptions spawn{};  // e.g. the pool the child runs in (`link` is always set)
};

// What a supervisor reports to SupervisorSpec::on_event.
struct SupervisorEvent {
  enum class Kind : std::uint8_t {
    kStarted,     // a child was started (at the supervisor's start, or by start_child)
    kExited,      // a child ended on its own; `reason` says why
    kRestarted,   // a child was started again; `pid` is the new process
    kTerminated,  // the supervisor shut a child down; `reason` is how it ended
    kGaveUp,      // too many restarts: the supervisor is shutting down
  };
  Kind kind;
  Pid supervisor;
  std::string child;  // the child's id (empty for kGaveUp)
  Pid pid;
  ExitReason reason;
};

struct SupervisorSpec {
  Strategy strategy = Strategy::kOneForOne;
  int intensity = 1;  // Erlang's defaults: 1 restart in 5 s
  std::chrono::milliseconds period{5000};
  std::vector<ChildSpec> children;
  // Called in the supervisor process for each event (must not throw); empty: nothing.
  std::function<void(const SupervisorEvent&)> on_event;
};

// A child spec that runs a supervisor (type kSupervisor, shutdown kInfinity).
ChildSpec supervisor_child(std::string id, SupervisorSpec spec,
                           Restart restart = Restart::kPermanent);

// Names for logs: "one_for_one", "permanent", "worker", "started", ... (Erlang's atoms).
const char* to_string(Strategy s) noexcept;
const char* to_string(Restart r) noexcept;
const char* to_string(ChildType t) noexcept;
const char* to_string(SupervisorEvent::Kind k) noexcept;
inline std::ostream& operator<<(std::ostream& os, Strategy s) { return os << to_string(s); }
inline std::ostream& operator<<(std::ostream& os, Restart r) { return os << to_string(r); }
inline std::ostream& operator<<(std::ostream& os, ChildType t) { return os << to_string(t); }
inline std::ostream& operator<<(std::ostream& os, SupervisorEvent::Kind k) {
  return os << to_string(k);
}
// "started kv <0.5.1>", "exited kv <0.5.1> (exception: boom)", "gave_up".
std::string to_string(const SupervisorEvent& e);
inline std::ostream& operator<<(std::ostream& os, const SupervisorEvent& e) {
  return os << to_string(e);
}

// Spawns a supervisor linked to the caller and returns once its children have started.
// Throws Error for a bad spec (an empty or repeated id, no start function, intensity < 0,
// period <= 0) and when a child cannot be started (the supervisor then shuts down the ones it
// started and ends); NotInProcess outside a process.
Pid start_supervisor(SupervisorSpec spec, SpawnOptions opts = {});

// Runs a supervisor in the calling process (it does not return: it ends the process when it
// stops). Its parent is the process that spawned the caller. Throws Error for a bad spec.
[[noreturn]] void supervise(SupervisorSpec spec);

struct ChildInfo {
  std::string id;
  Pid pid;  // Pid{} when not running
  ChildType type;
  Restart restart;
};

// Calls into a running supervisor (Erlang's supervisor:start_child/2 and the rest). Each waits
// for the supervisor's answer; each throws Error naming the supervisor and the fix when the
// supervisor is not running or refuses (an unknown id, a running child, ...).
namespace supervisor {
// Adds a child at the end of the start order and starts it; returns its pid.
Pid start_child(Pid sup, ChildSpec spec);
// Shuts the child down (as at the supervisor's own shutdown); it stays in the list, stopped
// (a temporary child is forgotten).
void terminate_child(Pid sup, std::string_view id);
// Starts again a child that is stopped; returns its pid.
Pid restart_child(Pid sup, std::string_view id);
// Forgets a child that is stopped.
void delete_child(Pid sup, std::string_view id);
// The children, in start order.
std::vector<ChildInfo> which_children(Pid sup);
// Shuts every child down in reverse start order, ends the supervisor with reason normal, and
// returns once it has ended.
void stop(Pid sup);
}  // namespace supervisor

}  // namespace ergon
