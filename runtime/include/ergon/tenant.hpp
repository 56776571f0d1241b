// Priorities and tenants: who runs first, and how the CPU divides among groups of processes.
//
//   ergon::Tenant web = ergon::create_tenant("web", 300);    // three times the share of...
//   ergon::Tenant batch = ergon::create_tenant("batch", 100);  // ...this one, under contention
//   ergon::spawn(handler, {.tenant = web});
//   ergon::spawn(probe, {.priority = ergon::Priority::kHigh});
//   ergon::set_priority(ergon::Priority::kLow);               // the caller, from now on
//
// Priorities are BEAM's four levels. kMax and kHigh are strict: a runnable process of a higher
// level runs before any of a lower one (at the next pick of a worker of its pool: a running
// slice is not cut short, so the wait is at most one slice). kNormal and kLow share: a low
// process runs once for every 8 normal turns (BEAM's RESCHEDULE_LOW), so it is never starved.
// A spawned process starts at kNormal unless SpawnOptions::priority says otherwise (as
// spawn_opt does in Erlang: priority is not inherited).
//
// A tenant is a named group of processes with a weight. Every process belongs to one: its
// spawner's, unless SpawnOptions::tenant says otherwise; processes spawned from outside the
// runtime belong to the default tenant ("default", weight 100), as do processes of a runtime
// that creates none. Under contention the workers of a pool divide their time among the
// tenants with work in proportion to their weights, by the reductions each tenant's processes
// spent; a tenant with nothing to run takes nothing, and its share goes to the others at once.
// Priorities rank above tenants: kMax and kHigh processes of any tenant run first.
//
// Stats::tenants reports, per tenant, reductions, queued processes, scheduling delay
// percentiles, time throttled and messages in and out; ergon::top shows the heaviest tenants.
// docs/design.md ("Priorities and tenants") has the scheduling rule and what it costs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ergon {

enum class Priority : std::uint8_t { kMax = 0, kHigh = 1, kNormal = 2, kLow = 3 };

// "max", "high", "normal" or "low".
const char* to_string(Priority p) noexcept;

class Tenant {
 public:
  // "The spawner's tenant" (in SpawnOptions); nothing else accepts it.
  Tenant() = default;
  bool valid() const noexcept { return index_ != kInherit; }
  // Its number in its runtime: 0 is the default tenant, then in order of creation.
  unsigned index() const noexcept { return index_; }
  std::uint32_t runtime() const noexcept { return runtime_; }
  friend bool operator==(Tenant a, Tenant b) noexcept {
    return a.index_ == b.index_ && a.runtime_ == b.runtime_;
  }
  // The handle of tenant `i` of the runtime with id `runtime` (Runtime and the calls below
  // make them; its handles refuse other runtimes).
  static Tenant of_runtime(unsigned i, std::uint32_t runtime) noexcept {
    return Tenant(i, runtime);
  }

 private:
  static constexpr unsigned kInherit = UINT32_MAX;
  Tenant(unsigned i, std::uint32_t runtime) noexcept : index_(i), runtime_(runtime) {}
  unsigned index_ = kInherit;
  std::uint32_t runtime_ = 0;
};

// At most this many tenants per runtime, the default one included.
inline constexpr unsigned kMaxTenants = 64;
// Weights run from 1 to kMaxTenantWeight; the default tenant's is 100.
inline constexpr std::uint32_t kMaxTenantWeight = 10000;
inline constexpr std::uint32_t kDefaultTenantWeight = 100;

// A new tenant of the calling process's runtime. Throws Error when the name is empty or
// taken, the weight is outside 1..kMaxTenantWeight, or kMaxTenants exist; NotInProcess outside
// a process (use Runtime::create_tenant).
Tenant create_tenant(std::string_view name, std::uint32_t weight = kDefaultTenantWeight);
// The tenant named `name` of the caller's runtime. Throws Error naming the tenants there are
// when none has that name.
Tenant tenant(std::string_view name);
Tenant default_tenant();  // of the caller's runtime
Tenant current_tenant();  // the calling process's
std::string tenant_name(Tenant t);
std::uint32_t tenant_weight(Tenant t);
// Changes a tenant's weight (1..kMaxTenantWeight) from its next charge on.
void set_tenant_weight(Tenant t, std::uint32_t weight);
// Moves the calling process to tenant `t`: what it spends from now on is charged there, and
// its children are born there.
void move_to(Tenant t);

// The calling process's priority, and a change of it (returns the previous one, like
// process_flag(priority, P)). Throws NotInProcess outside a process.
Priority priority();
Priority set_priority(Priority p);

}  // namespace ergon
