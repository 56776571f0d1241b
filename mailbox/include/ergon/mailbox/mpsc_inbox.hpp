// MpscInbox: a lock-free multi-producer, single-consumer intrusive queue that knows whether
// its consumer is waiting.
//
// Design
// ------
// One atomic word, `head_`, holds either a pointer to the newest node (a LIFO chain linked
// through Node::*Next), or one of four tags: empty (0), kBlocked (the consumer is waiting for
// a push), kClosed (the consumer is gone) or kNotified (empty, with a wake-up pending). This is
// the shape of CAF's lifo_inbox, plus the pending wake-up of a parking permit (Go's
// notesleep/notewakeup, Rust's thread::park/unpark).
//
// Protocol, in named steps:
//   P1 push:    CAS head_ from `old` to `node` with node->next = old. If old was kBlocked,
//               node->next = nullptr and push returns kUnblockedReader: the pusher now owns
//               the consumer's wake-up (exactly one pusher can see kBlocked). If old was
//               kClosed the push fails with kClosed and the caller keeps the node.
//   C1 take:    the consumer swaps head_ with empty and reverses the chain it got, so nodes
//               come out in push order; pushes by one producer keep their order.
//   C2 block:   the consumer CASes empty -> kBlocked. It fails (kNotEmpty) if a push landed
//               first, in which case the consumer must take again instead of waiting; or if
//               a notify (U2) left kNotified, which it consumes (kNotified -> empty).
//   U1 unblock: anyone may CAS kBlocked -> empty (a timer, a shutdown). Success means the
//               caller, not a pusher, owns the wake-up.
//   U2 notify:  anyone: a wake-up that must not be lost, for a flag the consumer reads before
//               it blocks (a kill, an interrupt). kBlocked -> empty as U1 (the caller owns the
//               wake-up); empty -> kNotified (the consumer's next C2 fails once); anything
//               else is re-written unchanged, so the notify is an RMW in head_'s modification
//               order and the consumer's next take (acquire) sees the flag.
//   X1 close:   swap in kClosed; the consumer gets the remaining chain to dispose.
//
// The count (what MpscInbox::queued() reads). The top 16 bits of head_ hold the number of
// nodes in the chain, saturating at kMaxCount: P1 writes old count + 1 with the node, in the
// same CAS; C1 and X1 take it away with the chain; tags carry a count of 0. So the length of
// the unfetched inbox costs no atomic operation of its own, only a few ALU instructions in
// the push, and any thread can read it with one relaxed load. It relies on user-space
// addresses fitting in 48 bits (x86-64 and AArch64 Linux hand out no higher address unless a
// mapping asks for one), which push() asserts. Rejected: a counter beside head_, even in
// its cache line: a second RMW per push (the receiver's decrement makes it contended).
//
// Invariants: head_ is kBlocked only between a successful C2 and the next P1 or U1; exactly
// one of {the pusher of P1, the caller of U1 or U2} sees the kBlocked -> non-blocked transition, so
// a waiting consumer is woken exactly once and never lost.
//
// Rejected: boost::lockfree::queue. It copies trivially-copyable values into its own nodes
// (an allocation or a freelist pop per push), cannot tell the pusher that the consumer was
// waiting, and costs two CASes per push. docs/design.md has the benchmark
// (`ergon-bench mpsc_compare`) that decided it. Vyukov's intrusive MPSC queue was also
// considered: it needs a separate waiting flag and therefore a second atomic RMW per push.
#pragma once

#include <atomic>
#include <cassert>
#include <cstdint>

namespace ergon::mailbox {

enum class PushResult : std::uint8_t {
  kQueued,           // the consumer was not waiting
  kUnblockedReader,  // the consumer was waiting: the caller must wake it
  kClosed,           // the consumer is gone: the caller still owns the node
};

enum class BlockResult : std::uint8_t {
  kBlocked,   // the consumer is now waiting; a later push or unblock will report it
  kNotEmpty,  // something arrived: take it instead of waiting
};

static_assert(sizeof(std::uintptr_t) == 8, "MpscInbox keeps a count in a 64-bit head word");

template <class Node, Node* Node::*Next>
class MpscInbox {
 public:
  MpscInbox() = default;
  MpscInbox(const MpscInbox&) = delete;
  MpscInbox& operator=(const MpscInbox&) = delete;

