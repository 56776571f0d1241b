// HeldLocks: see held_locks.hpp.
#include "util/held_locks.hpp"

namespace ergon::detail {
namespace {

// The calling thread's count. Written by its own thread only (load + store, no RMW); read by
// the stack guard's signal handler on the same thread. relaxed: one thread, and an atomic so
// that the handler's read is a plain, signal-safe load of a whole value.
thread_local std::atomic<int> tls_held{0};

}  // namespace

std::atomic<bool> g_count_held_locks{false};

void count_held_locks() noexcept {
  // relaxed: see g_count_held_locks (the scheduler's threads start after this store).
  g_count_held_locks.store(true, std::memory_order_relaxed);
}

void held_lock_taken() noexcept {
  tls_held.store(tls_held.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void held_lock_released() noexcept {
  const int n = tls_held.load(std::memory_order_relaxed);
  if (n > 0) tls_held.store(n - 1, std::memory_order_relaxed);  // saturates: see the header
}

int held_locks_on_this_thread() noexcept { return tls_held.load(std::memory_order_relaxed); }

}  // namespace ergon::detail
