// The calls about priorities and tenants (ergon/tenant.hpp): creating and naming tenants,
// moving the calling process to one, and its priority. The scheduling is the core's
// (core/class_queue.hpp, core/tenant.hpp); these only check and set a process's class.
#include <string>

#include "api/system.hpp"
#include "core/in_runtime.hpp"
#include "core/scheduler.hpp"
#include "ergon/ergon.hpp"

namespace ergon {
namespace {

detail::Scheduler& sched_of(detail::Process* p) {
  return *p->sched.load(std::memory_order_relaxed);
}

Tenant handle(detail::Scheduler& s, const detail::TenantRec& t) {
  return Tenant::of_runtime(t.index, s.id());
}

// The class bits of a process with tenant `t` (nullptr: the default) and priority `prio`.
std::uint8_t class_of(const detail::TenantRec* t, Priority prio) noexcept {
  return static_cast<std::uint8_t>(
      (t != nullptr ? detail::Process::kClassTenant : 0) |
      (prio != Priority::kNormal ? detail::Process::kClassPriority : 0));
}

}  // namespace

const char* to_string(Priority p) noexcept {
  switch (p) {
    case Priority::kMax:
      return "max";
    case Priority::kHigh:
      return "high";
    case Priority::kNormal:
      return "normal";
    case Priority::kLow:
      return "low";
  }
  return "invalid";
}

Tenant create_tenant(std::string_view name, std::uint32_t weight) {
  detail::Scheduler& s = sched_of(detail::current_process_or_throw("ergon::create_tenant"));
  return handle(s, s.tenants().create(name, weight));
}

Tenant tenant(std::string_view name) {
  detail::Scheduler& s = sched_of(detail::current_process_or_throw("ergon::tenant"));
  return handle(s, s.tenants().named(name));
}

Tenant default_tenant() {
  detail::Scheduler& s = sched_of(detail::current_process_or_throw("ergon::default_tenant"));
  return handle(s, s.tenants().default_tenant());
}

Tenant current_tenant() {
  detail::Process* p = detail::current_process_or_throw("ergon::current_tenant");
  detail::Scheduler& s = sched_of(p);
  const detail::TenantRec* t = p->tenant_rec();
  return handle(s, t != nullptr ? *t : s.tenants().default_tenant());
}

std::string tenant_name(Tenant t) {
  detail::Scheduler& s = sched_of(detail::current_process_or_throw("ergon::tenant_name"));
  return s.tenant_of(t, "ergon::tenant_name").name;
}

std::uint32_t tenant_weight(Tenant t) {
  detail::Scheduler& s = sched_of(detail::current_process_or_throw("ergon::tenant_weight"));
  return s.tenant_of(t, "ergon::tenant_weight").weight.load(std::memory_order_relaxed);
}

void set_tenant_weight(Tenant t, std::uint32_t weight) {
  detail::Scheduler& s = sched_of(detail::current_process_or_throw("ergon::set_tenant_weight"));
  s.tenants().set_weight(s.tenant_of(t, "ergon::set_tenant_weight"), weight);
}

void move_to(Tenant to) {
  detail::Process* p = detail::current_process_or_throw("ergon::move_to");
  detail::Scheduler& s = sched_of(p);
  detail::TenantRec* rec = &s.tenant_of(to, "ergon::move_to");
  if (rec->index == 0) rec = nullptr;  // the default tenant is no class
  detail::TenantRec* from = p->tenant_rec();
  if (from == rec) return;
  // The part of the slice spent so far is charged when it ends, to the new tenant: at most
  // one slice's reductions go to the tenant that did not spend them.
  // relaxed: statistics (TenantRec::live).
  if (from != nullptr) from->live.fetch_sub(1, std::memory_order_relaxed);
  if (rec != nullptr) rec->live.fetch_add(1, std::memory_order_relaxed);
  p->tenant.store(rec, std::memory_order_relaxed);  // relaxed: see Process::sclass
  p->set_cls(class_of(rec, p->priority));
}

Priority priority() { return detail::current_process_or_throw("ergon::priority")->priority; }

Priority set_priority(Priority prio) {
  detail::Process* p = detail::current_process_or_throw("ergon::set_priority");
  if (static_cast<unsigned>(prio) > static_cast<unsigned>(Priority::kLow)) {
    throw Error("ergon::set_priority (process " + p->pid().to_string() +
                "): " + std::to_string(static_cast<unsigned>(prio)) +
                " is no ergon::Priority; use kMax, kHigh, kNormal or kLow");
  }
  const Priority old = p->priority;
  p->priority = prio;
  p->set_cls(class_of(p->tenant_rec(), prio));
  return old;
}

Tenant Runtime::create_tenant(std::string_view name, std::uint32_t weight) {
  return handle(sys_->sched, sys_->sched.tenants().create(name, weight));
}

Tenant Runtime::tenant(std::string_view name) const {
  return handle(sys_->sched, sys_->sched.tenants().named(name));
}

}  // namespace ergon
