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
//
// Shutdown (kill_all_and_wait at the end of every Runtime::run and in ~Runtime; shutdown):
//   SD1 kill: killing_ = 1, so that a process spawned from now on is born killed; then the
//       sweep marks every live process of this scheduler killed and wakes it. It throws
//       detail::Shutdown at its next reduction point, which unwinds its stack.
//   SD2 wait: sweep again (after 100 us, then every 2 ms) until no process is left: a process
//       between its kill check and its block, or one spawned by a dying one, needs a later
//       sweep. In deterministic mode the driver runs the processes to their end instead.
//   SD3 deadline: give up (kStalled) once `timeout` has passed with the count of live
//       processes no lower than its lowest so far (ShutdownDeadline). The ones left refuse to
//       end: a loop with no reduction point, a call blocked outside ergon::blocking, or a
//       catch (...) that swallows the kill. They are left running, still killed. The Runtime
//       names them and decides (api/shutdown.hpp): run() throws, ~Runtime abandons the System.
//   SD4 stop (shutdown(), once no process is left): the injector's thread, the side threads,
//       the carriers.
// Rejected: a deadline counted from the first sweep. A runtime unwinding a million processes
// on a loaded machine may need longer than any fixed bound while it makes steady progress;
// the time since the last new low is what tells "refuses" from "slow", and a refuser that
// spawns children that end does not reset it (the count never goes below its low).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "core/asleep.hpp"
#include "core/carrier.hpp"
#include "core/hooks.hpp"
#include "core/process.hpp"
#include "core/reactor.hpp"
#include "core/side_thread.hpp"
#include "core/stack_pool.hpp"
#include "core/tenant.hpp"
#include "core/worker.hpp"
#include "core/worker_pool.hpp"
#include "ergon/options.hpp"
#include "ergon/stats.hpp"

namespace ergon::detail {

std::int64_t monotonic_ns() noexcept;
class System;

// SD3: expired once `timeout` has passed with the count of live processes no lower than its
// lowest so far; never when `timeout` is 0. One thread.
class ShutdownDeadline {
 public:
  explicit ShutdownDeadline(std::chrono::nanoseconds timeout) noexcept
      : timeout_ns_(timeout.count()) {}
  [[nodiscard]] bool expired(std::int64_t live) noexcept {
    const std::int64_t now = monotonic_ns();
    if (live < low_) {
      low_ = live;
      since_ = now;
      return false;
    }
    return timeout_ns_ > 0 && now - since_ >= timeout_ns_;
  }

 private:
  const std::int64_t timeout_ns_;
  std::int64_t low_ = INT64_MAX;
  std::int64_t since_ = 0;
};

// What kill_all_and_wait found.
enum class EndAll : std::uint8_t {
  kEnded,    // no process of the scheduler is left
  kStalled,  // SD3: the deadline passed; the processes left are still alive, killed
};

// What the Runtime installs (hooks.hpp). Every pointer may be null: the core then runs without
// that part (no trace, no seeded driver, no faults, no Downs or names). `system` is the
// composition that owns the scheduler: the core stores it for the parts and never looks inside.
struct Hooks {
  Observer* observer = nullptr;
  Driver* driver = nullptr;
  Injector* injector = nullptr;
  Lifecycle* lifecycle = nullptr;
  Asleep* asleep = nullptr;
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
  // wake() for a caller that has entered the runtime (InRuntime) and knows its worker `w`
  // (nullptr off the runtime's threads) and whether a process of its own is running.
  // Inline (below): its W2 case, a wake from the receiver's own worker, is every send that
  // wakes a blocked receiver of the sender's worker; W1 and W3 stay out of line.
  inline void wake_from(Worker* w, bool by_process, Process* p) noexcept;
  void wake_elsewhere(Worker* w, Process* p) noexcept;  // wake_from's W1 and W3

  // Before start(), once: the parts built on this scheduler.
  void install(Hooks hooks);
  // Starts the carriers and the side threads; in deterministic mode (a driver is installed)
  // none: the driver's thread carries every worker.
  void start();
  // Ends every process (SD1..SD3, waiting on with a line to stderr at each deadline), then
  // stops the side threads, the injector's thread and the carriers (SD4). Idempotent. After
  // it no hook is called, so the parts may be destroyed. The Runtime has ended every process
  // before (or abandoned the scheduler instead of destroying it): only a process spawned from
  // another thread during the destruction is waited for here.
  void shutdown();

