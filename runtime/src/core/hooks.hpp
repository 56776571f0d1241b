// Hooks: the points where the core hands over to the parts built on it, without knowing them.
//
// Design
// ------
// The core (this folder) runs processes. The parts built on it (the tracer, the deterministic
// driver, fault injection, Erlang's exit bookkeeping, the hang report, and the threads beside
// the workers,
// side_thread.hpp) implement the abstract classes below; the Runtime builds them and installs
// them into its scheduler in one place (api/system.hpp) before any process runs, and the core
// calls them only through these classes. Nothing here includes a header from another folder
// (runtime/src/LAYERS). One hook is the program's, not a scheduler's: Remote, installed by the
// distribution library (runtime/src/dist/) when a node starts, because a pid of another node
// means the same to every runtime of the program.
//
// Cost: every hook sits behind a test the core made before it had hooks (a relaxed load of
// a flag, or a null pointer), so a part that is off costs what it cost when the core owned it.
// The observer's gate `on_` is a plain member of Observer: `observer->on()` is the same two
// loads as the old `tracer.on()`.
//
// Each hook names the thread it runs on: "the worker's owner" (runtime code on the carrier
// that owns the worker, where per-worker buffers may be written), "process code" (on the
// process's stack, between E3 and E1 of carrier.hpp: it may send, and may be handed to
// another carrier at any switch), or "any thread".
//
// Rejected: templates over the parts (the core would be compiled once per composition, and
// every part's header would reach the core again); std::function per hook (an indirection
// and a closure each, and no grouping of a part's hooks); a list of observers (a loop on
// every event where one tracer is all there is).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "ergon/monitor.hpp"
#include "ergon/pid.hpp"
#include "ergon/stats.hpp"

namespace ergon::mailbox {
struct Envelope;
}

namespace ergon::detail {

struct Process;
class Worker;
class TenantTable;

// An exit reason shortened for an event: the reason itself is gone by the time the worker
// records the exit (process_entry, worker.cpp). 27: what a 64-byte (one cache line)
// TraceEvent (observe/trace.hpp) has left after its other fields. A layout bound.
inline constexpr std::size_t kExitTextSize = 27;
using ExitText = char[kExitTextSize];

// How a process left a worker's run queue for another worker's.
enum class Move : std::uint8_t {
  kMigrate,  // the balancer moved it (B3, F)
  kSteal,    // a searching worker took it
  kForward,  // an inactive worker handed it on
};

// Observer (the tracer, observe/trace.hpp): scheduling events, while on() is true.
class Observer {
 public:
  virtual ~Observer() = default;
  // The gate, tested before every event. Any thread. relaxed: an observer that raises it
  // publishes what its events need with its own release (the tracer's TR1, trace.hpp).
  bool on() const noexcept { return on_.load(std::memory_order_relaxed); }

  // --- only after on() returned true -------------------------------------------------------
  // The worker's owner: process `pid` ran on worker `w` from `begin` to `end`.
  virtual void slice(unsigned w, Pid pid, std::int64_t begin, std::int64_t end) noexcept = 0;
  // The worker's owner: worker `w` slept from `begin` to `end`.
  virtual void park(unsigned w, std::int64_t begin, std::int64_t end) noexcept = 0;
  // The worker's owner for kSteal and kForward (`w` is the thief or the forwarder), the
  // balancer's thread for kMigrate (`w` is the giver).
  virtual void moved(unsigned w, Move kind, unsigned other, Pid pid, std::int64_t now) noexcept = 0;
  // Any thread: `w` is the spawner's worker, or -1 from a thread that is not a worker's owner.
  virtual void spawn(int w, Pid child, Pid parent, std::int64_t now) noexcept = 0;
  // Process code: the text the exit event will carry.
  virtual void describe_exit(ExitText& out, const ExitReason& reason) noexcept = 0;
  // The worker's owner: `pid` ended, for the reason describe_exit wrote into `why`.
  virtual void exit(unsigned w, Pid pid, const char* why, std::int64_t now) noexcept = 0;
  // Any thread: `pid` ended by an uncaught exception.
  virtual void crash(Pid pid, const std::string& what, std::int64_t now) noexcept = 0;
  // The watchdog's thread: worker `w` went to a spare carrier (`pid`: what it ran, or none).
  virtual void handoff(unsigned w, Pid pid, std::int64_t now) noexcept = 0;
  // The balancer's thread, every kTenantSampleTicks ticks while tenants exist: a sample of
  // each tenant's counters (trace counters, tenant.hpp).
  virtual void tenants(const TenantTable& t, std::int64_t now) noexcept = 0;

