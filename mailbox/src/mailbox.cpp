// Out-of-line parts of the mailbox library: envelope storage with per-thread live counts, and
// the receiver-side cache of Mailbox. See mailbox.hpp and message.hpp for the design.
#include "ergon/mailbox/mailbox.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>

namespace ergon::mailbox {
namespace {

// Envelope storage: per-thread free lists and per-thread live counts, in one trivially
// initialised thread_local (each access is one %fs-relative instruction, no guard).
//
// Free lists: size classes 64, 128 and 256 bytes (an Envelope's 40-byte header plus up to 24,
// 88 or 216 bytes of message; larger messages go to the allocator). A list holds at most
// kCacheDepth blocks: an envelope freed on another thread than it was allocated on lands in
// that thread's list, so a one-way flow (producer thread -> consumer thread) would otherwise
// pile blocks up on the consumer; past the depth they go back to the allocator. 256 blocks of
// each class is 112 KiB per thread at most, and covers the bursts of the benchmarks (a
// reasoned bound, not swept; neither are the classes).
//
// Live counts without a shared hot counter: each thread counts in its own `live`; the thread's
// record is linked into a global registry the first time it takes a slow path, and folded into
// `retired` when the thread exits. Process code may resume on another thread, so the storage
// is only ever reached through the out-of-line functions below, which read the thread_local
// afresh on each call.
//
// No registration check on the fast paths: a fresh thread has empty lists (allocation takes
// the slow path) and `room` 0 (so does a free), and the slow paths register it. At thread exit
// the lists are flushed and `room` zeroed, so a late envelope takes the slow path again, which
// counts it as retired. Rejected: a separately registered counter slot behind a pointer (a
// load, a null test and a dependent store on every allocation and free: 12 instructions of
// the 49 the pair cost, bench/budget.py pingpong_rt).
constexpr std::size_t kClasses = 3;
constexpr std::uint32_t kCacheDepth = 256;
constexpr std::size_t kClassSize[kClasses] = {64, 128, 256};

struct FreeBlock {
  FreeBlock* next;
};

struct ThreadStorage {
  FreeBlock* head[kClasses] = {};
  std::uint32_t room[kClasses] = {};  // blocks list c may still take; 0 until registered
  // Written by the owning thread only; read by live_envelopes() from any thread. relaxed
  // everywhere: a statistic, exact only when the program is quiescent.
  std::atomic<std::int64_t> live{0};
  bool registered = false;
  bool exited = false;            // this thread's registration is gone (thread exit)
  ThreadStorage* next = nullptr;  // the registry's list, guarded by its mutex
  ThreadStorage* prev = nullptr;
};

struct Registry {
  std::mutex mu;
  ThreadStorage* head = nullptr;
  std::int64_t retired = 0;  // guarded by mu
};

Registry& registry() {
  static auto* r = new Registry;  // never destroyed: threads may exit after main
  return *r;
}

thread_local ThreadStorage tls_storage;

void add_live(std::int64_t delta) noexcept {
  // relaxed: single writer (see ThreadStorage::live).
  tls_storage.live.store(tls_storage.live.load(std::memory_order_relaxed) + delta,
                         std::memory_order_relaxed);
}

void flush_lists(ThreadStorage& t) noexcept {
  for (std::size_t c = 0; c < kClasses; ++c) {
    FreeBlock* b = t.head[c];
    while (b != nullptr) {
      FreeBlock* next = b->next;
      std::free(b);
      b = next;
    }
    t.head[c] = nullptr;
    t.room[c] = 0;
  }
}

// Created once per thread by register_thread; its destructor unregisters the thread.
struct ThreadExit {
  ~ThreadExit() {
    ThreadStorage& t = tls_storage;
    auto& r = registry();
    std::lock_guard<std::mutex> g(r.mu);
    r.retired += t.live.load(std::memory_order_relaxed);
    t.live.store(0, std::memory_order_relaxed);
    t.exited = true;
    flush_lists(t);
    if (t.prev != nullptr) t.prev->next = t.next;
    if (t.next != nullptr) t.next->prev = t.prev;
    if (r.head == &t) r.head = t.next;
  }
};

// The slow paths' first step. False once the thread's registration is gone (thread exit):
// the caller then counts against `retired` and bypasses the lists.
[[gnu::noinline]] bool register_thread() {
  ThreadStorage& t = tls_storage;
  if (t.exited) return false;
  if (t.registered) return true;
  thread_local ThreadExit on_exit;
  (void)on_exit;
  auto& r = registry();
  std::lock_guard<std::mutex> g(r.mu);
  t.registered = true;
  for (std::uint32_t& room : t.room) room = kCacheDepth;
  t.next = r.head;
  if (r.head != nullptr) r.head->prev = &t;
  r.head = &t;
  return true;
}

void add_retired(std::int64_t delta) {
  auto& r = registry();
  std::lock_guard<std::mutex> g(r.mu);
  r.retired += delta;
}

inline int size_class(std::size_t size) noexcept {
  return size <= 64 ? 0 : size <= 128 ? 1 : size <= 256 ? 2 : -1;
}

[[gnu::noinline]] void* allocate_slow(std::size_t size, int c) {
  const bool live = register_thread();
  void* p = std::malloc(c >= 0 ? kClassSize[c] : size);
  if (p == nullptr) throw std::bad_alloc();
  if (live) {
    add_live(1);
  } else {
    add_retired(1);
  }
  return p;
}

[[gnu::noinline]] void free_slow(void* p, int c) noexcept {
  if (!register_thread()) {  // after this thread's exit: count it, bypass the lists
    add_retired(-1);
    std::free(p);
    return;
  }
  add_live(-1);
  ThreadStorage& t = tls_storage;
  if (c >= 0 && t.room[c] > 0) {  // registered just now
    auto* b = static_cast<FreeBlock*>(p);
    b->next = t.head[c];
    t.head[c] = b;
    --t.room[c];
    return;
  }
  std::free(p);
}

}  // namespace

void* allocate_envelope(std::size_t size) {
  const int c = size_class(size);
  if (c >= 0) {
    ThreadStorage& t = tls_storage;
    if (FreeBlock* b = t.head[c]; b != nullptr) [[likely]] {
      t.head[c] = b->next;
      ++t.room[c];
      add_live(1);
      return b;
    }
  }
  return allocate_slow(size, c);
}

void free_envelope(void* p, std::size_t size) noexcept {
  // A count may go negative (freed on another thread); only the sum counts.
  const int c = size_class(size);
  if (c >= 0) {
    ThreadStorage& t = tls_storage;
    if (t.room[c] > 0) [[likely]] {
      auto* b = static_cast<FreeBlock*>(p);
      b->next = t.head[c];
      t.head[c] = b;
      --t.room[c];
      add_live(-1);
      return;
    }
  }
  free_slow(p, c);
}

std::int64_t live_envelopes() noexcept {
  auto& r = registry();
  std::lock_guard<std::mutex> g(r.mu);
  std::int64_t sum = r.retired;
  for (ThreadStorage* s = r.head; s != nullptr; s = s->next) {
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
  append_batch(first);
  return true;
}

Mailbox::Fetched Mailbox::fetch_lone() noexcept {
  Envelope* first = inbox_.take_all();
  if (first == nullptr) return {nullptr, false};
  if (first->next == nullptr) return {first, true};
  append_batch(first);
  return {nullptr, true};
}

void Mailbox::keep(Envelope* e) noexcept {
  e->next = nullptr;
  append_batch(e);
}

void Mailbox::append_batch(Envelope* first) noexcept {
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

namespace {
// Disposes a chain as dispose_chain does, giving back the slot of each counted envelope (B3).
// Returns how many envelopes there were; *waiters is set when a release saw waiting senders.
std::size_t dispose_counted(Mailbox& mb, Envelope* head, bool* waiters) noexcept {
  std::size_t n = 0;
  while (head != nullptr) {
    Envelope* next = head->next;
    if ((head->flags & kCounted) != 0 && mb.release_slot() == Mailbox::Release::kSenderWaits) {
      *waiters = true;
    }
    dispose(head);
    head = next;
    ++n;
  }
  return n;
}
}  // namespace

Mailbox::Reserve Mailbox::try_reserve() noexcept {
  const std::uint32_t cap = capacity();
  // relaxed: the CAS re-reads.
  std::uint64_t old = bound_.load(std::memory_order_relaxed);
  for (;;) {
    const auto used = static_cast<std::uint32_t>(old);
    if (used >= cap) return Reserve::kFull;
    // relaxed: the slot count publishes nothing; the envelope is published by the push's
    // release CAS (MpscInbox P1), and waiting is ordered by add_waiter's CAS on this word.
    if (bound_.compare_exchange_weak(old, old + 1, std::memory_order_relaxed,
                                     std::memory_order_relaxed)) {
      std::uint32_t hw = high_water_.load(std::memory_order_relaxed);
      while (used + 1 > hw &&
             !high_water_.compare_exchange_weak(hw, used + 1, std::memory_order_relaxed)) {
      }
      return Reserve::kReserved;
    }
  }
}

void Mailbox::force_reserve() noexcept {
  // relaxed: as try_reserve.
  const auto used = static_cast<std::uint32_t>(bound_.fetch_add(1, std::memory_order_relaxed)) + 1;
  std::uint32_t hw = high_water_.load(std::memory_order_relaxed);
  while (used > hw && !high_water_.compare_exchange_weak(hw, used, std::memory_order_relaxed)) {
  }
}

Mailbox::Release Mailbox::release_slot() noexcept {
  // acq_rel: pairs with add_waiter's CAS: a release ordered after it sees its waiter (and then
  // finds it on the runtime's list, under the lock); one ordered before it makes that CAS fail.
  const std::uint64_t old = bound_.fetch_sub(1, std::memory_order_acq_rel);
  return (old >> 32) != 0 ? Release::kSenderWaits : Release::kNoWaiter;
}

Mailbox::Wait Mailbox::add_waiter() noexcept {
  const std::uint32_t cap = capacity();
  std::uint64_t old = bound_.load(std::memory_order_relaxed);  // relaxed: the CAS re-reads
  for (;;) {
    if (static_cast<std::uint32_t>(old) < cap) return Wait::kNotFull;
    // acq_rel: pairs with release_slot's fetch_sub (see there).
    if (bound_.compare_exchange_weak(old, old + (std::uint64_t{1} << 32), std::memory_order_acq_rel,
                                     std::memory_order_relaxed)) {
      return Wait::kWaiting;
    }
  }
}

void Mailbox::remove_waiter() noexcept {
  // relaxed: under the runtime's lock, which orders it with add_waiter; a release that reads
  // the old count wakes nobody it cannot find (it looks under the same lock).
  bound_.fetch_sub(std::uint64_t{1} << 32, std::memory_order_relaxed);
}

std::size_t Mailbox::trim_oldest() noexcept {
  fetch();
  std::size_t n = 0;
  const std::uint32_t cap = capacity();
  Envelope* prev = nullptr;
  Envelope* e = cache_head_;
  while (e != nullptr && slots_used() > cap) {
    Envelope* next = e->next;
    if ((e->flags & kCounted) != 0) {
      remove(prev, e);
      // No waiter can be woken here: senders to a mailbox that drops its oldest never wait.
      (void)release_slot();
      dispose(e);
      ++n;
    } else {
      prev = e;
    }
    e = next;
  }
  return n;
}

std::size_t Mailbox::close_and_clear() noexcept {
  Envelope* rest = inbox_.close();
  marker_used_ = 0;
  for (auto& m : markers_) m = nullptr;
  // The usual end: nothing left (no call, no flag test: bench/budget.py spawn_exit).
  if (cache_head_ == nullptr && rest == nullptr) [[likely]]
    return 0;
  bool waiters = false;  // the runtime wakes every waiting sender after a close anyway
  std::size_t n = dispose_counted(*this, cache_head_, &waiters);
  cache_head_ = cache_tail_ = nullptr;
  cache_len_.store(0, std::memory_order_relaxed);  // relaxed: see cache_len_
  n += dispose_counted(*this, rest, &waiters);
  return n;
}

void Mailbox::reopen() noexcept { inbox_.reopen(); }

}  // namespace ergon::mailbox
