// Watchdog: sampling, the WD0..WD2 states, the idle sleep (D1, D2) and stall reports. See
// watchdog.hpp for the design.
#include "control/watchdog.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "core/carrier.hpp"
#include "core/scheduler.hpp"

namespace ergon::detail {

Watchdog::Watchdog(Scheduler& sched)
    : sched_(sched),
      tick_ns_(std::chrono::nanoseconds(sched.options().watchdog_tick).count()),
      preempt_ns_(std::chrono::nanoseconds(sched.options().preempt_after).count()),
      handoff_ns_(std::chrono::nanoseconds(sched.options().handoff_after).count()),
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
      s = Seen{runs, o, now, 0, false};
      continue;
    }
    const std::int64_t age = now - s.since;
    if (age < preempt_ns_) continue;
    pool.request_yield(&w, o);  // WD1, again on every tick: the budget store may race
    yield_requests_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    if (age < handoff_ns_ || !o->in_user()) continue;
    // WD2. Name the process before the hand-off (its carrier forgets nothing, but reading it
    // first keeps the report about the slice we measured).
    Process* p = o->running();
    const Pid pid = p != nullptr ? pid_of(p) : Pid{};
    const int tid = o->tid();
    const std::uint64_t cap_hits = pool.cap_hits();
    const bool moved = pool.retake(&w, o, runs);
    if (Observer& obs = sched_.observer(); moved && obs.on()) [[unlikely]]
      obs.handoff(w.id(), pid, sched_.now());
    if (!moved && pool.cap_hits() == cap_hits) continue;  // it moved on by itself
    std::string where = where_is(tid);
    // A carrier left computing (not waiting in a system call) competes with the workers for
    // the cores: lower its priority.
    if (moved && where == "running" && sched_.options().stall_nice > 0) {
      pool.demote(o, sched_.options().stall_nice);
    }
    if (!s.reported) {
      stalls_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      s.reported = true;
      StallReport r;
      r.pid = pid;
      r.worker = w.id();
      r.running_for = std::chrono::nanoseconds(age);
      r.where = std::move(where);
      r.handed_off = moved;
      r.at_cap = !moved;
      report(r);
    }
    if (moved) s = Seen{};  // the worker has a new carrier; start afresh
  }
}

void Watchdog::report(const StallReport& r0) {
  const std::int64_t now = monotonic_ns();
  if (now - last_report_ns_ < 1'000'000'000) {
    ++suppressed_;
    return;
  }
  last_report_ns_ = now;
  StallReport r = r0;
  r.suppressed = suppressed_;
  suppressed_ = 0;
  const Options& o = sched_.options();
  if (o.on_stall) {
    try {
      o.on_stall(r);
    } catch (...) {
    }
    return;
  }
  char line[512];
  const double ms = static_cast<double>(r.running_for.count()) / 1e6;
  if (r.handed_off) {
    std::snprintf(line, sizeof line,
                  "ergon: process %s ran %.1f ms on worker %u without a reduction point (%s); "
                  "the worker's other processes moved to another thread. Wrap blocking calls "
                  "in ergon::blocking(...) and call ergon::checkpoint() in long loops.",
                  r.pid.to_string().c_str(), ms, r.worker, r.where.c_str());
  } else {
    std::snprintf(line, sizeof line,
                  "ergon: process %s ran %.1f ms on worker %u without a reduction point (%s), "
                  "and no spare thread may be started (Options::max_spare_carriers = %u, "
                  "ERGON_MAX_SPARE_CARRIERS): the worker's other processes wait.",
                  r.pid.to_string().c_str(), ms, r.worker, r.where.c_str(), o.max_spare_carriers);
  }
  std::string out = line;
  if (r.suppressed != 0) out += " (" + std::to_string(r.suppressed) + " more reports left out)";
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

std::string where_is(int tid) {
  if (tid <= 0) return "running";
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "running";
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return "running";
  buf[n] = '\0';
  // "running", or "<nr> <6 args> <sp> <pc>" (all hex but nr), or "-1 <sp> <pc>".
  long nr = 0;
  if (std::sscanf(buf, "%ld", &nr) != 1 || nr < 0) return "running";
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
  return out;
}

}  // namespace ergon::detail
