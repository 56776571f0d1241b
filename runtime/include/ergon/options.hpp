// Options: every tunable of a Runtime, with its default and its ERGON_* environment variable.
//
// Each default below says what it trades and which benchmark chose it (docs/benchmarks.md).
// Options::from_env() applies ERGON_* variables on top of the values given, and Runtime's
// constructor calls it, so the environment can always override a program's settings.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ergon/faults.hpp"
#include "ergon/pid.hpp"
#include "ergon/pool.hpp"
#include "ergon/tenant.hpp"

namespace ergon {

// How the workers of a pool share out runnable processes (docs/design.md, "The balancer").
enum class Policy {
  // The balancer thread moves processes from long run queues to short ones every
  // balance_interval, and compacts the load onto fewer workers when it fits (idle workers
  // sleep). Idle workers do not steal: they take only from the pool's global queue.
  kBalance,
  // No balancer: an idle worker steals half of another worker's run queue before it sleeps
  // (Go, Tokio). Every worker stays in play.
  kSteal,
  // Both: the balancer migrates and compacts, and active idle workers steal.
  kBalanceSteal,
};

// "balance", "steal" or "balance+steal".
const char* to_string(Policy p) noexcept;

// What a stack overflow does (Options::on_stack_overflow; docs/design.md, "A stack overflow").
enum class OnStackOverflow {
  // Print the report (the process, its stack size, the size to give it) and abort the program.
  kAbort,
  // End only the overflowing process, with reason stack_overflow (ExitReason::stack_overflow:
  // its links and monitors fire, its name is released, its nursery sees the failure), where
  // that can be done safely; abort as kAbort does where it cannot.
  kEndProcess,
};

// "abort" or "end_process".
const char* to_string(OnStackOverflow o) noexcept;

// One named pool of workers (ergon::Pool). Processes spawned into a pool run on its workers
// only, until moved (ergon::move_to); messages cross pools freely.
struct PoolOptions {
  std::string name;
  unsigned workers = 1;            // 1: the smallest pool; a pool's size is the caller's to give
  std::optional<Policy> policy{};  // empty: Options::policy
};

// The smallest and the largest stack a process can have, for Options::stack_size and
// SpawnOptions::stack_size alike.
//
// kMinStackSize, 32 KiB: twice what the C library needs on a process stack. An fprintf to
// stderr with %f and %s (the deepest: glibc's vfprintf), an snprintf, a std::string and a
// throw caught, each run for the first time in a fresh program, touch 16 KiB below the
// process's first frame in the release, asan and tsan builds alike (tests/fixtures/stack_floor
// measures it; tests/core/stack_pool_test.cpp checks it in every variant); the other half is
// for the caller's own frames. The old minimum, 8 KiB, could not run that fprintf. glibc's
// PTHREAD_STACK_MIN, for a thread that does nothing, is the same 16 KiB.
inline constexpr std::size_t kMinStackSize = 32 * 1024;
// kMaxStackSize, 1 TiB: 1/128 of the 128 TiB of address space a process has on x86-64 (a
// stack is reserved, not committed: only its touched pages cost memory); a larger request is
// far more likely a mistake (SIZE_MAX, a unit slip) than a need.
inline constexpr std::size_t kMaxStackSize = std::size_t{1} << 40;

// What the watchdog tells about a process whose slice it found stuck (see Options::on_stall
// and docs/design.md, "Preemption"): it computed for handoff_after - preempt_after of CPU time
// after it was asked to yield, or it is blocked in the kernel and its slice is older than
// handoff_after. A slice that is old only because the kernel did not run its thread is not
// reported.
struct StallReport {
  Pid pid;              // the process
  unsigned worker = 0;  // the worker it was running on
  // The age of its slice by the wall clock, from the first watchdog tick that saw it. It
  // includes any time the kernel did not run the thread: not a measure of the process's work.
  std::chrono::nanoseconds running_for{0};
  // CPU time its thread used since the watchdog first asked it to yield (at preempt_after):
  // time in which any reduction point would have ended the slice. -1 ns when the thread's CPU
  // clock could not be read (then the watchdog went by running_for).
  std::chrono::nanoseconds cpu_after_yield_request{0};
  // The stall is a blocking call: the thread waits in the kernel (where says in what), outside
  // ergon::blocking. false: it computes.
  bool blocked = false;
  // Where its thread is, when that is cheap to learn: "in <system call> ... at <function>"
  // for a thread blocked in a system call, "running" otherwise.
  std::string where;
  bool handed_off = false;  // its worker's other processes moved to another thread
  bool at_cap = false;      // no spare thread could be started (Options::max_spare_carriers)
  // Reports about this process left out since its last one: at most one report per process
  // a second (another process's report is never held back by this one's).
  std::uint64_t suppressed = 0;
};

// What Options::on_asleep receives (docs/api.md, "A program that hangs"): in a run that is not
// deterministic, every process of the runtime has waited for Options::asleep_after, and nothing
// inside the runtime could wake one: no process could run, no timer was armed (no receive with a
// timeout, no sleep), no ergon::blocking call was in flight, no socket had a waiter and fault
// injection held no delayed message. What the runtime cannot know is whether a thread outside
// it (or a process of another Runtime) will still send: any thread that holds the Runtime or a
// Pid can, at any time. So this is a report, not a verdict: the runtime keeps waiting.
struct AsleepReport {
  std::vector<Pid> waiting;            // every live process of the runtime, each waiting
  Pid main;                            // the main process of the run() in progress (one of them)
  std::chrono::milliseconds after{0};  // how long they waited at least: asleep_after
  // Messages sent to this runtime's processes, and processes spawned into it, from threads that
  // are not its workers (another thread, ergon::blocking) since this run() began (its main
  // process's spawn aside). Sends from another Runtime's processes are not counted. Both 0: no
  // such thread has shown itself during this run.
  std::uint64_t outside_sends = 0;
  std::uint64_t outside_spawns = 0;
  std::string message;  // the report, as the default prints it to stderr
};

struct Options {
  // Scheduler threads. 0 means one per CPU this process may use: the CPUs of its affinity
  // mask (`taskset`), capped by its cgroup's CPU quota (rounded up, at least 2), as Go 1.25's
  // GOMAXPROCS default does (Tokio's num_cpus reads the same two). ERGON_WORKERS.
  unsigned workers = 0;

