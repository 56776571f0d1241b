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
// The lone arrival. A receive that finds its cache empty usually finds one envelope in the
// inbox (a request/reply, a token passed on): fetch_lone() hands it over without linking it
// into the cache, so that a receive that takes it skips the append, the arrival number, the
// length's two updates and remove() (pingpong: 974 -> 929 instructions a round trip of two
// receives, bench/budget.py; docs/benchmarks.md). The receive owns the envelope until a
// handler takes it; if none does, or a guard throws, it keep()s it, and the cache is as
// fetch() would have left it. Arrival numbers are not needed for it: a receive through an
// arrival-number marker fetches the normal way. Rejected: taking every batch apart this way (a
// batch has to be kept in order anyway). Not tried: an inline fetch_lone (it would put the
// inbox exchange into every receive site).
//
// Length (Erlang's message_queue_len, for ergon::process_info): the cache's length, which
// only the receiver writes (relaxed stores, so other threads may read it), plus the inbox's
// count of unfetched envelopes, which rides in the inbox's head word (MpscInbox, "The count").
// Neither costs an atomic RMW. Each part is exact; their sum can miss a batch for the moment
// between a fetch's exchange and its cache update, and the inbox part saturates at 65,535.
//
// Bounded mode (docs/design.md, "Bounded mailboxes"). A mailbox with a capacity (set_bound,
// 0: unbounded, the default) counts the slots its counted envelopes (kCounted) hold in one
// atomic word, `bound_`: the slots in use in the low 32 bits, the senders waiting for a slot
// in the high 32. The protocol, in named steps:
//   B1 reserve: a sender CASes used -> used + 1 while used < capacity (try_reserve), then
//      marks its envelope kCounted and pushes it. A push that fails (kClosed) gives the slot
//      back (release).
//   B2 wait:    a sender that found it full adds itself to the runtime's list of waiting
//      senders and, under the same lock, CASes waiters -> waiters + 1 only while used is still
//      at capacity (add_waiter); if a slot freed meanwhile it retries B1 instead of waiting.
//   B3 release: whoever disposes of a kCounted envelope (the receiver taking it, a close, a
//      drop) decrements used (release). When the old word had waiters, it tells the caller,
//      which wakes one waiting sender (and takes it off the list: remove_waiter). The woken
//      sender retries B1; a sender that took the freed slot first keeps it (no hand-off).
// Because the waiters count changes only under the runtime's lock together with its list, a
// release that sees waiters > 0 finds a sender on the list, and a sender never waits once a
// slot is free: the CAS of B2 and the decrement of B3 are ordered in the word.
// The word is never reset: a close disposes of its counted envelopes (each gives its slot
// back), and a late sender's slot comes back when its envelope is disposed of, even in the
// record's next process. The unbounded mailbox pays for all this one load and branch in the
// send path (on capacity_, beside head_) and one on each taken envelope's flags.
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

  // fetch() for a receive whose cache is empty (head() == nullptr), on a receive's every
  // blocking round: a lone arrival comes back unlinked, neither in the cache nor in its
  // length, for the receive to take at once or to keep(); a batch goes to the cache as fetch()
  // puts it (`lone` nullptr, `any` true). See "The lone arrival" above.
  struct Fetched {
    Envelope* lone;
    bool any;
  };
  Fetched fetch_lone() noexcept;
  // Puts `e`, a lone arrival no handler took, at the tail of the cache, numbered and counted.
  void keep(Envelope* e) noexcept;

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

  // Bounded mode (see above) ---------------------------------------------------------------

  // Sets the capacity (0: unbounded). At spawn, while nothing is queued (the record is
  // private: no sender can reserve yet).
  void set_bound(std::uint32_t capacity) noexcept {
    // relaxed: published with the record (the spawn's release store of its state).
    capacity_.store(capacity, std::memory_order_relaxed);
    high_water_.store(0, std::memory_order_relaxed);
  }
  // Any thread. relaxed: a sender's read of a record it looked up; a stale value applies the
  // old occupant's bound to a message that the stamp check will drop anyway.
  std::uint32_t capacity() const noexcept { return capacity_.load(std::memory_order_relaxed); }

  enum class Reserve : std::uint8_t { kReserved, kFull };
  // B1. Any thread.
  [[nodiscard]] Reserve try_reserve() noexcept;
  // B1 for a mailbox that drops its oldest: takes a slot even beyond the capacity (the
  // receiver trims, trim_oldest). Any thread.
  void force_reserve() noexcept;
  enum class Release : std::uint8_t { kNoWaiter, kSenderWaits };
  // B3. Any thread: gives back the slot of a kCounted envelope (the caller clears the flag or
  // disposes of it). kSenderWaits: wake one waiting sender.
  [[nodiscard]] Release release_slot() noexcept;
  enum class Wait : std::uint8_t { kWaiting, kNotFull };
  // B2. Under the runtime's waiting-senders lock only.
  [[nodiscard]] Wait add_waiter() noexcept;
  // A waiter leaves the count (woken by a release, or gone by itself). Under the same lock.
  void remove_waiter() noexcept;
  // Receiver only: drops the oldest counted envelopes (after a fetch) until the slots in use
  // are down to the capacity; returns how many it dropped.
  std::size_t trim_oldest() noexcept;
  // Advisory (any thread).
  std::uint32_t slots_used() const noexcept {
    return static_cast<std::uint32_t>(bound_.load(std::memory_order_relaxed));  // relaxed: stat
  }
  std::uint32_t waiting_senders() const noexcept {
    return static_cast<std::uint32_t>(bound_.load(std::memory_order_relaxed) >> 32);  // stat
  }
  std::uint32_t high_water() const noexcept {
    return high_water_.load(std::memory_order_relaxed);  // relaxed: a statistic
  }

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
  // Numbers the chain from `first` (in arrival order) and puts it at the tail of the cache.
  void append_batch(Envelope* first) noexcept;

  Inbox inbox_;
  Envelope* cache_head_ = nullptr;
  Envelope* cache_tail_ = nullptr;
  // Written by the receiver only (load + store, never an RMW); read by length() on any
  // thread. relaxed: a statistic.
  std::atomic<std::size_t> cache_len_{0};
  Envelope* markers_[kMaxMarkers] = {};
  std::uint8_t marker_used_ = 0;  // bit i: markers_[i] is live
  std::uint32_t next_seq_ = 0;    // arrival number of the next fetched envelope
  // Bounded mode (see above). capacity_: written at spawn, read by senders (relaxed, see
  // capacity()). bound_: senders (B1, B2), the receiver and disposers (B3). high_water_: the
  // most slots in use at once, raised by senders with a CAS (relaxed: a statistic).
  std::atomic<std::uint32_t> capacity_{0};
  std::atomic<std::uint32_t> high_water_{0};
  std::atomic<std::uint64_t> bound_{0};
};

}  // namespace ergon::mailbox
