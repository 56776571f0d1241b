// Deterministic: the driver of deterministic mode. See deterministic.hpp for the design.
#include "testing/deterministic.hpp"

#include <algorithm>
#include <climits>

#include "core/process_table.hpp"
#include "core/scheduler.hpp"
#include "core/worker.hpp"

namespace ergon::detail {
Deterministic::Deterministic(Scheduler& sched, std::uint64_t seed, SideThread* balancer,
                             bool simulate)
    : sched_(sched),
      balancer_(balancer),
      seed_(seed),
      rng_(seed, 0),
      carrier_(sched, 0),
      // Logical time starts at one second, so that "now minus a period" never goes negative.
      clock_(1'000'000'000),
      simulate_(simulate) {
  const Options& o = sched_.options();
  balances_ = o.force_migration;
  for (unsigned i = 0; i < sched_.pool_count(); ++i) balances_ |= sched_.pool(i).balances();
  balances_ &= balancer_ != nullptr;
  next_balance_ = clock_ + std::chrono::nanoseconds(o.balance_interval).count();
  candidates_.reserve(sched_.worker_count());
  if (simulate_) {
    sim_.resize(sched_.worker_count());
    for (SimWorker& w : sim_) w.clock = clock_;
    order_.reserve(sched_.worker_count());
    inbox_was_empty_.resize(sched_.worker_count());
    event_time_ = clock_;
  }
}

void Deterministic::adopt_workers() noexcept {
  for (unsigned i = 0; i < sched_.worker_count(); ++i) {
    // Each worker's steals follow the seed too.
    sched_.worker(i).drive_by(this, &carrier_, rng_.next());
    // Simulated mode: every worker starts idle (DP1), parked since the start for B1.
    if (simulate_) sched_.worker(i).simulated_park(clock_);
  }
}

void Deterministic::add_stats(Stats& s) const {
  // relaxed: statistics (see steps_).
  s.yield_requests += preemptions_.load(std::memory_order_relaxed);
  s.steps = steps_.load(std::memory_order_relaxed);
  s.schedule_digest = digest_.load(std::memory_order_relaxed);
}

std::int64_t Deterministic::next_due_event() const {
  Injector* inj = sched_.injector();
  return inj != nullptr ? inj->next_due() : INT64_MAX;
}

void Deterministic::deliver_due_events() {
  if (Injector* inj = sched_.injector()) inj->deliver_due(clock_);
}

Deterministic::Binding::Binding(Deterministic& d) : d_(d) { d_.carrier_.bind_to_this_thread(); }
Deterministic::Binding::~Binding() { d_.carrier_.unbind_from_this_thread(); }

void Deterministic::fold(std::uint64_t v) noexcept {
  // FNV-1a over the 8 bytes of v: cheap, and any change in a step changes the digest.
  std::uint64_t h = digest_.load(std::memory_order_relaxed);
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (8 * i)) & 0xff;
    h *= 0x100000001b3ull;
  }
  digest_.store(h, std::memory_order_relaxed);  // relaxed: single writer, see digest_
}

std::int32_t Deterministic::slice_budget(std::int32_t budget) noexcept {
  if (simulate_ || !rng_.one_in(kPreemptOdds)) return budget;  // DP4: no cut in simulated mode
  const std::int32_t cut = 1 + static_cast<std::int32_t>(rng_.below(kShortSlice));
  if (cut >= budget) return budget;
  preemptions_.store(preemptions_.load(std::memory_order_relaxed) + 1,
                     std::memory_order_relaxed);  // relaxed: single writer, statistic
  return cut;
}

void Deterministic::count_step() noexcept {
  steps_.store(steps_.load(std::memory_order_relaxed) + 1,
               std::memory_order_relaxed);  // relaxed: single writer, statistic
}

bool Deterministic::step() {
  if (simulate_) return sim_step();
  // DS1: the balancer's turn.
  if (balances_ && clock_ >= next_balance_) {
    balancer_->tick(clock_);
    const std::int64_t interval =
        std::chrono::nanoseconds(sched_.options().balance_interval).count();
    next_balance_ = clock_ + interval / 2 + static_cast<std::int64_t>(rng_.below(interval));
  }
  // DS2: a worker at random among those that find work.
  candidates_.clear();
  for (unsigned i = 0; i < sched_.worker_count(); ++i) candidates_.push_back(&sched_.worker(i));
  while (!candidates_.empty()) {
    const std::size_t k = rng_.below(candidates_.size());
    Worker* w = candidates_[k];
    carrier_.drive(w);
    Process* p = w->next_process();
    if (p == nullptr) {
      candidates_[k] = candidates_.back();
      candidates_.pop_back();
      continue;
    }
    const std::uint64_t runs = w->processes_run();
    const std::uint64_t reductions = w->reductions();
    w->run(carrier_, p);  // DS3 and DS4 (Worker::run asks slice_budget)
    const std::uint64_t spent = w->reductions() - reductions;
    // DS5.
    clock_ += kStepNs + static_cast<std::int64_t>(spent) * kReductionNs +
              static_cast<std::int64_t>(rng_.below(kJitterNs));
    // DS6.
    fold(w->id());
    fold(w->processes_run() - runs);
    fold(spent);
    fold(static_cast<std::uint64_t>(clock_));
    count_step();
    return true;
  }
  return false;
}

bool Deterministic::advance_to_next_event() {
  std::int64_t next = INT64_MAX;
  for (unsigned i = 0; i < sched_.worker_count(); ++i) {
    next = std::min(next, sched_.worker(i).next_timer());
  }
  next = std::min(next, next_due_event());
  if (next == INT64_MAX) return false;
  clock_ = std::max(clock_, next);
  return true;
}

Deterministic::Outcome Deterministic::run_until(const std::atomic<bool>& done) {
  Binding bind(*this);
  if (simulate_) sim_post(sim_latest(), nullptr);  // DP6 for what was spawned before the run
  // acquire: pairs with the release store of the main process's end (Runtime::run).
  while (!done.load(std::memory_order_acquire)) {
    if (step()) continue;
    deliver_due_events();
    if (step()) continue;
    if (!advance_to_next_event()) return Outcome::kDeadlock;
    deliver_due_events();
  }
  return Outcome::kDone;
}

bool Deterministic::run_until_empty(std::chrono::nanoseconds timeout) {
  Binding bind(*this);
  sched_.kill_sweep();
  if (simulate_) sim_post(sim_latest(), nullptr);  // DP6 for the killed
  ShutdownDeadline deadline(timeout);              // SD3
  for (std::int64_t left; (left = sched_.live()) > 0;) {
    if (deadline.expired(left)) return false;
    if (step()) continue;
    deliver_due_events();
    if (step()) continue;
    // Nothing can run: a process spawned by a dying one, or one between its kill check and
    // its block, waits for the next sweep (as in the threaded shutdown); or a timer is due.
    sched_.kill_sweep();
    if (simulate_) sim_post(sim_latest(), nullptr);
    if (step()) continue;
    (void)advance_to_next_event();
  }
  return true;
}

}  // namespace ergon::detail
