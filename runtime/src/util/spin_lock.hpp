// SpinLock: a one-byte lock for short critical sections in records there are millions of
// (a process's monitor list), where a std::mutex would cost 40 bytes each. It counts itself
// among the locks the thread holds while that count is on (held_locks.hpp: the stack guard
// must not abandon a process that holds one).
#pragma once

#include <atomic>

#include "util/held_locks.hpp"

namespace ergon::detail {

class SpinLock {
 public:
  void lock() noexcept {
    // acquire: what the previous holder wrote under the lock is visible to us.
    while (flag_.exchange(true, std::memory_order_acquire)) {
      // relaxed: only a hint to stop spinning; the exchange above re-checks.
      while (flag_.load(std::memory_order_relaxed)) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
    }
    note_lock_taken();
  }
  void unlock() noexcept {
    note_lock_released();
    // release: publishes what we wrote under the lock to the next holder.
    flag_.store(false, std::memory_order_release);
  }

 private:
  std::atomic<bool> flag_{false};
};

}  // namespace ergon::detail
