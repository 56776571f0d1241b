// AsleepReporter: the hang report of a threaded run, made from what the core's watch found
// (core/asleep.hpp, Z1..Z5): every process waits and nothing inside the runtime can wake one.
//
// Design
// ------
// The core decides that no worker, timer, blocking call, socket or delayed message can wake a
// process; it knows nothing of run(), registered names or the threads outside. Here, at Z5:
//   AS1 only while a run() waits for its main process (System::running): a runtime driven by
//       Runtime::spawn from a thread that is free to send at any moment is not reported;
//   AS2 a snapshot of every process (process_info): if one no longer waits, the episode ended
//       while the report was being made (a send from outside came), and nothing is reported;
//   AS3 the report: each process (pid, registered name, main, worker, what it waits in,
//       waiting_lines of api/shutdown.hpp, the lines deterministic mode's Deadlock has too),
//       the sends and spawns from outside during this run, what that means, and the fix; to
//       Options::on_asleep, or one write to stderr. Under `mu_`, which quiesce() takes.
// What the report may claim: that nothing inside the runtime can wake them. Not that they are
// deadlocked: a thread outside (or another Runtime's process) may still send, and the runtime
// cannot know. So it says what it saw of such threads during this run (their sends and spawns,
// Scheduler::external_*) and leaves the verdict to the reader, and run() does not throw:
// throwing would end processes that the program's other thread was about to wake.
// Rejected: throwing ergon::Deadlock from run() when no outside send or spawn was seen (the
// next line of that thread may be the first send); a report per grace period while the hang
// lasts (a test that waits on purpose would print one every asleep_after; the core makes one per
// episode, Z4).
#pragma once

#include <cstddef>
#include <mutex>

#include "core/hooks.hpp"

namespace ergon::detail {

class System;

class AsleepReporter final : public Asleep {
 public:
  explicit AsleepReporter(System& sys) noexcept : sys_(sys) {}
  void asleep(std::size_t waiting) noexcept override;  // AS1..AS3
  void quiesce() noexcept override { std::lock_guard<std::mutex> g(mu_); }

 private:
  System& sys_;
  std::mutex mu_;  // held while a report is made (quiesce)
};

}  // namespace ergon::detail