  // P1. Any thread.
  [[nodiscard]] PushResult push(Node* node) noexcept {
    // relaxed: the CAS below re-reads head_ before anything is published.
    std::uintptr_t old = head_.load(std::memory_order_relaxed);
    const std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(node);
    assert((addr & kCountMask) == 0 && "MpscInbox: a node address above 2^48");
    for (;;) {
      if (old == kClosed) return PushResult::kClosed;
      node->*Next = node_of(old);  // a tag (kNotified too): the chain was empty
      const std::uintptr_t count = count_of(old);
      const std::uintptr_t next = addr | ((count + (count < kMaxCount ? 1 : 0)) << kCountShift);
      // release: publishes *node (and everything the sender wrote before the push) to the
      // acquire in take_all(). acquire on success: when we take over a kBlocked head, the
      // consumer's writes before try_block() (its saved context, its timer) become visible
      // to us, the waker.
      if (head_.compare_exchange_weak(old, next, std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
        return old == kBlocked ? PushResult::kUnblockedReader : PushResult::kQueued;
      }
    }
  }

  // C1. Consumer only. Returns the nodes in push order, or nullptr when there are none.
  Node* take_all() noexcept {
    // relaxed: a cheap look first; the exchange below does the ordering.
    std::uintptr_t h = head_.load(std::memory_order_relaxed);
    if (is_tag(h)) return nullptr;
    // acquire: pairs with the release CAS in push(), making each node's fields visible.
    return reversed(head_.exchange(0, std::memory_order_acquire));
  }

  // C2. Consumer (or the thread acting for it, such as its worker after a context switch).
  [[nodiscard]] BlockResult try_block() noexcept {
    std::uintptr_t expected = 0;
    // release: publishes what the consumer wrote before blocking (its saved context, its
    // timer) to the pusher or unblocker that sees kBlocked (acquire in push / try_unblock).
    if (head_.compare_exchange_strong(expected, kBlocked, std::memory_order_release,
                                      std::memory_order_relaxed)) {
      return BlockResult::kBlocked;
    }
    if (expected == kNotified) {
      // acquire: pairs with the release in notify(): the notifier's flag is visible to the
      // consumer when it looks again. A push that replaced kNotified meanwhile is taken next.
      (void)head_.compare_exchange_strong(expected, 0, std::memory_order_acquire,
                                          std::memory_order_relaxed);
    }
    return BlockResult::kNotEmpty;
  }

  // U1. Any thread. True if this call took over the wake-up of a waiting consumer.
  [[nodiscard]] bool try_unblock() noexcept {
    std::uintptr_t expected = kBlocked;
    // acquire: pairs with the release in try_block(), as for push().
    return head_.compare_exchange_strong(expected, 0, std::memory_order_acquire,
                                         std::memory_order_relaxed);
  }

  // U2. Any thread. True if this call took over the wake-up of a waiting consumer; otherwise
  // the consumer's next try_block() fails (or its next take sees what the caller wrote first).
  [[nodiscard]] bool notify() noexcept {
    // relaxed: the CAS below re-reads head_.
    std::uintptr_t old = head_.load(std::memory_order_relaxed);
    for (;;) {
      if (old == kClosed) return false;
      const std::uintptr_t next = old == kBlocked ? 0 : old == 0 ? kNotified : old;
      // acq_rel: release publishes what the caller wrote before (the flag) to the consumer's
      // acquire in try_block() / take_all(); acquire, when we take over kBlocked, pairs with
      // the release in try_block(), as for push().
      if (head_.compare_exchange_weak(old, next, std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
        return old == kBlocked;
      }
    }
  }

  // X1. Consumer only. Later pushes fail with kClosed. Returns what was queued, in order.
  Node* close() noexcept {
    // acquire: pairs with the release CAS in push() for the nodes we take back.
    return reversed(head_.exchange(kClosed, std::memory_order_acquire));
  }

  // Consumer only, on a closed inbox that gets a new consumer.
  void reopen() noexcept {
    // release: the new owner's initialisation happens-before any push that succeeds.
    head_.store(0, std::memory_order_release);
  }

  // Advisory (any thread): may be stale by the time the caller looks at it.
  bool empty() const noexcept { return is_tag(head_.load(std::memory_order_relaxed)); }
  bool blocked() const noexcept { return head_.load(std::memory_order_relaxed) == kBlocked; }
  bool closed() const noexcept { return head_.load(std::memory_order_relaxed) == kClosed; }
  // How many nodes are pushed and not yet taken, up to kMaxCount (see "The count" above).
  // Advisory (any thread). relaxed: a snapshot; nothing is read through it.
  std::uint32_t queued() const noexcept {
    return static_cast<std::uint32_t>(count_of(head_.load(std::memory_order_relaxed)));
  }
  // The 16 bits above a 48-bit user-space address (kCountShift): a field width, not tuned.
  static constexpr std::uint32_t kMaxCount = 0xffff;

 private:
  static constexpr std::uintptr_t kBlocked = 1;
  static constexpr std::uintptr_t kClosed = 2;
  static constexpr std::uintptr_t kNotified = 3;
  // Node pointers are aligned, so no node is at an address below 4; a head with a node has a
  // count of at least 1, so it is never mistaken for a tag.
  static bool is_tag(std::uintptr_t h) noexcept { return h <= kNotified; }
  static constexpr unsigned kCountShift = 48;
  static constexpr std::uintptr_t kCountMask = ~((std::uintptr_t{1} << kCountShift) - 1);
  static std::uintptr_t count_of(std::uintptr_t h) noexcept { return h >> kCountShift; }
  static Node* node_of(std::uintptr_t h) noexcept {
    return is_tag(h) ? nullptr : reinterpret_cast<Node*>(h & ~kCountMask);
  }

  // The chain in a head word (newest first), in push order; nullptr for a tag.
  static Node* reversed(std::uintptr_t h) noexcept {
    Node* lifo = node_of(h);
    Node* fifo = nullptr;
    while (lifo != nullptr) {
      Node* n = lifo->*Next;
      lifo->*Next = fifo;
      fifo = lifo;
      lifo = n;
    }
    return fifo;
  }

  // Written by producers (P1), the consumer (C1, C2, X1) and wakers (U1, U2); see above. A
  // node pointer in the low 48 bits, its chain's length in the top 16.
  std::atomic<std::uintptr_t> head_{0};
};

}  // namespace ergon::mailbox