  // Default stack size of a process, in bytes, rounded up to whole pages. Stacks are mapped
  // lazily (only touched pages cost memory) with a 256 KiB guard zone below. 64 KiB: deep
  // enough for ordinary C++ (formatting, exceptions, std containers) while keeping the
  // page-table cost of a parked process low: 641 bytes with the zone (measured, see
  // core/stack_pool.hpp), on top of `ergon-bench memory`'s 4,504 resident bytes per blocked
  // process measured with a one-page guard (136 bytes of it page tables; docs/benchmarks.md).
  // Under asan, frames are larger: give deep code more. From kMinStackSize (32 KiB) to
  // kMaxStackSize (1 TiB); another value is a ConfigError. ERGON_STACK_SIZE (bytes, or with
  // a K/M/G suffix).
  std::size_t stack_size = 64 * 1024;

  // What a process that overflows its stack does to the program. kAbort (the default): the
  // report, then abort(), as a thread's overflow does. kEndProcess: the process alone ends, with
  // reason stack_overflow, as it would by an uncaught exception, and the runtime goes on (the
  // report goes to on_crash). Its stack is not unwound, because it cannot be: the fault leaves
  // no room on it, and a destructor would fault again. So nothing on its stack is destroyed:
  // memory that its locals own leaks, a std::mutex or other lock they hold stays locked for
  // good, a message being handled is never freed, a spawn in progress leaks its record. The
  // function object it was spawned with is destroyed (it lives off the stack). And a library
  // call abandoned halfway may leave that library's locks held or its state torn: one that
  // called back into the program, which then overflowed, or any call into a library linked
  // statically (malloc, stdio, a static local's initialisation). Hence opt-in. It still
  // aborts, naming why, where it can see that ending the process could break the program: the
  // fault came inside ergon's own entry (a send, spawn or wait in progress), while the process
  // held one of ergon's locks (a monitor, link, exit signal or registry call in progress),
  // inside a shared C or C++ runtime library (libc, libstdc++, libgcc_s, jemalloc, tcmalloc,
  // the loader), while an exception was propagating, or with a nursery open (its children
  // refer to it on the stack); and always in builds with AddressSanitizer or ThreadSanitizer,
  // which track stacks themselves, and on architectures other than x86-64 and AArch64.
  // Deterministic mode is supported. ERGON_STACK_OVERFLOW (abort or end_process).
  OnStackOverflow on_stack_overflow = OnStackOverflow::kAbort;

