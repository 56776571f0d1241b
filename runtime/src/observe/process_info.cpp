// process_info and processes(): reading another process's record safely. See
// ergon/process_info.hpp for the API and what each field costs.
//
// Design
// ------
// A record may be reused by a later process at any moment (process.hpp, "type-stable"), so a
// reader must never mix two occupants. Every field read here is either guarded by sig_lock
// (links, monitors, trap_exit, exiting, parent) or an atomic whose reset at spawn happens
// under sig_lock (Process::reset_observed). So:
//   PI1 lock the record's sig_lock;
//   PI2 check that the generation is the pid's and the state kAlive (acquire loads, pairing
//       with the release stores of Worker::finish and spawn_commit): otherwise the pid is
//       dead or stale, and the answer is nullopt;
//   PI3 copy the fields. A spawn into this record cannot reset them before PI4 (it needs the
//       lock); the process itself may end meanwhile, and then the snapshot shows its last
//       moments, which is still one process;
//   PI4 unlock. The registered name is looked up afterwards by the full pid (index and
//       generation), so it cannot be another occupant's either.
// The status is derived, not stored: kExiting from `exiting`; kRunning when a carrier of the
// runtime runs the record (CarrierPool::running_processes); kWaiting when its inbox is
// blocked (MpscInbox C2); kRunnable otherwise. Each source is a snapshot, so a process that
// changes state during the call may be reported in either state.
//
// Rejected: a status word in the record that every switch updates (a store per switch on the
// hot path, to answer a rare question); stopping the world (every worker would pay for one
// inspection).
#include "observe/process_info.hpp"

#include <algorithm>
#include <unordered_map>

#include "core/process.hpp"
#include "core/process_table.hpp"
#include "core/scheduler.hpp"
#include "ergon/errors.hpp"
#include "otp/registry.hpp"

namespace ergon {

const char* to_string(ProcessStatus s) noexcept {
  switch (s) {
    case ProcessStatus::kRunning:
      return "running";
    case ProcessStatus::kRunnable:
      return "runnable";
    case ProcessStatus::kWaiting:
      return "waiting";
    case ProcessStatus::kExiting:
      return "exiting";
  }
  return "?";
}

namespace detail {
namespace {

// PI1..PI4 for record `p` and `pid`; `running`: CarrierPool::running_processes(). Any thread.
std::optional<ProcessInfo> read_record(Scheduler& s, Registry& names, Process* p, Pid pid,
                                       const std::vector<const Process*>& running) {
  ProcessInfo info;
  info.pid = pid;
  bool named = false;
  p->sig_lock.lock();  // PI1
  // PI2. acquire: pairs with the release stores of Worker::finish and spawn_commit.
  if (p->generation.load(std::memory_order_acquire) != pid.generation() ||
      p->state.load(std::memory_order_acquire) != ProcessState::kAlive ||
      p->sched.load(std::memory_order_relaxed) != &s) {
    p->sig_lock.unlock();
    return std::nullopt;
  }
  // PI3. relaxed loads: see Process, "Observed".
  if (p->exiting) {
    info.status = ProcessStatus::kExiting;
  } else if (std::find(running.begin(), running.end(), p) != running.end()) {
    info.status = ProcessStatus::kRunning;
  } else if (p->mailbox.blocked()) {
    info.status = ProcessStatus::kWaiting;
    info.waiting_in = p->waiting_label();
  } else {
    info.status = ProcessStatus::kRunnable;
  }
  info.reductions = p->reductions.load(std::memory_order_relaxed);
  info.message_queue_len = p->mailbox.length();
  info.stack_size = p->stack_bytes.load(std::memory_order_relaxed);
  info.stack_used = p->stack_in_use();
  info.worker = p->on_worker.load(std::memory_order_relaxed);
  info.links = p->links;
  info.monitors.reserve(p->held.size());
  for (const auto& h : p->held) info.monitors.push_back(h.target);
  info.monitored_by.reserve(p->monitors.size());
  for (const auto& m : p->monitors) info.monitored_by.push_back(m.watcher);
  info.trap_exit = p->trap_exit;
  info.parent = p->parent;
  // The process writes these (set_priority, move_to) without sig_lock: advisory, like the
  // observed fields. A tenant record lives as long as the scheduler.
  info.priority = p->priority;
  const TenantRec* t = p->tenant_rec();
  info.tenant = t != nullptr ? t->name : s.tenants().default_tenant().name;
  // relaxed: statistics (bounded.hpp); all 0 for an unbounded mailbox.
  info.mailbox_capacity = p->mailbox.capacity();
  if (info.mailbox_capacity != 0) {
    info.mailbox_high_water = p->mailbox.high_water();
    info.mailbox_dropped = p->mailbox_dropped.load(std::memory_order_relaxed);
    info.blocked_senders = p->mailbox.waiting_senders();
  }
  named = p->registered.load(std::memory_order_relaxed);  // relaxed: a hint (registry.hpp)
  p->sig_lock.unlock();                                   // PI4
  if (info.worker < s.worker_count()) info.pool = s.worker(info.worker).pool().name;
  if (named) info.registered_name = names.name_of(pid);
  return info;
}

// The calling process reads its own stack depth now rather than at its last switch.
void own_depth(ProcessInfo& info) {
  Process* self = current_process();
  if (self == nullptr || self->pid() != info.pid) return;
  const auto top = reinterpret_cast<std::uintptr_t>(self->stack.lo) + self->stack.size;
  const auto here = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  if (here < top) info.stack_used = top - here;
}

}  // namespace

std::optional<ProcessInfo> process_info(Scheduler& s, Registry& names, Pid pid) {
  Process* p = pid ? ProcessTable::instance().lookup(pid.index()) : nullptr;
  if (p == nullptr) return std::nullopt;
  auto info = read_record(s, names, p, pid, s.running_processes());
  if (info) own_depth(*info);
  return info;
}

std::vector<ProcessInfo> processes(Scheduler& s, Registry& names) {
  const std::vector<const Process*> running = s.running_processes();
  std::vector<ProcessInfo> all;
  ProcessTable::instance().for_each([&](Process* p) {
    // A cheap look first (acquire: pairs with spawn_commit's release store); read_record
    // checks again under the lock.
    if (p->state.load(std::memory_order_acquire) != ProcessState::kAlive) return;
    if (p->sched.load(std::memory_order_relaxed) != &s) return;
    const Pid pid(p->index, p->generation.load(std::memory_order_acquire));
    if (auto info = read_record(s, names, p, pid, running)) all.push_back(std::move(*info));
  });
  for (ProcessInfo& info : all) own_depth(info);
  return all;
}

}  // namespace detail
}  // namespace ergon