  // SD1..SD3: ends every live process of this scheduler (each is unwound) and waits until none
  // is left (kEnded), or until `timeout` (0: none) has passed without any progress (kStalled).
  // In deterministic mode the calling thread runs them to their end. The thread that owns the
  // Runtime.
  [[nodiscard]] EndAll kill_all_and_wait(std::chrono::nanoseconds timeout);
  // SD7: the Runtime will never destroy this scheduler (api/shutdown.hpp). Processes spawned
  // from now on are born killed, and carriers that exit detach themselves (nobody will join
  // them). The thread that owns the Runtime, once, after a kill_all_and_wait that stalled.
  void abandon();
  // One round of the shutdown's kill: marks every live process killed and wakes it.
  void kill_sweep();
  std::int64_t live() const noexcept;
  Stats stats() const;
  // The processes carriers run now: the pool's carriers, or deterministic mode's one.
  std::vector<const Process*> running_processes();
  void report_crash(Process* p, const std::string& what) noexcept;
  // Process code, at the end of a process the stack guard ended for an overflow
  // (Options::on_stack_overflow = kEndProcess): counted and traced as a crash; on_crash gets
  // "stack_overflow: " + `what`, and the default line says the process was ended alone.
  void report_overflow(Process* p, const std::string& what) noexcept;

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
  // Tenants and their virtual time (tenant.hpp).
  TenantTable& tenants() noexcept { return tenants_; }
  const TenantTable& tenants() const noexcept { return tenants_; }
  // The tenant a Tenant handle names; throws Error if it is not one of ours.
  TenantRec& tenant_of(Tenant handle, const char* what);
  // Socket readiness (reactor.hpp): every worker polls it, the side threads when it is stale.
  Reactor& reactor() noexcept { return reactor_; }
  const Reactor& reactor() const noexcept { return reactor_; }
  CarrierPool& carriers() noexcept { return carriers_; }
  // The hang watch (asleep.hpp): every worker's park goes through it.
  AsleepWatch& asleep() noexcept { return asleep_; }
  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
  // The runtime's clock, in nanoseconds: CLOCK_MONOTONIC (monotonic_ns), or the driver's
  // logical clock in deterministic mode. Timers, receive deadlines, sleeps and the
  // supervisors' restart intensity read it.
  std::int64_t now() const noexcept { return driver_ != nullptr ? driver_->now() : monotonic_ns(); }
  // The seed in use (Options::seed, or the one drawn when that was 0).
  std::uint64_t seed() const noexcept { return seed_; }
  // This scheduler's id, unique in the program (never 0): what a Pool handle names.
  std::uint32_t id() const noexcept { return id_; }

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
  // Bounded mailboxes (bounded.cpp), by RMW on their slow paths only (an unbounded send never
  // touches them): policy drops, forwards, sends that waited, MailboxFull errors. relaxed:
  // statistics.
  std::atomic<std::uint64_t> bounded_dropped{0}, bounded_forwarded{0}, bounded_blocked{0},
      bounded_errors{0};
  std::atomic<std::uint64_t> crashed{0};

 private:
  void check_limit(Worker* w);
  void add_tenant_stats(Stats& s) const;  // Stats::tenants
  // spawn_begin's slow side: the tenant of a child with a class (nullptr: the default), after
  // checking SpawnOptions::priority and ::tenant (SpawnError, Error).
  [[gnu::noinline]] TenantRec* class_at_spawn(const SpawnOptions& so, const Process* spawner);
  // SpawnError for a SpawnOptions::stack_size above kMaxStackSize, naming the spawner (null:
  // a spawn from outside the runtime).
  [[noreturn]] void throw_stack_too_large(std::size_t size, const Process* spawner) const;

  // report_crash and report_overflow: the count, the trace event, then on_crash(`what`) or
  // the default line.
  void report_end(Process* p, const std::string& what, const std::string& line) noexcept;

  // Into the pool's global queue (from outside it, or another pool), waking one of its workers.
  void push_global(Process* p) noexcept;

  Options opts_;
  const std::uint64_t seed_;
  const std::uint32_t id_;
  StackPool stacks_;
  Reactor reactor_;  // before the workers and carriers that poll it, after them in destruction
  std::vector<std::unique_ptr<WorkerPool>> pools_;
  std::vector<std::unique_ptr<Worker>> workers_;
  CarrierPool carriers_;  // after workers_: its carriers run them
  AsleepWatch asleep_;    // reads the workers' counts and parkers
  TenantTable tenants_;   // after workers_: it reads their reduction counts
  // The hooks (see install()).
  Observer* observer_;
  Driver* driver_ = nullptr;
  Injector* injector_ = nullptr;
  Lifecycle* lifecycle_ = nullptr;
  Asleep* asleep_hook_ = nullptr;
  std::vector<SideThread*> side_threads_;
  System* system_ = nullptr;
  const std::int64_t start_ns_;  // for lifetime utilization when no side thread samples
  // Set (release) when the workers must exit; read (acquire) by them when out of work.
  std::atomic<bool> stopping_{false};
  // Set during kill_all_and_wait: processes spawned meanwhile are born killed.
  std::atomic<bool> killing_{false};
  bool shut_down_ = false;  // the thread that constructs and destroys it
};

inline void Scheduler::wake_from(Worker* w, bool by_process, Process* p) noexcept {
  Worker* owner = p->timer_owner;
  if (w != nullptr && (owner == nullptr || owner == w) && &w->pool() == p->pool &&
      &w->scheduler() == this) [[likely]] {  // W2
    if (owner != nullptr) w->disarm_timer(p);
    w->make_runnable(p, by_process);
    return;
  }
  wake_elsewhere(w, p);
}

}  // namespace ergon::detail
