// top: a table of a runtime's workers and its heaviest processes, once or refreshing live.
//
//   std::puts(ergon::top_table(rt).c_str());   // one snapshot, as text
//   ergon::TopOptions o;
//   o.refreshes = 5;                            // 0: until *o.stop is true
//   ergon::top(rt, o);                          // prints a table every o.interval
//
// From inside a process, ergon::top(o) and ergon::top_table() act on the caller's runtime;
// top() then waits with ergon::sleep_for between refreshes, so it does not hold its worker.
// From any other thread it waits with std::this_thread::sleep_for.
//
// Each refresh takes Runtime::stats() and Runtime::processes(), which walks every process
// record (ergon/process_info.hpp): cheap for thousands of processes, noticeable for millions.
// Refresh accordingly.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "ergon/process_info.hpp"
#include "ergon/stats.hpp"

namespace ergon {

class Runtime;

struct TopOptions {
  std::size_t rows = 10;  // processes in each of the two "heaviest" lists
  std::chrono::milliseconds interval{1000};
  unsigned refreshes = 0;  // tables to print; 0: until *stop is true (or the process ends)
  const std::atomic<bool>* stop = nullptr;  // checked (acquire) before each refresh
  std::FILE* out = nullptr;                 // stdout when nullptr
  // Clear the screen before each table (ANSI "clear and home"). Auto: only when `out` is a
  // terminal; elsewhere the tables follow each other, separated by a blank line.
  enum class Clear { kAuto, kAlways, kNever } clear = Clear::kAuto;
};

// The table for a snapshot: a header with the totals, one line per worker (pool,
// utilization, run queue, migrations in and out, steals, parks), then the `rows` processes
// with the most reductions and the `rows` with the longest mailboxes. Any thread; pure.
std::string top_table(const Stats& stats, const std::vector<ProcessInfo>& processes,
                      std::size_t rows = 10);
// The table for `rt` now. Any thread.
std::string top_table(Runtime& rt, std::size_t rows = 10);
// The table for the caller's runtime. From a process (throws NotInProcess elsewhere).
std::string top_table(std::size_t rows = 10);

// Prints a table of `rt` every opts.interval, opts.refreshes times or until *opts.stop. Any
// thread; inside a process it sleeps with ergon::sleep_for.
void top(Runtime& rt, const TopOptions& opts = {});
// The same for the caller's runtime. From a process (throws NotInProcess elsewhere).
void top(const TopOptions& opts = {});

}  // namespace ergon
