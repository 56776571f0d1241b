// AsleepReporter: the hang report of a threaded run (AS1..AS3). See asleep.hpp.
#include "api/asleep.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "api/shutdown.hpp"
#include "api/system.hpp"
#include "observe/process_info.hpp"

namespace ergon::detail {
namespace {

std::string counted(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

void AsleepReporter::asleep(std::size_t) noexcept {
  std::lock_guard<std::mutex> g(mu_);
  // AS1. acquire: pairs with begin_run's exchange; the run's fields below were stored after it.
  if (!sys_.running.load(std::memory_order_acquire)) return;
  try {
    // AS2.
    std::vector<ProcessInfo> ps = processes(sys_.sched, sys_.registry);
    if (ps.empty()) return;
    for (const ProcessInfo& i : ps) {
      if (i.status != ProcessStatus::kWaiting) return;
    }
    // AS3. relaxed: statistics, and the run's baseline (System::run_*).
    const Scheduler& s = sys_.sched;
    AsleepReport r;
    r.main = Pid::from_raw(sys_.run_main.load(std::memory_order_relaxed));
    r.after = s.options().asleep_after;
    const std::uint64_t sent = s.external_sent.load(std::memory_order_relaxed);
    const std::uint64_t spawned = s.external_spawned.load(std::memory_order_relaxed);
    const std::uint64_t sent0 = sys_.run_outside_sent.load(std::memory_order_relaxed);
    const std::uint64_t spawned0 = sys_.run_outside_spawned.load(std::memory_order_relaxed);
    r.outside_sends = sent > sent0 ? sent - sent0 : 0;
    r.outside_spawns = spawned > spawned0 ? spawned - spawned0 : 0;
    for (const ProcessInfo& i : ps) r.waiting.push_back(i.pid);
    const std::string outside =
        r.outside_sends == 0 && r.outside_spawns == 0
            ? std::string(
                  "No thread outside the runtime has sent to it or spawned into it "
                  "during this run()")
            : "Threads outside the runtime have sent " +
                  counted(r.outside_sends, "message", "messages") + " to it and spawned " +
                  counted(r.outside_spawns, "process", "processes") + " into it during this run()";
    r.message = "ergon: every process of this runtime has waited for " +
                std::to_string(r.after.count()) +
                " ms or more, and nothing inside the runtime can wake one: no process can "
                "run, no timer is armed (no receive with a timeout, no sleep), no "
                "ergon::blocking call is in flight, no socket has a waiter. " +
                counted(ps.size(), "process waits", "processes wait") + ":" +
                waiting_lines(sys_, ps, r.main) + "\n" + outside +
                "; only such a thread, or a process of another Runtime, can still wake them, "
                "and the runtime cannot know whether one will. If none will, this is a "
                "deadlock and run() will not return; the runtime keeps waiting, and says this "
                "once until some process runs again. Fix: find the message each one waits for "
                "and the process that should have sent it; give a receive that may wait for "
                "ever a timeout (ergon::receive_for, ergon::after); run with "
                "ERGON_DETERMINISTIC=1, where a deadlock ends run() with ergon::Deadlock and a "
                "seed that replays it. This report: Options::asleep_after (ERGON_ASLEEP_AFTER; "
                "0 turns it off), Options::on_asleep.";
    if (s.options().on_asleep) {
      s.options().on_asleep(r);
    } else {
      const std::string line = r.message + "\n";
      std::fwrite(line.data(), 1, line.size(), stderr);
    }
  } catch (...) {  // no memory for the report, or on_asleep threw: the runtime goes on
  }
}

}  // namespace ergon::detail
