// TenantTable: tenants and their virtual time. See tenant.hpp.
#include "core/tenant.hpp"

#include <algorithm>
#include <bit>

#include "core/scheduler.hpp"
#include "ergon/errors.hpp"

namespace ergon::detail {

void DelayHistogram::add(std::int64_t ns) noexcept {
  const auto v = static_cast<std::uint64_t>(ns < 1 ? 1 : ns);
  const unsigned i = std::min<unsigned>(63 - std::countl_zero(v), kBuckets - 1);
  counts[i].fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
}

std::int64_t DelayHistogram::quantile(double q) const noexcept {
  std::uint64_t total = 0;
  for (const auto& c : counts) total += c.load(std::memory_order_relaxed);
  if (total == 0) return 0;
  const auto want = static_cast<std::uint64_t>(q * static_cast<double>(total));
  std::uint64_t seen = 0;
  for (unsigned i = 0; i < kBuckets; ++i) {
    seen += counts[i].load(std::memory_order_relaxed);
    if (seen >= std::max<std::uint64_t>(want, 1)) return std::int64_t{1} << (i + 1);
  }
  return std::int64_t{1} << kBuckets;
}

TenantTable::TenantTable(Scheduler& sched) : sched_(sched) {
  recs_[0] = std::make_unique<TenantRec>(0, "default", kDefaultTenantWeight);
  count_.store(1, std::memory_order_release);  // release: see count()
}

void TenantTable::check_weight(std::string_view name, std::uint32_t w) {
  if (w == 0 || w > kMaxTenantWeight) {
    throw Error("ergon: tenant '" + std::string(name) + "': weight " + std::to_string(w) +
                " is outside 1.." + std::to_string(kMaxTenantWeight) +
                "; give a share relative to the default tenant's " +
                std::to_string(kDefaultTenantWeight));
  }
}

TenantRec& TenantTable::create(std::string_view name, std::uint32_t weight) {
  if (name.empty()) throw Error("ergon::create_tenant: a tenant needs a name");
  check_weight(name, weight);
  std::lock_guard<std::mutex> g(mu_);
  const unsigned n = count_.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < n; ++i) {
    if (recs_[i]->name == name) {
      throw Error("ergon::create_tenant: a tenant named '" + std::string(name) +
                  "' exists already; look it up with ergon::tenant(name)");
    }
  }
  if (n == kMaxTenants) {
    throw Error("ergon::create_tenant('" + std::string(name) + "'): this runtime has " +
                std::to_string(kMaxTenants) +
                " tenants, the most it can have; group processes into fewer tenants");
  }
  recs_[n] = std::make_unique<TenantRec>(n, std::string(name), weight);
  // A newcomer starts level with the busiest: as if it had just returned from idle.
  recs_[n]->vtime.store(default_vtime_locked(), std::memory_order_relaxed);
  count_.store(n + 1, std::memory_order_release);  // release: see count()
  return *recs_[n];
}

TenantRec& TenantTable::named(std::string_view name) {
  const unsigned n = count();
  std::string names;
  for (unsigned i = 0; i < n; ++i) {
    if (recs_[i]->name == name) return *recs_[i];
    names += (i == 0 ? "" : ", ") + recs_[i]->name;
  }
  throw Error("ergon::tenant: no tenant is named '" + std::string(name) +
              "'; this runtime has: " + names + " (create one with ergon::create_tenant)");
}

std::uint64_t TenantTable::default_reductions() const noexcept {
  std::uint64_t all = 0;
  for (unsigned i = 0; i < sched_.worker_count(); ++i) all += sched_.worker(i).reductions();
  const std::uint64_t other = charged_elsewhere.load(std::memory_order_relaxed);
  return all > other ? all - other : 0;
}

std::uint64_t TenantTable::default_vtime_locked() const noexcept {
  const std::uint64_t r = default_reductions();
  const std::uint32_t w = recs_[0]->weight.load(std::memory_order_relaxed);
  return def_vbase_ + (r > def_rbase_ ? r - def_rbase_ : 0) * TenantRec::kVScale / w;
}

std::uint64_t TenantTable::vtime(const TenantRec& t) const noexcept {
  if (t.index != 0) return t.vtime.load(std::memory_order_relaxed);  // relaxed: see header
  std::lock_guard<std::mutex> g(mu_);
  return default_vtime_locked();
}

void TenantTable::lift(TenantRec& t, std::uint64_t floor) noexcept {
  const std::uint64_t lag =
      kLagSlices * sched_.options().reductions * TenantRec::kVScale / kDefaultTenantWeight;
  if (floor <= lag) return;
  const std::uint64_t least = floor - lag;
  if (t.index != 0) {
    std::uint64_t v = t.vtime.load(std::memory_order_relaxed);
    // relaxed: vtime is advisory (see header); the CAS only keeps concurrent charges.
    while (v < least && !t.vtime.compare_exchange_weak(v, least, std::memory_order_relaxed)) {
    }
    return;
  }
  std::lock_guard<std::mutex> g(mu_);
  if (default_vtime_locked() < least) {
    def_vbase_ = least;
    def_rbase_ = default_reductions();
  }
}

void TenantTable::set_weight(TenantRec& t, std::uint32_t w) {
  check_weight(t.name, w);
  std::lock_guard<std::mutex> g(mu_);
  if (t.index == 0) {  // rebase: what was spent so far keeps the old weight's price
    def_vbase_ = default_vtime_locked();
    def_rbase_ = default_reductions();
  }
  t.weight.store(w, std::memory_order_relaxed);  // relaxed: see TenantRec::weight
}

}  // namespace ergon::detail
