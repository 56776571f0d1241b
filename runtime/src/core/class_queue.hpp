// ClassQueue: a pool's runnable processes that have a class: a priority other than normal, or
// a tenant other than the default one (Process::sclass). Processes with neither never come
// here: they keep the worker's local queue, runnext and stealing, at no cost (worker.hpp).
//
// Design
// ------
// One queue per pool, under a mutex, like the global queue: every worker of the pool takes
// from it, so a classed process waits for the first worker of its pool to pick, wherever it
// last ran, and nothing has to be stolen or migrated to keep tenants' shares or priorities
// across workers: the balancer has nothing to weigh (its queue lengths leave these out, and
// a worker with classed work is never parked by compaction before it checked here).
//   - strict_[kMax], strict_[kHigh]: FIFOs; a pick takes max, then high, before anything else.
//   - per tenant: `normal` and `low` FIFOs (low processes of the default tenant come here too;
//     its normal ones are in the workers' rings). A pick from a tenant takes its low head once
//     for every kLowEvery normal turns (erts' RESCHEDULE_LOW = 8), or when normal is empty.
//   - choosing a tenant (pick): the least virtual time (tenant.hpp) among the tenants with
//     queued work here and, if the picking worker has default-tenant work in its ring, the
//     default tenant. When that is the default tenant, pick returns nullptr and the worker
//     takes its ring.
// Each push notes the time (Process::queued_at) and each pick records the wait in the
// tenant's delay histogram. A tenant passed over for another with queued work starts its
// throttled clock; it stops when the tenant is picked or has nothing queued.
//
// Protocol for parking (run_queue.hpp's store-load pairing): push stores size_ seq_cst
// before the pusher calls Idle::notify_one; a parking worker's re-check (work_visible) loads
// it seq_cst.
//
// Rejected: per-worker queues per class (stealing would have to search N x classes structures,
// and a tenant's share would depend on where its processes happen to sit); putting every
// process here when tenants exist (the default tenant's processes would lose runnext and
// their local ring, and every pick would take the queue's lock).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>

#include "core/intrusive_fifo.hpp"
#include "core/process.hpp"
#include "ergon/tenant.hpp"

namespace ergon::detail {

class TenantTable;
struct TenantRec;

class ClassQueue {
 public:
  static constexpr std::uint32_t kLowEvery = 8;

  // Any thread: `p` (classed) is runnable. `now`: the runtime's clock.
  void push(Process* p, TenantTable& tenants, std::int64_t now) noexcept;
  // A worker of the pool: the next classed process to run, or nullptr when the worker should
  // take its own ring instead (or nothing is here). `ring_work`: the worker has default-tenant
  // work of its own. `default_turns`: the worker's count of ring turns taken while a low
  // default-tenant process waited here.
  Process* pick(TenantTable& tenants, bool ring_work, std::uint32_t& default_turns,
                std::int64_t now) noexcept;
  // relaxed: a hint (the lock orders the real access); seq_cst for the parking re-check.
  std::uint32_t size_relaxed() const noexcept { return size_.load(std::memory_order_relaxed); }
  std::uint32_t size_seq_cst() const noexcept { return size_.load(std::memory_order_seq_cst); }

 private:
  struct PerTenant {
    IntrusiveFifo normal, low;
    std::uint32_t queued = 0;          // in normal + low
    std::uint32_t normal_turns = 0;    // since its last low turn
    std::int64_t throttled_since = 0;  // 0: not throttled
  };
  Process* take(PerTenant& q, TenantRec& t, std::int64_t now) noexcept;  // requires mu_
  void stop_throttle(PerTenant& q, TenantRec& t, std::int64_t now) noexcept;

  std::mutex mu_;
  std::array<IntrusiveFifo, 2> strict_;         // max, high; guarded by mu_
  std::array<PerTenant, kMaxTenants> tenants_;  // guarded by mu_
  std::uint64_t active_ = 0;            // bit i: tenant i has queued work here; guarded by mu_
  std::uint64_t vfloor_ = 0;            // the vtime of the tenant picked last; guarded by mu_
  std::atomic<std::uint32_t> size_{0};  // written under mu_; read without it (see above)
};

}  // namespace ergon::detail
