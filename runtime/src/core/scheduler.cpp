// Scheduler: spawn, wake, shutdown and statistics across workers. See scheduler.hpp.
#include "core/scheduler.hpp"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <thread>

#include "core/process_table.hpp"
#include "core/switches.hpp"
#include "ergon/errors.hpp"
#include "util/held_locks.hpp"

namespace ergon::detail {

// Reductions a spawn costs the spawner. With the default budget of 4000 a process spawns at
// most 125 children per slice, half of a local run queue (RunQueue::kCapacity = 256): the
// children run (and release their stacks) before the spawner's next slice, instead of
// overflowing to the global queue where each would wait holding a stack. Chosen with
// `ergon-bench spawn_many 0.1` (cost 10: 12.6 us per spawn, page-faulting fresh stacks; 32:
// see docs/benchmarks.md).
constexpr std::uint32_t kSpawnReductions = 32;

std::int64_t monotonic_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

namespace {
std::uint32_t next_id() noexcept {
  static std::atomic<std::uint32_t> next{1};
  // relaxed: a unique number is all it gives; nothing is published through it.
  std::uint32_t id = next.fetch_add(1, std::memory_order_relaxed);
  return id != 0 ? id : next.fetch_add(1, std::memory_order_relaxed);  // skip 0 on wrap
}

std::uint64_t resolve_seed(std::uint64_t seed) {
  if (seed != 0) return seed;
  std::random_device rd;
  const std::uint64_t s = (std::uint64_t{rd()} << 32) ^ rd();
  return s != 0 ? s : 1;
}
}  // namespace

namespace {
// Options::pools is filled in by validation (api/validate.cpp): one pool at least, sizes summing to
// Options::workers, every policy set.
std::vector<std::unique_ptr<WorkerPool>> make_pools(const Options& o) {
  std::vector<std::unique_ptr<WorkerPool>> v;
  unsigned first = 0;
  for (unsigned i = 0; i < o.pools.size(); ++i) {
    const PoolOptions& po = o.pools[i];
    v.push_back(
        std::make_unique<WorkerPool>(i, po.name, first, po.workers, po.policy.value_or(o.policy)));
    first += po.workers;
  }
  return v;
}

// Options::spare_keepalive, saturated: a spare waits on a condition variable for it, and
// wait_for adds it to the clock, so milliseconds::max() would overflow into "at once". A year
// is forever for a spare thread.
std::chrono::nanoseconds spare_keepalive(const Options& o) {
  constexpr std::int64_t kYearNs = 365LL * 24 * 3600 * 1'000'000'000;
  return std::chrono::nanoseconds(std::min(saturating_ns(o.spare_keepalive), kYearNs));
}

std::vector<std::unique_ptr<Worker>> make_workers(
    Scheduler& s, const std::vector<std::unique_ptr<WorkerPool>>& pools) {
  std::vector<std::unique_ptr<Worker>> v;
  for (auto& pool : pools) {
    for (unsigned i = 0; i < pool->size; ++i) {
      v.push_back(std::make_unique<Worker>(s, *pool, pool->first + i));
    }
  }
  return v;
}
}  // namespace

Scheduler::Scheduler(Options opts)
    : opts_(std::move(opts)),
      seed_(resolve_seed(opts_.seed)),
      id_(next_id()),
      stacks_(opts_.stack_size),
      reactor_(
          *this,
          std::chrono::duration_cast<std::chrono::nanoseconds>(opts_.io_poll_interval).count()),
      pools_(make_pools(opts_)),
      workers_(make_workers(*this, pools_)),
      carriers_(*this, opts_.max_spare_carriers, spare_keepalive(opts_)),
      asleep_(*this, static_cast<unsigned>(workers_.size()), saturating_ns(opts_.asleep_after)),
      tenants_(*this),
      observer_(&no_observer()),
      start_ns_(monotonic_ns()) {
  // Before any of our processes runs: the stack guard must see the locks they hold
  // (util/held_locks.hpp).
  if (opts_.on_stack_overflow == OnStackOverflow::kEndProcess) count_held_locks();
}

void Scheduler::install(Hooks hooks) {
  // Before start(): the workers and a spawn read these unsynchronized; the threads that start
  // later see them through their creation.
  if (hooks.observer != nullptr) observer_ = hooks.observer;
  driver_ = hooks.driver;
  injector_ = hooks.injector;
  lifecycle_ = hooks.lifecycle;
  asleep_hook_ = hooks.asleep;
  asleep_.install(hooks.asleep, driver_ != nullptr);
  side_threads_ = std::move(hooks.side_threads);
  system_ = hooks.system;
  for (auto& w : workers_) w->set_observer(observer_);
}

void Scheduler::start() {
  if (injector_ != nullptr) injector_->start();
  // Deterministic mode: no threads; the caller of Runtime::run carries every worker.
  if (driver_ != nullptr) return;
  carriers_.start(opts_.workers);
  for (SideThread* t : side_threads_) t->start();
}

std::vector<const Process*> Scheduler::running_processes() {
  if (driver_ != nullptr) {
    const Process* p = driver_->running();
    return p != nullptr ? std::vector<const Process*>{p} : std::vector<const Process*>{};
  }
  return carriers_.running_processes();
}

bool Scheduler::all_parked_seq_cst() const noexcept {
  for (auto& pool : pools_) {
    if (pool->idle.unparked_seq_cst() != 0) return false;
  }
  return true;
}

WorkerPool& Scheduler::pool_named(std::string_view name) {
  std::string known;
  for (auto& pool : pools_) {
    if (pool->name == name) return *pool;
    known += (known.empty() ? "\"" : ", \"") + pool->name + "\"";
  }
  throw Error("ergon::pool: this runtime has no pool named \"" + std::string(name) +
              "\"; its pools are " + known + " (ergon::Options::pools)");
}

WorkerPool& Scheduler::pool_of(Pool handle, const char* what) {
  if (handle.runtime() != 0 && handle.runtime() != id_) {
    throw Error(std::string(what) + ": the pool (index " + std::to_string(handle.index()) +
                ") is a pool of another Runtime (runtime #" + std::to_string(handle.runtime()) +
                "; this is #" + std::to_string(id_) +
                "); get this runtime's pools with ergon::pool(name) or Runtime::pool(name)");
  }
  if (handle.index() >= pools_.size()) {
    throw Error(std::string(what) + ": the pool (index " + std::to_string(handle.index()) +
                ") is not one of this runtime's " + std::to_string(pools_.size()) +
                " pools; get pools with ergon::pool(name) or Runtime::pool(name)");
  }
  return *pools_[handle.index()];
}

TenantRec& Scheduler::tenant_of(Tenant handle, const char* what) {
  if (!handle.valid()) {
    throw Error(std::string(what) +
                ": a default-constructed ergon::Tenant names no tenant (only SpawnOptions reads "
                "it, as \"the spawner's\"); get one with ergon::create_tenant or "
                "ergon::tenant(name)");
  }
  if (handle.runtime() != id_) {
    throw Error(std::string(what) + ": the tenant (index " + std::to_string(handle.index()) +
                ") is a tenant of another Runtime (runtime #" + std::to_string(handle.runtime()) +
                "; this is #" + std::to_string(id_) +
                "); get this runtime's tenants with ergon::tenant(name) or Runtime::tenant(name)");
  }
  TenantRec* t = tenants_.at(handle.index());
  if (t == nullptr) {
    throw Error(std::string(what) + ": the tenant (index " + std::to_string(handle.index()) +
                ") is not one of this runtime's " + std::to_string(tenants_.count()) + " tenants");
  }
  return *t;
}

Scheduler::~Scheduler() { shutdown(); }

void Scheduler::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  const auto timeout = std::chrono::nanoseconds(saturating_ns(opts_.shutdown_timeout));
  while (kill_all_and_wait(timeout) == EndAll::kStalled) {
    // Only a process spawned from another thread while the Runtime was destroyed gets here
    // (see shutdown()): never wait silently.
    const std::string line =
        "ergon: the runtime being destroyed waits for " + std::to_string(live()) +
        " processes that have not ended for " +
        std::to_string(saturating_ns(opts_.shutdown_timeout) / 1'000'000) +
        " ms (Options::shutdown_timeout, ERGON_SHUTDOWN_TIMEOUT). They were spawned from another "
        "thread during ~Runtime: stop spawning into a runtime before destroying it.\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  // The delay line's thread first, while the rest still stands; it frees what it still holds.
  if (injector_ != nullptr) injector_->stop();
  // Records keep a pointer to the scheduler they last belonged to (for counting drops to
  // ended processes); forget it before this scheduler goes away.
  ProcessTable::instance().for_each([this](Process* p) {
    Scheduler* me = this;
    p->sched.compare_exchange_strong(me, nullptr, std::memory_order_release,
                                     std::memory_order_relaxed);
  });
  // release: pairs with the acquire in stopping(); the workers exit once out of work.
  stopping_.store(true, std::memory_order_release);
  for (SideThread* t : side_threads_) t->stop();
  for (auto& pool : pools_) pool->idle.unpark_all();
  for (auto& w : workers_) w->parker().wake();
  carriers_.stop();
  for (auto& w : workers_) w->release_caches();
}

std::int64_t Scheduler::live() const noexcept {
  std::int64_t n = external_live.load(std::memory_order_relaxed);
  for (auto& w : workers_) n += w->live();
  return n;
}

void Scheduler::check_limit(Worker* w) {
  const std::size_t max = std::min<std::size_t>(opts_.max_processes, INT64_MAX);
  // Exact below 65,536; above, checked every 256 spawns of a worker (the sum of the
  // per-worker counts touches every worker's cache line, which a spawn should not).
  if (max >= 65536 && w != nullptr && (w->spawned() & 255) != 0) return;
  if (live() >= static_cast<std::int64_t>(max)) {
    throw SpawnError("ergon::spawn: the process limit of " + std::to_string(max) +
                     " live processes is reached. Raise ergon::Options::max_processes (or "
                     "ERGON_MAX_PROCESSES), or end some processes.");
  }
}

namespace {
// "process <0.5.1>", or "outside the runtime" for a spawn from a thread of no process.
std::string spawner_name(const Process* spawner) {
  return spawner != nullptr ? "process " + spawner->pid().to_string()
                            : std::string("outside the runtime");
}
}  // namespace

void Scheduler::throw_stack_too_large(std::size_t size, const Process* spawner) const {
  throw SpawnError("ergon::spawn (from " + spawner_name(spawner) +
                   "): SpawnOptions::stack_size is " + std::to_string(size) +
                   " bytes, more than the largest stack, 1 TiB (ergon::kMaxStackSize = " +
                   std::to_string(kMaxStackSize) +
                   " bytes). Ask for at most that, or 0 for the runtime's Options::stack_size (" +
                   std::to_string(opts_.stack_size / 1024) +
                   " KiB); sizes below 32 KiB (ergon::kMinStackSize) are rounded up to it.");
}

namespace {
[[noreturn, gnu::cold, gnu::noinline]] void throw_capacity_too_large(std::uint32_t capacity,
                                                                     const Process* spawner) {
  throw SpawnError("ergon::spawn (from " + spawner_name(spawner) +
                   "): SpawnOptions::mailbox_capacity is " + std::to_string(capacity) +
                   ", more than the largest capacity, 2^31. Ask for at most that, or 0 for an "
                   "unbounded mailbox.");
}
[[noreturn, gnu::cold, gnu::noinline]] void throw_bad_priority(unsigned value,
                                                               const Process* spawner) {
  throw SpawnError("ergon::spawn (from " + spawner_name(spawner) +
                   "): SpawnOptions::priority holds " + std::to_string(value) +
                   ", which is no ergon::Priority; use kMax, kHigh, kNormal or kLow");
}
}  // namespace

Process* Scheduler::spawn_begin(const SpawnOptions& so, Closure** closure) {
  Worker* w = current_worker();
  if (w != nullptr && &w->scheduler() != this) w = nullptr;
  // The spawner: a process of ours, or nullptr (outside, or runtime code on a carrier).
  Process* spawner = w != nullptr ? current_carrier()->current() : nullptr;
  if (so.stack_size > kMaxStackSize) [[unlikely]]
    throw_stack_too_large(so.stack_size, spawner);
  // The one branch fault injection adds to a spawn when it is off.
  if (injector_ != nullptr && so.faults) [[unlikely]]
    injector_->before_spawn(spawner);  // throws InjectedFault or SpawnError
  check_limit(w);
  // Before a record or a stack is taken, the checks that throw: nothing to give back.
  if (so.mailbox_capacity > (std::uint32_t{1} << 31)) [[unlikely]]
    throw_capacity_too_large(so.mailbox_capacity, spawner);
  if (so.link && spawner == nullptr) {
    throw NotInProcess(
        "ergon::spawn_link (SpawnOptions::link) needs a spawner process to link to; from "
        "outside the runtime use Runtime::spawn and monitor from a process");
  }
  WorkerPool* pool = so.pool.valid() ? &pool_of(so.pool, "ergon::spawn")
                     : spawner != nullptr && spawner->pool != nullptr ? spawner->pool
                                                                      : pools_[0].get();
  // Its class (class_queue.hpp): the spawner's tenant unless given; kNormal unless given. A
  // free record has none (finish() cleared it), so the common spawn only tests.
  TenantRec* tenant = nullptr;
  const bool classed = so.tenant.valid() || so.priority != Priority::kNormal ||
                       (spawner != nullptr && (spawner->cls() & Process::kClassTenant) != 0);
  if (classed) [[unlikely]]
    tenant = class_at_spawn(so, spawner);
  Process* p = w != nullptr ? w->take_record() : nullptr;
  if (p == nullptr) {
    std::vector<Process*> one;
    ProcessTable::instance().take(one, 1);
    p = one.front();
  }
  // A record's inbox stays closed from its previous process's end until it is reused here, so
  // a send that raced with that end fails (and is counted as dropped) instead of leaving an
  // envelope in a free record. A sender that read the old generation and pushes after this
  // reopen is caught by the stamp check of the new process (or disposed at its end).
  p->mailbox.reopen();
  try {
    p->stack = stacks_.acquire(so.stack_size, w != nullptr ? &w->stack_cache() : nullptr);
  } catch (const SpawnError& e) {  // no stack could be mapped: the message has the cause
    ProcessTable::instance().give(&p, 1);
    throw SpawnError("ergon::spawn (from " + spawner_name(spawner) + "): " + e.what());
  } catch (...) {
    ProcessTable::instance().give(&p, 1);
    throw;
  }
  p->closure = Closure{};
  p->shield = 0;
  p->reset_signals(0);  // the record is private until spawn_commit publishes it
  // relaxed: the record is private until spawn_commit publishes it (bounded.hpp).
  p->mailbox.set_bound(so.mailbox_capacity);
  if (so.mailbox_capacity != 0) [[unlikely]] {
    p->overflow.store(so.overflow, std::memory_order_relaxed);
    p->send_timeout_ns.store(saturating_ns(so.send_timeout), std::memory_order_relaxed);
    p->fallback.store(so.fallback.raw(), std::memory_order_relaxed);
    p->mailbox_dropped.store(0, std::memory_order_relaxed);
  }
  p->parent = spawner != nullptr ? spawner->pid() : Pid{};
  p->overflowed = false;
  if (classed) [[unlikely]] {
    p->tenant.store(tenant, std::memory_order_relaxed);  // relaxed: published with the record
    p->priority = so.priority;
    p->set_cls(static_cast<std::uint8_t>(
        (tenant != nullptr ? Process::kClassTenant : 0) |
        (so.priority != Priority::kNormal ? Process::kClassPriority : 0)));
  }
  if (injector_ != nullptr) [[unlikely]]
    injector_->seed_child(p, spawner, so.faults);
  p->sched.store(this, std::memory_order_relaxed);  // published by spawn_commit's state store
  p->pool = pool;
  // Where it will run first: here if it stays in our pool (push_spawn), else the first worker
  // of its pool (spawn_commit).
  const unsigned first = w != nullptr && &w->pool() == p->pool ? w->id() : p->pool->first;
  p->reset_observed(p->parent, p->stack, first);
  // Before the child is published: a linked child cannot end unlinked.
  if (lifecycle_ != nullptr) lifecycle_->born(p, so.link ? spawner : nullptr);
  *closure = &p->closure;
  return p;
}

TenantRec* Scheduler::class_at_spawn(const SpawnOptions& so, const Process* spawner) {
  if (static_cast<unsigned>(so.priority) > static_cast<unsigned>(Priority::kLow)) [[unlikely]]
    throw_bad_priority(static_cast<unsigned>(so.priority), spawner);
  TenantRec* t = so.tenant.valid()    ? &tenant_of(so.tenant, "ergon::spawn")
                 : spawner != nullptr ? spawner->tenant_rec()
                                      : nullptr;
  return t != nullptr && t->index == 0 ? nullptr : t;  // the default tenant is no class
}

void Scheduler::spawn_abort(Process* p) noexcept {
  Worker* w = current_worker();
  if (w != nullptr && &w->scheduler() != this) w = nullptr;
  stacks_.release(p->stack, w != nullptr ? &w->stack_cache() : nullptr);
  p->stack = Stack{};
  p->clear_class();              // a free record has no class (spawn_begin relies on it)
  p->mailbox.close_and_clear();  // back to the closed state of a free record
  ProcessTable::instance().give(&p, 1);
}

Pid Scheduler::spawn_commit(Process* p) {
  p->deadline.store(kNoDeadline, std::memory_order_relaxed);  // relaxed: not yet published
  p->reason = SwitchReason::kYield;
  // acquire: sees the sweep's flag; a process born during shutdown is born killed.
  if (killing_.load(std::memory_order_acquire)) [[unlikely]]
    p->set_killed();  // the record is not published yet: the release orders nothing here
  // release: a sweep that sees kAlive also sees sched (and the rest of the record).
  p->state.store(ProcessState::kAlive, std::memory_order_release);
  Pid pid = p->pid();
  Carrier* c = current_carrier();
  Worker* w = c != nullptr ? c->worker() : nullptr;
  if ((p->cls() & Process::kClassTenant) != 0) [[unlikely]]
    p->tenant_rec()->live.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  if (observer_->on()) [[unlikely]] {  // before the push: the child may run (and end) at once
    const bool ours = w != nullptr && &w->scheduler() == this;
    observer_->spawn(ours ? static_cast<int>(w->id()) : -1, pid, p->parent, now());
  }
  if (w != nullptr && &w->scheduler() == this) {
    w->counted_spawn();
    if (&w->pool() == p->pool) {
      w->push_spawn(p);
    } else {  // into another pool
      push_global(p);
    }
    if (Process* self = c->current()) charge_entered(self, kSpawnReductions);
  } else {
    external_live.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    external_spawned.fetch_add(1, std::memory_order_relaxed);
    push_global(p);
  }
  return pid;
}

void Scheduler::push_global(Process* p) noexcept {
  WorkerPool* pool = p->pool;  // read before the push: p may run (and move) at once
  p->home = &worker(pool->first);
  if (p->cls() != 0) [[unlikely]] {
    pool->classes.push(p, tenants_, now());
  } else {
    pool->global.push(p);
  }
  pool->idle.notify_one();
}

void Scheduler::wake(Process* p) noexcept {
  Carrier* c = current_carrier();
  if (c == nullptr) {
    wake_from(nullptr, false, p);
  } else {
    wake_from(c->worker(), c->current() != nullptr, p);
  }
}

void Scheduler::wake_elsewhere(Worker* w, Process* p) noexcept {
  Worker* owner = p->timer_owner;
  if (owner != nullptr && owner != w) {  // W1
    owner->remote_wake(p);
    return;
  }
  Worker* home = p->home;  // W3
  if (home == nullptr) home = workers_[0].get();
  if (owner == nullptr && home->inactive()) home = &home->forward_target();
  home->remote_wake(p);
}

void Scheduler::report_crash(Process* p, const std::string& what) noexcept {
  try {
    report_end(p, what, "ended by an uncaught exception: " + what);
  } catch (...) {  // no memory for the line: report_end still counts it
    report_end(p, what, std::string());
  }
}

void Scheduler::report_overflow(Process* p, const std::string& what) noexcept {
  try {
    const std::string text = "stack_overflow: " + what;
    report_end(p, text, what);
  } catch (...) {
    report_end(p, what, std::string());
  }
}

void Scheduler::report_end(Process* p, const std::string& what, const std::string& line) noexcept {
  crashed.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  if (observer_->on()) [[unlikely]]
    observer_->crash(p->pid(), what, now());
  try {
    if (opts_.on_crash) {
      opts_.on_crash(p->pid(), what);
    } else if (!line.empty()) {
      std::string out = "ergon: process " + p->pid().to_string() + " " + line;
      if (driver_ != nullptr) {
        out += " (deterministic run, seed " + std::to_string(seed_) +
               ": ERGON_SEED=" + std::to_string(seed_) + " replays it)";
      }
      out += "\n";
      std::fwrite(out.data(), 1, out.size(), stderr);
    }
  } catch (...) {
  }
}

void Scheduler::kill_sweep() {
  ProcessTable::instance().for_each([this](Process* p) {
    if (p->state.load(std::memory_order_acquire) != ProcessState::kAlive) return;
    if (p->sched.load(std::memory_order_relaxed) != this) return;
    p->set_killed();  // release: pairs with wait()'s check_signals
    if (p->mailbox.notify()) wake(p);
  });
}

EndAll Scheduler::kill_all_and_wait(std::chrono::nanoseconds timeout) {
  killing_.store(true, std::memory_order_release);  // SD1. release: pairs with spawn_commit
  EndAll result = EndAll::kEnded;
  if (driver_ != nullptr) {
    if (!driver_->run_until_empty(timeout)) result = EndAll::kStalled;
  } else {
    // SD2: sweep until nothing is left: a process may be between its kill check and its
    // block, or be spawned by a dying process; sweeping again catches both.
    ShutdownDeadline deadline(timeout);
    for (int round = 0; live() > 0; ++round) {
      kill_sweep();
      const std::int64_t left = live();
      if (left <= 0) break;
      if (deadline.expired(left)) {  // SD3
        result = EndAll::kStalled;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(round < 10 ? 100 : 2000));
    }
  }
  // Messages the delay line still holds are for processes that have ended: drop them now, so
  // that a run leaves no envelope behind. (Not after a stall: some are for processes alive.)
  if (injector_ != nullptr && result == EndAll::kEnded) injector_->clear_held();
  // release: pairs with spawn_commit. After a stall the runtime runs on (another run() may
  // follow): a new main must not be born killed. The refusers stay killed.
  killing_.store(false, std::memory_order_release);
  for (SideThread* t : side_threads_) t->quiesce();      // no on_stall runs once run() returns
  if (asleep_hook_ != nullptr) asleep_hook_->quiesce();  // nor an on_asleep
  return result;
}

void Scheduler::abandon() {
  killing_.store(true, std::memory_order_release);  // release: pairs with spawn_commit
  carriers_.abandon();
}

Stats Scheduler::stats() const {
  Stats s;
  s.processes_alive = static_cast<std::uint64_t>(std::max<std::int64_t>(0, live()));
  s.processes_spawned = external_spawned.load(std::memory_order_relaxed);
  s.messages_sent = external_sent.load(std::memory_order_relaxed);
  s.messages_dropped = external_dropped.load(std::memory_order_relaxed);
  s.processes_crashed = crashed.load(std::memory_order_relaxed);
  s.mailbox_dropped = bounded_dropped.load(std::memory_order_relaxed);
  s.messages_forwarded = bounded_forwarded.load(std::memory_order_relaxed);
  s.sends_blocked = bounded_blocked.load(std::memory_order_relaxed);
  s.mailbox_full_errors = bounded_errors.load(std::memory_order_relaxed);
  s.stacks_mapped = stacks_.mapped();
  s.stacks_resident_bytes = stacks_.resident_bytes();
  s.sockets_open = static_cast<std::uint64_t>(std::max<std::int64_t>(0, reactor_.registered()));
  s.io_polls = reactor_.polls();
  s.io_stale_polls = reactor_.stale_polls();
  s.io_wakeups = reactor_.io_wakeups();
  s.accepts_deferred = reactor_.accepts_deferred();
  std::int64_t in_use = stacks_.net_shared();
  const std::int64_t now = monotonic_ns();
  for (auto& w : workers_) {
    WorkerStats ws;
    ws.pool = w->pool().index;
    ws.active = !w->inactive();
    ws.processes_run = w->processes_run();
    ws.reductions = w->reductions();
    ws.migrations_in = w->migrated_in();
    ws.migrations_out = w->migrated_out();
    if (now > start_ns_) {  // the average since the start, unless a side thread samples it
      ws.utilization = std::clamp(
          1.0 - static_cast<double>(w->parked_ns(now)) / static_cast<double>(now - start_ns_), 0.0,
          1.0);
    }
    ws.steals = w->steals();
    ws.parks = w->parks();
    ws.wakeups = w->wakeups();
    ws.run_queue = w->queue_length();
    s.workers.push_back(ws);
    s.processes_spawned += w->spawned();
    s.messages_sent += w->sent();
    s.messages_dropped += w->dropped();
    in_use += w->stacks_net();
  }
  s.stacks_in_use = static_cast<std::uint64_t>(std::max<std::int64_t>(0, in_use));
  s.seed = seed_;
  for (SideThread* t : side_threads_) t->add_stats(s);
  if (driver_ != nullptr) driver_->add_stats(s);
  s.handoffs = carriers_.handoffs();
  s.carrier_cap_hits = carriers_.cap_hits();
  s.carriers = carriers_.carriers();
  if (injector_ != nullptr) injector_->add_stats(s);
  for (auto& pool : pools_) {
    PoolStats ps;
    ps.name = pool->name;
    ps.first_worker = pool->first;
    ps.workers = pool->size;
    ps.active = pool->active();
    ps.policy = to_string(pool->policy);
    // relaxed: statistics.
    ps.balances = pool->balance_rounds.load(std::memory_order_relaxed);
    ps.expansions = pool->expansions.load(std::memory_order_relaxed);
    ps.contractions = pool->contractions.load(std::memory_order_relaxed);
    s.pools.push_back(std::move(ps));
  }
  add_tenant_stats(s);
  return s;
}

void Scheduler::add_tenant_stats(Stats& s) const {
  // relaxed everywhere: statistics.
  std::uint64_t others_live = 0, others_in = 0, others_out = 0;
  const unsigned n = tenants_.count();
  for (unsigned i = 0; i < n; ++i) {
    const TenantRec& t = *tenants_.at(i);
    TenantStats ts;
    ts.name = t.name;
    ts.weight = t.weight.load(std::memory_order_relaxed);
    ts.queued = static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, t.queued.load(std::memory_order_relaxed)));
    ts.delay_p50_us = static_cast<double>(t.delay.quantile(0.50)) / 1000.0;
    ts.delay_p99_us = static_cast<double>(t.delay.quantile(0.99)) / 1000.0;
    for (const auto& c : t.delay.counts) ts.delays += c.load(std::memory_order_relaxed);
    ts.throttled_ns = static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, t.throttled_ns.load(std::memory_order_relaxed)));
    if (i != 0) {
      ts.processes = static_cast<std::uint64_t>(
          std::max<std::int64_t>(0, t.live.load(std::memory_order_relaxed)));
      ts.reductions = t.reductions.load(std::memory_order_relaxed);
      ts.messages_in = t.messages_in.load(std::memory_order_relaxed);
      ts.messages_out = t.messages_out.load(std::memory_order_relaxed);
      others_live += ts.processes;
      others_in += ts.messages_in;
      others_out += ts.messages_out;
    }
    s.tenants.push_back(std::move(ts));
  }
  // The default tenant's are what is left (tenant.hpp: its processes are not counted apart).
  TenantStats& d = s.tenants.front();
  d.processes = s.processes_alive > others_live ? s.processes_alive - others_live : 0;
  d.reductions = tenants_.default_reductions();
  const std::uint64_t sent = s.messages_sent;
  d.messages_in = sent > others_in ? sent - others_in : 0;
  d.messages_out = sent > others_out ? sent - others_out : 0;
}

}  // namespace ergon::detail