  // Most processes alive at once in this runtime; spawn beyond it throws SpawnError (like
  // BEAM's +P). 2^24 (16 M): 16x BEAM's default of 1,048,576, a quarter of what the process
  // table holds; a guard against runaway spawning, not tuned by a benchmark.
  // ERGON_MAX_PROCESSES.
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

  // --- balancing (docs/design.md, "The balancer") --------------------------------------------
  // How the workers share out runnable processes, for the default pool (and for every pool in
  // `pools` that names no policy of its own). balance+steal: within noise of the best policy
  // on pingpong, yield, skynet, spawn_many and pingpong_pairs, evens out an induced imbalance
  // 17x faster than stealing alone, and compacts idle load; only ring prefers pure stealing
  // (docs/benchmarks.md, "Policies side by side"). ERGON_POLICY (balance, steal,
  // balance+steal).
  Policy policy = Policy::kBalanceSteal;

  // How often the balancer thread reads the workers' load, migrates processes and resizes the
  // set of active workers, while any worker is awake (it sleeps when all are parked). 1 ms:
  // 4 ms triples the time to even out an imbalance, 250 us gains nothing over 1 ms and wakes
  // the balancer 4x as often (docs/benchmarks.md, "balance_interval").
  // ERGON_BALANCE_INTERVAL (a duration, at least 10us).
  std::chrono::microseconds balance_interval{1000};

  // Whether the balancer may drain workers that the load does not need and let them sleep
  // (BEAM's load compaction): idle_cpu on 2 workers drops to what 1 worker costs (0.56 s ->
  // about 0.3 s, docs/benchmarks.md, "idle_cpu"); the price is that a burst on a compacted
  // pool waits up to two ticks for more workers. ERGON_COMPACTION (0 or 1).
  bool compaction = true;

  // Testing aid: every balancer tick moves one runnable process off each worker that has any,
  // ignoring hysteresis, so that user code is exercised under constant migration. Off by
  // default; costs nothing when off. ERGON_FORCE_MIGRATION (0 or 1).
  bool force_migration = false;

  // --- deterministic mode and fault injection (docs/design.md, "Deterministic mode") ------
  // Runs every worker on the thread that calls Runtime::run, one process switch at a time,
  // with every scheduling choice drawn from `seed` and a logical clock: the same seed replays
  // the same run. For tests; off by default. ERGON_DETERMINISTIC (0 or 1).
  bool deterministic = false;

  // Deterministic mode with a logical clock per worker (docs/design.md, "Simulated-parallel
  // mode"): the workers run one slice at a time on this thread, always the one whose clock is
  // earliest, and each slice advances its own worker's clock by a cost model measured on the
  // real runtime (per step, switch, send, spawn, reduction, steal, migration and wake-up), so
  // that N workers show what N cores would do, in logical time: ergon::now() in a process is
  // its worker's clock. Implies `deterministic` (the seed breaks ties and replays the run).
  // For benchmarks of scheduling policy past the machine's cores; off by default.
  // ERGON_SIMULATE (0 or 1).
  bool simulate = false;

