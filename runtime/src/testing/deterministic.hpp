// Deterministic: the driver of deterministic mode (Options::deterministic), where every worker
// of a runtime runs on one OS thread and every scheduling choice comes from one seed.
//
// Design (after Pony's systematic testing and CAF's deterministic test coordinator)
// ------
// The workers keep their state and their loop's order of preference (worker.hpp); only the
// threads go. The thread that calls Runtime::run becomes the one carrier of every worker
// (bind), and the driver (hooks.hpp, Driver) repeats one *step*:
//   DS1 the balancer's turn: when the logical clock has passed its next tick (balance_interval,
//       jittered by the seed), run one balancer tick (B1..B3, F) on this thread;
//   DS2 pick a worker at random among those that find a runnable process (Worker::next_process
//       in deterministic mode returns nullptr where it would park);
//   DS3 maybe shorten the slice: with probability 1/kPreemptOdds the process's budget is a
//       random 1..kShortSlice reductions, so it yields at an arbitrary reduction point. This is
//       the watchdog's yield request, moved to a seeded place (the watchdog's thread does not
//       run, and nothing can be handed off: a process that never reaches a reduction point
//       holds the thread);
//   DS4 run the process (Worker::run: one slice, and any direct switches it makes);
//   DS5 advance the logical clock: kStepNs per step, kReductionNs per reduction spent, and a
//       seeded jitter below kJitterNs;
//   DS6 fold the step (worker, runs, reductions, clock) into the schedule digest.
// When no worker finds work, the clock jumps to the earliest armed timer (and to the next due
// delayed message of fault injection); when there is none either, every process waits for a
// message that nobody can send: the run is deadlocked, and Runtime::run says so, with the seed.
//
// Also seeded: the order of steals (each worker's steal RNG), whether a process woken by a
// send runs next or goes to the back of the queue (1 in kSkipRunnextOdds), and whether a
// blocking process hands the thread straight to runnext (the same odds).
//
// What replays: the same seed, options and program give the same sequence of steps (the same
// digest, Stats::schedule_digest) in a fresh program. Pid numbers come from the process table,
// which is global: within one program, a second run may see other pids (the schedule does not
// depend on them, except through move_to's spread).
//
// Threads outside the runtime may still spawn and send; the run does not wait for them, and
// what they do is not replayed. ergon::blocking calls its function in place.
//
// Rejected: running each worker on its own thread and serialising them with a token (every
// hand-over is a futex round trip, and the OS still decides who takes the token first); a
// separate simulated scheduler (the bugs worth finding live in the real one).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "core/carrier.hpp"
#include "core/hooks.hpp"
#include "util/xoshiro.hpp"

namespace ergon::detail {

class Scheduler;
class SideThread;
class Worker;

class Deterministic final : public Driver {
 public:
  // One step costs the clock this much, plus kReductionNs per reduction: about what a real
  // switch and a send cost (docs/benchmarks.md), so logical time runs near real time.
  static constexpr std::int64_t kStepNs = 200;
  static constexpr std::int64_t kReductionNs = 50;
  // The seeded part of a step's clock advance: below 1 us (five steps), small beside the 1 ms
  // timer tick. A reasoned bound, not tuned by a benchmark.
  static constexpr std::int64_t kJitterNs = 1000;
  // DS3: one slice in 4 is cut short, to 1..64 reductions. Often enough that two processes
  // racing through a few sends interleave every way within hundreds of seeds (the explorer
  // test finds its bug within 1,000); short enough that busy processes still make progress.
  static constexpr std::uint64_t kPreemptOdds = 4;
  static constexpr std::int32_t kShortSlice = 64;
  // One wake-up (and one direct switch) in 8 skips runnext: rare enough that the usual order
  // (runnext) stays the common one. Not tuned by a benchmark or a seed sweep.
  static constexpr std::uint64_t kSkipRunnextOdds = 8;

  // `balancer`: the side thread DS1 ticks, or nullptr.
  Deterministic(Scheduler& sched, std::uint64_t seed, SideThread* balancer);
  Deterministic(const Deterministic&) = delete;
  Deterministic& operator=(const Deterministic&) = delete;

  // The logical clock, in nanoseconds. Read and written on the driving thread only (every
  // process runs there).
  std::int64_t now() const noexcept override { return clock_; }
  std::uint64_t seed() const noexcept { return seed_; }
  // The process the driving carrier runs now, or nullptr (for process_info).
  const Process* running() const noexcept override { return carrier_.running(); }
  Xoshiro256& random() noexcept { return rng_; }

  // Makes every worker owned by the driving carrier; after Scheduler::install.
  void adopt_workers() noexcept;

  enum class Outcome { kDone, kDeadlock };
  // Runs steps on the calling thread until `done` is set (the main process has ended), or
  // until no process can run and no timer is armed (kDeadlock).
  [[nodiscard]] Outcome run_until(const std::atomic<bool>& done);
  // Runs steps until every process of the runtime has ended, repeating the shutdown's kill
  // sweep (Scheduler::kill_sweep) whenever nothing can run. false: `timeout` passed without
  // progress (SD3), on the wall clock: the deadline bounds a wait that would never end, so
  // it changes no run that replays (a run that ends does so before it).
  [[nodiscard]] bool run_until_empty(std::chrono::nanoseconds timeout) override;
  // A line per waiting process (at most `max`), for the deadlock report.
  std::string describe_waiting(unsigned max) const;

  // DS3, for Worker::run: the budget of the slice that starts, given the one it would get.
  std::int32_t slice_budget(std::int32_t budget) noexcept override;
  // For Worker::next_process and try_direct_switch: whether to pass runnext over this time.
  bool skip_runnext() noexcept override { return rng_.one_in(kSkipRunnextOdds); }

  // Statistics, read by Scheduler::stats (on any thread; relaxed: advisory): steps, the
  // schedule digest, and the seeded yield requests (DS3).
  void add_stats(Stats& s) const override;

 private:
  // Binds the carrier to the calling thread for the length of a drive (and unbinds it).
  class Binding {
   public:
    explicit Binding(Deterministic& d);
    ~Binding();

   private:
    Deterministic& d_;
  };

  bool step();                   // DS1..DS6; false if no worker found work
  bool advance_to_next_event();  // the clock jumps to the next timer; false if there is none
  void fold(std::uint64_t v) noexcept;

  // Fault injection's delayed messages (hooks.hpp): the earliest due, and delivering them.
  std::int64_t next_due_event() const;
  void deliver_due_events();

  Scheduler& sched_;
  SideThread* const balancer_;
  const std::uint64_t seed_;
  Xoshiro256 rng_;  // every choice of the run, in the order the steps make them
  Carrier carrier_;
  std::int64_t clock_;
  std::int64_t next_balance_ = 0;
  bool balances_ = false;
  std::vector<Worker*> candidates_;  // scratch for DS2
  // Written by the driving thread, read by stats(). relaxed: statistics.
  std::atomic<std::uint64_t> steps_{0}, digest_{0}, preemptions_{0};
};

}  // namespace ergon::detail
