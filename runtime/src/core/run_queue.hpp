// RunQueue: a worker's local queue of runnable processes. The owner pushes at both ends and
// pops at the front; other workers steal half from the front.
//
// Design
// ------
// A ring of kCapacity slots, like Go's runq and Tokio's local queue, with one change: the owner
// can also push at the front. Spawned processes go to the front (the newest child runs first:
// a spawn tree is walked depth-first, so only a path of it holds stacks at once, where
// breadth-first order would park every inner node with a stack), woken and yielding processes
// go to the back (fairness).
//
// `head_` packs the index of the first item (low 32 bits) with a tag (high 32 bits) that every
// change of head_ increments. Front pushes move head_ backwards, so without the tag a thief
// could load head h, lose the race to a pop and a front push that restore h, and then claim
// an item that was already taken (ABA). `tail_` is written by the owner only.
//
// Protocol:
//   push_back (owner):  write slot[tail], then store tail+1 (release).
//   push_front (owner): write slot[head-1], then CAS head -> (tag+1, head-1) (release).
//   pop (owner):        read slot[head], CAS head -> (tag+1, head+1); retry on failure.
//   steal (thief):      load head, tail; copy n = ceil(len/2) slots; CAS head -> (tag+1,
//                       head+n). Success means no pop or front push happened in between, so
//                       the copied slots were the queue's first n items.
// Slots are atomics read with relaxed loads: a thief may read a slot the owner is rewriting,
// but then its CAS fails and it discards what it read.
//
// The stores that publish work (tail in push_back, the CAS in push_front) are seq_cst: with
// the seq_cst decrement of the idle count in Idle::prepare_park and the seq_cst loads of a
// parking worker's re-check, they make the "push, then look for sleepers" / "announce sleep,
// then look for work" pair (a store-load pattern) lose no wake-up.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ergon::detail {

struct Process;

class RunQueue {
 public:
  // 256: Go's runq and Tokio's local queue have 256 slots too; kSpawnReductions is sized
  // against it (scheduler.cpp, docs/benchmarks.md, "spawn_many").
  static constexpr std::uint32_t kCapacity = 256;

  // Owner only. False when full: the caller moves work to the global queue.
  [[nodiscard]] bool push_back(Process* p) noexcept {
    // relaxed: tail_ has one writer, the caller.
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    // acquire: pairs with the CAS of a thief; the slots it freed may be reused.
    std::uint32_t h = index(head_.load(std::memory_order_acquire));
    if (t - h >= kCapacity) return false;
    slots_[t % kCapacity].store(p, std::memory_order_relaxed);  // published by the tail store
    // seq_cst: release publishes the slot to a thief's acquire of tail_; seq_cst orders it
    // before the idle-state load in Idle::notify_one (store-load, see above).
    tail_.store(t + 1, std::memory_order_seq_cst);
    return true;
  }

  // Owner only. False when full.
  [[nodiscard]] bool push_front(Process* p) noexcept {
    // acquire: as in push_back.
    std::uint64_t h = head_.load(std::memory_order_acquire);
    for (;;) {
      std::uint32_t t = tail_.load(std::memory_order_relaxed);
      if (t - index(h) >= kCapacity) return false;
      std::uint32_t i = index(h) - 1;
      slots_[i % kCapacity].store(p, std::memory_order_relaxed);  // published by the CAS
      // seq_cst: release publishes the slot to a thief's acquire of head_, and the store-load
      // pairing with Idle as in push_back.
      if (head_.compare_exchange_weak(h, pack(tag(h) + 1, i), std::memory_order_seq_cst,
                                      std::memory_order_acquire)) {
        return true;
      }
    }
  }

  // Owner only.
  Process* pop() noexcept {
    // acquire: pairs with a thief's CAS (we must not pop what it took).
    std::uint64_t h = head_.load(std::memory_order_acquire);
    for (;;) {
      std::uint32_t t = tail_.load(std::memory_order_relaxed);
      if (index(h) == t) return nullptr;
      Process* p = slots_[index(h) % kCapacity].load(std::memory_order_relaxed);
      // acq_rel: claims the slot against thieves (they CAS the same word).
      if (head_.compare_exchange_weak(h, pack(tag(h) + 1, index(h) + 1), std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        return p;
      }
    }
  }

  // Owner only: moves up to half of the items, from the front, to `out` (for the global
  // queue when this queue is full). Returns how many.
  std::uint32_t pop_half(Process** out) noexcept { return take_half(out, kCapacity); }

  // Any thread other than the owner: takes ceil(len/2) items (at most kCapacity/2), and at
  // most `max`, from the front into `out`. Returns how many.
  std::uint32_t steal(Process** out, std::uint32_t max = kCapacity) noexcept {
    return take_half(out, max);
  }

  // Advisory length (any thread). seq_cst for the parking re-check (see above).
  std::uint32_t size_seq_cst() const noexcept {
    std::uint64_t h = head_.load(std::memory_order_seq_cst);
    std::uint32_t t = tail_.load(std::memory_order_seq_cst);
    std::uint32_t n = t - index(h);
    return n > kCapacity ? 0 : n;
  }
  std::uint32_t size_relaxed() const noexcept {
    std::uint64_t h = head_.load(std::memory_order_relaxed);
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    std::uint32_t n = t - index(h);
    return n > kCapacity ? 0 : n;
  }

 private:
  static std::uint32_t index(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h); }
  static std::uint32_t tag(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h >> 32); }
  static std::uint64_t pack(std::uint32_t tag, std::uint32_t index) noexcept {
    return (static_cast<std::uint64_t>(tag) << 32) | index;
  }

  std::uint32_t take_half(Process** out, std::uint32_t max) noexcept {
    for (;;) {
      // acquire (both): pairs with the release parts of push_back / push_front, so the slots
      // we copy are initialised.
      std::uint64_t h = head_.load(std::memory_order_acquire);
      std::uint32_t t = tail_.load(std::memory_order_acquire);
      std::uint32_t len = t - index(h);
      if (len == 0) return 0;
      if (len > kCapacity) continue;  // head and tail read at different times: retry
      std::uint32_t n = std::min(len - len / 2, max);
      if (n == 0) return 0;
      for (std::uint32_t k = 0; k < n; ++k) {
        out[k] = slots_[(index(h) + k) % kCapacity].load(std::memory_order_relaxed);
      }
      // acq_rel: claims the copied items against the owner's pop and other thieves.
      if (head_.compare_exchange_strong(h, pack(tag(h) + 1, index(h) + n),
                                        std::memory_order_acq_rel, std::memory_order_relaxed)) {
        return n;
      }
    }
  }

  alignas(64) std::atomic<std::uint64_t> head_{0};  // (tag, first index); owner and thieves
  alignas(64) std::atomic<std::uint32_t> tail_{0};  // one past the last item; owner writes
  alignas(64) std::atomic<Process*> slots_[kCapacity] = {};
};

}  // namespace ergon::detail
