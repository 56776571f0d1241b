// System: one Runtime's parts, built and wired together in one place.
//
// Design
// ------
// The core (core/) schedules processes and knows the parts built on it only through its hooks
// (core/hooks.hpp, core/side_thread.hpp). A System owns the scheduler and every part, and its
// constructor is the one place that composes them:
//   SY1 the scheduler, from validated options (no thread runs yet);
//   SY2 the parts: the registry, the tracer (the observer), Erlang's lifecycle (Downs, exit
//       signals, nursery slots, names), the hang report (api/asleep.hpp), the watchdog and the
//       balancer (side threads), fault injection when a fault is on, the deterministic driver
//       in deterministic mode;
//   SY3 install them into the scheduler (Scheduler::install), adopt the workers for the driver;
//   SY4 start the carriers and side threads (none in deterministic mode).
// The destructor runs the scheduler's shutdown first (every process ends, every thread stops),
// so that the parts, destroyed after it, are called by nobody.
//
// The public calls that need a part (the registry, the tracer, the driver) reach it from a
// Scheduler through system_of: the core keeps the System pointer without looking inside.
#pragma once

#include <atomic>
#include <memory>

#include "api/asleep.hpp"
#include "control/balancer.hpp"
#include "control/watchdog.hpp"
#include "core/scheduler.hpp"
#include "ergon/options.hpp"
#include "observe/trace.hpp"
#include "otp/lifecycle.hpp"
#include "otp/registry.hpp"
#include "testing/deterministic.hpp"
#include "testing/faults.hpp"

namespace ergon::detail {

class System {
 public:
  explicit System(Options validated_options);  // SY1..SY4
  ~System();
  System(const System&) = delete;
  System& operator=(const System&) = delete;

  Scheduler sched;
  Registry registry;
  Tracer tracer;
  OtpLifecycle lifecycle;
  AsleepReporter asleep{*this};
  Watchdog watchdog;
  Balancer balancer;
  std::unique_ptr<Faults> faults;      // when some fault is on
  std::unique_ptr<Deterministic> det;  // in deterministic mode
  std::atomic<bool> running{false};    // a Runtime::run is in progress (Runtime::begin_run)
  // Of the run() in progress, for the asleep report: its main process (Pid::raw) and the
  // scheduler's outside sends and spawns when it began. Written by run() once main is spawned,
  // read by the report. relaxed: advisory figures of a report.
  std::atomic<std::uint64_t> run_main{0}, run_outside_sent{0}, run_outside_spawned{0};
};

// The System that owns `s`.
inline System& system_of(Scheduler& s) noexcept { return *s.system(); }
// The System of the calling process; throws NotInProcess naming `what` outside one.
System& system_of_caller(const char* what);

}  // namespace ergon::detail
