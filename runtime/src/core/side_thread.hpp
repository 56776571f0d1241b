// SideThread: a thread beside the workers that acts every tick while a worker is awake (the
// watchdog and the balancer, control/).
//
// Design
// ------
// One loop for every such thread: sleep until the next tick, or with no timeout while every
// worker is parked (tick_sleep.hpp, D1/D2), then tick(now). A part derives from SideThread,
// implements tick(), and decides in start() whether it needs its thread at all; the scheduler
// pokes every installed side thread when a worker leaves its park (D2) and stops them at
// shutdown. In deterministic mode no thread starts: the driver calls tick() itself, on logical
// time (testing/deterministic.hpp, DS1).
//
// Rejected: a thread per part that writes its own loop (the watchdog's and the balancer's were
// the same six lines); one thread for every side job (the watchdog must tick while the balancer
// is busy moving a long queue, and their intervals differ by 10x and are set separately).
#pragma once

#include <cstdint>
#include <mutex>
#include <thread>

#include "core/tick_sleep.hpp"
#include "ergon/stats.hpp"

namespace ergon::detail {

class Scheduler;

class SideThread {
 public:
  SideThread() = default;
  virtual ~SideThread();  // the thread must be stopped already (derived classes call stop())
  SideThread(const SideThread&) = delete;
  SideThread& operator=(const SideThread&) = delete;

  // Starts the thread if this part needs one (Scheduler::start).
  virtual void start() = 0;
  // One round at `now`: the thread's loop, or the deterministic driver.
  virtual void tick(std::int64_t now) = 0;
  virtual void add_stats(Stats&) const {}

  // Stops and joins the thread, if any; idempotent. Any thread but the side thread.
  void stop() noexcept;
  void poke() noexcept { sleep_.poke(); }  // D2
  // Waits out a tick in progress: a run() that returns has no callback of its runtime
  // (on_stall, a trace sample) still running, so after a run that ended normally the
  // callback may use the caller's locals. After a shutdown that gave up on a stuck process,
  // that process can still be reported later (docs/api.md, on_stall).
  void quiesce() noexcept { std::lock_guard<std::mutex> g(tick_mu_); }
  bool running() const noexcept { return thread_.joinable(); }

 protected:
  // Runs tick(monotonic_ns()) every `interval_ns` while a worker of `sched` is awake.
  void start_thread(const Scheduler& sched, std::int64_t interval_ns);

 private:
  TickSleep sleep_;
  std::mutex tick_mu_;  // held by the thread for each tick (quiesce)
  std::thread thread_;
};

}  // namespace ergon::detail
