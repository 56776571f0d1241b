// top: formatting a Stats and ProcessInfo snapshot as a table, and printing it live. See
// ergon/top.hpp.
//
// Design
// ------
// top_table is a pure function of a snapshot, so it can be tested and reused (a program can
// format a snapshot it took itself). top() loops: take a snapshot (Runtime::stats, then
// processes), format it, write it with one fwrite (preceded by ANSI "clear and home" when the
// output is a terminal), wait. Inside a process the snapshot and the write run in
// ergon::blocking (they have no reduction point and can take milliseconds), and the wait is
// ergon::sleep_for, which blocks only the process; a shutdown of the runtime then ends the
// loop like any other process.
#include "observe/top.hpp"

#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <thread>

#include "ergon/errors.hpp"
#include "ergon/preempt.hpp"
#include "ergon/process.hpp"

namespace ergon {
namespace {

void appendf(std::string& out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void appendf(std::string& out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
}

std::string shorten(const std::string& s, std::size_t width) {
  return s.size() <= width ? s : s.substr(0, width - 1) + "~";
}

void process_rows(std::string& out, const char* title, std::vector<const ProcessInfo*> v,
                  std::size_t rows, bool by_reductions) {
  auto key = [by_reductions](const ProcessInfo* p) {
    return by_reductions ? p->reductions : static_cast<std::uint64_t>(p->message_queue_len);
  };
  const std::size_t n = std::min(rows, v.size());
  std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n), v.end(),
                    [&key](const ProcessInfo* a, const ProcessInfo* b) {
                      return key(a) != key(b) ? key(a) > key(b) : a->pid < b->pid;
                    });
  appendf(out, "\n%s\n", title);
  appendf(out, "%-16s %-16s %-9s %14s %9s %-17s %6s\n", "pid", "name", "status", "reductions",
          "msgs", "waiting in", "worker");
  for (std::size_t i = 0; i < n; ++i) {
    const ProcessInfo& p = *v[i];
    appendf(out, "%-16s %-16s %-9s %14" PRIu64 " %9zu %-17s %6u\n", p.pid.to_string().c_str(),
            shorten(p.registered_name, 16).c_str(), to_string(p.status), p.reductions,
            p.message_queue_len, p.waiting_in != nullptr ? p.waiting_in : "-", p.worker);
  }
  if (n == 0) out += "(no process)\n";
}

bool clear_screen(const TopOptions& o, std::FILE* out) {
  switch (o.clear) {
    case TopOptions::Clear::kAlways:
      return true;
    case TopOptions::Clear::kNever:
      return false;
    case TopOptions::Clear::kAuto:
      break;
  }
  return ::isatty(::fileno(out)) != 0;
}

}  // namespace

namespace detail {

void run_top(const TopOptions& o, bool in_process, const std::function<std::string()>& table) {
  std::FILE* out = o.out != nullptr ? o.out : stdout;
  const bool clear = clear_screen(o, out);
  // acquire: pairs with the caller's release store that asks us to stop.
  auto stopped = [&o] { return o.stop != nullptr && o.stop->load(std::memory_order_acquire); };
  for (unsigned i = 0; o.refreshes == 0 || i < o.refreshes; ++i) {
    if (stopped()) return;
    if (i != 0) {
      if (in_process) {
        ergon::sleep_for(o.interval);
      } else {
        std::this_thread::sleep_for(o.interval);
      }
      if (stopped()) return;
    }
    auto frame = [&] {
      std::string text = clear ? "\x1b[H\x1b[2J" : (i != 0 ? "\n" : "");
      text += table();
      std::fwrite(text.data(), 1, text.size(), out);
      std::fflush(out);
    };
    // A snapshot of many processes and a write to a terminal can take milliseconds with no
    // reduction point: inside a process, hand the worker's other processes on meanwhile.
    if (in_process) {
      ergon::blocking(frame);
    } else {
      frame();
    }
  }
}

}  // namespace detail

