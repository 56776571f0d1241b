// Stats: a snapshot of a runtime's counters, for tests, benchmarks and operators.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ergon {

struct WorkerStats {
  unsigned pool = 0;                 // index of its pool (Stats::pools)
  bool active = true;                // false: compacted away by the balancer (asleep)
  std::uint64_t processes_run = 0;   // times a process was switched to
  std::uint64_t reductions = 0;      // reductions its processes spent
  std::uint64_t steals = 0;          // processes it took from other workers' queues
  std::uint64_t migrations_in = 0;   // processes the balancer moved here
  std::uint64_t migrations_out = 0;  // processes the balancer moved away (or it forwarded)
  std::uint64_t parks = 0;           // times the worker went to sleep
  std::uint64_t wakeups = 0;         // times it was woken
  std::uint64_t run_queue = 0;       // processes in its run queue when sampled
  // Fraction of the balancer's last window (Options::balance_interval) that the worker was
  // not asleep, 0..1 (0 before the first sample). When no pool has a balancer (every policy
  // is steal), the fraction since the runtime started.
  double utilization = 0;
};

struct PoolStats {
  std::string name;
  unsigned first_worker = 0;  // its workers are first_worker .. first_worker + workers - 1
  unsigned workers = 0;
  unsigned active = 0;             // workers in play (the others are compacted away)
  const char* policy = "";         // "balance", "steal" or "balance+steal"
  std::uint64_t balances = 0;      // balancer rounds that moved processes
  std::uint64_t expansions = 0;    // times compaction woke a worker
  std::uint64_t contractions = 0;  // times compaction put one to sleep
};

// One tenant (ergon/tenant.hpp). Counters since the runtime started; a share over a window is
// the difference of two snapshots. The default tenant's processes wait in the workers' own
// queues, unmeasured (timing them would cost every runtime a clock read per wake-up): its
// queued, delay and throttled figures count only its processes with a priority other than
// normal. Messages count sends between processes (not from threads outside the runtime).
struct TenantStats {
  std::string name;
  unsigned weight = 0;
  std::uint64_t processes = 0;   // alive now (for the default tenant: all the others)
  std::uint64_t reductions = 0;  // what its processes spent: the currency of its share
  std::uint64_t queued = 0;      // runnable processes waiting in its pools' class queues now
  // Scheduling delay (from runnable to running in a class queue), percentiles from a log2
  // histogram: the upper edge of the bucket, in microseconds (0: no sample).
  double delay_p50_us = 0, delay_p99_us = 0;
  std::uint64_t delays = 0;        // samples in that histogram
  std::uint64_t throttled_ns = 0;  // time it had work queued while workers chose other tenants
  std::uint64_t messages_in = 0, messages_out = 0;
};

struct Stats {
  std::uint64_t processes_alive = 0;
  std::uint64_t processes_spawned = 0;
  std::uint64_t processes_crashed = 0;  // ended by an uncaught exception
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_dropped = 0;  // sent to a dead or stale pid
  // Bounded mailboxes (SpawnOptions::mailbox_capacity): messages their policies dropped
  // (drop_newest, drop_oldest, a forward with nowhere to go), overflow forwarded to a
  // fallback, sends that waited for a slot, and sends that threw MailboxFull.
  std::uint64_t mailbox_dropped = 0;
  std::uint64_t messages_forwarded = 0;
  std::uint64_t sends_blocked = 0;
  std::uint64_t mailbox_full_errors = 0;
  std::uint64_t stacks_mapped = 0;  // stacks the pool has created
  std::uint64_t stacks_in_use = 0;  // stacks held by live processes
  // Bytes of every stack the pool has mapped (in use or kept for reuse) that are resident:
  // the pages processes have touched, which a pooled stack keeps for its next process (a
  // fresh page costs a fault; docs/design.md, "Stacks"). Counted by mincore over the pool's
  // slabs when stats() is called: about 1 us per 64 stacks, so not for a hot loop.
  std::uint64_t stacks_resident_bytes = 0;
  // Preemption (docs/design.md, "Preemption").
  std::uint64_t yield_requests = 0;    // watchdog asks to yield at the next reduction point
  std::uint64_t stalls = 0;            // slices that ran past Options::handoff_after
  std::uint64_t handoffs = 0;          // workers moved to another thread (watchdog or blocking)
  std::uint64_t carrier_cap_hits = 0;  // hand-offs refused: max_spare_carriers reached
  std::uint64_t carriers = 0;          // OS threads carrying workers, spares included
  // The network (ergon/net.hpp; docs/design.md, "The reactor").
  std::uint64_t sockets_open = 0;  // sockets of this runtime open now
  std::uint64_t io_polls = 0;      // epoll_waits by workers and side threads
  std::uint64_t io_stale_polls =
      0;  // of those, by the watchdog or balancer (Options::io_poll_interval)
  std::uint64_t io_wakeups = 0;  // processes woken by socket readiness
  // Waits of Listener::accept while the runtime was overloaded (Options::accept_overload).
  std::uint64_t accepts_deferred = 0;
  // The seed in use: Options::seed, or the one drawn at start when that was 0. It drives
  // deterministic mode and fault injection; ERGON_SEED=<seed> replays a deterministic run.
  std::uint64_t seed = 0;
  // Deterministic mode (Options::deterministic) only, else 0: scheduling steps taken, and a
  // digest of every step (which worker, how many switches and reductions, the clock). Two
  // runs with the same seed and program have the same digest.
  std::uint64_t steps = 0;
  std::uint64_t schedule_digest = 0;
  // Fault injection (ergon/faults.hpp); all 0 when it is off.
  std::uint64_t messages_delayed = 0;         // messages the delay line held (delay_messages)
  std::uint64_t messages_reordered = 0;       // held messages that another sender's overtook
  std::uint64_t injected_crashes = 0;         // processes that threw InjectedFault (crash)
  std::uint64_t injected_spawn_failures = 0;  // spawns failed on purpose (fail_spawns)
  std::vector<WorkerStats> workers;
  std::vector<PoolStats> pools;
  std::vector<TenantStats> tenants;  // the default tenant first, then in order of creation
};

}  // namespace ergon
