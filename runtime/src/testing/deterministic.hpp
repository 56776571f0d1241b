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
//
// Simulated-parallel mode (Options::simulate)
// ------
// The steps above serialise the workers on one clock: 16 workers take 16 times the logical
// time of one, so the mode cannot say what 16 cores would do. With Options::simulate each
// worker has a clock of its own and the driver is a discrete-event simulation of one core per
// worker (a step is still one slice on the one thread, so everything above still holds):
//   DP1 each worker's next event: a busy worker (it found work at its last look) at its
//       clock; an idle worker at max(its clock, the time work was posted to it, DP6), or at
//       its next timer, or never; fault injection's next due message; the balancer's next tick
//       (balance_interval, jittered by the seed);
//   DP2 the earliest event wins. The balancer ticks on this thread at its time while some
//       worker is busy (while none is, it sleeps, as its thread does: D1 of tick_sleep.hpp,
//       and ticks when the first wakes); a due message is delivered at its time; else the
//       worker with the earliest time, ties drawn from the seed;
//   DP3 the worker looks for work (Worker::next_process) with Scheduler::now() = its clock;
//       an idle worker's clock first catches up to the event's time, and the time between is
//       recorded as parked (Worker::simulated_park, for the balancer's utilization, B1). It
//       finds nothing: it is idle from its clock on, and the next event is tried. It finds a
//       process: its clock also catches up to the time that process became runnable, as far
//       as the scheduler's events tell (Stamps: its spawn, the end of its last slice part), so
//       a worker whose clock lags cannot run a process before it was spawned elsewhere (a wait
//       longer than its spin rounds, spin_rounds x kStealNs, adds kUnparkNs: it had parked);
//   DP4 it runs one slice, as DS4, but with the runtime's own choices: no slice is cut short
//       (DS3) and runnext is never passed over, since the mode models speed, not
//       interleavings. Scheduler::now() inside the slice is the clock at its start plus the
//       cost of what the slice did so far (the worker's counters, part_reductions);
//   DP5 its clock advances by the cost model below (Cost): per step (a trip through the loop),
//       per direct switch, per send, per spawn, per other reduction, per steal (the thief
//       pays), per process migrated by the balancer (the receiving worker pays, at its next
//       step), per cross-worker wake-up (the waker pays), and a seeded jitter below
//       kSimJitterNs;
//   DP6 every idle worker that now finds work in its own queues (an inbox push, a forward, a
//       migration) gets it at the step's end, plus kUnparkNs (it was parked); shared work (a
//       pool's global queue, a queue to steal from) wakes one idle worker of the pool, as
//       Idle::notify_one does, at the step's first spawn if it spawned (DP3 holds back a
//       process spawned later), else at its end; the step goes into the digest as DS6, so the
//       same seed replays the same run.
// Timers fire on the clock of the worker that holds them; a process that sleeps on an idle
// worker wakes at its deadline (DP1). The balancer reads the workers' parked time on the
// logical clocks, so compaction and migration see simulated load.
//
// What the model is (and is not): a step's effects are visible to the other workers at once,
// while in simulated time they happen during the step. DP3's stamps keep spawned and yielded
// processes from running before their time; a process woken by a message from another
// worker may still run on a busy worker whose clock lies inside the waker's step up to one
// step early (never on an idle one: it takes it at the step's end). The error is bounded by
// the longest step (a full slice). Only what the runtime does is charged, at costs measured
// on one core with warm caches: the program's own code between reduction points costs nothing
// unless it says so with ergon::reduce(n). Left
// out: caches and memory bandwidth (a stolen or migrated process runs cold on a real core),
// contention on shared cache lines and locks (the global queue, a victim's run queue), the
// kernel (descheduling, interrupts, page faults), SMT and frequency, and the time a
// cross-worker push takes to become visible.
// Rejected: one clock advanced by the slowest worker at the end of each round of parallel
// steps (lock-step rounds: a worker that blocks early idles for the whole round); optimistic
// simulation with rollback (the runtime's state cannot be rolled back).
#pragma once