 protected:
  std::atomic<bool> on_{false};  // see on()
};

// The observer of a scheduler that has none installed: never on.
Observer& no_observer() noexcept;

// Driver (deterministic mode, testing/deterministic.hpp): one thread carries every worker and
// takes every scheduling choice from a seed. Installed or not for the scheduler's life.
class Driver {
 public:
  virtual ~Driver() = default;
  // The logical clock (Scheduler::now). The driving thread.
  virtual std::int64_t now() const noexcept = 0;
  // The worker's owner, at the start of a slice: the budget it gets, given the one it would.
  virtual std::int32_t slice_budget(std::int32_t budget) noexcept = 0;
  // The worker's owner: whether to pass runnext over this time.
  virtual bool skip_runnext() noexcept = 0;
  // Any thread: the process the driving thread runs now, or nullptr.
  virtual const Process* running() const noexcept = 0;
  // Shutdown: runs steps until every process has ended (Scheduler::kill_all_and_wait, SD2).
  // false: `timeout` (0: none) passed without progress (SD3, ShutdownDeadline).
  [[nodiscard]] virtual bool run_until_empty(std::chrono::nanoseconds timeout) = 0;
  virtual void add_stats(Stats& s) const = 0;
};

// Injector (fault injection, testing/faults.hpp): seeded faults at spawns, sends and
// reduction points. Installed only when some fault is on.
class Injector {
 public:
  virtual ~Injector() = default;
  // Before a spawn that allows faults, by `spawner` (nullptr: outside any process): throws
  // InjectedFault if the spawner crashes here, SpawnError if the spawn is to fail.
  virtual void before_spawn(Process* spawner) = 0;
  // Before the child is published: its fault stream, and whether its reduction points may
  // crash it (`faults`: SpawnOptions::faults).
  virtual void seed_child(Process* child, Process* spawner, bool faults) = 0;
  // A send of `e` from `sender` (nullptr: outside) to `to`, on worker `w` (or nullptr).
  // Returns true if the injector took `e` (held or pushed it); false: the caller pushes it.
  // Throws InjectedFault (having freed `e`) when `crash_point` and the sender must crash.
  virtual bool on_send(Process* sender, Worker* w, Pid to, mailbox::Envelope* e,
                       bool crash_point) = 0;
  // At a crash point of `p` (which has inject_crashes and no shield): throws InjectedFault
  // naming `where` if its stream says crash.
  virtual void crash_point(Process* p, const char* where) = 0;
  // Frees the held messages for `to` that `match` accepts; returns how many.
  virtual std::size_t discard_held(Pid to, bool (*match)(const mailbox::Envelope*, const void*),
                                   const void* arg) = 0;
  // Messages held for later, for the deterministic driver: the earliest due time (INT64_MAX:
  // none), and delivering what is due at `now`.
  virtual std::int64_t next_due() const = 0;
  virtual void deliver_due(std::int64_t now) = 0;
  // Every process has ended: free what is still held.
  virtual void clear_held() noexcept = 0;
  // Scheduler::start, after install: start any thread of the injector's own.
  virtual void start() = 0;
  // Shutdown: stop any thread of the injector's own; after this no hook runs.
  virtual void stop() noexcept = 0;
  virtual void add_stats(Stats& s) const = 0;
};

// Lifecycle (Erlang's fault tolerance, otp/lifecycle.hpp): what a process's birth and end mean
// to other processes. Installed by every Runtime; a bare scheduler runs without one.
class Lifecycle {
 public:
  virtual ~Lifecycle() = default;
  // At spawn, before the child is published (the spawner's code): a reused record starts with
  // no monitors, links or nursery; `link_to` (or nullptr) is linked to the child, so that it
  // cannot end unlinked.
  virtual void born(Process* child, Process* link_to) noexcept = 0;
  // Process code, once `p`'s function has returned or thrown: the one call that settles its
  // exit reason (an exit signal's reason replaces a kill's), sends its Downs and exit signals
  // and fills its nursery slot. Nothing in it may throw.
  virtual void ending(Process* p, ExitReason& reason) noexcept = 0;
  // The worker's owner, as p's record closes: `pid` held a registered name.
  virtual void unregister(Pid pid) noexcept = 0;
};

// Asleep (the hang report, api/asleep.hpp): in a threaded run, every process of the scheduler
// waits and nothing inside the runtime can wake one (core/asleep.hpp, Z1..Z5). Installed by
// every Runtime; called only while Options::asleep_after is not 0, and never in deterministic
// mode (whose driver throws Deadlock instead).
class Asleep {
 public:
  virtual ~Asleep() = default;
  // The worker's owner, in runtime code after its park (counted awake; this worker runs no
  // process meanwhile), once per idle episode: the check found `waiting` processes, every live
  // one of the scheduler, blocked in their mailboxes with no timer armed, no ergon::blocking
  // call in flight, no socket waiter and no delayed message. The hook decides whether, and how,
  // to report it.
  virtual void asleep(std::size_t waiting) noexcept = 0;
  // Waits out a call of asleep() in progress (Scheduler::kill_all_and_wait: no report runs once
  // run() has returned). The thread that owns the Runtime.
  virtual void quiesce() noexcept = 0;
};

// Remote (distribution, runtime/src/dist/): where a send to a pid of another node goes. A
// remote pid (Pid::is_remote(): index bit 31) has no record in the process table, so the send
// path reaches it only through its drop branch (send.cpp, dropped_or_remote): the local send
// pays nothing for it. Installed once per program and never freed (a send may be in its hook
// while the node stops; the node's own state says whether it still runs).
class Remote {
 public:
  virtual ~Remote() = default;
  // Any thread, process code or not: takes `e` (a message, or a runtime envelope such as a
  // call's Reply) for the remote pid `to`. Disposes of it when it cannot go; never throws.
  // It runs inside the sender's entry into the runtime (send.cpp's send_impl), so it must not
  // send through the public API (an entry does not nest); it wakes a process of its own with
  // deliver_envelope(pid, envelope, w) (send.hpp), as the delay line does. `w`: the caller's
  // worker, or nullptr.
  virtual void send(Pid to, mailbox::Envelope* e, Worker* w) noexcept = 0;
};

// Installs `r` as the program's Remote (nullptr: none). Any thread. release: pairs with the
// acquire in remote_hook(), so the hook's object is constructed before any send sees it.
void install_remote(Remote* r) noexcept;
// The installed Remote, or nullptr.
Remote* remote_hook() noexcept;

}  // namespace ergon::detail