  // The seed of deterministic mode and of fault injection. 0: a random seed, chosen when the
  // runtime starts (Runtime::seed() tells which). ERGON_SEED.
  std::uint64_t seed = 0;

  // Fault injection (ergon/faults.hpp): seeded message delays and reorderings, crashes at
  // reduction points and failed spawns, for testing supervision trees and timeouts. All off
  // by default: a fault must be asked for, and off costs nothing measurable on the send path
  // and at reduction points. ERGON_FAULT_* (see FaultOptions).
  FaultOptions faults;

  // Named pools of workers. Empty: one pool named "default" of `workers` workers with
  // `policy`. Otherwise the pools together hold all the workers (`workers` must be 0 or
  // their sum), and the first pool is where processes spawned from outside the runtime go.
  // ERGON_POOLS ("name:workers:policy,..." with the policy optional).
  std::vector<PoolOptions> pools;

  // --- preemption (docs/design.md, "Preemption") -------------------------------------------
  // How often the watchdog samples the workers while any of them is awake; 0 turns the
  // watchdog off. It sleeps when every worker is parked. 250 us: a quarter of handoff_after,
  // so a stuck worker is handed off between 1 and 1.25 ms after its slice began; with it
  // blocking_latency's worst round trip is 0.8 ms (docs/benchmarks.md, "Preemption"). Not
  // swept yet. ERGON_WATCHDOG_TICK (a duration: 250us, 1ms, ...).
  std::chrono::microseconds watchdog_tick{250};

  // A process slice older than this is asked to yield at its next reduction point
  // (ergon::checkpoint, reduce, send, receive, spawn): half of handoff_after, so that code with
  // sparse reduction points yields before it loses its worker. Not swept yet.
  // ERGON_PREEMPT_AFTER.
  std::chrono::microseconds preempt_after{500};

  // A process slice that is stuck in process code loses its worker: the watchdog hands the
  // worker's other processes to a spare thread, and reports the stall (on_stall). Stuck means
  // it computed for handoff_after - preempt_after of CPU time after it was asked to yield
  // (time it was descheduled does not count), or its slice is older than handoff_after and
  // its thread is blocked in a system call. Chosen by the sweep in docs/benchmarks.md
  // ("handoff_after"). ERGON_HANDOFF_AFTER.
  std::chrono::microseconds handoff_after{1000};

  // Spare threads the runtime may start beyond `workers`: each one carries a worker while
  // another thread is stuck in a process (or in ergon::blocking). At the cap, stuck workers
  // wait and the stall report says so. 256: a bound on threads, not tuned by a benchmark
  // (Tokio caps its blocking pool at 512 threads, Go at 10,000). ERGON_MAX_SPARE_CARRIERS.
  unsigned max_spare_carriers = 256;

  // The nice value (0..19) given to a thread whose process lost its worker while computing
  // (not while blocked in a system call): the workers' threads then win the cores from it,
  // and the process still runs whenever a core is free. Its thread takes its normal priority
  // back before it carries a worker again, or exits when the system refuses (raising a
  // priority needs CAP_SYS_NICE). 0 leaves priorities alone. 19: hog_latency worst round
  // trip (docs/benchmarks.md, "stall_nice"). ERGON_STALL_NICE.
  int stall_nice = 19;

  // How long a spare thread waits for a worker before it exits. 10 s: Tokio's keep-alive of
  // its blocking pool's threads; not tuned by a benchmark. ERGON_SPARE_KEEPALIVE.
  std::chrono::milliseconds spare_keepalive{10000};

