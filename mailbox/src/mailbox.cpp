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

struct ThreadCounter;
void flush_envelope_cache() noexcept;
extern thread_local CounterSlot* tls_slot;
extern thread_local bool tls_exited;

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
    tls_slot = nullptr;
    tls_exited = true;
    flush_envelope_cache();
    if (slot.prev != nullptr) slot.prev->next = slot.next;
    if (slot.next != nullptr) slot.next->prev = slot.prev;
    if (r.head == &slot) r.head = slot.next;
  }
};

// The slot pointer is a trivially-initialised thread_local (no guard on each access); the
// registering object is created once per thread on the slow path.
thread_local CounterSlot* tls_slot = nullptr;
thread_local bool tls_exited = false;  // this thread's counter is gone (thread exit)

[[gnu::noinline]] CounterSlot& register_counter() {
  thread_local ThreadCounter c;
  tls_slot = &c.slot;
  return c.slot;
}

inline void count(std::int64_t delta) {
  CounterSlot* s = tls_slot;
  if (s == nullptr) {
    if (tls_exited) {  // a thread_local destructor runs after ours: count it as retired
      auto& r = registry();
      std::lock_guard<std::mutex> g(r.mu);
      r.retired += delta;
      return;
    }
    s = &register_counter();
  }
  // relaxed: single writer; readers only sum for statistics.
  s->live.store(s->live.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

}  // namespace

namespace {

// Per-thread envelope free lists. Size classes 64, 128 and 256 bytes. A list holds at most
// kCacheDepth blocks: an envelope freed on another thread than it was allocated on lands in
// that thread's list, so a one-way flow (producer thread -> consumer thread) would otherwise
// pile blocks up on the consumer; past the depth they go back to the allocator. 256 blocks of
// each class is 112 KiB per thread at most, and covers the bursts of the benchmarks (a
// reasoned bound, not swept). The classes: an Envelope's 32-byte header plus up to 32, 96 or
// 224 bytes of message; larger messages go to the allocator. Not tuned by a benchmark either.
constexpr std::size_t kClasses = 3;
constexpr std::size_t kCacheDepth = 256;
constexpr std::size_t kClassSize[kClasses] = {64, 128, 256};

struct FreeBlock {
  FreeBlock* next;
};
struct EnvelopeCache {
  FreeBlock* head[kClasses] = {};
  std::uint32_t depth[kClasses] = {};
};
// Trivially initialised, so each access is a plain thread-pointer-relative load. Flushed by
// ThreadCounter's destructor at thread exit.
thread_local EnvelopeCache tls_cache;

inline int size_class(std::size_t size) noexcept {
  return size <= 64 ? 0 : size <= 128 ? 1 : size <= 256 ? 2 : -1;
}

void flush_envelope_cache() noexcept {
  for (std::size_t c = 0; c < kClasses; ++c) {
    FreeBlock* b = tls_cache.head[c];
    while (b != nullptr) {
      FreeBlock* next = b->next;
      std::free(b);
      b = next;
    }
    tls_cache.head[c] = nullptr;
    tls_cache.depth[c] = 0;
  }
}

}  // namespace

void* allocate_envelope(std::size_t size) {
  count(1);
  int c = size_class(size);
  if (c >= 0) {
    FreeBlock* b = tls_cache.head[c];
    if (b != nullptr) {
      tls_cache.head[c] = b->next;
      --tls_cache.depth[c];
      return b;
    }
    size = kClassSize[c];
  }
  void* p = std::malloc(size);
  if (p == nullptr) {
    count(-1);
    throw std::bad_alloc();
  }
  return p;
}

void free_envelope(void* p, std::size_t size) noexcept {
  count(-1);  // a slot may go negative (freed on another thread); only the sum counts
  int c = size_class(size);
  if (c >= 0 && !tls_exited && tls_cache.depth[c] < kCacheDepth) {
    auto* b = static_cast<FreeBlock*>(p);
    b->next = tls_cache.head[c];
    tls_cache.head[c] = b;
    ++tls_cache.depth[c];
    return;
  }
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
  first->seq = next_seq_++;
  while (last->next != nullptr) {
    last = last->next;
    last->seq = next_seq_++;
    ++n;
  }
  if (cache_tail_ == nullptr) {
    cache_head_ = first;
  } else {
    cache_tail_->next = first;
  }
  cache_tail_ = last;
  // relaxed: see cache_len_ (single writer).
  cache_len_.store(cache_len_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  return true;
}

void Mailbox::remove(Envelope* prev, Envelope* e) noexcept {
  if (prev == nullptr) {
    cache_head_ = e->next;
  } else {
    prev->next = e->next;
  }
  if (cache_tail_ == e) cache_tail_ = prev;
  // relaxed: see cache_len_ (single writer).
  cache_len_.store(cache_len_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
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
  fetch();
  return kMaxMarkers + static_cast<MarkerId>(next_seq_);
}

void Mailbox::release(MarkerId m) noexcept {
  if (m < 0 || m >= kMaxMarkers) return;
  marker_used_ &= static_cast<std::uint8_t>(~(1u << m));
  markers_[m] = nullptr;
}

std::size_t Mailbox::close_and_clear() noexcept {
  std::size_t n = dispose_chain(cache_head_);
  cache_head_ = cache_tail_ = nullptr;
  cache_len_.store(0, std::memory_order_relaxed);  // relaxed: see cache_len_
  marker_used_ = 0;
  for (auto& m : markers_) m = nullptr;
  n += dispose_chain(inbox_.close());
  return n;
}

void Mailbox::reopen() noexcept { inbox_.reopen(); }

}  // namespace ergon::mailbox
