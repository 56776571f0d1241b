// TimerWheel: see timer_wheel.hpp.
#include "core/timer_wheel.hpp"

#include <algorithm>
#include <cassert>

namespace ergon::detail {

void TimerWheel::add(Process* p, std::int64_t deadline_ns) noexcept {
  // A deadline in a bucket already expired would wait a whole turn: file it in the current
  // one (its start has passed, so it is still due at the next expire).
  if (current_tick_ >= 0 && deadline_ns < current_tick_ * kTickNs) {
    deadline_ns = current_tick_ * kTickNs;
  }
  p->timer_deadline = deadline_ns;
  Process** head = &slots_[static_cast<std::size_t>(deadline_ns / kTickNs) % kSlots];
  p->timer_prev = nullptr;
  p->timer_next = *head;
  if (*head != nullptr) (*head)->timer_prev = p;
  *head = p;
  p->timer_linked = true;
  ++count_;
}

void TimerWheel::remove(Process* p) noexcept {
  assert(count_ > 0);
  if (p->timer_prev != nullptr) {
    p->timer_prev->timer_next = p->timer_next;
  } else {
    Process** head = &slots_[static_cast<std::size_t>(p->timer_deadline / kTickNs) % kSlots];
    assert(*head == p);
    *head = p->timer_next;
  }
  if (p->timer_next != nullptr) p->timer_next->timer_prev = p->timer_prev;
  p->timer_prev = p->timer_next = nullptr;
  p->timer_linked = false;
  --count_;
}

std::int64_t TimerWheel::next_deadline() const noexcept {
  if (count_ == 0) return INT64_MAX;
  std::int64_t best = INT64_MAX;
  // Walk one turn from the current tick; the first bucket holding a timer of its own turn
  // has the earliest deadline. Timers of later turns are remembered as a fallback.
  std::int64_t start = current_tick_ < 0 ? 0 : current_tick_;
  for (std::size_t k = 0; k < kSlots; ++k) {
    std::int64_t tick = start + static_cast<std::int64_t>(k);
    std::int64_t tick_end = (tick + 1) * kTickNs;
    std::int64_t in_turn = INT64_MAX;
    for (Process* p = slots_[static_cast<std::size_t>(tick) % kSlots]; p != nullptr;
         p = p->timer_next) {
      if (p->timer_deadline < tick_end) {
        in_turn = std::min(in_turn, p->timer_deadline);
      } else {
        best = std::min(best, p->timer_deadline);
      }
    }
    if (in_turn != INT64_MAX) return std::min(in_turn, best);
  }
  return best;
}

}  // namespace ergon::detail
