// Scheduler: all workers of one Runtime and the state they share.
//
// Design
// ------
// The scheduler owns the pools of workers (each with its global queue and idle protocol,
// worker_pool.hpp), the stack pool, the carriers, the watchdog and the balancer, and implements
// the operations that cross workers: spawn, send's wake-up, and shutdown.
//
// Wake (the caller has won a process's wake-up: a push that found its mailbox blocked, a timer
// or shutdown that unblocked it):
//   W1 if the process has an armed timer on another worker, hand it to that worker's inbox:
//      only the timer's owner may disarm it (timer_wheel.hpp);
//   W2 else, if the caller is a worker of this scheduler and of the process's pool, make it
//      runnable right here (runnext if a process of ours sent the message): the woken
//      process comes to the waker, so communicating processes gather on one worker;
//   W3 else (a thread outside the runtime, or another pool), hand it to the inbox of the
//      worker it last ran on, or to that worker's forward target if it was compacted away.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "control/balancer.hpp"
#include "control/watchdog.hpp"
#include "core/carrier.hpp"
#include "core/process.hpp"
#include "core/stack_pool.hpp"
#include "core/worker.hpp"
#include "core/worker_pool.hpp"
#include "ergon/options.hpp"
#include "ergon/process_info.hpp"
#include "ergon/stats.hpp"
#include "observe/trace.hpp"
#include "otp/registry.hpp"
#include "testing/deterministic.hpp"

namespace ergon::detail {

std::int64_t monotonic_ns() noexcept;
class DelayLine;
class Faults;

class Scheduler {
 public:
  explicit Scheduler(Options opts);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  Process* spawn_begin(const SpawnOptions& opts, Closure** closure);
  Pid spawn_commit(Process* p);
  void spawn_abort(Process* p) noexcept;

  void wake(Process* p) noexcept;  // W1..W3

  // Ends every live process of this scheduler (each is unwound) and waits until none is left.
  // In deterministic mode the calling thread runs them to their end.
  void kill_all_and_wait();
  // One round of the shutdown's kill: marks every live process killed and wakes it.
  void kill_sweep();
  std::int64_t live() const noexcept;
  Stats stats() const;
  // ergon::process_info and processes() (process_info.cpp). Any thread.
  std::optional<ProcessInfo> process_info(Pid pid);
  std::vector<ProcessInfo> processes();
  // The processes carriers run now: the pool's carriers, or deterministic mode's one.
  std::vector<const Process*> running_processes();
  void report_crash(Process* p, const std::string& what) noexcept;

  const Options& options() const noexcept { return opts_; }
  unsigned worker_count() const noexcept { return static_cast<unsigned>(workers_.size()); }
  Worker& worker(unsigned i) noexcept { return *workers_[i]; }
  unsigned pool_count() const noexcept { return static_cast<unsigned>(pools_.size()); }
  WorkerPool& pool(unsigned i) noexcept { return *pools_[i]; }
  // The pool named `name`; throws Error listing the pools otherwise.
  WorkerPool& pool_named(std::string_view name);
  // The pool a Pool handle names; throws Error if it is not one of ours.
  WorkerPool& pool_of(Pool handle, const char* what);
  // D1's load for the watchdog and the balancer (tick_sleep.hpp): no worker is awake.
  bool all_parked_seq_cst() const noexcept;
  StackPool& stacks() noexcept { return stacks_; }
  CarrierPool& carriers() noexcept { return carriers_; }
  Watchdog& watchdog() noexcept { return watchdog_; }
  Balancer& balancer() noexcept { return balancer_; }
  Registry& registry() noexcept { return registry_; }
  Tracer& tracer() noexcept { return tracer_; }
  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
  // The runtime's clock, in nanoseconds: CLOCK_MONOTONIC (monotonic_ns), or the logical clock
  // in deterministic mode. Timers, receive deadlines, sleeps and the supervisors' restart
  // intensity read it.
  std::int64_t now() const noexcept { return det_ != nullptr ? det_->now() : monotonic_ns(); }
  // Deterministic mode (deterministic.hpp): its driver, or nullptr.
  Deterministic* deterministic() const noexcept { return det_.get(); }
  // The seed in use (Options::seed, or the one drawn when that was 0).
  std::uint64_t seed() const noexcept { return seed_; }
  // Events that are not timers but wake processes at a time (fault injection's delayed
  // messages), for the deterministic driver: the earliest due time (INT64_MAX: none), and
  // delivering what is due.
  std::int64_t next_due_event() const noexcept;
  void deliver_due_events(std::int64_t now);
  // Fault injection (faults.hpp): nullptr when every fault is off, which is what the send path
  // and spawn test. Set at construction, never changed.
  Faults* faults() const noexcept { return faults_.get(); }
  // The delay line of fault injection, or nullptr (no delays or reorders). Deterministic
  // mode drives it: next_due() / deliver_due(now) (delay_line.hpp).
  DelayLine* delay_line() const noexcept;

  // Counters for threads that are not workers. relaxed: statistics.
  std::atomic<std::int64_t> external_live{0};
  std::atomic<std::uint64_t> external_spawned{0}, external_sent{0}, external_dropped{0};
  std::atomic<std::uint64_t> crashed{0};

 private:
  void check_limit(Worker* w);

  Options opts_;
  const std::uint64_t seed_;
  StackPool stacks_;
  std::vector<std::unique_ptr<WorkerPool>> pools_;
  std::vector<std::unique_ptr<Worker>> workers_;
  CarrierPool carriers_;  // after workers_: its carriers run them
  Watchdog watchdog_;
  Balancer balancer_;
  Registry registry_;
  std::unique_ptr<Deterministic> det_;  // set in deterministic mode, before any process
  Tracer tracer_;
  const std::int64_t start_ns_;  // for lifetime utilization when no balancer samples
  // Set (release) when the workers must exit; read (acquire) by them when out of work.
  std::atomic<bool> stopping_{false};
  // Set during kill_all_and_wait: processes spawned meanwhile are born killed.
  std::atomic<bool> killing_{false};
  // Last: destroyed first, so its delay line's thread stops while the rest still stands.
  std::unique_ptr<Faults> faults_;
};

// charge() for spawn_commit, which has entered the runtime already (Carrier::enter). Its
// yield does not check the caller's signals: a spawn must return the pid of the child it has
// started (a nursery counts every child it spawned); a kill or an interrupt is seen at the
// caller's next switch.
void charge_entered(Process* p, std::uint32_t reductions);

}  // namespace ergon::detail
