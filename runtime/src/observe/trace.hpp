// Tracer: a scheduler's trace of scheduling events, switched on and off at run time, written
// as Chrome trace JSON (ergon/trace.hpp has the API; docs/design.md, "Observability").
//
// Design
// ------
// A session is a set of preallocated event buffers: one per worker, written only by the
// carrier that owns the worker (so no atomic operation per event, only a release store of the
// count), and one shared buffer under a mutex for threads that are not workers (the balancer,
// the watchdog, a spawn from outside, a crash report). A buffer never wraps: when it is full
// it drops the event and counts it, so a trace always holds the beginning of the session.
//
// Steps:
//   TR1 start(capacity): allocate the buffers and touch every page now (a fresh page costs
//       about 12 us on our VMs, too much to pay inside a slice), publish the session
//       (release), then raise `on_` (relaxed: a hook that sees it loads the session with
//       acquire).
//   TR2 a hook: one relaxed load of `on_` and a branch when off. When on, it loads the session
//       (acquire, pairs with TR1), writes the event into the next slot and stores the count
//       (release, pairs with the acquire in TR4).
//   TR3 stop(): lower `on_`. A hook that loaded `on_` just before may still write one event.
//   TR4 json(): load each count (acquire) and read the events below it; valid while a session
//       runs too.
//
// Lifetime: a hook can be stalled between TR2's load of `on_` and its store, so a session's
// buffers are not freed when it stops: they stay until two more sessions have started (or
// the scheduler ends). A writer would have to stall through two whole start/stop cycles to
// touch freed memory; the cost is that up to three sessions' buffers are held at once.
// Rejected: a reference count per session (an RMW per event); freeing at stop (the stalled
// hook above writes into freed memory).
//
// The mutex is a CountedMutex (util/held_locks.hpp): process code takes it (a crash report,
// trace start and stop), and a process that overflows its stack while it holds it must not be
// abandoned (core/stack_guard.hpp).
//
// Invariants: a worker buffer has one writer at a time (its worker's owner carrier; a
// hand-off passes it on with the worker, through the pool lock); events [0, count) of a
// buffer are complete.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/hooks.hpp"
#include "ergon/monitor.hpp"
#include "ergon/pid.hpp"
#include "ergon/trace.hpp"
#include "util/held_locks.hpp"

namespace ergon::detail {

class Registry;

enum class TraceKind : std::uint8_t {
  kSlice,    // a process ran on a worker from ts for dur
  kSpawn,    // pid spawned (arg: the parent's raw pid, 0 from outside)
  kExit,     // pid ended; text: its reason
  kCrash,    // pid ended by an uncaught exception; text: what()
  kMigrate,  // the balancer moved pid from worker `dur` (reused) to worker `arg`
  kSteal,    // worker `tid` stole pid from worker `arg`
  kForward,  // inactive worker `tid` forwarded pid to worker `arg`
  kPark,     // worker `tid` slept from ts for dur
  kHandoff,  // the watchdog moved worker `arg` to a spare carrier (pid: what it ran)
  kTenant,   // counters of tenant `text`: reductions `arg`, queued `dur`, throttled ns `pid`
};

struct TraceEvent {
  std::int64_t ts = 0;    // ns, Scheduler::now()
  std::int64_t dur = 0;   // ns (slices and parks)
  std::uint64_t pid = 0;  // Pid::raw()
  std::uint64_t arg = 0;
  std::uint32_t tid = 0;  // the worker, or one of the kTid* below
  TraceKind kind = TraceKind::kSlice;
  char text[kExitTextSize] = {};  // a reason, truncated
};

class TraceBuffer {
 public:
  explicit TraceBuffer(std::size_t capacity);
  // One writer at a time (see the invariants above).
  void push(const TraceEvent& e) noexcept {
    // relaxed: the writer reads its own count.
    const std::size_t n = count_.load(std::memory_order_relaxed);
    if (n >= events_.size()) {
      dropped_.store(dropped_.load(std::memory_order_relaxed) + 1,
                     std::memory_order_relaxed);  // relaxed: a statistic, single writer
      return;
    }
    events_[n] = e;
    count_.store(n + 1, std::memory_order_release);  // release: pairs with the acquire in TR4
  }
  // Any thread: the events written so far (TR4).
  std::size_t count() const noexcept { return count_.load(std::memory_order_acquire); }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  const TraceEvent& operator[](std::size_t i) const noexcept { return events_[i]; }

 private:
  std::vector<TraceEvent> events_;
  std::atomic<std::size_t> count_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

// The scheduler's observer (core/hooks.hpp): the hooks below are its events.
class Tracer final : public Observer {
 public:
  static constexpr std::uint32_t kTidBalancer = 1000;
  static constexpr std::uint32_t kTidWatchdog = 1001;
  static constexpr std::uint32_t kTidOutside = 1002;  // any other thread

  explicit Tracer(unsigned workers) : workers_(workers) {}
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // TR2's test is Observer::on() (the base's `on_`). Any thread. relaxed: a hook that sees it
  // loads the session with acquire.

  // --- hooks: only after on() returned true; who calls each: core/hooks.hpp ----------------
  // The owner of worker `w` (its carrier, in runtime code).
  void record(unsigned w, const TraceEvent& e) noexcept;
  // Any thread (takes the mutex).
  void record_shared(const TraceEvent& e) noexcept;
  void slice(unsigned w, Pid pid, std::int64_t begin, std::int64_t end) noexcept override;
  void park(unsigned w, std::int64_t begin, std::int64_t end) noexcept override;
  void moved(unsigned w, Move kind, unsigned other, Pid pid, std::int64_t now) noexcept override;
  void spawn(int w, Pid child, Pid parent, std::int64_t now) noexcept override;
  void describe_exit(ExitText& out, const ExitReason& reason) noexcept override;
  void exit(unsigned w, Pid pid, const char* why, std::int64_t now) noexcept override;
  void crash(Pid pid, const std::string& what, std::int64_t now) noexcept override;
  void handoff(unsigned w, Pid pid, std::int64_t now) noexcept override;
  void tenants(const TenantTable& t, std::int64_t now) noexcept override;
  void name(Pid pid, const std::string& name);  // a name registered while tracing

  // --- control: any thread (ergon/trace.hpp) -----------------------------------------------
  void start(std::size_t capacity, std::int64_t now, Registry& names);
  void stop() noexcept;
  trace::Summary summary() const;
  // The current (or last) session as Chrome trace JSON; `names` adds the names registered now.
  std::string json(Registry& names) const;

 private:
  struct Session {
    std::int64_t t0 = 0;
    std::vector<std::unique_ptr<TraceBuffer>> workers;
    std::unique_ptr<TraceBuffer> shared;         // its writers hold Tracer::mu_
    std::map<std::uint64_t, std::string> names;  // guarded by Tracer::mu_
  };

  const unsigned workers_;  // (the base's on_ is TR1/TR3's flag, see above)
  // The session hooks write to: stored (release) in TR1, loaded (acquire) in TR2.
  std::atomic<Session*> session_{nullptr};
  mutable CountedMutex mu_;                     // control, the shared buffer's writers, the names
  std::vector<std::unique_ptr<Session>> kept_;  // guarded by mu_: the last three sessions
};

}  // namespace ergon::detail
