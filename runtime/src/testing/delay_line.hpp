// DelayLine: the messages fault injection holds back, each until its delivery time.
//
// Design
// ------
// With Options::faults.delay_messages or reorder_messages on, the send path (core/send.cpp,
// Injector::on_send, faults.cpp) offers each envelope to the scheduler's delay line before it
// pushes it. The line either passes it back (the caller pushes it as usual) or takes it and
// delivers it later through the ordinary push (deliver_envelope: steps 2-4 of a send,
// docs/design.md), so a held message for a receiver that has ended meanwhile is dropped and counted
// like any late send.
//
// Protocol, under mu_:
//   DL1 offer(from, to, e, hold): the pair (from, to) is *busy* if it has a message held. A
//       message that is not to be held and whose pair is not busy is passed back, unless its
//       receiver has reorder-held messages waiting to be overtaken (DL3).
//   DL2 otherwise the line takes it with a due time: now + its delay (delay), now + max_delay
//       (reorder, waiting to be overtaken), or now (neither: it only queues behind its pair),
//       raised to the due time of the pair's last held message. Entries are ordered by (due,
//       seq), seq counting offers, so a pair's messages leave in the order they were sent.
//   DL3 an offered message that is passed while its receiver has waiters is pushed by offer
//       itself, under mu_, and then releases them (DL5): it is the message that overtook them.
//   DL4 deliver_due(now): while the first entry is due, take it out and push it, then DL5.
//   DL5 release_overtaken: every message held for the same receiver from another sender,
//       waiting to be overtaken, is due now: it has been overtaken, and is counted as reordered.
//   DL6 clear(): every held envelope is disposed and counted as dropped (Runtime::run's end,
//       when every process has ended; and the destructor).
//
// Invariants:
//   - Per-pair order (Erlang's guarantee): the due times of one pair's entries never
//     decrease in seq order (DL2 raises each to the pair's last), a reorder wait starts only
//     on a pair that is not busy (so the waiter is its pair's first entry, and making it due
//     now in DL5 cannot pass an older message of its pair), and a pair's messages are passed
//     back to the caller only when none is held (DL1). A process sends from one thread at a
//     time, so nothing of its pair enters the line between DL1 and the caller's push.
//     Senders outside any process share one pair per receiver (they cannot be told apart).
//   - Every envelope taken is freed exactly once: pushed (DL4, DL3: the mailbox then owns it),
//     disposed as a drop (a receiver that ended), or disposed by DL6 or discard_if.
//   - Pushes happen under mu_. So when demonitor(ref, flush) has removed a Down from the line
//     (discard_if) and then looks in the mailbox, a Down that left the line before is there.
//
// Who delivers on time: in parallel mode a thread of the line's own (own_thread), which waits
// on cv_ until the first due time (read from Scheduler::now(), the runtime's one clock) and is
// woken when an offer becomes the new first entry. Deterministic mode creates the line with
// no thread and drives it from its one thread with its logical clock: next_due() tells when
// the line has something to deliver, deliver_due(now) delivers it.
//
// Rejected: a timer per message on the sender's worker (a message's due time would be tied
// to a worker that may be busy or parked, the per-pair order would need a second structure
// anyway, and a receiver on another pool would be woken from a foreign worker); holding
// messages in the receiver's mailbox with a due time (every receive would pay to skip them,
// and the mailbox library must not know about time).
//
// Cost: nothing when fault injection is off (the scheduler has no DelayLine). When on, every
// send takes mu_: fault-injected runs are tests, not benchmarks.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/send.hpp"
#include "ergon/mailbox/message.hpp"
#include "ergon/pid.hpp"

namespace ergon::detail {

class Scheduler;
class Worker;

class DelayLine {
 public:
  // What offer() does with a message.
  enum class Hold : std::uint8_t {
    kNone,     // not chosen: it still queues behind a held message of its pair
    kDelay,    // held for `delay_ns`
    kReorder,  // held until another sender's message to the receiver overtakes it
  };
  enum class Offer : std::uint8_t {
    kPassed,     // the caller pushes the envelope itself
    kHeld,       // the line took it
    kDelivered,  // the line pushed it already (it overtook held messages, DL3)
  };

