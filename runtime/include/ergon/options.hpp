// Options: every tunable of a Runtime, with its default and its ERGON_* environment variable.
//
// Each default below says what it trades and which benchmark chose it (docs/benchmarks.md).
// Options::from_env() applies ERGON_* variables on top of the values given, and Runtime's
// constructor calls it, so the environment can always override a program's settings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "ergon/pid.hpp"

namespace ergon {

struct Options {
  // Scheduler threads. 0 means one per hardware thread. ERGON_WORKERS.
  unsigned workers = 0;

  // Default stack size of a process, in bytes, rounded up to whole pages. Stacks are mapped
  // lazily (only touched pages cost memory) with a guard page below. 64 KiB: deep enough for
  // ordinary C++ (formatting, exceptions, std containers) while keeping the page-table cost
  // of a million parked processes at 128 bytes each (`ergon-bench memory`: 4,504 resident bytes
  // per blocked process, docs/benchmarks.md). Under asan, frames are larger: give deep code
  // more. ERGON_STACK_SIZE (bytes, or with a K/M/G suffix).
  std::size_t stack_size = 64 * 1024;

  // Most processes alive at once in this runtime; spawn beyond it throws SpawnError (like
  // BEAM's +P). ERGON_MAX_PROCESSES.
  std::size_t max_processes = std::size_t{1} << 24;

  // Reductions in one time slice. A process that spends them yields to the back of its run
  // queue. send and receive cost 1, spawn costs 32. 4000 is BEAM's budget; the sweep in
  // docs/benchmarks.md ("reductions") found it within a few percent of the best on yield,
  // spawn_many and pingpong_pairs, where shorter slices slow chains and longer ones let
  // spawners and pairs hog a worker. ERGON_REDUCTIONS.
  std::uint32_t reductions = 4000;

  // How many rounds an idle worker spends looking for work (stealing) before it parks. At
  // most half of the workers search at once. 0 costs 10x the idle CPU (every hand-off goes
  // through the kernel); 16 to 256 measure the same; 64 is the middle of that range
  // (docs/benchmarks.md, "spin_rounds"). ERGON_SPIN_ROUNDS.
  std::uint32_t spin_rounds = 64;

  // Called when a process ends with an uncaught exception, with its pid and what(). The
  // default prints one line to stderr. Runs on the dying process's stack.
  std::function<void(Pid, const std::string&)> on_crash;

  // Returns `base` with the ERGON_* variables that are set applied. Throws ConfigError on a
  // malformed value, naming the variable.
  static Options from_env(Options base);
  static Options from_env() { return from_env(Options{}); }
};

// Per-spawn settings.
struct SpawnOptions {
  // Stack size for this process in bytes; 0 means the runtime's Options::stack_size.
  std::size_t stack_size = 0;
};

}  // namespace ergon
