// Out-of-line parts of the mailbox library: envelope storage with per-thread live counts, and
// the receiver-side cache of Mailbox. See mailbox.hpp and message.hpp for the design.
#include "ergon/mailbox/mailbox.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>

namespace ergon::mailbox {
namespace {

// Live-envelope accounting without a shared hot counter: each thread counts in its own slot;
// a slot is registered once per thread in a global list and folded into `retired` when the
// thread exits. Process code may resume on another thread, so the slot is only ever reached
// through the out-of-line functions below, which read the thread_local afresh on each call.
struct CounterSlot {
  // Written by the owning thread only; read by live_envelopes() from any thread.
  // relaxed everywhere: a statistic, exact only when the program is quiescent.
  std::atomic<std::int64_t> live{0};
  CounterSlot* next = nullptr;
  CounterSlot* prev = nullptr;
};

struct CounterRegistry {
  std::mutex mu;
  CounterSlot* head = nullptr;
  std::int64_t retired = 0;  // guarded by mu
};

CounterRegistry& registry() {
  static auto* r = new CounterRegistry;  // never destroyed: threads may exit after main
  return *r;
}

struct ThreadCounter {
  CounterSlot slot;
  ThreadCounter() {
    auto& r = registry();
    std::lock_guard<std::mutex> g(r.mu);
    slot.next = r.head;
    if (r.head != nullptr) r.head->prev = &slot;
    r.head = &slot;
  }
  ~ThreadCounter() {
    auto& r = registry();
    std::lock_guard<std::mutex> g(r.mu);
    r.retired += slot.live.load(std::memory_order_relaxed);
    if (slot.prev != nullptr) slot.prev->next = slot.next;
    if (slot.next != nullptr) slot.next->prev = slot.prev;
    if (r.head == &slot) r.head = slot.next;
  }
};

[[gnu::noinline]] CounterSlot& my_counter() {
  thread_local ThreadCounter c;
  return c.slot;
}

}  // namespace

void* allocate_envelope(std::size_t size) {
  void* p = std::malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  auto& c = my_counter().live;
  // relaxed: single writer; readers only sum for statistics.
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return p;
}

void free_envelope(void* p) noexcept {
  auto& c = my_counter().live;
  // relaxed: as above. A slot may go negative (freed on another thread); only the sum counts.
  c.store(c.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  std::free(p);
}

std::int64_t live_envelopes() noexcept {
  auto& r = registry();
  std::lock_guard<std::mutex> g(r.mu);
  std::int64_t sum = r.retired;
  for (CounterSlot* s = r.head; s != nullptr; s = s->next) {
    sum += s->live.load(std::memory_order_relaxed);
  }
  return sum;
}

std::size_t dispose_chain(Envelope* head) noexcept {
  std::size_t n = 0;
  while (head != nullptr) {
    Envelope* next = head->next;
    dispose(head);
    head = next;
    ++n;
  }
  return n;
}

bool Mailbox::fetch() noexcept {
  Envelope* first = inbox_.take_all();
  if (first == nullptr) return false;
  std::size_t n = 1;
  Envelope* last = first;
  while (last->next != nullptr) {
    last = last->next;
    ++n;
  }
  if (cache_tail_ == nullptr) {
    cache_head_ = first;
  } else {
    cache_tail_->next = first;
  }
  cache_tail_ = last;
  cache_len_ += n;
  return true;
}

void Mailbox::remove(Envelope* prev, Envelope* e) noexcept {
  if (prev == nullptr) {
    cache_head_ = e->next;
  } else {
    prev->next = e->next;
  }
  if (cache_tail_ == e) cache_tail_ = prev;
  --cache_len_;
  e->next = nullptr;
  if (marker_used_ != 0) {
    for (int i = 0; i < kMaxMarkers; ++i) {
      if ((marker_used_ & (1u << i)) != 0 && markers_[i] == e) markers_[i] = prev;
    }
  }
}

Mailbox::MarkerId Mailbox::mark() noexcept {
  for (int i = 0; i < kMaxMarkers; ++i) {
    if ((marker_used_ & (1u << i)) == 0) {
      fetch();
      marker_used_ |= static_cast<std::uint8_t>(1u << i);
      markers_[i] = cache_tail_;
      return i;
    }
  }
  return kNoMarker;
}

void Mailbox::release(MarkerId m) noexcept {
  if (m == kNoMarker) return;
  marker_used_ &= static_cast<std::uint8_t>(~(1u << m));
  markers_[m] = nullptr;
}

std::size_t Mailbox::close_and_clear() noexcept {
  std::size_t n = dispose_chain(cache_head_);
  cache_head_ = cache_tail_ = nullptr;
  cache_len_ = 0;
  marker_used_ = 0;
  for (auto& m : markers_) m = nullptr;
  n += dispose_chain(inbox_.close());
  return n;
}

void Mailbox::reopen() noexcept { inbox_.reopen(); }

}  // namespace ergon::mailbox
