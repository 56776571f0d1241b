// Stats: a snapshot of a runtime's counters, for tests, benchmarks and operators.
#pragma once

#include <cstdint>
#include <vector>

namespace ergon {

struct WorkerStats {
  std::uint64_t processes_run = 0;  // times a process was switched to
  std::uint64_t steals = 0;         // processes taken from other workers
  std::uint64_t parks = 0;          // times the worker went to sleep
  std::uint64_t wakeups = 0;        // times it was woken
  std::uint64_t run_queue = 0;      // processes in its run queue when sampled
};

struct Stats {
  std::uint64_t processes_alive = 0;
  std::uint64_t processes_spawned = 0;
  std::uint64_t processes_crashed = 0;  // ended by an uncaught exception
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_dropped = 0;  // sent to a dead or stale pid
  std::uint64_t stacks_mapped = 0;     // stacks the pool has created
  std::uint64_t stacks_in_use = 0;     // stacks held by live processes
  std::vector<WorkerStats> workers;
};

}  // namespace ergon