  // --- shutdown (docs/design.md, "Process records, pids and shutdown") --------------------
  // How long the end of Runtime::run, and ~Runtime, wait for the processes they killed while
  // none of them ends: the clock restarts whenever the count of live processes reaches a new
  // low, so a large runtime that is still unwinding is not cut off. Past it, run() throws
  // ShutdownTimeout naming every process that refuses to end (a loop with no reduction
  // point, a call blocked outside ergon::blocking, a catch (...) that swallows the kill), and
  // ~Runtime prints that to stderr and abandons the runtime (docs/api.md, "Shutdown"). 0 waits
  // forever. 5 s: the time ergon already grants a worker to end once asked (ChildSpec::shutdown,
  // Erlang's default for workers); unwinding a process takes microseconds, so 5 s in which no
  // process at all ends means the rest are stuck, while it leaves destructors that flush to a
  // slow disk room to finish. ERGON_SHUTDOWN_TIMEOUT (a duration in whole ms: 200ms, 5s).
  std::chrono::milliseconds shutdown_timeout{5000};

  // --- hangs (docs/design.md, "All processes asleep") --------------------------------------
  // How long every process of a run must have waited, with nothing inside the runtime that could
  // wake one (no runnable process, no armed timer, no ergon::blocking call, no socket waiter, no
  // delayed message), before the runtime reports it, once per such episode, to on_asleep: by
  // default a report on stderr naming each process and what it waits in, with the fix. It is a
  // report, not a kill: a thread outside the runtime may still send, so the runtime waits on.
  // Only while a run() waits for its main process (a runtime driven by Runtime::spawn from a
  // thread that is free to send is not watched), and not in deterministic mode, which throws
  // ergon::Deadlock instead. 0 turns it off. 1 s: a hang is told within seconds, while a
  // program that waits for another thread's message for less than that is not told; a release
  // run of the test suite, whose tests wait on purpose, reported nothing even at 50 ms
  // (docs/api.md, "A program that hangs"). The cost is one more wake-up of one worker per idle
  // episode. ERGON_ASLEEP_AFTER (a duration in whole ms: 500ms, 2s; 0ms turns it off).
  std::chrono::milliseconds asleep_after{1000};

  // Called with each asleep report (see AsleepReport), on a worker's thread, outside any
  // process: it may print, log, count, or end the program; it must not block, and must not
  // call ergon (send from a thread of its own instead). The default prints the report to
  // stderr. run() waits out a call in progress before it returns.
  std::function<void(const AsleepReport&)> on_asleep;

  // --- the network (docs/design.md, "The reactor") ----------------------------------------
  // How long sockets may go unpolled, while every worker is busy and none blocks in epoll,
  // before the watchdog (or the balancer) polls them itself. Workers poll whenever they run
  // out of work and every 61st pick, so this bounds IO latency only under a slice that never
  // ends. 10 ms: Go's sysmon forces a netpoll after the same 10 ms; not tuned by a benchmark.
  // ERGON_IO_POLL_INTERVAL (a duration: 10ms, 500us, ...).
  std::chrono::microseconds io_poll_interval{10000};

  // Admission by saturation (issue 16, drama's "accepts go last"): while more runnable
  // processes than this wait in the run queues of the accepting process's pool, Listener::accept
  // takes no new connection (they wait in the kernel's backlog) and looks again every 1 ms, so
  // an overloaded server finishes what it has before it takes more; Stats::accepts_deferred
  // counts the waits. 0 (the default) turns it off: the threshold depends on the program (how
  // many runnable processes one connection makes), so no default fits; not tuned by a
  // benchmark. ERGON_ACCEPT_OVERLOAD (a count).
  std::size_t accept_overload = 0;

  // Called by the watchdog (on its own thread) with each stall report, at most once a second
  // per process. The default prints one line to stderr. Must not block.
  std::function<void(const StallReport&)> on_stall;

