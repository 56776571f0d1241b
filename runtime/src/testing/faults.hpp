// Faults: a scheduler's fault injection (Options::faults): its decisions, its counters and its
// delay line.
//
// Design
// ------
// The Runtime installs a Faults (as the scheduler's Injector, core/hooks.hpp) only when some
// fault is on; otherwise the injector pointer is null, and that pointer is all the send path
// and spawn test (one predictable branch). Crashes are
// gated by a bool in each process record instead (Process::inject_crashes), set at spawn, so
// that the reduction points test a field of a record they touch anyway.
//
// Decisions
//   Every decision a process causes (crash at one of its reduction points, delay or reorder
//   of a message it sends, failure of a spawn it makes) is drawn from the process's own
//   stream (Process::fault_rng), a Xoshiro256 seeded at its spawn from (seed, a draw of its
//   spawner's stream). Sends and spawns from threads outside any process draw from one
//   stream under outside_mu_. So a decision takes no lock and no atomic, and the decisions
//   of a process depend only on the seed, the spawn order of its ancestors and its own
//   sequence of reduction points: one worker, or deterministic mode, replays them exactly.
//   Rejected: one stream per worker (the brief's first idea). A crash point runs in process
//   code, which may not touch its worker's state without entering the runtime (E1/E2,
//   carrier.hpp; a process can resume on another worker after any switch), and several crash
//   points (the check after a yield) are already inside an entry; the per-process stream
//   needs neither, and also keeps a process's decisions independent of which worker runs it.
//
// Crash points (core/send.cpp, core/process_calls.cpp): send (on_send), receive and reduce
// (charge), spawn
// (Scheduler::spawn_begin), and every switch back into a process (Process::check_signals:
// after a wait, a yield, a checkpoint that yields, a move). A crash throws InjectedFault
// before the operation takes effect: a crashed send sends nothing, a crashed spawn spawns
// nothing, a crashed receive takes nothing. Runtime-internal sends (Downs, Exit messages:
// post_envelope) are not crash points, and neither is anything a process runs after its
// function has returned, nor anything while it is shielded (a closing nursery).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "core/hooks.hpp"
#include "ergon/faults.hpp"
#include "ergon/pid.hpp"
#include "ergon/stats.hpp"
#include "testing/delay_line.hpp"
#include "util/xoshiro.hpp"

namespace ergon::detail {

class Scheduler;
struct Process;

class Faults final : public Injector {
 public:
  // `own_thread`: whether the delay line (if delays or reorders are on) runs a thread of its
  // own (parallel mode) or is driven by its owner (deterministic mode).
  Faults(Scheduler& sched, const FaultOptions& opts, std::uint64_t seed, bool own_thread);
  ~Faults() override;
  Faults(const Faults&) = delete;
  Faults& operator=(const Faults&) = delete;

  // Whether spawns give their children crash injection (FaultOptions::crash > 0).
  bool crashes() const noexcept { return crash_ != 0; }
  // The delay line, or nullptr when neither delays nor reorders are on.
  DelayLine* delay_line() noexcept { return line_.get(); }

  // --- the hooks (hooks.hpp, Injector) ----------------------------------------------------
  void before_spawn(Process* spawner) override;
  // The child's stream: from its spawner's stream, or (spawner nullptr) the outside one.
  void seed_child(Process* child, Process* spawner, bool faults) override;
  // A send's crash point, then its hold (delay_line.hpp); out of line so that the send path
  // keeps a single branch when fault injection is off.
  bool on_send(Process* sender, Worker* w, Pid to, mailbox::Envelope* e, bool crash_point) override;
  void crash_point(Process* p, const char* where) override;
  std::size_t discard_held(Pid to, bool (*match)(const mailbox::Envelope*, const void*),
                           const void* arg) override;
  std::int64_t next_due() const override;
  void deliver_due(std::int64_t now) override;
  // Frees every held message (Runtime::run's end: every process has ended).
  void clear_held() noexcept override;
  // Starts the delay line's thread (parallel mode).
  void start() override;
  // Stops the delay line's thread and frees what it holds.
  void stop() noexcept override;
  void add_stats(Stats& s) const override;

  // At a crash point of `p` (which has inject_crashes): true if it must crash now; counts it.
  bool roll_crash(Process* p) noexcept;
  // How a message sent by `sender` (nullptr: outside any process) is to be held.
  DelayLine::Hold roll_send(Process* sender, std::int64_t* delay_ns);
  // The message of an InjectedFault for `pid` at `where` ("a send", ...).
  std::string crash_message(Pid pid, const char* where) const;

 private:
  Scheduler& sched_;
  const FaultOptions opts_;
  const std::uint64_t seed_;
  // Probabilities as thresholds for Xoshiro256::chance.
  const std::uint64_t delay_, reorder_, crash_, fail_spawn_;
  const std::int64_t max_delay_ns_;
  std::unique_ptr<DelayLine> line_;
  std::mutex outside_mu_;
  Xoshiro256 outside_;  // guarded by outside_mu_: sends and spawns from outside any process
  // Written by any process, read by stats(). relaxed: statistics; nothing reads them to decide.
  std::atomic<std::uint64_t> crashes_{0}, spawn_failures_{0};
};

}  // namespace ergon::detail