namespace {

// The tenants, heaviest (most reductions) first, with their share of all reductions; then the
// names of those with the deepest queues and the most time throttled.
void tenant_rows(std::string& out, const Stats& s, std::size_t rows) {
  std::vector<const TenantStats*> t;
  std::uint64_t all = 0;
  for (const TenantStats& ts : s.tenants) {
    t.push_back(&ts);
    all += ts.reductions;
  }
  std::sort(t.begin(), t.end(), [](const TenantStats* a, const TenantStats* b) {
    return a->reductions > b->reductions;
  });
  appendf(out, "\ntenants, heaviest first:\n%-16s %6s %6s %9s %7s %10s %10s %11s %10s %10s\n",
          "tenant", "weight", "share", "processes", "queued", "delay p50", "delay p99", "throttled",
          "msgs in", "msgs out");
  for (std::size_t i = 0; i < t.size() && i < rows; ++i) {
    const TenantStats& ts = *t[i];
    appendf(out,
            "%-16s %6u %5.1f%% %9" PRIu64 " %7" PRIu64 " %8.0fus %8.0fus %9.1fms %10" PRIu64
            " %10" PRIu64 "\n",
            shorten(ts.name, 16).c_str(), ts.weight,
            all != 0 ? 100.0 * static_cast<double>(ts.reductions) / static_cast<double>(all) : 0.0,
            ts.processes, ts.queued, ts.delay_p50_us, ts.delay_p99_us,
            static_cast<double>(ts.throttled_ns) / 1e6, ts.messages_in, ts.messages_out);
  }
  auto names_by = [&](const char* title, auto key) {
    std::vector<const TenantStats*> v = t;
    std::sort(v.begin(), v.end(),
              [&](const TenantStats* a, const TenantStats* b) { return key(*a) > key(*b); });
    appendf(out, "%s:", title);
    for (std::size_t i = 0; i < v.size() && i < 3; ++i) {
      appendf(out, " %s (%" PRIu64 ")", shorten(v[i]->name, 16).c_str(), key(*v[i]));
    }
    appendf(out, "\n");
  };
  names_by("deepest queues", [](const TenantStats& x) { return x.queued; });
  names_by("most throttled (ms)", [](const TenantStats& x) { return x.throttled_ns / 1'000'000; });
}

}  // namespace

std::string top_table(const Stats& s, const std::vector<ProcessInfo>& procs, std::size_t rows) {
  std::string out;
  appendf(out,
          "ergon top: %zu workers, %" PRIu64 " processes alive (%" PRIu64 " spawned, %" PRIu64
          " crashed), %" PRIu64 " messages sent, %" PRIu64 " dropped to dead pids\n\n",
          s.workers.size(), s.processes_alive, s.processes_spawned, s.processes_crashed,
          s.messages_sent, s.messages_dropped);
  if (s.mailbox_dropped + s.messages_forwarded + s.sends_blocked + s.mailbox_full_errors != 0) {
    appendf(out,
            "bounded mailboxes: %" PRIu64 " dropped by policy, %" PRIu64 " forwarded, %" PRIu64
            " sends blocked, %" PRIu64 " MailboxFull\n\n",
            s.mailbox_dropped, s.messages_forwarded, s.sends_blocked, s.mailbox_full_errors);
  }
  appendf(out, "%6s %-12s %6s %9s %8s %8s %8s %8s %14s\n", "worker", "pool", "util", "run queue",
          "migr in", "migr out", "steals", "parks", "reductions");
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    const WorkerStats& w = s.workers[i];
    const std::string pool = w.pool < s.pools.size() ? s.pools[w.pool].name : "?";
    appendf(out,
            "%6zu %-12s %5.1f%% %9" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64
            " %14" PRIu64 "%s\n",
            i, shorten(pool, 12).c_str(), 100.0 * w.utilization, w.run_queue, w.migrations_in,
            w.migrations_out, w.steals, w.parks, w.reductions, w.active ? "" : "  (inactive)");
  }
  if (s.tenants.size() > 1) tenant_rows(out, s, rows);
  std::vector<const ProcessInfo*> v;
  v.reserve(procs.size());
  for (const ProcessInfo& p : procs) v.push_back(&p);
  process_rows(out, "heaviest by reductions", v, rows, true);
  process_rows(out, "heaviest by mailbox length", v, rows, false);
  // Processes with a bounded mailbox, fullest first (ergon::SpawnOptions::mailbox_capacity).
  std::vector<const ProcessInfo*> bounded;
  for (const ProcessInfo& p : procs) {
    if (p.mailbox_capacity != 0) bounded.push_back(&p);
  }
  if (!bounded.empty()) {
    std::sort(bounded.begin(), bounded.end(), [](const ProcessInfo* a, const ProcessInfo* b) {
      return a->message_queue_len * b->mailbox_capacity >
             b->message_queue_len * a->mailbox_capacity;
    });
    appendf(out, "\nbounded mailboxes, fullest first:\n%-16s %8s %9s %10s %10s %8s\n", "pid",
            "msgs", "capacity", "high-water", "dropped", "blocked");
    for (std::size_t i = 0; i < bounded.size() && i < rows; ++i) {
      const ProcessInfo& p = *bounded[i];
      appendf(out, "%-16s %8zu %9u %10u %10" PRIu64 " %8u\n", p.pid.to_string().c_str(),
              p.message_queue_len, p.mailbox_capacity, p.mailbox_high_water, p.mailbox_dropped,
              p.blocked_senders);
    }
  }
  return out;
}

}  // namespace ergon
