// Reactor: socket readiness inside the scheduler (Go's netpoller, in the worker's search).
//
// Design
// ------
// One epoll set per scheduler, made when its first socket opens (a runtime without sockets
// has no epoll fd, and its workers pay one relaxed load where they run out of work). Sockets
// are registered once, edge-triggered for reading and writing (io_handle.hpp has the
// readiness protocol IW1..IW4, PE1). Who polls:
//   R1 a worker out of local work polls without blocking (epoll_wait with timeout 0) before it
//      searches other workers' queues, and a busy worker every 61st pick (Tokio's
//      event_interval), so neither a busy nor an idle runtime leaves IO unread;
//   R2 a worker that parks takes the poller role if nobody holds it (a CAS on `poller_`) and
//      blocks in epoll_wait until its next timer, instead of its futex (K3 of idle.hpp); the
//      others sleep on their futexes. An idle runtime therefore has exactly one thread in the
//      kernel waiting for sockets and timers, and costs no CPU however many sockets it has;
//   R3 the watchdog or the balancer polls when no worker has for Options::io_poll_interval
//      while none blocks in epoll (Go's sysmon): a worker stuck in a long slice cannot starve
//      IO (Tokio's stall, tokio#4730, where the one driver holder stalls every socket).
// Events found by any poller wake the waiting processes through the ordinary wake path
// (Scheduler::wake_from: to the poller's own queue when it is a worker of the process's pool).
//
// Waking the blocked poller (its Parker's wake, idle.hpp), in named steps:
//   B1 the parking worker stores its Parker's `polling_` = this reactor (seq_cst), then loads
//      its futex word (seq_cst); only if the word is 0 does it call epoll_wait.
//   B2 a waker stores the word = 1 (seq_cst), then loads `polling_` (seq_cst): if set, it
//      writes the eventfd (kick), else it does the futex wake.
// B1 and B2 are a store-load pair on seq_cst operations: either the waker sees `polling_` and
// kicks (the epoll_wait returns, or returns at once if it has not started), or the parker sees
// the word and does not block. The eventfd is level-triggered and only the poller-role holder
// reads it: a non-blocking poller that saw it and drained it would leave the blocked one asleep.
// A kick left over makes the next blocking poll return at once: a spurious wake-up.
//
// Rejected: a poller thread of its own (a cross-thread hand-off for every event, a thread
// that spins or sleeps beside the workers); EPOLLONESHOT (a re-arming epoll_ctl per wait);
// io_uring for now (a completion writes into a process's memory, so a kill would have to
// cancel and wait for it before the stack unwinds; epoll first, as the issue asks).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

struct epoll_event;

namespace ergon::detail {

class Scheduler;
class Worker;
class Parker;
struct IoHandle;

class Reactor {
 public:
  // Go's netpoll reads 128 events per call; a larger batch only matters when more than 128
  // sockets are ready at once, and the next poll takes the rest. Picked after Go.
  static constexpr int kBatch = 128;

  explicit Reactor(Scheduler& sched, std::int64_t poll_interval_ns) noexcept;
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // Any thread: whether any socket is registered. relaxed: a worker that reads a stale 0
  // skips one poll; the process that registered the socket runs on a worker that sees it.
  bool active() const noexcept { return registered_.load(std::memory_order_relaxed) != 0; }

  // Registers `h` (its fd set) edge-triggered. Throws ergon::Error naming `what` on failure.
  void add(IoHandle* h, const char* what);
  // Deregisters `h` before its fd is closed.
  void remove(IoHandle* h) noexcept;

  // R1: the worker `w` (its owner carrier) polls without blocking. Returns the processes woken.
  int poll_now(Worker* w) noexcept;
  // R3: the side threads, at `now` (monotonic): polls if nobody has for the poll interval and
  // nobody blocks in epoll. Wakes from outside the workers (W3 of scheduler.hpp).
  void poll_if_stale(std::int64_t now) noexcept;

  // R2, the parking worker `w`: takes the poller role; false if another worker holds it.
  bool try_take_poller(Worker* w) noexcept;
  // R2, the role holder: B1, then epoll_wait until `deadline_ns` (CLOCK_MONOTONIC;
  // INT64_MAX: none) into `events`; releases the role. Returns the count of events to
  // dispatch after the park (0 when woken through its Parker).
  int wait_as_poller(Parker& parker, std::int64_t deadline_ns, epoll_event* events) noexcept;
  // Wakes the processes that `n` events of wait_as_poller wait for, from worker `w`.
  int dispatch(Worker* w, const epoll_event* events, int n) noexcept;

  // B2's kick: writes the eventfd. Any thread.
  void kick() noexcept;

  // Statistics (Stats::io_*). relaxed: counters.
  std::uint64_t polls() const noexcept { return polls_.load(std::memory_order_relaxed); }
  std::uint64_t stale_polls() const noexcept {
    return stale_polls_.load(std::memory_order_relaxed);
  }
  std::uint64_t io_wakeups() const noexcept { return wakeups_.load(std::memory_order_relaxed); }
  std::uint64_t accepts_deferred() const noexcept {
    return deferred_.load(std::memory_order_relaxed);
  }
  // Any thread: an accept waited for the load to fall (Options::accept_overload).
  void count_deferred_accept() noexcept {
    deferred_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  }
  std::int64_t registered() const noexcept { return registered_.load(std::memory_order_relaxed); }

 private:
  void ensure_open(const char* what);  // makes the epoll set and the eventfd, once
  int handle(Worker* w, const epoll_event* events, int n) noexcept;

  Scheduler& sched_;
  const std::int64_t poll_interval_ns_;
  // The epoll set and the eventfd, -1 until the first socket. Written once under mu_ before
  // registered_ first rises; acquire loads pair with the release stores in ensure_open.
  std::atomic<int> epfd_{-1}, evfd_{-1};
  std::mutex mu_;
  // Sockets registered. Written by add/remove (relaxed: see active()).
  std::atomic<std::int64_t> registered_{0};
  // The worker that blocks in epoll_wait (R2), or nullptr. CAS by parking workers (acq_rel:
  // the role's eventfd reads are ordered after the previous holder's); cleared by the holder.
  std::atomic<Worker*> poller_{nullptr};
  // When a poll last ran (monotonic ns). Written by every poller, read by R3. relaxed: a
  // staleness hint; a late read delays R3's poll by one tick.
  std::atomic<std::int64_t> last_poll_ns_{0};
  std::atomic<std::uint64_t> polls_{0}, stale_polls_{0}, wakeups_{0}, deferred_{0};
};

}  // namespace ergon::detail
