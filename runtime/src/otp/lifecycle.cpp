// OtpLifecycle: a process's birth and end in Erlang's terms. See lifecycle.hpp.
#include "otp/lifecycle.hpp"

#include <utility>

#include "core/process.hpp"
#include "otp/link.hpp"
#include "otp/monitor.hpp"
#include "otp/registry.hpp"

namespace ergon::detail {

void OtpLifecycle::born(Process* child, Process* link_to) noexcept {
  reset_monitors(child);
  child->nursery = nullptr;
  child->at_end = nullptr;
  // relaxed: the record is not published yet; spawn_commit's release publishes it.
  child->alias.store(0, std::memory_order_relaxed);
  if (link_to != nullptr) link_at_spawn(link_to, child);
}

void OtpLifecycle::ending(Process* p, ExitReason& reason) noexcept {
  // LC0: the name goes first, as in BEAM: whoever learns of the end (a Down, an exit signal, a
  // supervisor about to restart the process) finds the name free, and a restarted child can
  // take it at once. relaxed: see Process::registered.
  if (p->registered.exchange(false, std::memory_order_relaxed)) names_.release(p->pid());
  p->sig_lock.lock();  // LC1
  if (p->has_kill_reason && reason.kind == ExitReason::Kind::kShutdown) {
    reason = std::move(p->kill_reason);
  }
  // The record outlives the process: a reason's heap text would stay until the record is
  // reused (and LSan reports it). has_kill_reason stays set, so a late signal adds none.
  p->kill_reason = ExitReason{};
  p->sig_lock.unlock();
  send_downs(p, reason);                               // LC2
  if (p->at_end != nullptr) p->at_end(p->at_end_arg);  // LC3; noexcept by contract
}

void OtpLifecycle::unregister(Pid pid) noexcept { names_.release(pid); }

}  // namespace ergon::detail
