// ClassQueue: a pool's classed processes, by priority and tenant. See class_queue.hpp.
#include "core/class_queue.hpp"

#include <bit>

#include "core/tenant.hpp"

namespace ergon::detail {

void ClassQueue::push(Process* p, TenantTable& tenants, std::int64_t now) noexcept {
  TenantRec& t = p->tenant_rec() != nullptr ? *p->tenant_rec() : tenants.default_tenant();
  p->queued_at = now;
  t.queued.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  std::lock_guard<std::mutex> g(mu_);
  if (p->priority == Priority::kMax || p->priority == Priority::kHigh) {
    strict_[static_cast<unsigned>(p->priority)].push(p);
  } else {
    PerTenant& q = tenants_[t.index];
    if (q.queued++ == 0) {
      active_ |= std::uint64_t{1} << t.index;
      tenants.lift(t, vfloor_);  // it was idle here: no credit for the idle time (tenant.hpp)
    }
    if (p->priority == Priority::kLow) {
      q.low.push(p);
    } else {
      q.normal.push(p);
    }
  }
  // seq_cst: publishes the push before the pusher looks for sleepers (see the header).
  size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
}

void ClassQueue::stop_throttle(PerTenant& q, TenantRec& t, std::int64_t now) noexcept {
  if (q.throttled_since != 0) {
    t.throttled_ns.fetch_add(now - q.throttled_since, std::memory_order_relaxed);  // statistic
    q.throttled_since = 0;
  }
}

Process* ClassQueue::take(PerTenant& q, TenantRec& t, std::int64_t now) noexcept {
  Process* p;
  if (!q.low.empty() && (q.normal.empty() || q.normal_turns >= kLowEvery)) {
    p = q.low.pop();
    q.normal_turns = 0;
  } else {
    p = q.normal.pop();
    ++q.normal_turns;
  }
  if (--q.queued == 0) {
    active_ &= ~(std::uint64_t{1} << t.index);
    q.normal_turns = 0;
  }
  stop_throttle(q, t, now);
  return p;
}

Process* ClassQueue::pick(TenantTable& tenants, bool ring_work, std::uint32_t& default_turns,
                          std::int64_t now) noexcept {
  // relaxed: a hint; the lock orders what we read under it.
  if (size_.load(std::memory_order_relaxed) == 0) return nullptr;
  std::lock_guard<std::mutex> g(mu_);
  Process* p = nullptr;
  for (IntrusiveFifo& s : strict_) {
    if ((p = s.pop()) != nullptr) break;
  }
  TenantRec* from = nullptr;
  if (p == nullptr) {
    // The least virtual time among the tenants with work: those queued here, and the default
    // tenant if this worker's ring holds some of its work.
    // (The default tenant's vtime is derived under a lock: read it once.)
    const bool def_active = ring_work || (active_ & 1) != 0;
    const std::uint64_t def_v = def_active ? tenants.vtime(tenants.default_tenant()) : 0;
    unsigned best = kMaxTenants;
    std::uint64_t best_v = UINT64_MAX;
    for (std::uint64_t m = active_; m != 0; m &= m - 1) {
      const unsigned i = static_cast<unsigned>(std::countr_zero(m));
      const std::uint64_t v = i == 0 ? def_v : tenants.vtime(*tenants.at(i));
      if (v < best_v) {
        best_v = v;
        best = i;
      }
    }
    if (ring_work && def_v <= best_v) {
      best = 0;
      best_v = def_v;
    }
    if (best == kMaxTenants) return nullptr;  // raced with another picker: nothing queued
    if (best_v > vfloor_) vfloor_ = best_v;
    // Whoever is passed over with work queued is throttled from now.
    for (std::uint64_t m = active_ & ~(std::uint64_t{1} << best); m != 0; m &= m - 1) {
      PerTenant& q = tenants_[std::countr_zero(m)];
      if (q.throttled_since == 0) q.throttled_since = now;
    }
    PerTenant& q = tenants_[best];
    if (best == 0 && ring_work) {
      // The default tenant: its normal work is the ring's. Its low processes (here) get one
      // turn in kLowEvery + 1, counted by the worker, like any tenant's.
      if (q.low.empty() || default_turns < kLowEvery) {
        if (!q.low.empty()) ++default_turns;
        stop_throttle(q, tenants.default_tenant(), now);
        return nullptr;
      }
      default_turns = 0;
    }
    from = tenants.at(best);
    p = take(q, *from, now);
  } else {
    from = p->tenant_rec() != nullptr ? p->tenant_rec() : &tenants.default_tenant();
  }
  // seq_cst: as in push (the parking re-check).
  size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_seq_cst);
  from->queued.fetch_sub(1, std::memory_order_relaxed);  // relaxed: statistic
  from->delay.add(now - p->queued_at);
  return p;
}

}  // namespace ergon::detail
