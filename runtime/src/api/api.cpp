// The entry points behind the public headers: the detail:: functions that the templates call,
// the non-template calls of process.hpp, and Runtime. Options::from_env is in options.cpp.
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/process_table.hpp"
#include "core/scheduler.hpp"
#include "ergon/ergon.hpp"
#include "testing/delay_line.hpp"
#include "testing/faults.hpp"

namespace ergon {
namespace detail {

// Runtime code on behalf of the calling process: E1/E2 (carrier.hpp) when it starts, E3 when it
// ends. `w` is the worker the carrier owns until the next switch; nullptr on a thread that is
// not a carrier, or inside ergon::blocking. Runtime code on a carrier's own stack (its loop,
// a message destructor run by finish()) owns its worker without entering.
class InRuntime {
 public:
  InRuntime() noexcept {
    Carrier* c = current_carrier();
    if (c == nullptr || c->in_blocking()) return;
    p = c->current();
    if (p == nullptr) {
      w = c->worker();
      return;
    }
    Carrier* now = c;
    w = c->enter(p, &now);   // `now`: the carrier running p after E2 (another one if p moved)
    budget = now->budget();  // valid until the next switch
  }
  ~InRuntime() {
    if (p != nullptr) current_carrier()->leave();  // wherever p runs now
  }
  InRuntime(const InRuntime&) = delete;
  InRuntime& operator=(const InRuntime&) = delete;

