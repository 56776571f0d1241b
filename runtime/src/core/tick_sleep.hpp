// TickSleep: how a runtime thread that acts every tick (the watchdog, the balancer) sleeps.
//
// Design
// ------
// While any worker is awake the thread wakes every tick; when every worker is parked there is
// nothing to watch or balance, and it sleeps on its futex word with no timeout, so an idle
// runtime costs no CPU. A worker leaving its park (K4, idle.hpp) pokes it:
//   D1 (ticker) sleeping_ = 1 (seq_cst); load the unparked counts (seq_cst); if all are 0,
//               sleep with no timeout, else until the next tick.
//   D2 (worker) its unparked count was raised (a seq_cst RMW, N3/A1/K4); load sleeping_
//               (seq_cst); if 1, wake the ticker.
// In the single order of seq_cst operations either D1's load sees the raised count, or D2's
// load sees sleeping_ = 1: the ticker never sleeps through a running worker.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/idle.hpp"

namespace ergon::detail {

class TickSleep {
 public:
  // Sleeps until `deadline_ns` (CLOCK_MONOTONIC), or with no timeout if `all_parked()` (D1's
  // load) is true, or until poke() or stop(). Returns false once stop() was called.
  template <class AllParked>
  bool sleep(std::int64_t deadline_ns, AllParked all_parked) noexcept {
    // acquire: pairs with stop().
    if (stop_.load(std::memory_order_acquire)) return false;
    // seq_cst: D1 (this store, then all_parked()'s seq_cst loads).
    sleeping_.store(1, std::memory_order_seq_cst);
    futex_wait(word_, all_parked() ? INT64_MAX : deadline_ns);
    sleeping_.store(0, std::memory_order_relaxed);  // relaxed: only a hint until the next D1
    // relaxed: only this thread resets the word; a waker's store after this is a new wake-up.
    word_.store(0, std::memory_order_relaxed);
    return !stop_.load(std::memory_order_acquire);  // acquire: as above
  }

  // D2: a worker left its park.
  void poke() noexcept {
    // seq_cst: D2, the load side of the pair with D1.
    if (sleeping_.load(std::memory_order_seq_cst) != 0) futex_wake(word_);
  }

  void stop() noexcept {
    stop_.store(true, std::memory_order_release);  // release: pairs with the acquire in sleep()
    futex_wake(word_);
  }

 private:
  std::atomic<std::uint32_t> word_{0};      // futex word: 1 = woken
  std::atomic<std::uint32_t> sleeping_{0};  // D1/D2
  std::atomic<bool> stop_{false};
};

}  // namespace ergon::detail
