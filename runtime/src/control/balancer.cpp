// Balancer: sampling (B1), compaction (B2), migration (B3) and forced migration (F). See
// balancer.hpp for the design.
#include "control/balancer.hpp"

#include <algorithm>
#include <cmath>

#include "core/scheduler.hpp"
#include "core/worker_pool.hpp"

namespace ergon::detail {

Balancer::Balancer(Scheduler& sched)
    : sched_(sched),
      interval_ns_(std::chrono::nanoseconds(sched.options().balance_interval).count()),
      samples_(sched.worker_count()),
      pools_(sched.pool_count()) {}

Balancer::~Balancer() { stop(); }  // before the members the thread reads go

void Balancer::start() {
  bool needed = sched_.options().force_migration;
  for (unsigned i = 0; i < sched_.pool_count(); ++i) needed |= sched_.pool(i).balances();
  if (!needed) return;
  last_ns_ = monotonic_ns();
  start_thread(sched_, interval_ns_);
}

void Balancer::add_stats(Stats& s) const {
  if (!running()) return;  // the scheduler's lifetime average stays
  for (std::size_t i = 0; i < s.workers.size() && i < sched_.worker_count(); ++i) {
    s.workers[i].utilization = sched_.worker(i).utilization_ppm() / 1e6;
  }
}

void Balancer::tick(std::int64_t now) {
  sched_.reactor().poll_if_stale(now);  // R3 (core/reactor.hpp), for a runtime without a watchdog
  const std::int64_t window = now - last_ns_;
  last_ns_ = now;
  ++ticks_;
  std::vector<double> util(sched_.worker_count());
  std::vector<std::uint32_t> len(sched_.worker_count());
  for (unsigned i = 0; i < sched_.worker_count(); ++i) {  // B1
    Worker& w = sched_.worker(i);
    const std::int64_t parked = w.parked_ns(now);
    double u = 0;
    if (window > 0) u = 1.0 - static_cast<double>(parked - samples_[i].parked) / window;
    u = std::clamp(u, 0.0, 1.0);
    samples_[i].parked = parked;
    util[i] = u;
    len[i] = w.queue_length();
    w.set_utilization_ppm(static_cast<std::uint32_t>(u * 1e6));
  }
  for (unsigned k = 0; k < sched_.pool_count(); ++k) {
    WorkerPool& pool = sched_.pool(k);
    if (pool.balances()) {
      compact(pool, pools_[k], window, util.data(), len.data());
      migrate(pool, len.data());
    }
    if (sched_.options().force_migration) force(pool);
  }
  // Trace counters of the tenants (observe/trace.hpp, kTenant), while tracing.
  if (ticks_ % kTenantSampleTicks == 0 && sched_.tenants().any() && sched_.observer().on())
      [[unlikely]]
    sched_.observer().tenants(sched_.tenants(), now);
}

void Balancer::compact(WorkerPool& pool, PoolState& st, std::int64_t window, const double* util,
                       const std::uint32_t* len) {
  if (!sched_.options().compaction || pool.size < 2) return;
  const unsigned active = pool.active();
  double busy = 0;
  bool saturated = true;
  bool queued = pool.global.size_relaxed() != 0;
  for (unsigned i = pool.first; i < pool.first + pool.size; ++i) busy += util[i];
  for (unsigned i = pool.first; i < pool.first + active; ++i) {
    saturated &= util[i] >= kBusyUtil;
    queued |= len[i] != 0;
  }
  st.window_ns += window;
  st.busy_ns += busy * static_cast<double>(window);
  unsigned want = active;
  if (st.window_ns >= std::max(kCompactWindowNs, 8 * interval_ns_)) {
    const double demand = st.busy_ns / static_cast<double>(st.window_ns);
    want = static_cast<unsigned>(std::ceil(demand / kTargetUtil - 1e-9));
    if (want < active) want = active - 1;  // shrink one at a time
    st.window_ns = 0;
    st.busy_ns = 0;
  }
  if (saturated && queued) {
    if (++st.rise_votes >= kRiseTicks) want = std::max(want, active + 1);
  } else {
    st.rise_votes = 0;
  }
  want = std::clamp(want, 1u, pool.size);
  if (want != active) set_active(pool, active, want);
}

void Balancer::set_active(WorkerPool& pool, unsigned active, unsigned want) {
  PoolState& st = pools_[pool.index];
  st.rise_votes = 0;
  if (want > active) {
    for (unsigned i = pool.first + active; i < pool.first + want; ++i) {
      sched_.worker(i).set_inactive(false);
    }
    pool.set_active(want);
    for (unsigned i = pool.first + active; i < pool.first + want; ++i) {
      pool.idle.unpark(sched_.worker(i).parker());
    }
    pool.expansions.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    st.window_ns = 0;  // judge the new size on a window of its own
    st.busy_ns = 0;
  } else {
    // Lower the count first: a worker that sees itself inactive must not find itself its
    // own forward target (Worker::evacuate stops if it does).
    pool.set_active(want);
    for (unsigned i = pool.first + want; i < pool.first + active; ++i) {
      sched_.worker(i).set_inactive(true);
    }
    pool.contractions.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  }
}

void Balancer::migrate(WorkerPool& pool, std::uint32_t* len) {
  const unsigned active = std::max(1u, pool.active());
  bool moved_any = false;
  // Leftovers of inactive workers go whole to their forward target.
  for (unsigned i = pool.first + active; i < pool.first + pool.size; ++i) {
    if (len[i] == 0) continue;
    const unsigned to = pool.first + (i - pool.first) % active;
    const std::uint32_t n = move(i, to, len[i]);
    len[to] += n;
    moved_any |= n != 0;
  }
  if (active >= 2) {
    std::uint64_t total = 0;
    for (unsigned i = pool.first; i < pool.first + active; ++i) total += len[i];
    const std::uint32_t avg = static_cast<std::uint32_t>(total / active);
    // 1/8 of the average: `ergon-bench spread` (1/4 let a 56/44 split stand for seconds,
    // docs/benchmarks.md, "Spreading an induced imbalance"); the floor of 2 is not tuned.
    const std::uint32_t threshold = std::max<std::uint32_t>(2, avg / 8);
    std::vector<bool> used(active, false);
    for (unsigned round = 0; round < active / 2; ++round) {
      // The longest queue that did not just receive, and the shortest.
      int giver = -1, taker = -1;
      for (unsigned k = 0; k < active; ++k) {
        if (used[k]) continue;
        const unsigned i = pool.first + k;
        if (samples_[i].received_tick + 1 != ticks_ &&
            (giver < 0 || len[i] > len[pool.first + giver])) {
          giver = static_cast<int>(k);
        }
        if (taker < 0 || len[i] < len[pool.first + taker]) taker = static_cast<int>(k);
      }
      if (giver < 0 || taker < 0 || giver == taker) break;
      const unsigned g = pool.first + giver, t = pool.first + taker;
      if (len[g] <= len[t] + threshold) break;  // hysteresis: close enough
      const std::uint32_t n = move(g, t, (len[g] - len[t]) / 2);
      if (n == 0) break;
      len[g] -= std::min(len[g], n);
      len[t] += n;
      samples_[t].received_tick = ticks_;
      used[giver] = used[taker] = true;
      moved_any = true;
    }
  }
  if (moved_any) pool.balance_rounds.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
}

void Balancer::force(WorkerPool& pool) {
  if (pool.size < 2) return;
  for (unsigned k = 0; k < pool.size; ++k) {
    (void)move(pool.first + k, pool.first + (k + 1) % pool.size, 1);
  }
}

std::uint32_t Balancer::move(unsigned from, unsigned to, std::uint32_t n) {
  Worker& src = sched_.worker(from);
  Worker& dst = sched_.worker(to);
  Process* batch[RunQueue::kCapacity];
  std::uint32_t total = 0;
  while (total < n) {
    const std::uint32_t got = src.take_for_migration(batch, n - total);
    if (got == 0) break;
    // The inbox is the lock-free hand-off: the taker moves them to its run queue (and the
    // first push unparks it).
    if (Observer& o = sched_.observer(); o.on()) [[unlikely]] {  // before the push: p may run
      for (std::uint32_t i = 0; i < got; ++i)
        o.moved(from, Move::kMigrate, to, batch[i]->pid(), sched_.now());
    }
    for (std::uint32_t i = 0; i < got; ++i) dst.remote_wake(batch[i]);
    total += got;
  }
  if (total != 0) {
    src.count_migrated_out(total);
    dst.count_migrated_in(total);
  }
  return total;
}

}  // namespace ergon::detail