  Process* p = nullptr;  // the calling process, or nullptr
  Worker* w = nullptr;
  std::int32_t* budget = nullptr;  // the carrier's reduction budget, with p
};

Process* current_process() noexcept {
  Carrier* c = current_carrier();
  return c != nullptr && !c->in_blocking() ? c->current() : nullptr;
}

Process* current_process_or_throw(const char* what) {
  Process* p = current_process();
  if (p == nullptr) {
    Carrier* c = current_carrier();
    if (c != nullptr && c->in_blocking()) {
      throw NotInProcess(std::string(what) +
                         " was called inside ergon::blocking(...). The function given to "
                         "blocking runs on a thread of its own, outside the process: call " +
                         what + " before or after blocking, not inside it.");
    }
    throw NotInProcess(std::string(what) +
                       " was called outside a process. Call it from a function run by "
                       "ergon::spawn or ergon::Runtime::run (from another thread, use "
                       "Runtime::spawn and ergon::send).");
  }
  return p;
}

Scheduler* scheduler_of(Runtime& rt) noexcept { return rt.sched_.get(); }
mailbox::Mailbox& mailbox_of(Process* p) noexcept { return p->mailbox; }
std::uint32_t generation_of(Process* p) noexcept { return p->pid().generation(); }
Pid pid_of(Process* p) noexcept { return p->pid(); }
std::int64_t now_ns() noexcept {
  // The clock of the calling process's runtime: logical in deterministic mode (sim.hpp).
  Carrier* c = current_carrier();
  return c != nullptr ? c->scheduler().now() : monotonic_ns();
}

Process* spawn_begin(Scheduler* sched, const SpawnOptions& opts, Closure** closure) {
  InRuntime in;
  if (sched == nullptr) {
    Process* self = current_process_or_throw("ergon::spawn");
    sched = self->sched.load(std::memory_order_relaxed);
  }
  return sched->spawn_begin(opts, closure);
}

Pid spawn_commit(Process* p) {
  InRuntime in;
  // The record is not published yet, so nobody else reads sched: relaxed is enough.
  return p->sched.load(std::memory_order_relaxed)->spawn_commit(p);
}

void spawn_abort(Process* p) noexcept {
  InRuntime in;
  Scheduler* s = p->sched.load(std::memory_order_relaxed);
  if (s != nullptr) s->spawn_abort(p);
}

namespace {
void count_drop(Worker* w, Scheduler* s) noexcept {
  if (w != nullptr) {
    w->count_dropped();
  } else if (s != nullptr) {
    s->external_dropped.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  }
}

void yield_process(Process* p, bool check = true) {
  p->reason = SwitchReason::kYield;
  p->fiber.suspend();
  if (check) p->check_signals();
}

// The reductions given to code outside any process, so that its checkpoints stay cheap.
constexpr std::int32_t kOutsideBudget = INT32_MAX;
}  // namespace

void wake_unblocked(Scheduler* s, Process* p) noexcept {
  // Scheduler::wake may touch the caller's worker (W2): process code must enter the runtime
  // first (E1/E2), or a carrier that the watchdog has taken the worker from would touch state
  // that another carrier now owns.
  InRuntime in;
  s->wake(p);
}

namespace {

// Fault injection's part of a send (faults.hpp, delay_line.hpp), out of line so that the send
// path keeps a single branch when it is off. Returns true if the delay line took `e` (held or
// pushed it); false: the caller pushes it. Throws InjectedFault (having freed `e`) when the
// send is a crash point of the sender and its stream says crash.
[[gnu::noinline]] bool faulty_send(Faults* f, Process* sender, Worker* w, Pid to,
                                   mailbox::Envelope* e, bool crash_point) {
  if (crash_point && sender != nullptr && sender->inject_crashes && sender->shield == 0 &&
      f->roll_crash(sender)) {
    mailbox::dispose(e);
    throw InjectedFault(f->crash_message(sender->pid(), "a send"));
  }
  DelayLine* line = f->delay_line();
  if (line == nullptr) return false;
  std::int64_t delay_ns = 0;
  const DelayLine::Hold how = f->roll_send(sender, &delay_ns);
  const Pid from = sender != nullptr ? sender->pid() : Pid{};
  return line->offer(from, to, e, how, delay_ns, w) != DelayLine::Offer::kPassed;
}

// Steps 2-4 of a send (docs/design.md, "From send to a handler"): the pid's record, its
// generation, the push and the wake-up. Returns false when `e` was dropped (and counted).
[[gnu::always_inline]] inline bool push_envelope(Pid to, mailbox::Envelope* e, Process* target,
                                                 Scheduler* s, Worker* w) noexcept {
  e->stamp = to.generation();
  switch (target->mailbox.push(e)) {
    case mailbox::PushResult::kQueued:
      break;
    case mailbox::PushResult::kUnblockedReader:
      // We own the wake-up. The acquire in push() made the blocker's writes (sched, timer)
      // visible.
      target->sched.load(std::memory_order_relaxed)->wake(target);
      break;
    case mailbox::PushResult::kClosed:
      mailbox::dispose(e);
      count_drop(w, s);
      return false;
  }
  return true;
}

// send_envelope (kCrashPoint) and post_envelope (not).
// The live record `to` names, with its scheduler in *s; or nullptr, after disposing of `e`
// and counting the drop (a dead, stale or null pid). Inlined into both senders below.
[[gnu::always_inline]] inline Process* live_target(Pid to, mailbox::Envelope* e, Worker* w,
                                                   Scheduler*& s) noexcept {
  Process* target = ProcessTable::instance().lookup(to.index());
  // The scheduler the record belongs, or last belonged, to (finish() keeps it; a scheduler's
  // destructor clears it): where a drop from a thread outside any worker is counted.
  s = target != nullptr ? target->sched.load(std::memory_order_acquire) : nullptr;
  // acquire: pairs with the release store of the generation when a process ends.
  if (target == nullptr || !to ||
      target->generation.load(std::memory_order_acquire) != to.generation()) {
    mailbox::dispose(e);
    count_drop(w, s);
    return nullptr;
  }
  return target;
}

template <bool kCrashPoint>
[[gnu::always_inline]] inline void send_impl(Pid to, mailbox::Envelope* e) {
  InRuntime in;
  Worker* w = in.w;
  Scheduler* s = nullptr;
  Process* target = live_target(to, e, w, s);
  if (target == nullptr) return;
  // The one branch fault injection adds to a send when it is off. `s` is not null here: the
  // receiver is alive, and only a scheduler with no live process forgets its records.
  if (Faults* f = s->faults(); f != nullptr) [[unlikely]] {
    if (!faulty_send(f, in.p, w, to, e, kCrashPoint) && !push_envelope(to, e, target, s, w)) {
      return;
    }
  } else if (!push_envelope(to, e, target, s, w)) {
    return;
  }
  if (w != nullptr) {
    w->count_sent();
    if (in.p != nullptr) {
      const std::int32_t left = load_budget(in.budget) - 1;
      store_budget(in.budget, left);
      if (left <= 0) yield_process(in.p);
    }
  } else if (s != nullptr) {
    s->external_sent.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  }
}

}  // namespace

void send_envelope(Pid to, mailbox::Envelope* e) { send_impl<true>(to, e); }

void post_envelope(Pid to, mailbox::Envelope* e) { send_impl<false>(to, e); }

void deliver_envelope(Pid to, mailbox::Envelope* e, Worker* w) noexcept {
  Scheduler* s = nullptr;
  if (Process* target = live_target(to, e, w, s)) (void)push_envelope(to, e, target, s, w);
}

void crash_point(Process* p, const char* where) {
  if (p->shield != 0) return;  // a closing nursery must wait for its children
  // relaxed: a process's own scheduler was published to it before it first ran.
  Faults* f = p->sched.load(std::memory_order_relaxed)->faults();
  if (f == nullptr || !f->roll_crash(p)) return;
  throw InjectedFault(f->crash_message(p->pid(), where));
}

void drop_stale(mailbox::Envelope* e) noexcept {
  InRuntime in;
  mailbox::dispose(e);
  count_drop(in.w, nullptr);
}

bool wait(Process* p, std::int64_t deadline_ns, const char* where) {
  p->check_signals();
  // For process_info: what it waits in. A plain store to its own record (relaxed, see
  // Process::waiting_in), next to a context switch. (Its stack depth needs no store: the
  // switch saves its context on the stack, Fiber::saved_context.)
  p->waiting_in.store(where, std::memory_order_relaxed);  // Process::waiting_label resolves it
  {
    InRuntime in;
    p->timed_out = false;
    p->deadline.store(deadline_ns, std::memory_order_relaxed);  // relaxed: see Process::deadline
    p->reason = SwitchReason::kBlock;
    if (deadline_ns != kNoDeadline || !in.w->try_direct_switch(*current_carrier(), p)) {
      p->fiber.suspend();
    }
  }
  p->check_signals();
  return p->timed_out;
}

void charge_entered(Process* p, std::uint32_t reductions) {
  std::int32_t* b = budget_slot();
  const std::int32_t left = load_budget(b) - static_cast<std::int32_t>(reductions);
  store_budget(b, left);
  if (left <= 0) yield_process(p, false);  // no signal check: see scheduler.hpp
}

void charge(Process* p, std::uint32_t reductions) {
  // The one branch fault injection adds here: receive and reduce are crash points.
  if (p->inject_crashes) [[unlikely]]
    crash_point(p, "a reduction point (receive or reduce)");
  std::int32_t* b = budget_slot();
  const std::int32_t left = load_budget(b) - static_cast<std::int32_t>(reductions);
  store_budget(b, left);
  if (left > 0) return;
  InRuntime in;
  yield_process(p);
}

void checkpoint_slow() {
  Process* p = current_process();
  if (p == nullptr) {  // outside a process (or inside ergon::blocking): nothing to yield
    store_budget(budget_slot(), kOutsideBudget);
    return;
  }
  InRuntime in;
  yield_process(p);
}

void checkpoint_portable() {
  std::int32_t* b = budget_slot();
  const std::int32_t left = load_budget(b) - 1;
  store_budget(b, left);
  if (left <= 0) checkpoint_slow();
}

void blocking_begin() {
  Carrier* c = current_carrier();
  if (c == nullptr || c->in_blocking() || c->current() == nullptr) {
    if (c != nullptr && c->in_blocking()) c->enter_nested_blocking();
    return;  // not in a process (or nested): the call just runs
  }
  // Deterministic mode has no other thread to hand the worker to: the call runs in place.
  if (c->scheduler().deterministic() != nullptr) return;
  InRuntime in;
  current_carrier()->release_for_blocking();
}

void blocking_end() noexcept {
  Carrier* c = current_carrier();
  if (c == nullptr || !c->in_blocking()) return;
  if (c->leave_nested_blocking()) return;
  Process* p = c->current();
  c->reclaim_after_blocking(p);  // may move p to the carrier that now has its worker
  Carrier* now = current_carrier();
  (void)now->enter(p);
  now->leave();
}

}  // namespace detail

void yield() {
  detail::Process* p = detail::current_process_or_throw("ergon::yield");
  detail::InRuntime in;
  detail::yield_process(p);
}

unsigned worker_id() {
  detail::current_process_or_throw("ergon::worker_id");
  return detail::current_worker()->id();
}

void move_to_worker(unsigned worker) {
  detail::Process* p = detail::current_process_or_throw("ergon::move_to_worker");
  {
    detail::InRuntime in;
    p->move_target = worker;
    p->pinned = true;  // the target takes it into runnext, where no thief can take it
    p->reason = detail::SwitchReason::kMove;
    p->fiber.suspend();
  }
  p->check_signals();
}

void register_name(std::string name, Pid pid) {
  detail::Process* p = detail::current_process_or_throw("ergon::register_name");
  detail::Scheduler* s = p->sched.load(std::memory_order_relaxed);
  const bool traced = s->tracer().on();
  std::string copy = traced ? name : std::string();  // the trace names slices by it
  s->registry().register_name(std::move(name), pid, s);
  if (traced) [[unlikely]]
    s->tracer().name(pid, copy);
}

bool unregister_name(std::string_view name) {
  detail::Process* p = detail::current_process_or_throw("ergon::unregister_name");
  return p->sched.load(std::memory_order_relaxed)->registry().unregister_name(name);
}

Pid whereis(std::string_view name) {
  detail::Process* p = detail::current_process_or_throw("ergon::whereis");
  return p->sched.load(std::memory_order_relaxed)->registry().whereis(name);
}

Pid detail::whereis_or_throw(std::string_view name, const char* what) {
  detail::Process* p = detail::current_process_or_throw(what);
  const Pid pid = p->sched.load(std::memory_order_relaxed)->registry().whereis(name);
  if (!pid) {
    throw Error(std::string(what) + ": no process is registered as \"" + std::string(name) +
                "\"; check with ergon::whereis first, or register_name the receiver");
  }
  return pid;
}

void Runtime::register_name(std::string name, Pid pid) {
  const bool traced = sched_->tracer().on();
  std::string copy = traced ? name : std::string();  // the trace names slices by it
  sched_->registry().register_name(std::move(name), pid, sched_.get());
  if (traced) [[unlikely]]
    sched_->tracer().name(pid, copy);
}

Pid Runtime::whereis(std::string_view name) const { return sched_->registry().whereis(name); }

Pool pool(std::string_view name) {
  detail::Process* p = detail::current_process_or_throw("ergon::pool");
  return Pool::from_index(p->sched.load(std::memory_order_relaxed)->pool_named(name).index);
}

Pool current_pool() {
  detail::Process* p = detail::current_process_or_throw("ergon::current_pool");
  return Pool::from_index(p->pool->index);
}

std::string pool_name(Pool handle) {
  detail::Process* p = detail::current_process_or_throw("ergon::pool_name");
  return p->sched.load(std::memory_order_relaxed)->pool_of(handle, "ergon::pool_name").name;
}

void move_to(Pool handle) {
  detail::Process* p = detail::current_process_or_throw("ergon::move_to");
  detail::WorkerPool& to =
      p->sched.load(std::memory_order_relaxed)->pool_of(handle, "ergon::move_to");
  if (&to == p->pool) return;
  // Spread movers over the target's active workers by pid.
  move_to_worker(to.first + p->index % std::max(1u, to.active()));
}

void reduce(std::uint32_t n) {
  detail::charge(detail::current_process_or_throw("ergon::reduce"), n);
}

void sleep_until_ns(std::int64_t deadline_ns, const char* what) {
  detail::Process* p = detail::current_process_or_throw(what);
  if (detail::now_ns() >= deadline_ns) return;
  for (;;) {
    p->mailbox.fetch();  // messages stay in the mailbox; the inbox must be empty to block
    if (detail::wait(p, deadline_ns, "sleep")) return;  // its timer fired: no clock read
    if (detail::now_ns() >= deadline_ns) return;
  }
}

// --- Runtime -------------------------------------------------------------------------------

namespace {
void check_probability(double p, const char* field, const char* var) {
  if (!(p >= 0.0 && p <= 1.0)) {  // also rejects NaN
    throw ConfigError(std::string("ergon::Options::faults.") + field +
                      " must be a probability from 0 to 1 (" + var + ")");
  }
}

void validate_faults(const FaultOptions& f) {
  check_probability(f.delay_messages, "delay_messages", "ERGON_FAULT_DELAY_MESSAGES");
  check_probability(f.reorder_messages, "reorder_messages", "ERGON_FAULT_REORDER_MESSAGES");
  check_probability(f.crash, "crash", "ERGON_FAULT_CRASH");
  check_probability(f.fail_spawns, "fail_spawns", "ERGON_FAULT_FAIL_SPAWNS");
  if (f.max_delay < std::chrono::microseconds(1) || f.max_delay > std::chrono::seconds(60)) {
    throw ConfigError(
        "ergon::Options::faults.max_delay must be between 1 us and 60 s "
        "(ERGON_FAULT_MAX_DELAY)");
  }
}

// A seed for Options::seed == 0: never 0 itself, so the seed a runtime reports replays it.
std::uint64_t random_seed() {
  std::random_device rd;
  std::uint64_t x =
      (std::uint64_t{rd()} << 32) ^ rd() ^ static_cast<std::uint64_t>(detail::monotonic_ns());
  const std::uint64_t s = detail::splitmix64(x);
  return s != 0 ? s : 1;
}

Options validated(Options o) {
  o = Options::from_env(std::move(o));
  if (!o.pools.empty()) {
    unsigned sum = 0;
    for (std::size_t i = 0; i < o.pools.size(); ++i) {
      const PoolOptions& po = o.pools[i];
      if (po.name.empty()) throw ConfigError("ergon::Options::pools: a pool has no name");
      if (po.workers == 0 || po.workers > 1024) {
        throw ConfigError("ergon::Options::pools: pool \"" + po.name +
                          "\" must have between 1 and 1024 workers");
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (o.pools[j].name == po.name) {
          throw ConfigError("ergon::Options::pools: two pools are named \"" + po.name + "\"");
        }
      }
      sum += po.workers;
    }
    if (o.workers != 0 && o.workers != sum) {
      throw ConfigError("ergon::Options::workers is " + std::to_string(o.workers) +
                        " but the pools hold " + std::to_string(sum) +
                        " workers: leave workers at 0 with pools, or make them agree");
    }
    o.workers = sum;
  }
  if (o.workers == 0) o.workers = std::max(1u, std::thread::hardware_concurrency());
  if (o.workers > 1024) throw ConfigError("ergon::Options::workers must be at most 1024");
  if (o.reductions == 0 || o.reductions > INT32_MAX) {
    throw ConfigError("ergon::Options::reductions must be between 1 and 2147483647");
  }
  if (o.stack_size < 8192 || o.stack_size > (std::size_t{1} << 40)) {
    throw ConfigError("ergon::Options::stack_size must be between 8192 bytes (8K) and 1 TiB");
  }
  if (o.max_processes == 0) throw ConfigError("ergon::Options::max_processes must be at least 1");
  using std::chrono::microseconds;
  if (o.watchdog_tick < microseconds(0) || o.watchdog_tick > std::chrono::seconds(10)) {
    throw ConfigError(
        "ergon::Options::watchdog_tick must be between 0 (watchdog off) and 10 s "
        "(ERGON_WATCHDOG_TICK)");
  }
  if (o.preempt_after < microseconds(1) || o.handoff_after < o.preempt_after) {
    throw ConfigError(
        "ergon::Options::preempt_after must be at least 1 us, and handoff_after at least "
        "preempt_after (ERGON_PREEMPT_AFTER, ERGON_HANDOFF_AFTER)");
  }
  if (o.stall_nice < 0 || o.stall_nice > 19) {
    throw ConfigError("ergon::Options::stall_nice must be between 0 and 19 (ERGON_STALL_NICE)");
  }
  if (o.max_spare_carriers > 100000) {
    throw ConfigError("ergon::Options::max_spare_carriers must be at most 100000");
  }
  if (o.balance_interval < microseconds(10) || o.balance_interval > std::chrono::seconds(10)) {
    throw ConfigError(
        "ergon::Options::balance_interval must be between 10 us and 10 s "
        "(ERGON_BALANCE_INTERVAL)");
  }
  if (o.pools.empty()) o.pools.push_back(PoolOptions{"default", o.workers, o.policy});
  for (PoolOptions& po : o.pools) {
    if (!po.policy) po.policy = o.policy;
  }
  if (o.spare_keepalive < std::chrono::milliseconds(1)) {
    throw ConfigError(
        "ergon::Options::spare_keepalive must be at least 1 ms (ERGON_SPARE_KEEPALIVE)");
  }
  validate_faults(o.faults);
  if (o.seed == 0) o.seed = random_seed();  // Runtime::seed() tells which
  return o;
}
}  // namespace

Runtime::Runtime(Options opts)
    : sched_(std::make_unique<detail::Scheduler>(validated(std::move(opts)))) {}

Runtime::~Runtime() = default;

void Runtime::run_main(Pid main, std::atomic<bool>& done) {
  if (detail::current_process() != nullptr) {
    throw Error("ergon::Runtime::run was called from inside a process; spawn instead");
  }
  (void)main;
  if (detail::Deterministic* det = sched_->deterministic()) {
    // This thread runs every process (deterministic.hpp).
    if (det->run_until(done) == detail::Deterministic::Outcome::kDeadlock) {
      const std::string waiting = det->describe_waiting(10);
      sched_->kill_all_and_wait();
      throw Deadlock("ergon deterministic run (seed " + std::to_string(det->seed()) +
                     "): deadlock. The main process has not ended, no process can run, and no "
                     "timer is armed: every process waits for a message that nobody will "
                     "send. ERGON_SEED=" +
                     std::to_string(det->seed()) + " replays it. Waiting:" + waiting);
    }
  } else {
    done.wait(false, std::memory_order_acquire);
  }
  sched_->kill_all_and_wait();
}

Pool Runtime::pool(std::string_view name) const {
  return Pool::from_index(sched_->pool_named(name).index);
}

const Options& Runtime::options() const noexcept { return sched_->options(); }
unsigned Runtime::workers() const noexcept { return sched_->worker_count(); }
Stats Runtime::stats() const { return sched_->stats(); }
std::uint64_t Runtime::seed() const noexcept { return sched_->seed(); }
bool Runtime::deterministic() const noexcept { return sched_->deterministic() != nullptr; }

}  // namespace ergon
