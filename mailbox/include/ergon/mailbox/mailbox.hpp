// Mailbox: an MpscInbox plus the receiver's private cache, which gives selective receive and
// receive markers.
//
// Design
// ------
// Senders push envelopes into `inbox_` (lock-free, see mpsc_queue.hpp). The receiver moves
// them, in arrival order, to the tail of its private singly-linked `cache` with fetch(). A
// receive scans the cache from the head; a message that no handler matches stays where it is,
// so a later receive sees the skipped messages again, in their order. Only the owner touches
// the cache, so it needs no synchronisation.
//
// Receive markers (Erlang's recv_marker). A request/reply receive must not rescan the old
// messages that came before the request. mark() fetches the inbox and records the current
// tail: a scan that starts at the marker only sees messages that arrived after it. When the
// marked envelope is removed, the marker moves to its predecessor, which keeps the meaning
// "everything after here is new". A marker of nullptr means "from the head". At most
// kMaxMarkers are live; when they are all in use mark() returns kNoMarker and the receive
// scans from the head, which is slower but still correct.
//
// Invariants: cache_head_ == nullptr iff cache_tail_ == nullptr; every live marker points at
// an envelope in the cache or is nullptr; cache_len_ counts the cache.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ergon/mailbox/message.hpp"
#include "ergon/mailbox/mpsc_queue.hpp"

namespace ergon::mailbox {

class Mailbox {
 public:
  using Inbox = MpscInbox<Envelope, &Envelope::next>;
  using MarkerId = int;
  static constexpr MarkerId kNoMarker = -1;
  static constexpr int kMaxMarkers = 4;

  Mailbox() = default;
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Any thread.
  [[nodiscard]] PushResult push(Envelope* e) noexcept { return inbox_.push(e); }
  [[nodiscard]] bool try_unblock() noexcept { return inbox_.try_unblock(); }

  // Receiver only ----------------------------------------------------------------------------

  // Moves everything in the inbox to the tail of the cache. True if anything moved.
  bool fetch() noexcept;

  // First envelope of the cache (nullptr if empty). Iterate with e->next.
  Envelope* head() const noexcept { return cache_head_; }

  // Unlinks `e`, whose predecessor in the cache is `prev` (nullptr if e is the head).
  void remove(Envelope* prev, Envelope* e) noexcept;

  // Where a scan starting at `m` begins: the envelope after which to look (nullptr: head).
  Envelope* marker_position(MarkerId m) const noexcept {
    return m == kNoMarker ? nullptr : markers_[m];
  }
  [[nodiscard]] MarkerId mark() noexcept;
  void release(MarkerId m) noexcept;

  // C2 of the inbox: call only after fetch() returned false.
  [[nodiscard]] BlockResult try_block() noexcept { return inbox_.try_block(); }

  // Closes the inbox and disposes of every envelope (cache and inbox). Returns how many there
  // were. Later pushes fail with kClosed until reopen().
  std::size_t close_and_clear() noexcept;
  void reopen() noexcept;

  std::size_t cached() const noexcept { return cache_len_; }
  bool inbox_empty() const noexcept { return inbox_.empty(); }

 private:
  Inbox inbox_;
  Envelope* cache_head_ = nullptr;
  Envelope* cache_tail_ = nullptr;
  std::size_t cache_len_ = 0;
  Envelope* markers_[kMaxMarkers] = {};
  std::uint8_t marker_used_ = 0;  // bit i: markers_[i] is live
};

}  // namespace ergon::mailbox
