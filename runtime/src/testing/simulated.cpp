// Deterministic's simulated-parallel mode (Options::simulate): a clock per worker and a
// discrete-event loop over them, DP1..DP6. See deterministic.hpp for the design and the cost
// model; this file is the loop.
#include <algorithm>
#include <climits>

#include "core/scheduler.hpp"
#include "core/worker.hpp"
#include "core/worker_pool.hpp"
#include "testing/deterministic.hpp"

namespace ergon::detail {
namespace {

// Reductions a spawn charges its spawner (Scheduler::spawn_commit's kSpawnReductions): the
// spawn is costed whole by Cost::kSpawnNs, so its reductions are not charged again.
constexpr std::uint64_t kSpawnReductions = 32;

// DP5 without the steal, the migrations and the wake-ups: what a slice that made `runs`
// switches into processes, spent `reductions`, sent `sent` messages and spawned `spawned`
// processes costs.
std::int64_t slice_cost(std::uint64_t runs, std::uint64_t reductions, std::uint64_t sent,
                        std::uint64_t spawned) noexcept {
  using Cost = Deterministic::Cost;
  const std::uint64_t counted = sent + kSpawnReductions * spawned;
  const std::uint64_t other = reductions > counted ? reductions - counted : 0;
  return Cost::kStepNs + static_cast<std::int64_t>(runs > 1 ? runs - 1 : 0) * Cost::kSwitchNs +
         static_cast<std::int64_t>(sent) * Cost::kSendNs +
         static_cast<std::int64_t>(spawned) * Cost::kSpawnNs +
         static_cast<std::int64_t>(other) * Cost::kReductionNs;
}

}  // namespace

Observer* Deterministic::observer_for(Observer* inner) noexcept {
  if (!simulate_) return inner;
  stamps_ = std::make_unique<Stamps>(*this, inner);
  return stamps_.get();
}

// Stamps: DP3's and DP6's records, then the tracer's event if it is on. The worker's owner
// (the driving thread) for every event the simulation produces.
void Deterministic::Stamps::slice(unsigned w, Pid pid, std::int64_t begin,
                                  std::int64_t end) noexcept {
  d_.ready_[pid.raw()] = end;
  if (inner_->on()) inner_->slice(w, pid, begin, end);
}

void Deterministic::Stamps::park(unsigned w, std::int64_t begin, std::int64_t end) noexcept {
  if (inner_->on()) inner_->park(w, begin, end);
}

void Deterministic::Stamps::moved(unsigned w, Move kind, unsigned other, Pid pid,
                                  std::int64_t now) noexcept {
  if (inner_->on()) inner_->moved(w, kind, other, pid, now);
}

void Deterministic::Stamps::spawn(int w, Pid child, Pid parent, std::int64_t now) noexcept {
  d_.ready_[child.raw()] = now;
  d_.spawned_at_ = std::min(d_.spawned_at_, now);
  if (inner_->on()) inner_->spawn(w, child, parent, now);
}

void Deterministic::Stamps::describe_exit(ExitText& out, const ExitReason& reason) noexcept {
  if (inner_->on()) inner_->describe_exit(out, reason);
}

void Deterministic::Stamps::exit(unsigned w, Pid pid, const char* why, std::int64_t now) noexcept {
  d_.ready_.erase(pid.raw());
  if (inner_->on()) inner_->exit(w, pid, why, now);
}

void Deterministic::Stamps::crash(Pid pid, const std::string& what, std::int64_t now) noexcept {
  if (inner_->on()) inner_->crash(pid, what, now);
}

void Deterministic::Stamps::tenants(const TenantTable& t, std::int64_t now) noexcept {
  if (inner_->on()) inner_->tenants(t, now);
}

void Deterministic::Stamps::handoff(unsigned w, Pid pid, std::int64_t now) noexcept {
  if (inner_->on()) inner_->handoff(w, pid, now);
}

std::int64_t Deterministic::sim_now() const noexcept {
  if (!in_slice_) return event_time_;
  const Worker& w = *driven_;
  // The part of the slice in progress: each part's start reads the clock (slice_part_begin,
  // with the Stamps' gate up), after the count of runs rose and before the part spends
  // anything, so the worker's reductions then are the part's base. Once slice_part_end has
  // added the part's reductions (the read of its end, for the trace, comes after that) they
  // are not counted again.
  const std::uint64_t runs = w.processes_run();
  if (runs != part_runs_) {
    part_runs_ = runs;
    part_base_ = w.reductions();
  }
  std::uint64_t spent = w.reductions() - reductions0_;
  if (w.reductions() == part_base_) spent += w.part_reductions(carrier_.budget());
  const std::int64_t t =
      slice_t0_ + slice_cost(runs - runs0_, spent, w.sent() - sent0_, w.spawned() - spawned0_);
  slice_last_ = std::max(slice_last_, t);
  return slice_last_;
}

std::int64_t Deterministic::sim_event_time(unsigned i) const noexcept {
  const SimWorker& s = sim_[i];
  if (!s.idle) return s.clock;
  // Timers count on an idle worker only: a busy one fires them itself as it picks.
  const std::int64_t t = std::min(s.posted, sched_.worker(i).next_timer());
  return t == INT64_MAX ? INT64_MAX : std::max(s.clock, t);
}

std::int64_t Deterministic::sim_latest() const noexcept {
  std::int64_t t = 0;
  for (const SimWorker& s : sim_) t = std::max(t, s.clock);
  return std::max(t, event_time_);
}

bool Deterministic::sim_finds_work(Worker& w) const noexcept {
  if (w.has_runnable()) return true;
  WorkerPool& pool = w.pool();
  if (w.inactive()) return false;  // it takes no shared work (Worker::next_process)
  if (pool.global.size_relaxed() != 0) return true;
  if (!pool.steals()) return false;
  for (unsigned i = pool.first; i < pool.first + pool.size; ++i) {
    if (&sched_.worker(i) != &w && sched_.worker(i).queue_length() != 0) return true;
  }
  return false;
}

void Deterministic::sim_post(std::int64_t own, std::int64_t shared, const Worker* except) {
  // DP6. A worker whose own queues got work was handed it (an inbox push, a forward, a
  // migration): it is woken. Shared work (a pool's global queue, a queue to steal from)
  // wakes one idle worker of the pool, as Idle::notify_one does; it wakes the next when it
  // finds work (notify_after_search), which DP6 repeats at its own step's end.
  for (unsigned i = 0; i < sched_.worker_count(); ++i) {
    SimWorker& s = sim_[i];
    Worker& w = sched_.worker(i);
    if (!s.idle || &w == except || s.posted != INT64_MAX) continue;
    if (w.has_runnable()) s.posted = own + Cost::kUnparkNs;
  }
  for (unsigned k = 0; k < sched_.pool_count(); ++k) {
    WorkerPool& pool = sched_.pool(k);
    order_.clear();
    bool searching = false;
    for (unsigned i = pool.first; i < pool.first + pool.size; ++i) {
      const SimWorker& s = sim_[i];
      if (!s.idle || &sched_.worker(i) == except) continue;
      if (s.posted != INT64_MAX) {
        searching = true;
        break;
      }
      if (sim_finds_work(sched_.worker(i))) order_.push_back(i);
    }
    if (searching || order_.empty()) continue;
    sim_[order_[rng_.below(order_.size())]].posted = shared + Cost::kUnparkNs;
  }
}

void Deterministic::sim_tick(std::int64_t t) {
  driven_ = nullptr;
  event_time_ = t;
  for (unsigned i = 0; i < sched_.worker_count(); ++i)
    sim_[i].migrated_in = sched_.worker(i).migrated_in();
  balancer_->tick(t);
  for (unsigned i = 0; i < sched_.worker_count(); ++i) {
    const std::uint64_t in = sched_.worker(i).migrated_in() - sim_[i].migrated_in;
    sim_[i].owed += static_cast<std::int64_t>(in) * Cost::kMigrateNs;
  }
  sim_post(t, nullptr);
  const std::int64_t interval = std::chrono::nanoseconds(sched_.options().balance_interval).count();
  next_balance_ = t + interval / 2 + static_cast<std::int64_t>(rng_.below(interval));
  fold(static_cast<std::uint64_t>(t));
}

bool Deterministic::sim_step() {
  const unsigned n = sched_.worker_count();
  for (;;) {
    // DP1: the earliest worker event, and every worker that has it.
    std::int64_t best = INT64_MAX;
    bool any_busy = false;
    order_.clear();
    for (unsigned i = 0; i < n; ++i) {
      any_busy |= !sim_[i].idle;
      const std::int64_t t = sim_event_time(i);
      if (t == INT64_MAX || t > best) continue;
      if (t < best) order_.clear();
      best = t;
      order_.push_back(i);
    }
    const std::int64_t due = next_due_event();
    // DP2: the balancer, while some worker is busy; asleep otherwise, it ticks when the first
    // wakes (tick_sleep.hpp, D2).
    if (balances_ && best != INT64_MAX) {
      if (!any_busy && next_balance_ < best) next_balance_ = best;
      if (next_balance_ <= best && next_balance_ <= due) {
        sim_tick(next_balance_);
        continue;
      }
    }
    if (due != INT64_MAX && due <= best) {
      // A delayed message of fault injection, delivered at its time from no worker (the
      // delay line is a thread of its own in a real run): the wake goes to the receiver's
      // worker (Scheduler::wake, W3).
      driven_ = nullptr;
      event_time_ = due;
      carrier_.drive(nullptr);
      if (Injector* inj = sched_.injector()) inj->deliver_due(due);
      sim_post(due, nullptr);
      fold(static_cast<std::uint64_t>(due));
      return true;
    }
    if (best == INT64_MAX) return false;
    // DP2's tie, from the seed.
    const unsigned k = order_[order_.size() == 1 ? 0 : rng_.below(order_.size())];
    SimWorker& s = sim_[k];
    Worker* w = &sched_.worker(k);
    // DP3: an idle worker's clock catches up to the event.
    if (s.idle) s.clock = std::max(s.clock, best);
    s.posted = INT64_MAX;
    driven_ = w;
    event_time_ = s.clock;
    carrier_.drive(w);
    const std::uint64_t steals = w->steals();
    Process* p = w->next_process();
    if (p == nullptr) {
      if (!s.idle) {
        s.idle = true;
        w->simulated_park(s.clock);
      }
      sim_post(s.clock, w);  // an inactive worker may have forwarded its processes
      continue;
    }
    // DP3: not before the process became runnable.
    std::int64_t ready = s.clock;
    if (auto it = ready_.find(p->pid().raw()); it != ready_.end()) ready = it->second;
    if (s.idle) {
      s.idle = false;
      s.clock = std::max(s.clock, ready);
      w->simulated_unpark(s.clock);
    } else if (ready > s.clock) {
      // It waited for the process: searching for as long as its spin rounds last (a steal
      // attempt each), parked after that, and then woken.
      const std::int64_t spin =
          static_cast<std::int64_t>(sched_.options().spin_rounds) * Cost::kStealNs;
      if (ready - s.clock > spin) ready += Cost::kUnparkNs;
      w->simulated_park(s.clock);
      s.clock = ready;
      w->simulated_unpark(s.clock);
    }
    event_time_ = s.clock;
    spawned_at_ = INT64_MAX;
    // DP4.
    for (unsigned i = 0; i < n; ++i) inbox_was_empty_[i] = sched_.worker(i).inbox_empty();
    slice_t0_ = s.clock + s.owed + (w->steals() != steals ? Cost::kStealNs : 0);
    s.owed = 0;
    runs0_ = w->processes_run();
    reductions0_ = w->reductions();
    sent0_ = w->sent();
    spawned0_ = w->spawned();
    slice_last_ = slice_t0_;
    part_runs_ = runs0_;
    part_base_ = reductions0_;
    in_slice_ = true;
    w->run(carrier_, p);
    in_slice_ = false;
    // DP5.
    const std::uint64_t runs = w->processes_run() - runs0_;
    const std::uint64_t spent = w->reductions() - reductions0_;
    // The wake-ups the slice made: idle workers whose inbox it filled (a push into a busy
    // worker's inbox wakes nobody, and is left in the send's cost).
    std::int64_t wakes = 0;
    for (unsigned i = 0; i < n; ++i) {
      if (i != k && sim_[i].idle && inbox_was_empty_[i] && !sched_.worker(i).inbox_empty()) {
        ++wakes;
      }
    }
    std::int64_t end = slice_t0_ +
                       slice_cost(runs, spent, w->sent() - sent0_, w->spawned() - spawned0_) +
                       wakes * Cost::kWakeNs + static_cast<std::int64_t>(rng_.below(kSimJitterNs));
    end = std::max(end, slice_last_);
    s.clock = end;
    event_time_ = end;
    // DP6.
    sim_post(end, std::min(end, spawned_at_), w);
    fold(k);
    fold(runs);
    fold(spent);
    fold(static_cast<std::uint64_t>(end));
    count_step();
    return true;
  }
}

}  // namespace ergon::detail
