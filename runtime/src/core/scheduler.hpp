// Scheduler: all workers of one Runtime and the state they share.
//
// Design
// ------
// The scheduler owns the pools of workers (each with its global queue and idle protocol,
// worker_pool.hpp), the stack pool and the carriers, and implements the operations that cross
// workers: spawn, send's wake-up, and shutdown. It knows the parts built on it only through
// the hooks they implement (hooks.hpp, side_thread.hpp), which the Runtime installs (install)
// before it starts the threads (start); a scheduler with none installed runs processes all the
// same (no trace, no Downs, no balancing).
//
// Life: construct (no thread runs), install, start, ... shutdown (every process ended, every
// thread stopped; then the parts may go), destroy.
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

#include "core/carrier.hpp"
#include "core/hooks.hpp"
#include "core/process.hpp"
#include "core/side_thread.hpp"
#include "core/stack_pool.hpp"
#include "core/worker.hpp"
#include "core/worker_pool.hpp"
#include "ergon/options.hpp"
#include "ergon/stats.hpp"

namespace ergon::detail {

std::int64_t monotonic_ns() noexcept;
class System;

// What the Runtime installs (hooks.hpp); every pointer may be null but the lifecycle's users
// expect one. `system` is the composition that owns the scheduler: the core stores it for the
// parts and never looks inside.
struct Hooks {
  Observer* observer = nullptr;
  Driver* driver = nullptr;
  Injector* injector = nullptr;
  Lifecycle* lifecycle = nullptr;
  std::vector<SideThread*> side_threads;
  System* system = nullptr;
};

class Scheduler {
 public:
  explicit Scheduler(Options opts);
  ~Scheduler();  // shutdown() if it has not run
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  Process* spawn_begin(const SpawnOptions& opts, Closure** closure);
  Pid spawn_commit(Process* p);
  void spawn_abort(Process* p) noexcept;

  void wake(Process* p) noexcept;  // W1..W3

  // Before start(), once: the parts built on this scheduler.
  void install(Hooks hooks);
  // Starts the carriers and the side threads; in deterministic mode (a driver is installed)
  // none: the driver's thread carries every worker.
  void start();
  // Ends every process, then stops the side threads, the injector's thread and the carriers.
  // Idempotent. After it no hook is called, so the parts may be destroyed.
  void shutdown();

  // Ends every live process of this scheduler (each is unwound) and waits until none is left.
  // In deterministic mode the calling thread runs them to their end.
  void kill_all_and_wait();
  // One round of the shutdown's kill: marks every live process killed and wakes it.
  void kill_sweep();
  std::int64_t live() const noexcept;
  Stats stats() const;
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
  // D1's load for the side threads (tick_sleep.hpp): no worker is awake.
  bool all_parked_seq_cst() const noexcept;
  // D2, by a worker that left its park.
  void poke_side_threads() noexcept {
    for (SideThread* t : side_threads_) t->poke();
  }
  StackPool& stacks() noexcept { return stacks_; }
  CarrierPool& carriers() noexcept { return carriers_; }
  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
  // The runtime's clock, in nanoseconds: CLOCK_MONOTONIC (monotonic_ns), or the driver's
  // logical clock in deterministic mode. Timers, receive deadlines, sleeps and the
  // supervisors' restart intensity read it.
  std::int64_t now() const noexcept { return driver_ != nullptr ? driver_->now() : monotonic_ns(); }
  // The seed in use (Options::seed, or the one drawn when that was 0).
  std::uint64_t seed() const noexcept { return seed_; }

  // The installed hooks (hooks.hpp). Set by install() before any process runs, never changed.
  Observer& observer() const noexcept { return *observer_; }  // no_observer() if none
  Driver* driver() const noexcept { return driver_; }
  // nullptr when every fault is off, which is what the send path and spawn test.
  Injector* injector() const noexcept { return injector_; }
  Lifecycle* lifecycle() const noexcept { return lifecycle_; }
  System* system() const noexcept { return system_; }

  // Counters for threads that are not workers. relaxed: statistics.
  std::atomic<std::int64_t> external_live{0};
  std::atomic<std::uint64_t> external_spawned{0}, external_sent{0}, external_dropped{0};
  std::atomic<std::uint64_t> crashed{0};

 private:
  void check_limit(Worker* w);
  // SpawnError for a SpawnOptions::stack_size above kMaxStackSize, naming the spawner (null:
  // a spawn from outside the runtime).
  [[noreturn]] void throw_stack_too_large(std::size_t size, const Process* spawner) const;

  // Into the pool's global queue (from outside it, or another pool), waking one of its workers.
  void push_global(Process* p) noexcept;

  Options opts_;
  const std::uint64_t seed_;
  StackPool stacks_;
  std::vector<std::unique_ptr<WorkerPool>> pools_;
  std::vector<std::unique_ptr<Worker>> workers_;
  CarrierPool carriers_;  // after workers_: its carriers run them
  // The hooks (see install()).
  Observer* observer_;
  Driver* driver_ = nullptr;
  Injector* injector_ = nullptr;
  Lifecycle* lifecycle_ = nullptr;
  std::vector<SideThread*> side_threads_;
  System* system_ = nullptr;
  const std::int64_t start_ns_;  // for lifetime utilization when no side thread samples
  // Set (release) when the workers must exit; read (acquire) by them when out of work.
  std::atomic<bool> stopping_{false};
  // Set during kill_all_and_wait: processes spawned meanwhile are born killed.
  std::atomic<bool> killing_{false};
  bool shut_down_ = false;  // the thread that constructs and destroys it
};

}  // namespace ergon::detail