  // own_thread: start a thread that delivers each message when due (parallel mode). Without
  // it, nobody delivers unless deliver_due() is called (deterministic mode's driver).
  // max_delay_ns: how long a reorder waits to be overtaken at most.
  DelayLine(Scheduler& sched, std::int64_t max_delay_ns, bool own_thread);
  // Starts the own thread, if any (Injector::start, once the scheduler's hooks are installed).
  void start();
  // Stops the thread and frees what is held (DL6).
  ~DelayLine();
  DelayLine(const DelayLine&) = delete;
  DelayLine& operator=(const DelayLine&) = delete;

  // DL1-DL3. Any thread; `from` is the sending process (Pid{} outside any process), `w` the
  // caller's worker or nullptr (where a drop by DL3 is counted).
  [[nodiscard]] Offer offer(Pid from, Pid to, mailbox::Envelope* e, Hold how, std::int64_t delay_ns,
                            Worker* w);

  // The due time of the first held message (Scheduler::now() units), INT64_MAX when none is
  // held. Any thread.
  std::int64_t next_due() const;
  // DL4: delivers every message due at `now`, in order, and those they overtook. Any thread
  // that is not running a process (the line's own thread, or deterministic mode's driver).
  void deliver_due(std::int64_t now);

  // Removes and frees the messages held for `to` that `match(e, arg)` accepts (demonitor's
  // flush). Returns how many. Any thread.
  std::size_t discard_if(Pid to, bool (*match)(const mailbox::Envelope*, const void*),
                         const void* arg);
  // DL6. Any thread.
  void clear() noexcept;

  // Statistics (Stats::messages_delayed, messages_reordered). Any thread.
  std::uint64_t delayed() const;
  std::uint64_t reordered() const;
  std::size_t held() const;

 private:
  using Key = std::pair<std::int64_t, std::uint64_t>;  // (due, seq)
  struct Entry {
    mailbox::Envelope* e;
    Pid from;
    Pid to;
    bool awaits_overtake;  // a reorder (DL2) not yet overtaken: listed in waiting_[to]
  };
  struct PairState {
    std::uint32_t held = 0;     // entries of the pair in held_
    std::int64_t last_due = 0;  // due time of the pair's newest entry
  };
  struct PairHash {
    std::size_t operator()(const std::pair<std::uint64_t, std::uint64_t>& k) const noexcept {
      return std::hash<std::uint64_t>()(k.first * 0x9e3779b97f4a7c15ull ^ k.second);
    }
  };

  void run();                                 // the own thread's loop
  void deliver_due_locked(std::int64_t now);  // requires mu_
  // DL5, requires mu_: waiters for `to` from another sender than `from` become due at `now`.
  bool release_overtaken(Pid to, Pid from, std::int64_t now);
  void forget_waiter(Pid to, const Key& k);  // requires mu_
  void drop_pair_entry(Pid from, Pid to);    // requires mu_: one entry of the pair left

  Scheduler& sched_;
  const std::int64_t max_delay_ns_;
  mutable std::mutex mu_;
  std::condition_variable cv_;  // the own thread waits here for the first due time
  std::map<Key, Entry> held_;   // guarded by mu_
  std::unordered_map<std::pair<std::uint64_t, std::uint64_t>, PairState, PairHash>
      pairs_;                                                    // guarded by mu_
  std::unordered_map<std::uint64_t, std::vector<Key>> waiting_;  // by receiver; guarded by mu_
  std::uint64_t seq_ = 0;                                        // guarded by mu_
  std::uint64_t delayed_ = 0, reordered_ = 0;                    // guarded by mu_
  bool stop_ = false;                                            // guarded by mu_
  const bool own_thread_;
  std::thread thread_;  // started by start()
};

}  // namespace ergon::detail