  // Called when a process ends with an uncaught exception, with its pid and what(); and, with
  // on_stack_overflow = kEndProcess, when one is ended by a stack overflow, with a `what` that
  // starts "stack_overflow: ". The default prints one line to stderr. Runs on the dying
  // process's stack (after an overflow: on that stack, its dead frames abandoned).
  std::function<void(Pid, const std::string&)> on_crash;

  // Returns `base` with the ERGON_* variables that are set applied. Throws ConfigError on a
  // malformed value, naming the variable.
  static Options from_env(Options base);
  static Options from_env() { return from_env(Options{}); }
};

// What a send to a full bounded mailbox does (SpawnOptions::mailbox_capacity; docs/design.md,
// "Bounded mailboxes"). System messages (exit signals, Downs, and envelopes marked
// mailbox::kSystem, as a call's reply will be) never count against the capacity and are never
// dropped.
enum class MailboxPolicy {
  // The sending process waits for a slot (its worker runs other processes meanwhile), up to
  // SpawnOptions::send_timeout; then the send throws MailboxFull. A sender outside any
  // process (another thread, Runtime-level code) blocks its own OS thread, polling, with the
  // same timeout; on a worker's own thread outside a process the send throws MailboxFull
  // instead (a worker is never blocked). Two processes that would wait for each other (a
  // cycle of full mailboxes) are not left to hang: the send that closes the cycle throws
  // MailboxFull naming the cycle.
  kBlock,
  // The new message is dropped (and counted: ProcessInfo::mailbox_dropped,
  // Stats::mailbox_dropped).
  kDropNewest,
  // The new message is queued; the receiver drops its oldest counted messages when it next
  // takes one, down to the capacity (counted as for kDropNewest). Between two of its receives
  // the mailbox may hold more than the capacity.
  kDropOldest,
  // The send throws MailboxFull naming the receiver, its capacity and the fix.
  kFail,
  // The message goes to SpawnOptions::fallback instead (under the fallback's own policy; a
  // message forwarded once is dropped rather than forwarded again). No live fallback: dropped.
  kForward,
};

// "block", "drop_newest", "drop_oldest", "fail" or "forward".
const char* to_string(MailboxPolicy p) noexcept;

// Per-spawn settings.
struct SpawnOptions {
  // Stack size for this process in bytes; 0 means the runtime's Options::stack_size. Rounded
  // up to whole pages and to at least kMinStackSize (a small size is a harmless hint: pages
  // the process never touches cost nothing). More than kMaxStackSize makes spawn throw
  // SpawnError.
  std::size_t stack_size = 0;
  // The pool to run in. Default: the spawner's pool (the first pool, from outside the
  // runtime).
  Pool pool{};
  // Link the child to the spawner before it can run (ergon::spawn_link). Needs a spawner
  // process.
  bool link = false;
  // Whether fault injection (Options::faults) may touch this spawn: fail it (fail_spawns) or
  // crash the child (crash). false makes a process that a fault-injected test relies on (its
  // driver, a collector of results) immune. Default true: faults reach every process but the
  // main process of Runtime::run and supervisors. No effect when faults are off.
  bool faults = true;
  // How many ordinary messages the process's mailbox holds; 0 (the default): unbounded, as in
  // Erlang. At most 2^31. What a send to a full mailbox does: `overflow`.
  std::uint32_t mailbox_capacity = 0;
  MailboxPolicy overflow = MailboxPolicy::kBlock;
  // kBlock: how long a sender waits for a slot before MailboxFull; 0: forever.
  std::chrono::milliseconds send_timeout{0};
  // kForward: where the overflow goes.
  Pid fallback{};
  // Its priority (ergon/tenant.hpp): kNormal unless given, as in Erlang (not inherited).
  Priority priority = Priority::kNormal;
  // Its tenant (ergon/tenant.hpp). Default: the spawner's (the default tenant, from outside).
  Tenant tenant{};
};

}  // namespace ergon
