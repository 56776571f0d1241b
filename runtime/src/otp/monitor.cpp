// Monitors: monitor, demonitor and the Downs a process sends as it ends. See monitor.hpp
// for the rules and process.hpp (Process::monitors, Process::held) for who guards what.
//
// Design
// ------
// A monitor of W (the watcher) on T (the target) is two entries: {ref, W} in T.monitors, which
// T's end turns into Downs, and {ref, T, name} in W.held, which lets W's end take the monitor
// off T (Erlang removes a dead watcher's monitors from their targets too; without it a
// long-lived server monitored by every short-lived client of a request/reply call keeps one
// entry per client that ever called it). Each list is guarded by its own record's sig_lock;
// two are held at once only through lock_two (address order, process.hpp).
//
// The held entry is the monitor's token: whoever takes it out of W.held, under W's lock,
// decides the monitor's fate, so exactly one of these happens:
//   M1 monitor(): W locks W and T (lock_two). If T is alive and not ending (alive_locked), it
//      adds both entries; otherwise W sends itself Down{noproc} and nothing is kept.
//   MD1 demonitor(): W locks W and T (lock_two), takes its held entry out, and T's entry too
//       while T's generation matches (T may have taken its list already, see ME1): no Down.
//   ME1 T ends (send_downs): under T's lock it sets `exiting` and takes its monitors, links and
//       held lists. No monitor() can add to T after this.
//   ME2 for each entry T holds as a watcher, T locks its target and, while the target's
//       generation matches, removes {ref, T} from the target's monitors. This comes before any
//       Down or exit signal of T, so a process told of T's end also knows T's monitors are off
//       their targets.
//   ME3 exit signals to T's links (link.cpp).
//   ME4 for each {ref, W} in T's monitors, T locks W and, while W's generation matches and W
//       still holds the entry, takes it out and counts one more Down in flight to W
//       (W.downs_in_flight); unlocked, it sends the Down (with the entry's name), then counts
//       it landed. An entry W no longer holds was demonitored (MD1) or W is ending (ME1 of W):
//       no Down.
// The race between M1 and the end of T is settled under T's lock: either M1 ran first and the
// entry is in the list ME1 takes, or M1 sees `exiting` (or a new generation) and sends noproc.
// The race between W's end and T's end needs no order: W's ME1 takes W.held, so T's ME4 finds
// nothing to claim; W's ME2 finds nothing in a T.monitors that T's ME1 took. After both, no entry
// of the monitor is left anywhere, and W's list never holds the entry of a Down it was sent.
//
// demonitor(ref, flush) that finds no entry must still catch a Down that ME4 took out but has
// not pushed yet. Under W's lock, "no entry" implies "ME4's count is visible", so it yields
// until W.downs_in_flight is 0 (every claimed Down, its own among them, is in the mailbox),
// then removes the Down if it is there. The wait covers other monitors' Downs too, each one
// a send already under way, so it is short.
//
// Costs: a monitor is two vector entries and M1/MD1 take two spin locks. Removing an entry
// searches the target's list from the back (a request/reply monitor is usually the newest);
// a server with N monitors pays O(N) per removal. Rejected: a hash map per record (a record
// with no monitors would pay for it, and Downs must go out in the order monitors were made);
// sending the Down under W's lock (send may yield the process); marking the held entry
// "firing" and removing it after the send (a watcher could see its Down before its entry
// went, and each Down cost a second lock).
#include "ergon/monitor.hpp"

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "core/process.hpp"
#include "core/process_table.hpp"
#include "core/scheduler.hpp"
#include "core/send.hpp"
#include "ergon/ergon.hpp"
#include "otp/link.hpp"
#include "otp/monitor.hpp"

