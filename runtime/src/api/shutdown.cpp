// Shutdown: ending every process, naming the refusers (SD5) and abandoning a System (SD7). See
// shutdown.hpp for the design.
#include "api/shutdown.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "api/system.hpp"
#include "core/process_table.hpp"
#include "observe/process_info.hpp"

namespace ergon::detail {
namespace {

// SD5's gap between the two snapshots. Once asked to yield, a slice with reduction points
// ends within preempt_after plus a watchdog tick (0.75 ms by default), and a catch (...) loop
// that spends its budget ends one every few microseconds: 20 ms tells "reaches reduction
// points" from "reaches none" with a wide margin, and adds 20 ms to a shutdown that has
// already waited shutdown_timeout.
constexpr auto kSampleGap = std::chrono::milliseconds(20);

// What a refuser does, from its two snapshots (`before` is null when it was spawned between
// them, or in deterministic mode).
std::string what_it_does(const ProcessInfo& now, const ProcessInfo* before, bool sampled) {
  switch (now.status) {
    case ProcessStatus::kWaiting:
      return std::string("waiting in ") + (now.waiting_in != nullptr ? now.waiting_in : "receive") +
             ": it caught the kill and waits again";
    case ProcessStatus::kExiting:
      return "exiting: its function has ended and it is sending its Downs and exit signals";
    case ProcessStatus::kRunning:
    case ProcessStatus::kRunnable:
      break;
  }
  const bool moved =
      before == nullptr || before->reductions != now.reductions || before->status != now.status;
  if (sampled && now.status == ProcessStatus::kRunning && !moved) {
    return "running, and it reached no reduction point in " +
           std::to_string(std::chrono::milliseconds(kSampleGap).count()) +
           " ms: a loop without ergon::checkpoint(), or a call that blocks outside "
           "ergon::blocking";
  }
  return std::string(to_string(now.status)) +
         " and reaching reduction points: it catches the kill (a catch (...) that does not "
         "rethrow) and goes on";
}

}  // namespace

std::optional<Refusers> end_all_processes(System& sys) {
  Scheduler& s = sys.sched;
  const auto timeout = std::chrono::nanoseconds(saturating_ns(s.options().shutdown_timeout));
  if (s.kill_all_and_wait(timeout) == EndAll::kEnded) return std::nullopt;
  // SD5.
  const bool sample = sys.det == nullptr;
  std::map<Pid, ProcessInfo> before;
  if (sample) {
    for (ProcessInfo& i : processes(s, sys.registry)) before.emplace(i.pid, std::move(i));
    std::this_thread::sleep_for(kSampleGap);
  }
  Refusers r;
  for (const ProcessInfo& i : processes(s, sys.registry)) {
    r.pids.push_back(i.pid);
    if (r.pids.size() > kListed) continue;
    const auto b = before.find(i.pid);
    r.lines += "\n  " + process_label(i) + ": " +
               what_it_does(i, b != before.end() ? &b->second : nullptr, sample);
  }
  if (r.pids.size() > kListed) {
    r.lines += "\n  ... and " + std::to_string(r.pids.size() - kListed) + " more";
  }
  if (r.pids.empty()) return std::nullopt;  // the last ones ended while we looked
  return r;
}

std::string process_label(const ProcessInfo& i, Pid main) {
  std::string out = i.pid.to_string();
  if (!i.registered_name.empty()) out += " \"" + i.registered_name + "\"";
  if (main && i.pid == main) out += " (main)";
  return out + " on worker " + std::to_string(i.worker);
}

std::string waiting_lines(const System& sys, const std::vector<ProcessInfo>& ps, Pid main) {
  std::string out;
  std::size_t n = 0;
  for (const ProcessInfo& i : ps) {
    if (n++ == kListed) break;
    out += "\n  " + process_label(i, main) + ": ";
    if (i.status != ProcessStatus::kWaiting) {
      out += to_string(i.status);
      continue;
    }
    out += std::string("waiting in ") + (i.waiting_in != nullptr ? i.waiting_in : "receive");
    // A sender waiting for a slot (core/bounded.hpp) names the full mailbox. The record may
    // have been reused since the snapshot: the generation check drops a later occupant's.
    const Process* p = ProcessTable::instance().lookup(i.pid.index());
    // acquire: pairs with the release store of Worker::finish (process_info's PI2).
    if (p == nullptr || p->generation.load(std::memory_order_acquire) != i.pid.generation() ||
        p->sched.load(std::memory_order_relaxed) != &sys.sched) {
      continue;
    }
    // seq_cst: the field's protocol (Process::send_blocked_on).
    if (const Pid to = Pid::from_raw(p->send_blocked_on.load(std::memory_order_seq_cst))) {
      out += " to " + to.to_string();
    }
  }
  if (ps.size() > kListed) out += "\n  ... and " + std::to_string(ps.size() - kListed) + " more";
  return out;
}

std::string stall_report(const char* caller, const System& sys, const Refusers& r,
                         const char* consequence) {
  const auto ms = std::chrono::milliseconds(sys.sched.options().shutdown_timeout).count();
  const std::size_t n = r.pids.size();
  return std::string(caller) + ": the shutdown stalled: " + std::to_string(n) +
         (n == 1 ? " process" : " processes") +
         " of this runtime did not end, and none has ended for " + std::to_string(ms) +
         " ms (Options::shutdown_timeout, ERGON_SHUTDOWN_TIMEOUT). Each was killed and ends at "
         "its next reduction point, unless it catches the kill:" +
         r.lines + "\n" + consequence +
         " Fix: let the kill through (rethrow in catch (...), or catch only your own exception "
         "types), call ergon::checkpoint() in long loops, and wrap blocking calls in "
         "ergon::blocking(...).";
}

void abandon(std::unique_ptr<System> sys) noexcept {
  sys->sched.abandon();  // later spawns are born killed; exiting carriers detach themselves
  // Never destroyed (SD7); reachable from here, so leak checkers see no leak.
  static std::mutex mu;
  static auto* kept = new std::vector<System*>;
  std::lock_guard<std::mutex> g(mu);
  try {
    kept->push_back(sys.get());
  } catch (...) {  // no memory for the list: the System still must not be destroyed
  }
  (void)sys.release();
}

}  // namespace ergon::detail