#include <atomic>
#include <climits>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
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

  // The cost model of the simulated mode (DP5), in nanoseconds of one core's time, measured
  // by `python3 bench/sim_costs.py --runs 5` (release build, ERGON_WORKERS=1, medians of 5
  // runs, on the 2-core machine of docs/benchmarks.md, "The cost model of the simulation",
  // while two other engineers built on it: load 3-4). Instructions come from callgrind
  // (bench/budget.txt, or the script's own runs) and become nanoseconds at pingpong's
  // measured 0.094 ns an instruction (95.3 ns for its 1,013): warm caches, no contention.
  struct Cost {
    // One trip through the worker loop, a slice: pick, switch in, switch out, requeue:
    // `yield`'s 412 instructions. (Its wall clock, 347 ns, is cache misses over its 1,000
    // stacks: left out, as every cache effect is.)
    static constexpr std::int64_t kStepNs = 39;
    // A direct switch, with the receive that blocks and hands the thread to runnext:
    // (pingpong's 95.3 ns round trip - 2 kSendNs) / 2.
    static constexpr std::int64_t kSwitchNs = 32;
    // A send to a receiver of the same worker, waking it: `send_blocked`'s 166 instructions.
    static constexpr std::int64_t kSendNs = 16;
    // A spawn with the child's record, stack and end: `spawn_one`'s 224 ns less the child's
    // and the spawner's steps and the child's send.
    static constexpr std::int64_t kSpawnNs = 130;
    // A reduction: the unit in which a program charges its own work (ergon::reduce(n) is n
    // ns of it; `bimodal_*` charge a SHA-1 step its measured 409 ns). The reduction point
    // itself costs less: 0.06 ns a checkpoint, 3 ns an ergon::reduce call
    // (`checkpoint_cost`); a receive's is inside kSwitchNs.
    static constexpr std::int64_t kReductionNs = 1;
    // A steal of half a victim's queue, the thief's share: Worker::steal's 89 instructions a
    // call (callgrind, `spawn_many` on 2 workers, ERGON_POLICY=steal).
    static constexpr std::int64_t kStealNs = 8;
    // A process moved by the balancer, the receiver's share: the push into its inbox and the
    // requeue as it drains it, Worker::remote_wake's 169 instructions and push_back's 18
    // (callgrind, `wake_rt`), charged at its next step.
    static constexpr std::int64_t kMigrateNs = 18;
    // A wake-up of a parked worker, the waker's share: the futex wake, half the system CPU
    // time of a wake-up in `wake_rt` (ERGON_SPIN_ROUNDS=0: every wake finds the other worker
    // parked; 25.2 us of system time a round trip of two wake-ups), and remote_wake.
    static constexpr std::int64_t kWakeNs = 6300;
    // From that wake to the parked worker running: the rest of a wake-up's latency in
    // `wake_rt` (38.8 us a round trip, 95 ns of it pingpong's work: 19.4 us a wake-up, less
    // kWakeNs). This VM's futex latency; a bare-metal core wakes in a few microseconds.
    static constexpr std::int64_t kUnparkNs = 13000;
  };
  // The seeded part of a simulated step's cost, below 4 ns: it only breaks ties between equal
  // clocks, so it stays below every cost above but a reduction's.
  static constexpr std::int64_t kSimJitterNs = 4;

  // `balancer`: the side thread DS1 ticks, or nullptr. `simulate`: the simulated-parallel mode.
  Deterministic(Scheduler& sched, std::uint64_t seed, SideThread* balancer, bool simulate = false);
  Deterministic(const Deterministic&) = delete;
  Deterministic& operator=(const Deterministic&) = delete;

  // The logical clock, in nanoseconds. Read and written on the driving thread only (every
  // process runs there). Simulated mode: the clock of the worker being driven, inside a slice
  // its clock at the slice's start plus the cost so far (DP4); during a balancer tick or a
  // delivery, that event's time.
  std::int64_t now() const noexcept override { return simulate_ ? sim_now() : clock_; }
  bool simulated() const noexcept { return simulate_; }
  std::uint64_t seed() const noexcept { return seed_; }
  // The process the driving carrier runs now, or nullptr (for process_info).
  const Process* running() const noexcept override { return carrier_.running(); }
  Xoshiro256& random() noexcept { return rng_; }

  // The observer to install (hooks.hpp) in front of `inner` (the tracer): `inner` itself in
  // the serial mode; in the simulated mode the driver's Stamps (DP3), which forward every event
  // to `inner` while it is on. Before Scheduler::install.
  Observer* observer_for(Observer* inner) noexcept;

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

  // DS3, for Worker::run: the budget of the slice that starts, given the one it would get.
  std::int32_t slice_budget(std::int32_t budget) noexcept override;
  // For Worker::next_process and try_direct_switch: whether to pass runnext over this time
  // (never in simulated mode, DP4).
  bool skip_runnext() noexcept override { return !simulate_ && rng_.one_in(kSkipRunnextOdds); }

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

  bool step();                   // DS1..DS6 (or DP1..DP6); false if no worker found work
  bool advance_to_next_event();  // the clock jumps to the next timer; false if there is none
  void fold(std::uint64_t v) noexcept;
  void count_step() noexcept;

  // --- simulated mode (simulated.cpp) ------------------------------------------------------
  // DP3's stamps: when each process last became runnable as far as the scheduler's events
  // tell (its spawn, the end of each part of a slice it ran), and DP6's earliest spawn of the
  // step. The scheduler's observer while the mode is on: its gate is always up, so the core
  // reports every spawn and slice part (a cost paid in the simulation only), and each event
  // goes on to the tracer while that is on.
  class Stamps final : public Observer {
   public:
    Stamps(Deterministic& d, Observer* inner) noexcept : d_(d), inner_(inner) {
      on_.store(true, std::memory_order_relaxed);  // relaxed: see Observer::on()
    }
    void slice(unsigned w, Pid pid, std::int64_t begin, std::int64_t end) noexcept override;
    void park(unsigned w, std::int64_t begin, std::int64_t end) noexcept override;
    void moved(unsigned w, Move kind, unsigned other, Pid pid, std::int64_t now) noexcept override;
    void spawn(int w, Pid child, Pid parent, std::int64_t now) noexcept override;
    void describe_exit(ExitText& out, const ExitReason& reason) noexcept override;
    void exit(unsigned w, Pid pid, const char* why, std::int64_t now) noexcept override;
    void crash(Pid pid, const std::string& what, std::int64_t now) noexcept override;
    void handoff(unsigned w, Pid pid, std::int64_t now) noexcept override;
    void tenants(const TenantTable& t, std::int64_t now) noexcept override;

   private:
    Deterministic& d_;
    Observer* const inner_;
  };
  // One simulated worker: its clock and what DP1 needs.
  struct SimWorker {
    std::int64_t clock = 0;
    bool idle = true;                 // found no work at its last look
    std::int64_t posted = INT64_MAX;  // DP6: work was posted for it at this time
    std::int64_t owed = 0;            // migrations received, charged at its next step
    std::uint64_t migrated_in = 0;    // Worker::migrated_in at the last look
  };
  bool sim_step();                                         // DP1..DP6
  std::int64_t sim_now() const noexcept;                   // see now()
  std::int64_t sim_event_time(unsigned i) const noexcept;  // DP1 for worker i
  void sim_tick(std::int64_t t);                           // DP2's balancer tick at t
  // DP6 for every idle worker: own work posted at `own`, shared work at `shared`.
  void sim_post(std::int64_t own, std::int64_t shared, const Worker* except);
  void sim_post(std::int64_t t, const Worker* except) { sim_post(t, t, except); }
  bool sim_finds_work(Worker& w) const noexcept;  // DP6's test
  std::int64_t sim_latest() const noexcept;       // the latest clock of all

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
  // Simulated mode (driving thread only).
  const bool simulate_;
  std::vector<SimWorker> sim_;
  std::vector<unsigned> order_;  // scratch for DP2
  Worker* driven_ = nullptr;     // the worker DP3..DP4 drive, or nullptr
  std::int64_t event_time_ = 0;  // now() outside a slice
  // DP4's clock inside a slice: its start, and the worker's counters then.
  std::int64_t slice_t0_ = 0;
  std::uint64_t runs0_ = 0, reductions0_ = 0, sent0_ = 0, spawned0_ = 0;
  mutable std::int64_t slice_last_ = 0;  // now() never runs backwards inside a slice
  mutable std::uint64_t part_runs_ = 0, part_base_ = 0;  // the part in progress (sim_now)
  bool in_slice_ = false;
  std::unique_ptr<Stamps> stamps_;
  std::unordered_map<std::uint64_t, std::int64_t> ready_;  // by Pid::raw(), DP3
  std::int64_t spawned_at_ = INT64_MAX;                    // DP6: the step's earliest spawn
  std::vector<char> inbox_was_empty_;                      // scratch for DP5's count of wake-ups
  // Written by the driving thread, read by stats(). relaxed: statistics.
  std::atomic<std::uint64_t> steps_{0}, digest_{0}, preemptions_{0};
};

}  // namespace ergon::detail
