// TenantRec and TenantTable: the scheduler's record of each tenant (ergon/tenant.hpp) and the
// table of them, with the virtual time by which workers choose among tenants.
//
// Design
// ------
// Virtual time. Each tenant's vtime grows by spent * kVScale / weight for the reductions its
// processes spend (charge()); a worker choosing among tenants with work takes the one whose
// vtime is least (class_queue.hpp), so that under contention reductions divide by weight:
// weighted virtual runtime, as CFS and EEVDF do with nice weights. Rejected: deficit round
// robin over per-tenant quanta (it needs a quantum per round that every worker agrees on, and
// it measures turns, not what a turn cost: a tenant whose processes yield early would be
// charged a whole quantum or carry deficits across workers).
//
// Lag. A tenant that had nothing to run did not advance; on its return it would own every
// pick until it caught up with the others. So a tenant that becomes runnable in a pool has its
// vtime raised to at least that pool's floor (the vtime of the tenant picked last) minus
// kLagSlices slices at the default weight (lift()): it comes back ahead of the busy ones by a
// little, never by its whole idle time. An idle tenant's share goes to the others at once
// (work-conserving: nothing waits for a tenant that has no work).
//
// The default tenant (index 0) holds every process that was never given one. Its processes
// are not charged one by one: that would put a shared counter on every slice of a runtime
// that never uses tenants (the pingpong budget). Its reductions are derived instead: every
// worker's reductions minus what the other tenants were charged, and its vtime from them
// (default_vtime(), under def_lock_, from a base that a weight change or a lift moves).
//
// Records are created under the table's lock and never freed before the scheduler: a
// process's `tenant` pointer and a Tenant handle's index stay valid for the runtime's life.
// Counters are relaxed atomics (statistics, many writers by RMW); vtime is read relaxed by
// pickers (a stale value misorders one pick).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "ergon/tenant.hpp"

namespace ergon::detail {

class Scheduler;

// Scheduling delay histogram: bucket i counts delays in [2^i, 2^(i+1)) ns.
struct DelayHistogram {
  static constexpr unsigned kBuckets = 48;
  std::array<std::atomic<std::uint64_t>, kBuckets> counts{};
  void add(std::int64_t ns) noexcept;
  // The upper edge (ns) of the bucket holding quantile q; 0 when empty.
  std::int64_t quantile(double q) const noexcept;
};

struct TenantRec {
  // Virtual time per reduction at weight 1, scaled so that integer division by a weight up
  // to kMaxTenantWeight keeps three digits.
  static constexpr std::uint64_t kVScale = 1u << 20;

  TenantRec(unsigned i, std::string n, std::uint32_t w) : index(i), name(std::move(n)), weight(w) {}
  const unsigned index;
  const std::string name;
  std::atomic<std::uint32_t> weight;    // relaxed: read at each charge; a change applies next
  std::atomic<std::uint64_t> vtime{0};  // not the default tenant's (TenantTable::vtime)
  // Statistics (Stats::tenants), relaxed RMWs. Not kept for the default tenant where derived.
  std::atomic<std::uint64_t> reductions{0}, messages_in{0}, messages_out{0};
  std::atomic<std::int64_t> live{0}, queued{0}, throttled_ns{0};
  DelayHistogram delay;

  void charge(std::uint64_t spent) noexcept {
    reductions.fetch_add(spent, std::memory_order_relaxed);  // relaxed: see above
    const std::uint32_t w = weight.load(std::memory_order_relaxed);
    vtime.fetch_add(spent * kVScale / (w == 0 ? 1 : w), std::memory_order_relaxed);
  }
};

class TenantTable {
 public:
  // A returning tenant's vtime is raised to the floor minus this many slices of the default
  // weight (see Lag above). 2: it runs before the busy tenants once or twice, the probe of
  // tenants_noisy is never behind them (docs/benchmarks.md, "tenants"). Not tuned further.
  static constexpr std::uint64_t kLagSlices = 2;

  explicit TenantTable(Scheduler& sched);

  // Under the table's lock: a new tenant, or Error (empty or taken name, bad weight, full).
  TenantRec& create(std::string_view name, std::uint32_t weight);
  // The tenant named `name`, or Error naming the tenants there are.
  TenantRec& named(std::string_view name);
  // Record `i`, or nullptr. Any thread.
  TenantRec* at(unsigned i) const noexcept { return i < count() ? recs_[i].get() : nullptr; }
  TenantRec& default_tenant() const noexcept { return *recs_[0]; }
  // Tenants created (the default one included). acquire: pairs with create's release, so a
  // record counted is a record built.
  unsigned count() const noexcept { return count_.load(std::memory_order_acquire); }
  // Whether any tenant besides the default exists (relaxed: set once, before any process of
  // the new tenant can run, by the creator, which orders it by spawning).
  bool any() const noexcept { return count_.load(std::memory_order_relaxed) > 1; }

  // Virtual time of tenant `t` now: its own, or the default tenant's derived one.
  std::uint64_t vtime(const TenantRec& t) const noexcept;
  // Raises `t`'s vtime to at least floor - lag (see Lag above).
  void lift(TenantRec& t, std::uint64_t floor) noexcept;
  void set_weight(TenantRec& t, std::uint32_t w);
  // Reductions the default tenant's processes spent: all the workers' minus the others'.
  std::uint64_t default_reductions() const noexcept;
  // What the non-default tenants were charged, all together (for default_reductions).
  std::atomic<std::uint64_t> charged_elsewhere{0};

  // The weight check both create and set_weight make (Error naming the tenant and the range).
  static void check_weight(std::string_view name, std::uint32_t w);

 private:
  std::uint64_t default_vtime_locked() const noexcept;

  Scheduler& sched_;
  mutable std::mutex mu_;  // create, set_weight, the default tenant's base
  std::array<std::unique_ptr<TenantRec>, kMaxTenants> recs_;
  std::atomic<unsigned> count_{0};
  // The default tenant's vtime is def_vbase_ + (its reductions - def_rbase_) * kVScale /
  // weight; the bases move (under mu_) when its weight changes or it is lifted.
  std::uint64_t def_vbase_ = 0, def_rbase_ = 0;
};

}  // namespace ergon::detail