namespace ergon {

std::string ExitReason::to_string() const {
  switch (kind) {
    case Kind::kNormal:
      return "normal";
    case Kind::kException:
      return "exception: " + what;
    case Kind::kShutdown:  // with a detail, Erlang's {shutdown, Detail}
      return what.empty() ? "shutdown" : "shutdown: " + what;
    case Kind::kNoProc:
      return "noproc";
    case Kind::kKill:
      return "kill";
    case Kind::kKilled:
      return "killed";
    case Kind::kUser:
      return what;
  }
  return "?";
}

const char* to_string(ExitReason::Kind k) noexcept {
  switch (k) {
    case ExitReason::Kind::kNormal:
      return "normal";
    case ExitReason::Kind::kException:
      return "exception";
    case ExitReason::Kind::kShutdown:
      return "shutdown";
    case ExitReason::Kind::kNoProc:
      return "noproc";
    case ExitReason::Kind::kKill:
      return "kill";
    case ExitReason::Kind::kKilled:
      return "killed";
    case ExitReason::Kind::kUser:
      return "user";
  }
  return "?";
}

std::string Ref::to_string() const { return "#Ref<" + std::to_string(id_) + ">"; }

namespace {
// relaxed: only uniqueness matters.
std::atomic<std::uint64_t> g_next_ref{1};
}  // namespace

namespace detail {
namespace {

// Removes the monitor `ref` of `watcher` from `t`'s list. Requires t->sig_lock.
bool erase_monitor(Process* t, std::uint64_t ref, Pid watcher) noexcept {
  auto& v = t->monitors;
  for (std::size_t i = v.size(); i-- > 0;) {  // from the back: see "Costs" above
    if (v[i].ref == ref && v[i].watcher == watcher) {
      if (i + 1 == v.size()) {
        v.pop_back();  // the usual case, and no move loop (or zero-length memmove) for it
      } else {
        v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
      }
      return true;
    }
  }
  return false;
}

// The held entry `ref` of `w`, or nullptr. Requires w->sig_lock.
Process::HeldMonitor* find_held(Process* w, std::uint64_t ref) noexcept {
  for (std::size_t i = w->held.size(); i-- > 0;) {
    if (w->held[i].ref == ref) return &w->held[i];
  }
  return nullptr;
}

inline void erase_held(Process* w, const Process::HeldMonitor* h) noexcept {
  if (h + 1 == w->held.data() + w->held.size()) {
    w->held.pop_back();  // the usual case: see erase_monitor
  } else {
    w->held.erase(w->held.begin() + (h - w->held.data()));
  }
}

// Whether `pid` is still the process of record `p` (alive or ending). Requires p->sig_lock.
bool same_process(const Process* p, Pid pid) noexcept {
  // acquire: pairs with the release store of the generation in Worker::finish.
  return p->generation.load(std::memory_order_acquire) == pid.generation();
}

Process* record_of(Pid pid) noexcept {
  return pid ? ProcessTable::instance().lookup(pid.index()) : nullptr;
}

}  // namespace

// M1, for a pid or for the pid a name resolved to (Pid{} when nobody held it). `name` is moved into
// the held entry only when the monitor is made (a call's monitor has none: its entry is built in
// place, with no string moved).
Ref monitor_as(Process* self, Pid pid, std::string&& name) {
  const Ref ref = Ref::make(g_next_ref.fetch_add(1, std::memory_order_relaxed), pid);
  const Pid me = self->pid();
  Process* t = record_of(pid);
  bool added = false;
  if (t != nullptr) {
    lock_two(self, t);
    if (alive_locked(t, pid)) {
      try {
        t->monitors.push_back({ref.id(), me});
        try {
          Process::HeldMonitor& h = self->held.emplace_back(ref.id(), pid);
          if (!name.empty()) h.name = std::move(name);  // SSO or a moved buffer: cannot throw
        } catch (...) {
          t->monitors.pop_back();
          throw;
        }
      } catch (...) {
        unlock_two(self, t);
        throw;
      }
      added = true;
    }
    unlock_two(self, t);
  }
  if (!added) {
    post(me, Down{ref, pid, ExitReason{ExitReason::Kind::kNoProc, ""}, std::move(name)});
  }
  return ref;
}

}  // namespace detail

Ref monitor(Pid pid) {
  detail::Process* self = detail::current_process_or_throw("ergon::monitor");
  return detail::monitor_as(self, pid, std::string());
}

bool demonitor(const Ref& ref, bool flush) {
  return detail::demonitor_as(detail::current_process_or_throw("ergon::demonitor"), ref, flush);
}

namespace {
// demonitor's flush when MD1 found no entry: the Down was sent, or is being sent. Out of line
// (it holds a receive), so that MD1's fast path, a call's every end, stays small.
[[gnu::noinline]] void flush_down(detail::Process* self, const Ref& ref) {
  // acquire: pairs with the release decrement in send_downs (ME4): a Down counted landed
  // is in our mailbox. A Down ME4 took from us before our lock above was counted under it.
  while (self->downs_in_flight.load(std::memory_order_acquire) != 0) yield();
  // A Down that fault injection's delay line holds is on its way too: take it out there
  // first. The line pushes under its lock, so a Down that left it before is in the mailbox.
  if (detail::Injector* inj =
          self->sched.load(std::memory_order_relaxed)->injector()) {  // relaxed: our own
    (void)inj->discard_held(
        detail::pid_of(self),
        [](const mailbox::Envelope* e, const void* r) {
          return e->holds<Down>() && static_cast<const mailbox::Message<Down>*>(e)->value.ref ==
                                         *static_cast<const Ref*>(r);
        },
        &ref);
  }
  (void)receive(on<Down>([&ref](const Down& d) { return d.ref == ref; }, [](const Down&) {}),
                after(std::chrono::milliseconds(0), [] {}));
}
}  // namespace

bool detail::demonitor_as(detail::Process* self, const Ref& ref, bool flush) {
  const Pid pid = ref.target();
  detail::Process* t = detail::record_of(pid);
  bool removed = false;
  detail::lock_two(self, t != nullptr ? t : self);  // MD1
  if (const detail::Process::HeldMonitor* h = detail::find_held(self, ref.id())) {
    detail::erase_held(self, h);
    // T may have taken its list already (ME1, before its ME4 reached us): nothing to remove.
    if (t != nullptr && detail::same_process(t, pid)) {
      (void)detail::erase_monitor(t, ref.id(), self->pid());
    }
    removed = true;
  }
  detail::unlock_two(self, t != nullptr ? t : self);
  if (flush && !removed) [[unlikely]]
    flush_down(self, ref);
  return removed;
}

namespace detail {

MonitorCounts monitor_counts(Pid pid) noexcept {
  MonitorCounts c;
  Process* p = record_of(pid);
  if (p == nullptr) return c;
  p->sig_lock.lock();
  if (same_process(p, pid)) {
    c.on = p->monitors.size();
    c.held = p->held.size();
  }
  p->sig_lock.unlock();
  return c;
}

void reset_monitors(Process* p) noexcept {
  p->sig_lock.lock();
  p->exiting = false;
  p->monitors.clear();
  p->held.clear();
  p->links.clear();
  p->trap_exit = false;
  p->has_kill_reason = false;
  p->kill_reason = ExitReason{};
  p->kill_sender = Pid{};
  p->sig_lock.unlock();
}

void send_downs(Process* p, const ExitReason& reason) noexcept {
  std::vector<Process::MonitorEntry> list;
  std::vector<Process::HeldMonitor> held;
  std::vector<Pid> links;
  p->sig_lock.lock();  // ME1
  p->exiting = true;
  list.swap(p->monitors);
  held.swap(p->held);
  links.swap(p->links);
  p->sig_lock.unlock();
  const Pid self = pid_of(p);
  for (const Process::HeldMonitor& h : held) {  // ME2
    Process* t = record_of(h.target);
    if (t == nullptr) continue;
    t->sig_lock.lock();
    if (same_process(t, h.target)) (void)erase_monitor(t, h.ref, self);
    t->sig_lock.unlock();
  }
  // ME3. Links first, then monitors: a supervisor that traps exits and monitors sees Exit first.
  for (const Pid& partner : links) signal_exit(partner, self, reason, true);
  for (const Process::MonitorEntry& m : list) {  // ME4
    Process* w = record_of(m.watcher);
    if (w == nullptr) continue;
    bool claimed = false;
    std::string name;
    w->sig_lock.lock();
    if (same_process(w, m.watcher)) {
      if (Process::HeldMonitor* h = find_held(w, m.ref)) {
        name = std::move(h->name);
        erase_held(w, h);
        // relaxed: a MD1 that finds no entry took this lock after us, which orders the two.
        w->downs_in_flight.fetch_add(1, std::memory_order_relaxed);
        claimed = true;
      }
    }
    w->sig_lock.unlock();
    if (!claimed) continue;  // demonitored, or the watcher is ending
    try {
      post(m.watcher, Down{Ref::make(m.ref, self), self, reason, std::move(name)});
    } catch (...) {
      // out of memory for the envelope: the watcher misses this Down; nothing else to do
    }
    // release: pairs with the acquire load in demonitor (flush): the Down is in the mailbox.
    // The record may hold another process by now; the count is the record's, and balances.
    w->downs_in_flight.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace detail
}  // namespace ergon
