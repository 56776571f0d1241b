// Monitors: monitor, demonitor and the Downs a process sends as it ends. See monitor.hpp
// for the rules and process.hpp (Process::monitors) for who guards what.
//
// The race between monitor() and the end of the target is settled under the target's
// sig_lock: the ending process sets `exiting` and takes the list under it (send_downs), and
// monitor() adds an entry only while the generation still matches and `exiting` is unset.
// Either the entry is in the list the ending process takes (one Down, with the reason), or
// monitor() sees the end and sends noproc itself: never both, never neither.
#include "ergon/monitor.hpp"

#include <atomic>
#include <chrono>
#include <utility>

#include "ergon/ergon.hpp"
#include "process.hpp"
#include "process_table.hpp"

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

std::string Ref::to_string() const { return "#Ref<" + std::to_string(id_) + ">"; }

namespace {
// relaxed: only uniqueness matters.
std::atomic<std::uint64_t> g_next_ref{1};
}  // namespace

Ref monitor(Pid pid) {
  detail::Process* self = detail::current_process_or_throw("ergon::monitor");
  const Ref ref = Ref::make(g_next_ref.fetch_add(1, std::memory_order_relaxed), pid);
  detail::Process* t = pid ? detail::ProcessTable::instance().lookup(pid.index()) : nullptr;
  bool added = false;
  if (t != nullptr) {
    t->sig_lock.lock();
    // acquire: pairs with the release stores of the generation and the state at the end and
    // the start of a process.
    if (t->generation.load(std::memory_order_acquire) == pid.generation() &&
        t->state.load(std::memory_order_acquire) == detail::ProcessState::kAlive && !t->exiting) {
      t->monitors.push_back({ref.id(), detail::pid_of(self)});
      added = true;
    }
    t->sig_lock.unlock();
  }
  if (!added) send(detail::pid_of(self), Down{ref, pid, ExitReason{ExitReason::Kind::kNoProc, ""}});
  return ref;
}

bool demonitor(const Ref& ref, bool flush) {
  (void)detail::current_process_or_throw("ergon::demonitor");
  const Pid pid = ref.target();
  detail::Process* t = pid ? detail::ProcessTable::instance().lookup(pid.index()) : nullptr;
  bool removed = false;
  if (t != nullptr) {
    t->sig_lock.lock();
    // acquire: as in monitor().
    if (t->generation.load(std::memory_order_acquire) == pid.generation()) {
      auto& v = t->monitors;
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i].ref == ref.id()) {
          v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
          removed = true;
          break;
        }
      }
    }
    t->sig_lock.unlock();
  }
  if (flush && !removed) {  // its Down was sent (or is being sent): take it out if it is here
    (void)receive(on<Down>([&ref](const Down& d) { return d.ref == ref; }, [](const Down&) {}),
                  after(std::chrono::milliseconds(0), [] {}));
  }
  return removed;
}

namespace detail {

void reset_monitors(Process* p) noexcept {
  p->sig_lock.lock();
  p->exiting = false;
  p->monitors.clear();
  p->links.clear();
  p->trap_exit = false;
  p->has_kill_reason = false;
  p->kill_reason = ExitReason{};
  p->sig_lock.unlock();
}

void send_downs(Process* p, const ExitReason& reason) noexcept {
  std::vector<Process::MonitorEntry> list;
  std::vector<Pid> links;
  p->sig_lock.lock();
  p->exiting = true;
  list.swap(p->monitors);
  links.swap(p->links);
  p->sig_lock.unlock();
  const Pid self = pid_of(p);
  // Links first, then monitors: a supervisor that traps exits and monitors sees Exit first.
  for (const Pid& partner : links) signal_exit(partner, self, reason, true);
  for (const Process::MonitorEntry& m : list) {
    try {
      send(m.watcher, Down{Ref::make(m.ref, self), self, reason});
    } catch (...) {
      // out of memory for the envelope: the watcher misses this Down; nothing else to do
    }
  }
}

}  // namespace detail
}  // namespace ergon
