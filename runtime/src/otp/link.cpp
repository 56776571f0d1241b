// Links and exit signals: see link.hpp for the rules and process.hpp for what sig_lock
// guards.
//
// An exit signal to process T (signal_exit) is decided under T's sig_lock, against T's
// generation and `exiting` flag, like a monitor: a signal to a process that has ended or is
// ending does nothing. A link signal first removes the link from T's list; if it is not there
// (unlinked meanwhile), the signal is dropped, so nothing comes through a link after unlink.
// Ending T means: under the lock, record the reason and set `killed` (release); then notify
// T's mailbox (MpscInbox U2), waking T if it waits. T throws at its next blocking call, yield
// or slice end, and process_entry ends it with the recorded reason.
//
// Why notify, not the shutdown sweep's try_unblock: T may be between its `killed` check in
// wait() and its block (try_block, after the switch). try_unblock finds nothing to unblock
// there, and T then blocks with `killed` set and sleeps until its next message; the sweep
// gets away with it by sweeping again, a signal is sent once. notify leaves a pending wake-up
// (kNotified) that makes T's try_block fail, so T runs and sees `killed`; no envelope is
// allocated. Setting `killed` under the lock matters too: after the unlock T may end on its
// own and its record be reused, and a late store would end the new process. A late notify
// only wakes the new process spuriously, which every wait allows.
#include "ergon/link.hpp"

#include <algorithm>
#include <utility>

#include "core/process.hpp"
#include "core/process_table.hpp"
#include "core/scheduler.hpp"
#include "core/send.hpp"
#include "ergon/ergon.hpp"
#include "otp/link.hpp"

namespace ergon {
namespace detail {
namespace {

bool erase_pid(std::vector<Pid>& v, Pid pid) noexcept {
  auto it = std::find(v.begin(), v.end(), pid);
  if (it == v.end()) return false;
  v.erase(it);
  return true;
}

}  // namespace

void signal_exit(Pid to, Pid from, const ExitReason& reason, bool through_link) noexcept {
  Process* t = to ? ProcessTable::instance().lookup(to.index()) : nullptr;
  if (t == nullptr) return;
  t->sig_lock.lock();
  if (!alive_locked(t, to) || (through_link && !erase_pid(t->links, from))) {
    t->sig_lock.unlock();
    return;
  }
  const bool kill = reason.kind == ExitReason::Kind::kKill;
  if (!kill && t->trap_exit) {
    t->sig_lock.unlock();
    try {
      post(to, Exit{from, reason});  // not a crash point: this function must not throw
    } catch (...) {  // no memory for the envelope: the signal is lost, as a message would be
    }
    return;
  }
  if (!kill && reason.normal()) {  // a normal exit does not end a process that does not trap
    t->sig_lock.unlock();
    return;
  }
  if (!t->has_kill_reason) {  // the first signal that ends a process names its reason
    t->kill_reason = kill ? ExitReason{ExitReason::Kind::kKilled, ""} : reason;
    t->kill_sender = from;
    t->has_kill_reason = true;
  }
  // release: pairs with the acquire loads at every wait (the process then throws).
  t->set_killed();
  t->sig_lock.unlock();
  Scheduler* s = t->sched.load(std::memory_order_acquire);  // acquire: a published record
  // U2 (mpsc_inbox.hpp): the wake-up is not lost if t is about to block.
  if (s != nullptr && t->mailbox.notify()) wake_unblocked(s, t);
}

void link_at_spawn(Process* parent, Process* child) noexcept {
  const Pid cp = child->pid(), pp = pid_of(parent);
  lock_two(parent, child);
  parent->links.push_back(cp);
  child->links.push_back(pp);
  unlock_two(parent, child);
}

}  // namespace detail

void link(Pid pid) {
  detail::Process* self = detail::current_process_or_throw("ergon::link");
  const Pid me = detail::pid_of(self);
  if (pid == me) return;
  detail::Process* t = pid ? detail::ProcessTable::instance().lookup(pid.index()) : nullptr;
  bool linked = false, trapping = false;
  if (t != nullptr) {
    detail::lock_two(self, t);
    if (detail::alive_locked(t, pid)) {
      if (std::find(self->links.begin(), self->links.end(), pid) == self->links.end()) {
        self->links.push_back(pid);
        t->links.push_back(me);
      }
      linked = true;
    }
    trapping = self->trap_exit;
    detail::unlock_two(self, t);
  } else {
    self->sig_lock.lock();
    trapping = self->trap_exit;
    self->sig_lock.unlock();
  }
  if (linked) return;
  if (trapping) {
    detail::post(me, Exit{pid, ExitReason{ExitReason::Kind::kNoProc, ""}});
    return;
  }
  throw Error("ergon::link(" + pid.to_string() +
              "): no such live process (noproc); trap exits to get an Exit message instead, or "
              "use spawn_link so the child cannot end before the link");
}

void unlink(Pid pid) {
  detail::Process* self = detail::current_process_or_throw("ergon::unlink");
  const Pid me = detail::pid_of(self);
  detail::Process* t = pid ? detail::ProcessTable::instance().lookup(pid.index()) : nullptr;
  if (t == nullptr || pid == me) return;
  detail::lock_two(self, t);
  detail::erase_pid(self->links, pid);
  // acquire: pairs with the release store of the generation (a stale pid: leave the record).
  if (t->generation.load(std::memory_order_acquire) == pid.generation()) {
    detail::erase_pid(t->links, me);
  }
  detail::unlock_two(self, t);
}

bool trap_exits(bool on) {
  detail::Process* self = detail::current_process_or_throw("ergon::trap_exits");
  self->sig_lock.lock();
  const bool old = self->trap_exit;
  self->trap_exit = on;
  self->sig_lock.unlock();
  return old;
}

void exit(Pid pid, const ExitReason& reason) {
  detail::Process* self = detail::current_process_or_throw("ergon::exit");
  detail::signal_exit(pid, detail::pid_of(self), reason, false);
  // Killing oneself takes effect at once, as in Erlang.
  // acquire: pairs with the release store in signal_exit.
  if (pid == detail::pid_of(self) && self->is_killed() && self->shield == 0) {
    throw detail::Shutdown{};
  }
}

void exit(ExitReason reason) {
  (void)detail::current_process_or_throw("ergon::exit");
  throw detail::ExitSignal{static_cast<int>(reason.kind), std::move(reason.what)};
}

}  // namespace ergon
