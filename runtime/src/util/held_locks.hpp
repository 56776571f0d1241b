// HeldLocks: how many of ergon's own locks the calling thread holds, for the stack guard.
//
// Design
// ------
// With Options::on_stack_overflow = kEndProcess, the stack guard (core/stack_guard.hpp) ends
// only a process that overflows, by abandoning its stack: nothing on it is unwound. A lock that
// the process held at the fault would stay held for good, and the end of the process takes
// some of ergon's locks itself (its record's sig_lock, the registry's mutex): the worker would
// spin or block forever. So ergon's locks that process code takes outside the runtime's entry
// (SpinLock, hence every sig_lock; CountedMutex, the registry's and the tracer's mutexes) count
// themselves here, and the guard aborts as before when the count is not 0. Locks taken only
// inside the runtime's entry (InRuntime) need no count: the guard refuses any fault there.
//
// The count lives in a thread_local reached only through the out-of-line functions below:
// process code may resume on another thread at any switch, and an inlined thread_local access
// could be kept across one (docs/design.md, "thread_local across a context switch"). No lock is
// held across a switch, so a lock and its unlock count on the same thread.
//
// Cost: counting is off until the first Scheduler that asks for kEndProcess turns it on
// (count_held_locks), and while it is off a lock pays one relaxed load of a global flag and a
// predicted branch. A lock taken before the flag turned on and released after is not counted
// by its lock; the release then finds the count at 0 and leaves it there (the count never goes
// below 0, so it never hides a later lock). Only a lock held across that one instant, by a
// process of another runtime, is missed.
//
// Rejected: counting always (a call per lock and unlock on every spawn and end, for an option
// that is off by default); the holder's identity inside each lock, scanned by the guard (it
// would grow the one-byte sig_lock of every process record and still need the thread's
// identity, the same thread_local problem).
#pragma once

#include <atomic>
#include <mutex>

namespace ergon::detail {

// Set (relaxed) once, by count_held_locks, and never cleared; read (relaxed) by every counted
// lock and unlock. The partner is the store in count_held_locks: a thread that sees the flag
// late only starts counting late, which the saturating count tolerates (see above).
extern std::atomic<bool> g_count_held_locks;

// Turns counting on for the rest of the program. Before the first process of the scheduler
// that asks for it runs.
void count_held_locks() noexcept;
// Out of line, and never inlined or analysed across (see above).
[[gnu::noipa]] void held_lock_taken() noexcept;
[[gnu::noipa]] void held_lock_released() noexcept;
// The calling thread's count (async-signal-safe: the stack guard's handler reads it).
int held_locks_on_this_thread() noexcept;

inline void note_lock_taken() noexcept {
  if (g_count_held_locks.load(std::memory_order_relaxed)) [[unlikely]]
    held_lock_taken();
}
inline void note_lock_released() noexcept {
  if (g_count_held_locks.load(std::memory_order_relaxed)) [[unlikely]]
    held_lock_released();
}

// A std::mutex that counts itself while held.
class CountedMutex {
 public:
  void lock() {
    m_.lock();
    note_lock_taken();
  }
  void unlock() noexcept {
    note_lock_released();
    m_.unlock();
  }

 private:
  std::mutex m_;
};

// Counts a section in which the thread holds a lock that is not one of the above (one that a
// condition variable also needs as a plain std::mutex).
class CountedSection {
 public:
  CountedSection() noexcept { note_lock_taken(); }
  ~CountedSection() { note_lock_released(); }
  CountedSection(const CountedSection&) = delete;
  CountedSection& operator=(const CountedSection&) = delete;
};

}  // namespace ergon::detail
