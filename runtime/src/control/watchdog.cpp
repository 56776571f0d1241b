// Watchdog: sampling, the WD0..WD2 states, the idle sleep (D1, D2) and stall reports. See
// watchdog.hpp for the design.
#include "control/watchdog.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "core/carrier.hpp"
#include "core/scheduler.hpp"

namespace ergon::detail {

// At most one stall report per process per interval. A second: a person reads these lines, and
// a process that stalls again within a second adds nothing but the count, which the next
// report carries. Not an option: on_stall receives every report that is made, and a program
// that wants another policy counts Stats::stalls (every stall, reported or not).
constexpr std::int64_t kReportIntervalNs = 1'000'000'000;

Watchdog::Watchdog(Scheduler& sched)
    : sched_(sched),
      tick_ns_(std::chrono::nanoseconds(sched.options().watchdog_tick).count()),
      preempt_ns_(std::chrono::nanoseconds(sched.options().preempt_after).count()),
      handoff_ns_(std::chrono::nanoseconds(sched.options().handoff_after).count()),
      cpu_needed_ns_(std::max<std::int64_t>(handoff_ns_ - preempt_ns_, 1)),
      seen_(sched.worker_count()) {}

Watchdog::~Watchdog() { stop(); }  // before the members the thread reads go

void Watchdog::start() {
  if (tick_ns_ <= 0) return;  // turned off
  start_thread(sched_, tick_ns_);
}

void Watchdog::add_stats(Stats& s) const {
  s.yield_requests += yield_requests();
  s.stalls = stalls();
}

void Watchdog::tick(std::int64_t now) {
  sched_.reactor().poll_if_stale(now);  // R3 (core/reactor.hpp): one relaxed load without sockets
  CarrierPool& pool = sched_.carriers();
  for (unsigned i = 0; i < sched_.worker_count(); ++i) {
    Worker& w = sched_.worker(i);
    Seen& s = seen_[i];
    Carrier* o = w.owner();
    if (o == Carrier::kDeciding) continue;
    if (o == Carrier::kReleased) {
      if (s.released_since == 0) {
        s.released_since = now;
      } else if (now - s.released_since >= tick_ns_) {
        if (pool.take_released(&w)) {
          s.released_since = 0;
          // The process inside ergon::blocking is not named: its carrier is not ours to read.
          if (Observer& obs = sched_.observer(); obs.on()) [[unlikely]]
            obs.handoff(i, Pid{}, sched_.now());
        }
      }
      continue;
    }
    s.released_since = 0;
    const std::uint64_t runs = w.processes_run();
    if (runs != s.runs || o != s.owner) {  // WD0: a new slice
      s = Seen{};
      s.runs = runs;
      s.owner = o;
      s.since = now;
      continue;
    }
    const std::int64_t age = now - s.since;
    if (age < preempt_ns_) continue;
    pool.request_yield(&w, o);  // WD1, again on every tick: the budget store may race
    yield_requests_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    // The CPU time the slice computed since the first request (C0), or -1: unknown.
    std::int64_t computed = -1;
    if (!s.asked) {
      s.asked = true;
      s.cpu_at_ask = o->cpu_ns();  // C0
      if (s.cpu_at_ask >= 0) computed = 0;
    }
    if (!o->in_user()) continue;  // in runtime code: it is about to switch
    if (s.cpu_at_ask >= 0 && computed < 0) {
      const std::int64_t c = o->cpu_ns();
      if (c >= 0) computed = c - s.cpu_at_ask;
    }
    // WD2? Computing (by CPU time; by wall-clock age only when the clock cannot be read), or
    // blocked in the kernel; otherwise descheduled, which is not the process's doing.
    const bool computing = computed >= 0 ? computed >= cpu_needed_ns_ : age >= handoff_ns_;
    if (!computing && age < handoff_ns_) continue;
    const int tid = o->tid();
    ThreadPlace place;
    if (!computing) {
      place = where_is(tid);
      if (!place.blocked) continue;  // runnable, waiting for a CPU: descheduled
    }
    // Name the process before the hand-off (its carrier forgets nothing, but reading it
    // first keeps the report about the slice we measured).
    Process* p = o->running();
    const Pid pid = p != nullptr ? pid_of(p) : Pid{};
    const std::uint64_t cap_hits = pool.cap_hits();
    const bool moved = pool.retake(&w, o, runs);
    if (Observer& obs = sched_.observer(); moved && obs.on()) [[unlikely]]
      obs.handoff(w.id(), pid, sched_.now());
    if (!moved && pool.cap_hits() == cap_hits) continue;  // it moved on by itself
    if (computing) place = where_is(tid);                 // for the report and the demotion
    // A carrier left computing (not waiting in a system call) competes with the workers for
    // the cores: lower its priority.
    if (moved && !place.blocked && sched_.options().stall_nice > 0) {
      pool.demote(o, sched_.options().stall_nice);
    }
    if (!s.reported) {
      stalls_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      s.reported = true;
      StallReport r;
      r.pid = pid;
      r.worker = w.id();
      r.running_for = std::chrono::nanoseconds(age);
      r.cpu_after_yield_request = std::chrono::nanoseconds(computed);
      r.blocked = !computing;
      r.where = std::move(place.text);
      r.handed_off = moved;
      r.at_cap = !moved;
      report(r);
    }
    if (moved) s = Seen{};  // the worker has a new carrier; start afresh
  }
}

namespace {

std::string ms(std::chrono::nanoseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(d.count()) / 1e6);
  return buf;
}

}  // namespace

