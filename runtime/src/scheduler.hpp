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

#include "balancer.hpp"
#include "carrier.hpp"
#include "ergon/options.hpp"
#include "ergon/process_info.hpp"
#include "ergon/stats.hpp"
#include "process.hpp"
#include "registry.hpp"
#include "stack_pool.hpp"
#include "trace.hpp"
#include "watchdog.hpp"
#include "worker.hpp"
#include "worker_pool.hpp"

namespace ergon::detail {

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
  void kill_all_and_wait();
  std::int64_t live() const noexcept;
  Stats stats() const;
  // ergon::process_info and processes() (process_info.cpp). Any thread.
  std::optional<ProcessInfo> process_info(Pid pid);
  std::vector<ProcessInfo> processes();
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
  // The runtime's clock, in nanoseconds: CLOCK_MONOTONIC (monotonic_ns). Timers, receive
  // deadlines, sleeps and the supervisors' restart intensity read it.
  std::int64_t now() const noexcept;

  // Counters for threads that are not workers. relaxed: statistics.
  std::atomic<std::int64_t> external_live{0};
  std::atomic<std::uint64_t> external_spawned{0}, external_sent{0}, external_dropped{0};
  std::atomic<std::uint64_t> crashed{0};

 private:
  void check_limit(Worker* w);

  Options opts_;
  StackPool stacks_;
  std::vector<std::unique_ptr<WorkerPool>> pools_;
  std::vector<std::unique_ptr<Worker>> workers_;
  CarrierPool carriers_;  // after workers_: its carriers run them
  Watchdog watchdog_;
  Balancer balancer_;
  Registry registry_;
  Tracer tracer_;
  const std::int64_t start_ns_;  // for lifetime utilization when no balancer samples
  // Set (release) when the workers must exit; read (acquire) by them when out of work.
  std::atomic<bool> stopping_{false};
  // Set during kill_all_and_wait: processes spawned meanwhile are born killed.
  std::atomic<bool> killing_{false};
};

std::int64_t monotonic_ns() noexcept;

// charge() for spawn_commit, which has entered the runtime already (Carrier::enter). Its
// yield does not check the caller's signals: a spawn must return the pid of the child it has
// started (a nursery counts every child it spawned); a kill or an interrupt is seen at the
// caller's next switch.
void charge_entered(Process* p, std::uint32_t reductions);

}  // namespace ergon::detail
