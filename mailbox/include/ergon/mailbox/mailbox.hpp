// Mailbox: an MpscInbox plus the receiver's private cache, which gives selective receive and
// receive markers.
//
// Design
// ------
// Senders push envelopes into `inbox_` (lock-free, see mpsc_inbox.hpp). The receiver moves
// them, in arrival order, to the tail of its private singly-linked `cache` with fetch(). A
// receive scans the cache from the head; a message that no handler matches stays where it is,
// so a later receive sees the skipped messages again, in their order. Only the owner touches
// the cache, so it needs no synchronisation.
//
// Receive markers (Erlang's recv_marker). A request/reply receive must not rescan the old
// messages that came before the request. mark() fetches the inbox and records the current
// tail: a scan that starts at the marker only sees messages that arrived after it. When the
// marked envelope is removed, the marker moves to its predecessor, which keeps the meaning
// "everything after here is new". A marker of nullptr means "from the head". kMaxMarkers
// markers are kept as positions; further live markers are kept as arrival numbers: fetch()
// numbers every envelope it moves to the cache, and a scan through such a marker starts at the
// head and skips envelopes numbered before it (before_marker()). That is slower (old messages
// are stepped over) but keeps the meaning. Arrival numbers are 32 bits and compared modulo
// 2^32, so a marker stays exact while fewer than 2^31 messages arrive during its life.
//
// Length (Erlang's message_queue_len, for ergon::process_info): the cache's length, which
// only the receiver writes (relaxed stores, so other threads may read it), plus the inbox's
// count of unfetched envelopes, which rides in the inbox's head word (MpscInbox, "The count").
// Neither costs an atomic RMW. Each part is exact; their sum can miss a batch for the moment
// between a fetch's exchange and its cache update, and the inbox part saturates at 65,535.
//
// Invariants: cache_head_ == nullptr iff cache_tail_ == nullptr; every live marker points at
// an envelope in the cache or is nullptr; cache_len_ counts the cache.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "ergon/mailbox/message.hpp"
#include "ergon/mailbox/mpsc_inbox.hpp"

namespace ergon::mailbox {

class Mailbox {
 public:
  using Inbox = MpscInbox<Envelope, &Envelope::next>;
  // -1: no marker; 0 .. kMaxMarkers-1: a position slot; kMaxMarkers + n: arrival number n.
  using MarkerId = std::int64_t;
  static constexpr MarkerId kNoMarker = -1;
  // 4 position slots, 32 bytes in every mailbox; further live markers still work, as arrival
  // numbers (their scans start at the head). A reasoned size, not tuned by a benchmark.
  static constexpr int kMaxMarkers = 4;

  Mailbox() = default;
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Any thread.
  [[nodiscard]] PushResult push(Envelope* e) noexcept { return inbox_.push(e); }
  [[nodiscard]] bool try_unblock() noexcept { return inbox_.try_unblock(); }
  // A wake-up that cannot be lost (MpscInbox U2): true if the caller now owns the wake-up of
  // a blocked receiver; otherwise its next try_block fails.
  [[nodiscard]] bool notify() noexcept { return inbox_.notify(); }

  // Receiver only ----------------------------------------------------------------------------

  // Moves everything in the inbox to the tail of the cache. True if anything moved.
  bool fetch() noexcept;

  // First envelope of the cache (nullptr if empty). Iterate with e->next.
  Envelope* head() const noexcept { return cache_head_; }

  // Unlinks `e`, whose predecessor in the cache is `prev` (nullptr if e is the head).
  void remove(Envelope* prev, Envelope* e) noexcept;

  // Where a scan starting at `m` begins: the envelope after which to look (nullptr: head).
  Envelope* marker_position(MarkerId m) const noexcept {
    return m >= 0 && m < kMaxMarkers ? markers_[m] : nullptr;
  }
  // True if `e` arrived before marker `m` (only arrival-number markers say so; a scan from a
  // position marker never meets older envelopes).
  bool before_marker(MarkerId m, const Envelope* e) const noexcept {
    return m >= kMaxMarkers &&
           static_cast<std::int32_t>(e->seq - static_cast<std::uint32_t>(m - kMaxMarkers)) < 0;
  }
  [[nodiscard]] MarkerId mark() noexcept;
  void release(MarkerId m) noexcept;

  // C2 of the inbox: call only after fetch() returned false.
  [[nodiscard]] BlockResult try_block() noexcept { return inbox_.try_block(); }

  // Closes the inbox and disposes of every envelope (cache and inbox). Returns how many there
  // were. Later pushes fail with kClosed until reopen().
  std::size_t close_and_clear() noexcept;
  void reopen() noexcept;

  std::size_t cached() const noexcept { return cache_len_.load(std::memory_order_relaxed); }
  bool inbox_empty() const noexcept { return inbox_.empty(); }

  // Any thread --------------------------------------------------------------------------------

  // Envelopes in the mailbox (cache and inbox). Advisory: a snapshot (see "Length" above).
  std::size_t length() const noexcept {
    // relaxed: a statistic; nothing is read through it.
    return cache_len_.load(std::memory_order_relaxed) + inbox_.queued();
  }
  // True while the receiver waits for a message (MpscInbox C2). Advisory.
  bool blocked() const noexcept { return inbox_.blocked(); }

 private:
  Inbox inbox_;
  Envelope* cache_head_ = nullptr;
  Envelope* cache_tail_ = nullptr;
  // Written by the receiver only (load + store, never an RMW); read by length() on any
  // thread. relaxed: a statistic.
  std::atomic<std::size_t> cache_len_{0};
  Envelope* markers_[kMaxMarkers] = {};
  std::uint8_t marker_used_ = 0;  // bit i: markers_[i] is live
  std::uint32_t next_seq_ = 0;    // arrival number of the next fetched envelope
};

}  // namespace ergon::mailbox
