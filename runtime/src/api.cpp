// The entry points behind the public headers: the detail:: functions that the templates call,
// the non-template calls of process.hpp, and Runtime.
#include <cstdio>
#include <string>
#include <thread>

#include "ergon/ergon.hpp"
#include "process_table.hpp"
#include "scheduler.hpp"

namespace ergon {
namespace detail {

Process* current_process() noexcept {
  Worker* w = current_worker();
  return w != nullptr ? w->current() : nullptr;
}

Process* current_process_or_throw(const char* what) {
  Process* p = current_process();
  if (p == nullptr) {
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
std::int64_t now_ns() noexcept { return monotonic_ns(); }

Process* spawn_begin(Scheduler* sched, const SpawnOptions& opts, Closure** closure) {
  if (sched == nullptr) {
    Process* self = current_process_or_throw("ergon::spawn");
    sched = self->sched.load(std::memory_order_relaxed);
  }
  return sched->spawn_begin(opts, closure);
}

Pid spawn_commit(Process* p) {
  // The record is not published yet, so nobody else reads sched: relaxed is enough.
  return p->sched.load(std::memory_order_relaxed)->spawn_commit(p);
}

void spawn_abort(Process* p) noexcept {
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
}  // namespace

void send_envelope(Pid to, mailbox::Envelope* e) {
  Worker* w = current_worker();
  Process* target = ProcessTable::instance().lookup(to.index());
  // The scheduler the record belongs, or last belonged, to (finish() keeps it; a scheduler's
  // destructor clears it): where a drop from a thread outside any worker is counted.
  Scheduler* s = target != nullptr ? target->sched.load(std::memory_order_acquire) : nullptr;
  // acquire: pairs with the release store of the generation when a process ends.
  if (target == nullptr || !to ||
      target->generation.load(std::memory_order_acquire) != to.generation()) {
    mailbox::dispose(e);
    count_drop(w, s);
    return;
  }
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
      return;
  }
  if (w != nullptr) {
    w->count_sent();
    if (Process* self = w->current()) charge(self, 1);
  } else if (s != nullptr) {
    s->external_sent.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  }
}

void drop_stale(mailbox::Envelope* e) noexcept {
  mailbox::dispose(e);
  count_drop(current_worker(), nullptr);
}

void wait(Process* p, std::int64_t deadline_ns) {
  // acquire (both): pairs with the release store of the shutdown sweep.
  if (p->killed.load(std::memory_order_acquire)) throw Shutdown{};
  p->deadline = deadline_ns;
  p->reason = SwitchReason::kBlock;
  if (deadline_ns != kNoDeadline || !current_worker()->try_direct_switch(p)) p->fiber.suspend();
  if (p->killed.load(std::memory_order_acquire)) throw Shutdown{};
}

namespace {
void yield_process(Process* p) {
  p->reason = SwitchReason::kYield;
  p->fiber.suspend();
  // acquire: pairs with the release store of the shutdown sweep.
  if (p->killed.load(std::memory_order_acquire)) throw Shutdown{};
}
}  // namespace

void charge(Process* p, std::uint32_t reductions) {
  p->budget -= static_cast<std::int32_t>(reductions);
  if (p->budget <= 0) yield_process(p);
}

}  // namespace detail

void yield() { detail::yield_process(detail::current_process_or_throw("ergon::yield")); }

unsigned worker_id() {
  detail::current_process_or_throw("ergon::worker_id");
  return detail::current_worker()->id();
}

void move_to_worker(unsigned worker) {
  detail::Process* p = detail::current_process_or_throw("ergon::move_to_worker");
  p->move_target = worker;
  p->pinned = true;  // the target takes it into runnext, where no thief can take it
  p->reason = detail::SwitchReason::kMove;
  p->fiber.suspend();
  // acquire: pairs with the release store of the shutdown sweep.
  if (p->killed.load(std::memory_order_acquire)) throw detail::Shutdown{};
}

void reduce(std::uint32_t n) {
  detail::charge(detail::current_process_or_throw("ergon::reduce"), n);
}

void sleep_until_ns(std::int64_t deadline_ns, const char* what) {
  detail::Process* p = detail::current_process_or_throw(what);
  while (detail::monotonic_ns() < deadline_ns) {
    p->mailbox.fetch();  // messages stay in the mailbox; the inbox must be empty to block
    detail::wait(p, deadline_ns);
  }
}

// --- Options -------------------------------------------------------------------------------

namespace {

std::uint64_t parse_size(const char* name, const char* text, bool allow_suffix, std::uint64_t max) {
  std::string s(text);
  std::uint64_t mult = 1;
  if (allow_suffix && !s.empty()) {
    char c = s.back();
    if (c == 'k' || c == 'K') mult = 1024;
    if (c == 'm' || c == 'M') mult = 1024 * 1024;
    if (c == 'g' || c == 'G') mult = 1024ull * 1024 * 1024;
    if (mult != 1) s.pop_back();
  }
  const std::string what = std::string(name) + "='" + text + "'";
  // Digits only: std::stoull would accept a sign (and wrap "-1" around) or leading blanks.
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) {
    throw ConfigError(what + " is not a number" +
                      (allow_suffix ? " (a count of bytes, optionally with K, M or G)" : ""));
  }
  unsigned long long v = 0;
  try {
    v = std::stoull(s);
  } catch (...) {
    throw ConfigError(what + " is too large (at most " + std::to_string(max) + ")");
  }
  if (v > max / mult) {
    throw ConfigError(what + " is too large (at most " + std::to_string(max) + ")");
  }
  return v * mult;
}

}  // namespace

Options Options::from_env(Options base) {
  if (const char* v = std::getenv("ERGON_WORKERS")) {
    base.workers = static_cast<unsigned>(parse_size("ERGON_WORKERS", v, false, 1024));
  }
  if (const char* v = std::getenv("ERGON_STACK_SIZE")) {
    base.stack_size = parse_size("ERGON_STACK_SIZE", v, true, std::uint64_t{1} << 40);
  }
  if (const char* v = std::getenv("ERGON_MAX_PROCESSES")) {
    base.max_processes = parse_size("ERGON_MAX_PROCESSES", v, false, SIZE_MAX);
  }
  if (const char* v = std::getenv("ERGON_REDUCTIONS")) {
    base.reductions =
        static_cast<std::uint32_t>(parse_size("ERGON_REDUCTIONS", v, false, INT32_MAX));
  }
  if (const char* v = std::getenv("ERGON_SPIN_ROUNDS")) {
    base.spin_rounds =
        static_cast<std::uint32_t>(parse_size("ERGON_SPIN_ROUNDS", v, false, UINT32_MAX));
  }
  return base;
}

// --- Runtime -------------------------------------------------------------------------------

namespace {
Options validated(Options o) {
  o = Options::from_env(std::move(o));
  if (o.workers == 0) o.workers = std::max(1u, std::thread::hardware_concurrency());
  if (o.workers > 1024) throw ConfigError("ergon::Options::workers must be at most 1024");
  if (o.reductions == 0 || o.reductions > INT32_MAX) {
    throw ConfigError("ergon::Options::reductions must be between 1 and 2147483647");
  }
  if (o.stack_size < 8192 || o.stack_size > (std::size_t{1} << 40)) {
    throw ConfigError("ergon::Options::stack_size must be between 8192 bytes (8K) and 1 TiB");
  }
  if (o.max_processes == 0) throw ConfigError("ergon::Options::max_processes must be at least 1");
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
  done.wait(false, std::memory_order_acquire);
  sched_->kill_all_and_wait();
}

const Options& Runtime::options() const noexcept { return sched_->options(); }
unsigned Runtime::workers() const noexcept { return sched_->worker_count(); }
Stats Runtime::stats() const { return sched_->stats(); }

}  // namespace ergon
