// TimerWheel: a worker's timers (receive timeouts, sleep_for).
//
// Design
// ------
// A hashed timing wheel: kSlots buckets of kTickNs each; a timer with deadline d sits in
// bucket (d / kTickNs) % kSlots, in an intrusive doubly-linked list threaded through the
// Process record (a process waits for at most one thing, so it needs at most one timer, and
// arming never allocates). Timers further out than one turn of the wheel share buckets and
// are skipped until their turn. Add and remove are O(1); expiry visits only the buckets that
// time has passed.
//
// Ownership: a wheel belongs to its worker and is touched only by that worker's thread. A
// process with an armed timer is resumed only by the timer's owner, which disarms it first
// (wakes from elsewhere are routed to the owner's inbox; see scheduler.cpp, "wake"). So a
// timer is never cancelled from another thread, and the wheel needs no atomics.
//
// Rejected: a binary heap (O(log n) per add and cancel, and cancellation needs an index
// back-pointer updated on every sift); a global timer thread (a cross-thread hop per timeout
// and a second wake-up source to reason about).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ergon::detail {

struct Process;

class TimerWheel {
 public:
  // 512 buckets (4 KiB per worker): one turn spans 512 ms, so a timeout shorter than that is
  // visited only when due, a longer one once per turn. A reasoned size, not benchmarked.
  static constexpr std::size_t kSlots = 512;
  static constexpr std::int64_t kTickNs = 1'000'000;  // 1 ms: the resolution users get from
                                                      // after() and sleep_for is finer (the
                                                      // deadline itself is exact); the tick only
                                                      // sizes the buckets.

  // Links `p` with deadline `deadline_ns`. `p` must not be armed.
  void add(Process* p, std::int64_t deadline_ns) noexcept;
  // Unlinks an armed `p`.
  void remove(Process* p) noexcept;

  // Unlinks every timer with deadline <= now and calls fire(p) for each (after unlinking).
  template <class F>
  void expire(std::int64_t now_ns, F&& fire);

  // The earliest deadline, or INT64_MAX if there is none.
  std::int64_t next_deadline() const noexcept;
  std::size_t size() const noexcept { return count_; }

 private:
  Process* slots_[kSlots] = {};
  std::size_t count_ = 0;
  std::int64_t current_tick_ = -1;  // every bucket before this tick has been expired
};

}  // namespace ergon::detail

#include "core/process.hpp"

namespace ergon::detail {

template <class F>
void TimerWheel::expire(std::int64_t now_ns, F&& fire) {
  if (count_ == 0) {
    current_tick_ = now_ns / kTickNs;
    return;
  }
  const std::int64_t now_tick = now_ns / kTickNs;
  // The first time, scan the whole wheel: a deadline already due may have been filed in a
  // bucket before now_tick (add() files due deadlines without reading the clock).
  std::int64_t from =
      current_tick_ < 0 ? now_tick - static_cast<std::int64_t>(kSlots) + 1 : current_tick_;
  if (now_tick - from >= static_cast<std::int64_t>(kSlots)) from = now_tick - kSlots + 1;
  for (std::int64_t tick = from; tick <= now_tick && count_ > 0; ++tick) {
    Process** head = &slots_[static_cast<std::size_t>(tick) % kSlots];
    Process* p = *head;
    while (p != nullptr) {
      Process* next = p->timer_next;
      if (p->timer_deadline <= now_ns) {
        remove(p);
        fire(p);
      }
      p = next;
    }
  }
  current_tick_ = now_tick;
}

}  // namespace ergon::detail
