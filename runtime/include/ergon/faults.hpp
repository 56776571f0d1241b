// Fault injection: seeded delays, reorderings, crashes and spawn failures, so that a program
// can test its own supervision trees, monitors and timeouts (docs/api.md, "Fault injection").
//
//   ergon::Options o;
//   o.faults.crash = 0.001;           // or ERGON_FAULT_CRASH=0.001
//   o.faults.delay_messages = 0.05;   // or ERGON_FAULT_DELAY_MESSAGES=0.05
//   ergon::Runtime rt(o);             // rt.seed() replays the same decisions (ERGON_SEED)
//
// Everything is off by default, and off costs nothing measurable: the send path and the
// reduction points test one pointer or one bool and take no lock, atomic, clock or random
// number (docs/design.md, "Fault injection and the delay line").
//
// What each fault does:
//   - delay: the message goes into the runtime's delay line and is delivered up to max_delay
//     later. Messages from one sender to one receiver keep their order (Erlang's only
//     guarantee): once a pair has a message in the delay line, every later message of that
//     pair queues behind it. Messages from other senders may overtake it.
//   - reorder: the message is held until a message from another sender to the same receiver
//     has been delivered (has overtaken it), or until max_delay.
//   - crash: at a reduction point the running process throws InjectedFault; uncaught, it ends
//     the process like any crash (reason `exception: ...`), so links, monitors, supervisors and
//     nurseries see an ordinary crash.
//   - fail_spawns: spawn throws SpawnError, as when the process limit is reached.
#pragma once

#include <chrono>

#include "ergon/errors.hpp"

namespace ergon {

// The faults a Runtime injects (Options::faults). Probabilities are in [0, 1]; validation
// throws ConfigError otherwise. Each field has an ERGON_FAULT_* variable, applied by
// Options::from_env. Every default is off: faults are for tests, and a program that does not
// ask for one must not get it (nor pay for it). Every decision is drawn from Options::seed
// (ERGON_SEED; 0 picks one at start, Runtime::seed() tells which): with one worker (or in
// deterministic mode) the same seed and the same program give the same faults.
struct FaultOptions {
  // Probability that a message is delayed by a uniform time in (0, max_delay]. Off (0): a
  // test of delays must ask for them. ERGON_FAULT_DELAY_MESSAGES.
  double delay_messages = 0;

  // The longest delay, and the longest a reordered message is held. 1 ms: longer than a
  // scheduling round, so a delay lets much of the program run past the message, and short
  // enough that timeouts of tens of milliseconds still mostly succeed. At least 1 us, at most
  // 60 s. ERGON_FAULT_MAX_DELAY (a duration: 500us, 2ms, 1s).
  std::chrono::microseconds max_delay{1000};

  // Probability that a message is held back until a message from another sender to the same
  // receiver overtakes it (or max_delay passes). Off (0). ERGON_FAULT_REORDER_MESSAGES.
  double reorder_messages = 0;

  // Probability, at each reduction point of a process, that it crashes with InjectedFault.
  // The crash points are send, receive, spawn, yield, reduce, a checkpoint that yields, and
  // every switch back into a process (after a wait, a yield, a move). Off (0). The main process of
  // Runtime::run, supervisors, and processes spawned with SpawnOptions::faults = false never
  // crash by injection. ERGON_FAULT_CRASH.
  double crash = 0;

  // Probability that a spawn fails with SpawnError. Spawns with SpawnOptions::faults = false
  // (and the main process of Runtime::run) never fail by injection. Off (0).
  // ERGON_FAULT_FAIL_SPAWNS.
  double fail_spawns = 0;

  // Whether any fault is on.
  bool any() const noexcept {
    return delay_messages > 0 || reorder_messages > 0 || crash > 0 || fail_spawns > 0;
  }
};

// The exception a crash by fault injection throws inside a process. Its message names the
// process, the reduction point, the option (Options::faults.crash, ERGON_FAULT_CRASH) and the
// seed that replays it.
class InjectedFault : public Error {
 public:
  using Error::Error;
};

}  // namespace ergon