void Watchdog::report(const StallReport& r0) {
  const std::int64_t now = monotonic_ns();
  const auto [it, first] = limits_.try_emplace(r0.pid.raw());
  Limit& limit = it->second;
  if (!first && now - limit.last_ns < kReportIntervalNs) {
    ++limit.suppressed;
    return;
  }
  StallReport r = r0;
  r.suppressed = limit.suppressed;
  limit = Limit{now, 0};
  if (limits_.size() >= prune_at_) {
    // Entries a whole interval old: their process has not stalled since (a count left out then
    // is lost with it).
    std::erase_if(limits_,
                  [now](const auto& e) { return now - e.second.last_ns >= kReportIntervalNs; });
    prune_at_ = std::max<std::size_t>(64, 2 * limits_.size());
  }
  const Options& o = sched_.options();
  if (o.on_stall) {
    try {
      o.on_stall(r);
    } catch (...) {
    }
    return;
  }
  // Only what was measured: CPU time as computing, a named system call as blocking, and
  // wall-clock age as the slice's age, never as running (the kernel may not have run it).
  const std::string who = "ergon: process " + r.pid.to_string();
  const std::string worker = " on worker " + std::to_string(r.worker);
  std::string out;
  const char* fix;
  if (r.blocked) {
    out = who + " is blocked " + r.where + worker + ", outside ergon::blocking (its slice began " +
          ms(r.running_for) + " ago)";
    fix = " Wrap blocking calls in ergon::blocking(...).";
  } else if (r.cpu_after_yield_request.count() >= 0) {
    out = who + " computed for " + ms(r.cpu_after_yield_request) + " of CPU time" + worker +
          " without reaching a reduction point after it was asked to yield (its slice began " +
          ms(r.running_for) + " ago" + (r.where != "running" ? "; now " + r.where : "") + ")";
    fix = " Call ergon::checkpoint() in long loops.";
  } else {
    out = who + " has not reached a reduction point for " + ms(r.running_for) +
          " of wall-clock time" + worker + " (" + r.where +
          "; its thread's CPU time could not be read, so this may include time the kernel did "
          "not run it)";
    fix =
        " Call ergon::checkpoint() in long loops and wrap blocking calls in ergon::blocking(...).";
  }
  if (r.handed_off) {
    out += "; the worker's other processes moved to another thread.";
    out += fix;
  } else {
    out += ", and no spare thread may be started (Options::max_spare_carriers = " +
           std::to_string(o.max_spare_carriers) +
           ", ERGON_MAX_SPARE_CARRIERS): the worker's other processes wait.";
    out += fix;
  }
  if (r.suppressed != 0) {
    out += " (" + std::to_string(r.suppressed) +
           " more reports about this process left out in the last second)";
  }
  out += "\n";
  std::fwrite(out.data(), 1, out.size(), stderr);
}

namespace {

const char* syscall_name(long nr) {
  switch (nr) {
    case 0:
      return "read";
    case 1:
      return "write";
    case 7:
      return "poll";
    case 17:
      return "pread64";
    case 18:
      return "pwrite64";
    case 23:
      return "select";
    case 35:
      return "nanosleep";
    case 42:
      return "connect";
    case 43:
      return "accept";
    case 45:
      return "recvfrom";
    case 47:
      return "recvmsg";
    case 61:
      return "wait4";
    case 73:
      return "flock";
    case 74:
      return "fsync";
    case 202:
      return "futex";
    case 230:
      return "clock_nanosleep";
    case 232:
      return "epoll_wait";
    case 257:
      return "openat";
    case 270:
      return "pselect6";
    case 271:
      return "ppoll";
    case 281:
      return "epoll_pwait";
    case 288:
      return "accept4";
    default:
      return nullptr;
  }
}

}  // namespace

ThreadPlace where_is(int tid) {
  ThreadPlace place;
  if (tid <= 0) return place;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return place;
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return place;
  buf[n] = '\0';
  // "running" (the thread is on a CPU or runnable: the kernel's TASK_RUNNING), else it sleeps:
  // "<nr> <6 args> <sp> <pc>" (all hex but nr) in a system call, "-1 <sp> <pc>" outside one.
  long nr = 0;
  if (std::sscanf(buf, "%ld", &nr) != 1) return place;
  place.blocked = true;
  if (nr < 0) {
    place.text = "outside a system call (a page fault that waits for I/O, or a stopped thread)";
    return place;
  }
  const char* last = std::strrchr(buf, ' ');
  std::uintptr_t pc = 0;
  if (last != nullptr) pc = static_cast<std::uintptr_t>(std::strtoull(last + 1, nullptr, 16));
  std::string out = "in ";
  const char* name = syscall_name(nr);
  out += name != nullptr ? name : "a system call";
  out += " (syscall " + std::to_string(nr) + ")";
  Dl_info info;
  if (pc != 0 && ::dladdr(reinterpret_cast<void*>(pc), &info) != 0 && info.dli_sname != nullptr) {
    char off[32];
    std::snprintf(off, sizeof off, "+0x%" PRIxPTR,
                  pc - reinterpret_cast<std::uintptr_t>(info.dli_saddr));
    out += " at ";
    out += info.dli_sname;
    out += off;
  }
  place.text = std::move(out);
  return place;
}

}  // namespace ergon::detail
