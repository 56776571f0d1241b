// The mailbox library on its own, without a runtime: MpscInbox's push / take / block /
// unblock / close protocol (P1, C1, C2, U1, X1 in mpsc_inbox.hpp), conservation and
// per-producer order under many producer threads, and Mailbox's receiver-side cache:
// selective removal, receive markers, close_and_clear, and envelope accounting.
#include "ergon/mailbox/mailbox.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ergon/mailbox/message.hpp"
#include "ergon/mailbox/mpsc_inbox.hpp"
#include "test_util.hpp"

namespace {

using ergon::mailbox::BlockResult;
using ergon::mailbox::Envelope;
using ergon::mailbox::Mailbox;
using ergon::mailbox::PushResult;

struct Node {
  Node* next = nullptr;
  int producer = 0;
  int seq = 0;
};
using Inbox = ergon::mailbox::MpscInbox<Node, &Node::next>;

// What one producer sends: its id and a per-producer sequence number.
struct Item {
  int producer;
  int seq;
};

// Counts how many instances are alive, to prove that disposing an envelope destroys its value.
struct Tracked {
  static inline std::atomic<int> alive{0};
  int v;
  explicit Tracked(int x) : v(x) { alive.fetch_add(1, std::memory_order_relaxed); }
  Tracked(Tracked&& o) noexcept : v(o.v) { alive.fetch_add(1, std::memory_order_relaxed); }
  ~Tracked() { alive.fetch_sub(1, std::memory_order_relaxed); }
};

// A one-shot wake-up for a consumer that blocked its inbox, with a generous bound so that a
// lost wake-up fails the test instead of hanging it.
class Doorbell {
 public:
  void ring() {
    std::lock_guard<std::mutex> g(mu_);
    rung_ = true;
    cv_.notify_one();
  }
  // False if nobody rang within the test's patience.
  bool wait() {
    std::unique_lock<std::mutex> g(mu_);
    bool ok = cv_.wait_for(g, ergon_test::patience(), [this] { return rung_; });
    rung_ = false;
    return ok;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool rung_ = false;
};

// Collects the values of int messages in the cache, in order.
std::vector<int> cached_ints(const Mailbox& mb) {
  std::vector<int> out;
  for (Envelope* e = mb.head(); e != nullptr; e = e->next) {
    if (e->holds<int>()) out.push_back(ergon::mailbox::payload<int>(e));
  }
  return out;
}

void push_int(Mailbox& mb, int v) {
  ASSERT_EQ(mb.push(ergon::mailbox::make_message<int>(v)), PushResult::kQueued);
}

// Removes the first cached int message equal to `v`; false if there is none.
bool remove_int(Mailbox& mb, int v) {
  Envelope* prev = nullptr;
  for (Envelope* e = mb.head(); e != nullptr; prev = e, e = e->next) {
    if (e->holds<int>() && ergon::mailbox::payload<int>(e) == v) {
      mb.remove(prev, e);
      ergon::mailbox::dispose(e);
      return true;
    }
  }
  return false;
}

// The values after the marker's position (what a receive through the marker would scan).
std::vector<int> ints_after_marker(const Mailbox& mb, Mailbox::MarkerId m) {
  std::vector<int> out;
  Envelope* pos = mb.marker_position(m);
  for (Envelope* e = pos != nullptr ? pos->next : mb.head(); e != nullptr; e = e->next) {
    if (e->holds<int>()) out.push_back(ergon::mailbox::payload<int>(e));
  }
  return out;
}

class MailboxTest : public testing::Test {
 protected:
  void SetUp() override { envelopes_at_start_ = ergon::mailbox::live_envelopes(); }
  void TearDown() override {
    EXPECT_EQ(ergon::mailbox::live_envelopes(), envelopes_at_start_) << "envelopes leaked";
  }
  std::int64_t envelopes_at_start_ = 0;
};

using MpscInbox = MailboxTest;
using Mailboxes = MailboxTest;

// --- MpscInbox -------------------------------------------------------------------------------

struct ThrowsInItsDestructor {
  ~ThrowsInItsDestructor() noexcept(false) {}
};
struct NotMovable {
  NotMovable() = default;
  NotMovable(NotMovable&&) = delete;
};

// A message type whose destructor may throw is refused when it is sent (make_message's
// static_assert names the fix), instead of compiling and terminating when a drop destroys it.
TEST(MessageType, AThrowingDestructorOrAnImmovableTypeIsNotAMessageType) {
  EXPECT_TRUE(ergon::mailbox::is_message_type_v<int>);
  EXPECT_TRUE(ergon::mailbox::is_message_type_v<std::string>);
  EXPECT_FALSE(ergon::mailbox::is_message_type_v<ThrowsInItsDestructor>);
  EXPECT_FALSE(ergon::mailbox::is_message_type_v<NotMovable>);
}

TEST_F(MpscInbox, TakeAllReturnsNodesInPushOrder) {
  Inbox inbox;
  EXPECT_TRUE(inbox.empty());
  EXPECT_EQ(inbox.take_all(), nullptr);
  Node n[5];
  for (int i = 0; i < 5; ++i) {
    n[i].seq = i;
    EXPECT_EQ(inbox.push(&n[i]), PushResult::kQueued);
  }
  EXPECT_FALSE(inbox.empty());
  Node* got = inbox.take_all();
  for (int i = 0; i < 5; ++i) {
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(got, &n[i]);
    got = got->next;
  }
  EXPECT_EQ(got, nullptr);
  EXPECT_TRUE(inbox.empty());
  EXPECT_EQ(inbox.take_all(), nullptr);
}

TEST_F(MpscInbox, PushReportsTheWaitingReaderExactlyOnce) {
  Inbox inbox;
  Node a, b, c;
  ASSERT_EQ(inbox.try_block(), BlockResult::kBlocked);
  EXPECT_TRUE(inbox.blocked());
  EXPECT_TRUE(inbox.empty());
  EXPECT_EQ(inbox.push(&a), PushResult::kUnblockedReader);
  EXPECT_FALSE(inbox.blocked());
  EXPECT_EQ(inbox.push(&b), PushResult::kQueued);
  // A wake-up was already handed to the first pusher: nobody else can unblock.
  EXPECT_FALSE(inbox.try_unblock());
  // C2 fails while something is queued: the consumer must take instead of waiting.
  EXPECT_EQ(inbox.try_block(), BlockResult::kNotEmpty);
  Node* got = inbox.take_all();
  ASSERT_EQ(got, &a);
  EXPECT_EQ(got->next, &b);  // kBlocked was not taken for a node
  EXPECT_EQ(b.next, nullptr);
  // The next block / push cycle reports the reader again.
  ASSERT_EQ(inbox.try_block(), BlockResult::kBlocked);
  EXPECT_EQ(inbox.take_all(), nullptr);  // a blocked inbox holds nothing
  EXPECT_EQ(inbox.push(&c), PushResult::kUnblockedReader);
  EXPECT_EQ(inbox.take_all(), &c);
}

TEST_F(MpscInbox, UnblockTakesOverTheWakeUpFromLaterPushes) {
  Inbox inbox;
  Node a;
  EXPECT_FALSE(inbox.try_unblock()) << "nothing to unblock in an empty inbox";
  ASSERT_EQ(inbox.try_block(), BlockResult::kBlocked);
  EXPECT_TRUE(inbox.try_unblock());
  EXPECT_FALSE(inbox.try_unblock()) << "the wake-up can be owned only once";
  EXPECT_FALSE(inbox.blocked());
  EXPECT_EQ(inbox.push(&a), PushResult::kQueued);
  EXPECT_EQ(inbox.take_all(), &a);
}

TEST_F(MpscInbox, NotifyIsNeverLost) {
  Inbox inbox;
  Node a;
  // Before the consumer blocks: the wake-up stays pending and the next block fails once.
  EXPECT_FALSE(inbox.notify());
  EXPECT_TRUE(inbox.empty());
  EXPECT_FALSE(inbox.notify()) << "a second notify adds nothing";
  EXPECT_EQ(inbox.try_block(), BlockResult::kNotEmpty);
  EXPECT_EQ(inbox.take_all(), nullptr);
  ASSERT_EQ(inbox.try_block(), BlockResult::kBlocked) << "the pending wake-up is used up";
  // While it waits: the notifier owns the wake-up, once.
  EXPECT_TRUE(inbox.notify());
  EXPECT_FALSE(inbox.try_unblock());
  // A push after a pending notify sees an empty inbox (the chain ends at the node).
  EXPECT_FALSE(inbox.notify());
  a.next = &a;
  EXPECT_EQ(inbox.push(&a), PushResult::kQueued);
  EXPECT_EQ(a.next, nullptr);
  EXPECT_FALSE(inbox.notify()) << "with nodes queued the next block fails anyway";
  EXPECT_EQ(inbox.try_block(), BlockResult::kNotEmpty);
  EXPECT_EQ(inbox.take_all(), &a);
  ASSERT_EQ(inbox.try_block(), BlockResult::kBlocked);
  EXPECT_TRUE(inbox.try_unblock());
  (void)inbox.close();
  EXPECT_FALSE(inbox.notify());
  EXPECT_TRUE(inbox.closed());
}

TEST_F(MpscInbox, CloseReturnsQueuedNodesAndLaterPushesFail) {
  Inbox inbox;
  Node n[3];
  for (int i = 0; i < 3; ++i) {
    n[i].seq = i;
    ASSERT_EQ(inbox.push(&n[i]), PushResult::kQueued);
  }
  Node* rest = inbox.close();
  EXPECT_TRUE(inbox.closed());
  EXPECT_TRUE(inbox.empty());
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(rest, &n[i]);
    rest = rest->next;
  }
  EXPECT_EQ(rest, nullptr);

  Node late;
  Node sentinel;
  late.next = &sentinel;
  EXPECT_EQ(inbox.push(&late), PushResult::kClosed);
  EXPECT_EQ(late.next, &sentinel) << "a refused push must leave the node to its caller";
  EXPECT_EQ(inbox.take_all(), nullptr);
  EXPECT_FALSE(inbox.try_unblock());
  EXPECT_EQ(inbox.try_block(), BlockResult::kNotEmpty);
  EXPECT_EQ(inbox.close(), nullptr);

  inbox.reopen();
  EXPECT_FALSE(inbox.closed());
  EXPECT_EQ(inbox.push(&late), PushResult::kQueued);
  EXPECT_EQ(inbox.take_all(), &late);
}

TEST_F(MpscInbox, CloseOfABlockedInboxReturnsNothing) {
  Inbox inbox;
  ASSERT_EQ(inbox.try_block(), BlockResult::kBlocked);
  EXPECT_EQ(inbox.close(), nullptr);
  Node a;
  EXPECT_EQ(inbox.push(&a), PushResult::kClosed);
}

// Many producers, one consumer that blocks whenever it runs dry: every node arrives once, in
// its producer's order, and every successful block is answered by exactly one wake-up.
TEST_F(MpscInbox, ManyProducersDeliverEveryNodeOnceInPerProducerOrder) {
  const int kProducers = 4;
  const int kPerProducer = ergon_test::scaled(50'000, 5'000);
  Inbox inbox;
  std::vector<std::vector<Node>> nodes(kProducers, std::vector<Node>(kPerProducer));
  Doorbell bell;
  std::atomic<int> wakeups_owned{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int i = 0; i < kPerProducer; ++i) {
        Node& n = nodes[p][i];
        n.producer = p;
        n.seq = i;
        PushResult r = inbox.push(&n);
        ASSERT_NE(r, PushResult::kClosed);
        if (r == PushResult::kUnblockedReader) {
          wakeups_owned.fetch_add(1, std::memory_order_relaxed);
          bell.ring();
        }
      }
    });
  }
  go.store(true, std::memory_order_release);

  std::vector<int> next_seq(kProducers, 0);
  int received = 0;
  int blocks = 0;
  bool lost_wakeup = false;
  // A lambda, so that a failed ASSERT leaves it and the producers are still joined.
  [&] {
    while (received < kProducers * kPerProducer && !lost_wakeup) {
      Node* n = inbox.take_all();
      if (n == nullptr) {
        if (inbox.try_block() == BlockResult::kBlocked) {
          ++blocks;
          lost_wakeup = !bell.wait();
        }
        continue;
      }
      for (; n != nullptr; n = n->next) {
        ASSERT_GE(n->producer, 0);
        ASSERT_LT(n->producer, kProducers);
        ASSERT_EQ(n->seq, next_seq[n->producer])
            << "producer " << n->producer << " delivered out of order or twice";
        ++next_seq[n->producer];
        ++received;
      }
    }
  }();
  for (auto& t : producers) t.join();
  ASSERT_FALSE(lost_wakeup) << "the consumer blocked and no push reported it";
  EXPECT_EQ(received, kProducers * kPerProducer);
  for (int p = 0; p < kProducers; ++p) EXPECT_EQ(next_seq[p], kPerProducer);
  EXPECT_EQ(inbox.take_all(), nullptr);
  EXPECT_EQ(wakeups_owned.load(), blocks) << "each block must be answered by one wake-up";
}

// Racing pushers (and an unblocker) against one blocked consumer: exactly one of them owns the
// wake-up, every round.
TEST_F(MpscInbox, ExactlyOneOfRacingPushersAndUnblockerOwnsTheWakeUp) {
  const int kRounds = ergon_test::scaled(2'000, 300);
  const int kThreads = 3;  // two pushers and one unblocker
  Inbox inbox;
  std::vector<Node> nodes(kThreads);
  std::atomic<int> round{-1};
  std::atomic<int> finished{0};
  std::atomic<int> owners{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        while (round.load(std::memory_order_acquire) < r) std::this_thread::yield();
        bool owner = t == kThreads - 1 ? inbox.try_unblock()
                                       : inbox.push(&nodes[t]) == PushResult::kUnblockedReader;
        if (owner) owners.fetch_add(1, std::memory_order_relaxed);
        finished.fetch_add(1, std::memory_order_acq_rel);
      }
    });
  }
  int failures = 0;
  for (int r = 0; r < kRounds; ++r) {
    EXPECT_EQ(inbox.try_block(), BlockResult::kBlocked);
    owners.store(0, std::memory_order_relaxed);
    finished.store(0, std::memory_order_relaxed);
    round.store(r, std::memory_order_release);
    while (finished.load(std::memory_order_acquire) < kThreads) std::this_thread::yield();
    if (owners.load(std::memory_order_relaxed) != 1) ++failures;
    int taken = 0;
    for (Node* n = inbox.take_all(); n != nullptr; n = n->next) ++taken;
    EXPECT_EQ(taken, kThreads - 1);
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0) << "rounds in which the wake-up had no owner or two owners";
}

// --- Mailbox ---------------------------------------------------------------------------------

TEST_F(Mailboxes, EnvelopesKnowTheirTypeAndDisposeTheirValue) {
  const std::int64_t before = ergon::mailbox::live_envelopes();
  Envelope* a = ergon::mailbox::make_message<Tracked>(7);
  Envelope* b = ergon::mailbox::make_message<std::string>("seven");
  EXPECT_EQ(ergon::mailbox::live_envelopes(), before + 2);
  EXPECT_EQ(Tracked::alive.load(), 1);
  EXPECT_TRUE(a->holds<Tracked>());
  EXPECT_FALSE(a->holds<int>());
  EXPECT_FALSE(a->holds<std::string>());
  EXPECT_TRUE(b->holds<std::string>());
  EXPECT_EQ(ergon::mailbox::payload<Tracked>(a).v, 7);
  EXPECT_EQ(ergon::mailbox::payload<std::string>(b), "seven");
  a->next = b;
  b->next = nullptr;
  EXPECT_EQ(ergon::mailbox::dispose_chain(a), 2u);
  EXPECT_EQ(Tracked::alive.load(), 0);
  EXPECT_EQ(ergon::mailbox::live_envelopes(), before);
}

TEST_F(Mailboxes, FetchMovesTheInboxToTheCacheInArrivalOrder) {
  Mailbox mb;
  EXPECT_FALSE(mb.fetch());
  EXPECT_EQ(mb.head(), nullptr);
  for (int i = 1; i <= 3; ++i) push_int(mb, i);
  EXPECT_FALSE(mb.inbox_empty());
  EXPECT_EQ(mb.cached(), 0u);
  EXPECT_TRUE(mb.fetch());
  EXPECT_TRUE(mb.inbox_empty());
  EXPECT_EQ(mb.cached(), 3u);
  for (int i = 4; i <= 5; ++i) push_int(mb, i);
  EXPECT_TRUE(mb.fetch());
  EXPECT_EQ(cached_ints(mb), (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(mb.cached(), 5u);
  EXPECT_EQ(mb.close_and_clear(), 5u);
}

TEST_F(Mailboxes, FetchLoneHandsOverALoneArrivalAndKeepPutsItInTheCache) {
  Mailbox mb;
  Mailbox::Fetched f = mb.fetch_lone();
  EXPECT_EQ(f.lone, nullptr);
  EXPECT_FALSE(f.any) << "nothing arrived";
  push_int(mb, 1);
  f = mb.fetch_lone();
  ASSERT_NE(f.lone, nullptr);
  EXPECT_TRUE(f.any);
  EXPECT_EQ(ergon::mailbox::payload<int>(f.lone), 1);
  EXPECT_EQ(f.lone->next, nullptr);
  EXPECT_EQ(mb.head(), nullptr) << "a lone arrival is not linked into the cache";
  EXPECT_EQ(mb.cached(), 0u);
  EXPECT_TRUE(mb.inbox_empty());
  mb.keep(f.lone);  // no handler took it: it waits in the cache
  EXPECT_EQ(cached_ints(mb), (std::vector<int>{1}));
  EXPECT_EQ(mb.cached(), 1u);
  push_int(mb, 2);
  EXPECT_TRUE(mb.fetch());
  EXPECT_EQ(cached_ints(mb), (std::vector<int>{1, 2})) << "a kept arrival keeps its order";
  EXPECT_EQ(mb.close_and_clear(), 2u);
}

TEST_F(Mailboxes, FetchLoneMovesABatchToTheCacheInArrivalOrder) {
  Mailbox mb;
  for (int i = 1; i <= 3; ++i) push_int(mb, i);
  const Mailbox::Fetched f = mb.fetch_lone();
  EXPECT_EQ(f.lone, nullptr);
  EXPECT_TRUE(f.any);
  EXPECT_EQ(cached_ints(mb), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(mb.cached(), 3u);
  EXPECT_EQ(mb.close_and_clear(), 3u);
}

TEST_F(Mailboxes, AKeptLoneArrivalIsNumberedForArrivalNumberMarkers) {
  Mailbox mb;
  std::vector<Mailbox::MarkerId> positions;
  for (int i = 0; i < Mailbox::kMaxMarkers; ++i) positions.push_back(mb.mark());
  push_int(mb, 1);
  mb.fetch();
  const Mailbox::MarkerId fifth = mb.mark();  // an arrival number: 1 is older
  ASSERT_TRUE(remove_int(mb, 1));
  push_int(mb, 2);
  const Mailbox::Fetched f = mb.fetch_lone();
  ASSERT_NE(f.lone, nullptr);
  mb.keep(f.lone);
  ASSERT_NE(mb.head(), nullptr);
  EXPECT_FALSE(mb.before_marker(fifth, mb.head())) << "2 arrived after the fifth marker";
  for (Mailbox::MarkerId m : positions) mb.release(m);
  EXPECT_EQ(mb.close_and_clear(), 1u);
}

TEST_F(Mailboxes, SelectiveReceiveKeepsSkippedOrder) {
  Mailbox mb;
  for (int i = 1; i <= 6; ++i) {
    push_int(mb, i);
    ASSERT_EQ(mb.push(ergon::mailbox::make_message<std::string>(std::to_string(i))),
              PushResult::kQueued);
  }
  mb.fetch();
  // Take the even ints, skipping everything else.
  for (int v : {2, 4, 6}) ASSERT_TRUE(remove_int(mb, v));
  EXPECT_EQ(cached_ints(mb), (std::vector<int>{1, 3, 5}));
  EXPECT_EQ(mb.cached(), 9u);
  // The strings stayed too, in order, between the ints.
  std::vector<std::string> order;
  for (Envelope* e = mb.head(); e != nullptr; e = e->next) {
    order.push_back(e->holds<int>() ? "i" + std::to_string(ergon::mailbox::payload<int>(e))
                                    : ergon::mailbox::payload<std::string>(e));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"i1", "1", "2", "i3", "3", "4", "i5", "5", "6"}));
  // A later arrival goes after the skipped ones.
  push_int(mb, 7);
  mb.fetch();
  EXPECT_EQ(cached_ints(mb), (std::vector<int>{1, 3, 5, 7}));
  EXPECT_EQ(mb.close_and_clear(), 10u);
}

TEST_F(Mailboxes, RemovingTheHeadAndTheTailKeepsTheCacheConsistent) {
  Mailbox mb;
  for (int i = 1; i <= 3; ++i) push_int(mb, i);
  mb.fetch();
  ASSERT_TRUE(remove_int(mb, 3));  // the tail
  push_int(mb, 4);
  mb.fetch();
  EXPECT_EQ(cached_ints(mb), (std::vector<int>{1, 2, 4}));
  ASSERT_TRUE(remove_int(mb, 1));  // the head
  EXPECT_EQ(cached_ints(mb), (std::vector<int>{2, 4}));
  ASSERT_TRUE(remove_int(mb, 2));
  ASSERT_TRUE(remove_int(mb, 4));
  EXPECT_EQ(mb.head(), nullptr);
  EXPECT_EQ(mb.cached(), 0u);
  push_int(mb, 5);  // an emptied cache takes new arrivals from the head again
  mb.fetch();
  EXPECT_EQ(cached_ints(mb), (std::vector<int>{5}));
  EXPECT_EQ(mb.close_and_clear(), 1u);
}

TEST_F(Mailboxes, CloseAndClearDisposesCacheAndInboxAndRefusesLaterPushes) {
  Mailbox mb;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(mb.push(ergon::mailbox::make_message<Tracked>(i)), PushResult::kQueued);
  }
  mb.fetch();
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(mb.push(ergon::mailbox::make_message<Tracked>(i)), PushResult::kQueued);
  }
  (void)mb.mark();
  EXPECT_EQ(mb.close_and_clear(), 5u);
  EXPECT_EQ(Tracked::alive.load(), 0);
  EXPECT_EQ(mb.head(), nullptr);
  EXPECT_EQ(mb.cached(), 0u);
  EXPECT_EQ(mb.marker_position(0), nullptr);

  auto* late = ergon::mailbox::make_message<int>(9);
  EXPECT_EQ(mb.push(late), PushResult::kClosed);
  ergon::mailbox::dispose(late);  // a refused push leaves the envelope to its sender

  mb.reopen();
  push_int(mb, 10);
  mb.fetch();
  EXPECT_EQ(cached_ints(mb), (std::vector<int>{10}));
  EXPECT_EQ(mb.close_and_clear(), 1u);
}

TEST_F(Mailboxes, MarkFetchesTheInboxAndPointsAtItsTail) {
  Mailbox mb;
  push_int(mb, 1);
  push_int(mb, 2);
  Mailbox::MarkerId m = mb.mark();
  ASSERT_NE(m, Mailbox::kNoMarker);
  EXPECT_EQ(mb.cached(), 2u) << "mark() must fetch what already arrived";
  ASSERT_NE(mb.marker_position(m), nullptr);
  EXPECT_EQ(ergon::mailbox::payload<int>(mb.marker_position(m)), 2);
  EXPECT_EQ(ints_after_marker(mb, m), std::vector<int>{});
  push_int(mb, 3);
  push_int(mb, 4);
  mb.fetch();
  EXPECT_EQ(ints_after_marker(mb, m), (std::vector<int>{3, 4}));
  EXPECT_EQ(ints_after_marker(mb, Mailbox::kNoMarker), (std::vector<int>{1, 2, 3, 4}));
  mb.release(m);
  EXPECT_EQ(mb.close_and_clear(), 4u);
}

TEST_F(Mailboxes, MarkOfAnEmptyMailboxScansFromTheHead) {
  Mailbox mb;
  Mailbox::MarkerId m = mb.mark();
  ASSERT_NE(m, Mailbox::kNoMarker);
  EXPECT_EQ(mb.marker_position(m), nullptr);
  push_int(mb, 1);
  mb.fetch();
  EXPECT_EQ(ints_after_marker(mb, m), (std::vector<int>{1}));
  mb.release(m);
  EXPECT_EQ(mb.close_and_clear(), 1u);
}

TEST_F(Mailboxes, MarkerMovesToThePredecessorWhenItsEnvelopeIsRemoved) {
  Mailbox mb;
  for (int i = 1; i <= 3; ++i) push_int(mb, i);
  Mailbox::MarkerId m = mb.mark();  // at 3
  push_int(mb, 4);
  mb.fetch();
  ASSERT_TRUE(remove_int(mb, 3));
  ASSERT_NE(mb.marker_position(m), nullptr);
  EXPECT_EQ(ergon::mailbox::payload<int>(mb.marker_position(m)), 2);
  EXPECT_EQ(ints_after_marker(mb, m), (std::vector<int>{4})) << "4 is still new to the marker";
  ASSERT_TRUE(remove_int(mb, 1));  // an envelope before the marker: the marker stays
  EXPECT_EQ(ergon::mailbox::payload<int>(mb.marker_position(m)), 2);
  ASSERT_TRUE(remove_int(mb, 2));  // the marked head: the marker goes back to "from the head"
  EXPECT_EQ(mb.marker_position(m), nullptr);
  EXPECT_EQ(ints_after_marker(mb, m), (std::vector<int>{4}));
  push_int(mb, 5);
  mb.fetch();
  EXPECT_EQ(ints_after_marker(mb, m), (std::vector<int>{4, 5}));
  mb.release(m);
  EXPECT_EQ(mb.close_and_clear(), 2u);
}

TEST_F(Mailboxes, RemovingTheMarkedTailKeepsLaterArrivalsVisible) {
  Mailbox mb;
  push_int(mb, 1);
  push_int(mb, 2);
  Mailbox::MarkerId m = mb.mark();  // at 2, the tail
  ASSERT_TRUE(remove_int(mb, 2));
  push_int(mb, 3);
  mb.fetch();
  EXPECT_EQ(ints_after_marker(mb, m), (std::vector<int>{3}));
  EXPECT_EQ(cached_ints(mb), (std::vector<int>{1, 3}));
  mb.release(m);
  EXPECT_EQ(mb.close_and_clear(), 2u);
}

TEST_F(Mailboxes, MarkersMoveIndependently) {
  Mailbox mb;
  push_int(mb, 1);
  Mailbox::MarkerId a = mb.mark();  // at 1
  push_int(mb, 2);
  Mailbox::MarkerId b = mb.mark();  // at 2
  ASSERT_NE(a, b);
  push_int(mb, 3);
  mb.fetch();
  EXPECT_EQ(ints_after_marker(mb, a), (std::vector<int>{2, 3}));
  EXPECT_EQ(ints_after_marker(mb, b), (std::vector<int>{3}));
  ASSERT_TRUE(remove_int(mb, 2));  // b moves back to 1; a stays at 1
  EXPECT_EQ(ints_after_marker(mb, a), (std::vector<int>{3}));
  EXPECT_EQ(ints_after_marker(mb, b), (std::vector<int>{3}));
  mb.release(a);
  EXPECT_EQ(mb.marker_position(a), nullptr);
  mb.release(b);
  EXPECT_EQ(mb.close_and_clear(), 2u);
}

TEST_F(Mailboxes, FourMarkersAreKeptAsPositionsAndReleasedSlotsAreReused) {
  Mailbox mb;
  std::vector<Mailbox::MarkerId> ids;
  for (int i = 0; i < Mailbox::kMaxMarkers; ++i) {
    Mailbox::MarkerId m = mb.mark();
    ASSERT_GE(m, 0);
    ASSERT_LT(m, Mailbox::kMaxMarkers);
    for (Mailbox::MarkerId other : ids) EXPECT_NE(m, other);
    ids.push_back(m);
  }
  mb.release(Mailbox::kNoMarker);  // harmless
  EXPECT_EQ(mb.marker_position(Mailbox::kNoMarker), nullptr);
  mb.release(ids[2]);
  EXPECT_EQ(mb.mark(), ids[2]) << "a released position slot is used again";
  for (Mailbox::MarkerId m : ids) mb.release(m);
}

TEST_F(Mailboxes, MarkersBeyondThePositionSlotsSkipOlderArrivals) {
  Mailbox mb;
  std::vector<Mailbox::MarkerId> positions;
  for (int i = 0; i < Mailbox::kMaxMarkers; ++i) positions.push_back(mb.mark());
  push_int(mb, 1);
  push_int(mb, 2);  // still in the inbox when the fifth marker is made
  Mailbox::MarkerId fifth = mb.mark();
  ASSERT_NE(fifth, Mailbox::kNoMarker);
  EXPECT_GE(fifth, Mailbox::kMaxMarkers) << "all position slots are taken";
  EXPECT_EQ(mb.marker_position(fifth), nullptr) << "its scan starts at the head";
  push_int(mb, 3);
  mb.fetch();
  Mailbox::MarkerId sixth = mb.mark();
  push_int(mb, 4);
  mb.fetch();
  auto visible = [&](Mailbox::MarkerId m) {
    std::vector<int> out;
    for (Envelope* e = mb.head(); e != nullptr; e = e->next) {
      if (!mb.before_marker(m, e)) out.push_back(ergon::mailbox::payload<int>(e));
    }
    return out;
  };
  EXPECT_EQ(visible(fifth), (std::vector<int>{3, 4}));
  EXPECT_EQ(visible(sixth), (std::vector<int>{4}));
  // Removing envelopes does not disturb an arrival-number marker.
  ASSERT_TRUE(remove_int(mb, 3));
  EXPECT_EQ(visible(fifth), (std::vector<int>{4}));
  // A position marker never calls an envelope older: its scan starts after it instead.
  EXPECT_EQ(visible(positions[0]), (std::vector<int>{1, 2, 4}));
  mb.release(fifth);  // harmless
  mb.release(sixth);
  mb.release(positions[1]);
  EXPECT_EQ(mb.mark(), positions[1]) << "a released position slot is preferred";
  for (Mailbox::MarkerId m : positions) mb.release(m);
  EXPECT_EQ(mb.close_and_clear(), 3u);
}

// The receiver's side of a runtime: producers push envelopes while the consumer fetches,
// removes selectively (odd sequence numbers first, then the rest) and blocks when dry.
TEST_F(Mailboxes, ManyProducersDeliverEveryEnvelopeOnceInPerProducerOrder) {
  const int kProducers = 4;
  const int kPerProducer = ergon_test::scaled(20'000, 2'000);
  Mailbox mb;
  Doorbell bell;
  std::atomic<bool> go{false};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int i = 0; i < kPerProducer; ++i) {
        PushResult r = mb.push(ergon::mailbox::make_message<Item>(Item{p, i}));
        ASSERT_NE(r, PushResult::kClosed);
        if (r == PushResult::kUnblockedReader) bell.ring();
      }
    });
  }
  go.store(true, std::memory_order_release);

  // Pass 1 takes odd sequence numbers as they come, skipping the even ones; each producer's
  // odd numbers must come out in order, and the skipped even ones stay in order behind.
  std::vector<int> next_odd(kProducers, 1);
  int odd_received = 0;
  const int odd_total = kProducers * (kPerProducer / 2);
  bool lost_wakeup = false;
  // A lambda, so that a failed ASSERT leaves it and the producers are still joined.
  [&] {
    while (odd_received < odd_total && !lost_wakeup) {
      if (!mb.fetch()) {
        if (mb.try_block() == BlockResult::kBlocked) lost_wakeup = !bell.wait();
        continue;
      }
      Envelope* prev = nullptr;
      for (Envelope* e = mb.head(); e != nullptr;) {
        Envelope* next = e->next;
        ASSERT_TRUE(e->holds<Item>());
        Item it = ergon::mailbox::payload<Item>(e);
        if (it.seq % 2 == 1) {
          ASSERT_EQ(it.seq, next_odd[it.producer]) << "producer " << it.producer;
          next_odd[it.producer] += 2;
          ++odd_received;
          mb.remove(prev, e);
          ergon::mailbox::dispose(e);
        } else {
          prev = e;
        }
        e = next;
      }
    }
  }();
  for (auto& t : producers) t.join();
  if (HasFatalFailure() || lost_wakeup) {
    mb.close_and_clear();
    FAIL() << (lost_wakeup ? "the consumer blocked and no push reported it" : "");
  }
  mb.fetch();
  // Pass 2: what is left is every even number, each producer's in order.
  std::vector<int> next_even(kProducers, 0);
  int even_received = 0;
  while (Envelope* e = mb.head()) {
    Item it = ergon::mailbox::payload<Item>(e);
    EXPECT_EQ(it.seq, next_even[it.producer]) << "producer " << it.producer;
    next_even[it.producer] += 2;
    ++even_received;
    mb.remove(nullptr, e);
    ergon::mailbox::dispose(e);
  }
  EXPECT_EQ(odd_received, odd_total);
  EXPECT_EQ(even_received, kProducers * kPerProducer - odd_total);
  EXPECT_EQ(mb.cached(), 0u);
  EXPECT_EQ(mb.close_and_clear(), 0u);
}

// Closing while producers push: every envelope is either refused (and kept by its producer)
// or handed back by close_and_clear; none is lost or freed twice.
TEST_F(Mailboxes, CloseWhileProducersPushAccountsForEveryEnvelope) {
  const int kProducers = 3;
  const int kPerProducer = ergon_test::scaled(20'000, 2'000);
  Mailbox mb;
  std::atomic<int> refused{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int i = 0; i < kPerProducer; ++i) {
        auto* e = ergon::mailbox::make_message<Item>(Item{p, i});
        if (mb.push(e) == PushResult::kClosed) {
          ergon::mailbox::dispose(e);
          refused.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  go.store(true, std::memory_order_release);
  // Consume some, then close in the middle of the pushing.
  std::size_t consumed = 0;
  while (consumed < static_cast<std::size_t>(kPerProducer)) {
    if (!mb.fetch()) {
      std::this_thread::yield();
      continue;
    }
    while (Envelope* e = mb.head()) {
      mb.remove(nullptr, e);
      ergon::mailbox::dispose(e);
      ++consumed;
    }
  }
  std::size_t cleared = mb.close_and_clear();
  for (auto& t : producers) t.join();
  EXPECT_EQ(consumed + cleared + static_cast<std::size_t>(refused.load()),
            static_cast<std::size_t>(kProducers * kPerProducer));
}

}  // namespace

// Bounded mode's slot word (mailbox.hpp, B1..B3), single-threaded: reservations stop at the
// capacity, a waiter counts only while the mailbox is full, a release reports the waiter, and a
// close gives back the slot of every counted envelope it disposes of.
namespace {

TEST(MailboxBound, ReservationsStopAtTheCapacityAndReleasesReportWaiters) {
  Mailbox mb;
  mb.set_bound(2);
  EXPECT_EQ(mb.add_waiter(), Mailbox::Wait::kNotFull) << "not full: no waiting";
  EXPECT_EQ(mb.try_reserve(), Mailbox::Reserve::kReserved);
  EXPECT_EQ(mb.try_reserve(), Mailbox::Reserve::kReserved);
  EXPECT_EQ(mb.try_reserve(), Mailbox::Reserve::kFull);
  EXPECT_EQ(mb.high_water(), 2u);
  EXPECT_EQ(mb.add_waiter(), Mailbox::Wait::kWaiting);
  EXPECT_EQ(mb.waiting_senders(), 1u);
  EXPECT_EQ(mb.release_slot(), Mailbox::Release::kSenderWaits);
  mb.remove_waiter();
  EXPECT_EQ(mb.release_slot(), Mailbox::Release::kNoWaiter);
  EXPECT_EQ(mb.slots_used(), 0u);
}

TEST(MailboxBound, CloseGivesBackTheSlotsOfCountedEnvelopes) {
  Mailbox mb;
  mb.set_bound(4);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(mb.try_reserve(), Mailbox::Reserve::kReserved);
    Envelope* e = ergon::mailbox::make_message<int>(i);
    e->flags |= ergon::mailbox::kCounted;
    ASSERT_EQ(mb.push(e), PushResult::kQueued);
  }
  ASSERT_EQ(mb.push(ergon::mailbox::make_message<int>(9)), PushResult::kQueued);  // uncounted
  EXPECT_TRUE(mb.fetch());
  EXPECT_EQ(mb.slots_used(), 3u);
  EXPECT_EQ(mb.close_and_clear(), 4u);
  EXPECT_EQ(mb.slots_used(), 0u);
  mb.reopen();
}

TEST(MailboxBound, TrimOldestDropsCountedEnvelopesOnlyDownToTheCapacity) {
  Mailbox mb;
  mb.set_bound(2);
  for (int i = 0; i < 5; ++i) {
    mb.force_reserve();
    Envelope* e = ergon::mailbox::make_message<int>(i);
    e->flags |= ergon::mailbox::kCounted;
    ASSERT_EQ(mb.push(e), PushResult::kQueued);
    if (i == 1) {
      Envelope* s = ergon::mailbox::make_message<int>(100);
      s->flags |= ergon::mailbox::kSystem;
      ASSERT_EQ(mb.push(s), PushResult::kQueued);
    }
  }
  EXPECT_EQ(mb.trim_oldest(), 3u);
  std::vector<int> left;
  for (Envelope* e = mb.head(); e != nullptr; e = e->next) {
    left.push_back(ergon::mailbox::payload<int>(e));
  }
  EXPECT_EQ(left, (std::vector<int>{100, 3, 4})) << "the system message is never dropped";
  EXPECT_EQ(mb.high_water(), 5u);
  (void)mb.close_and_clear();
  mb.reopen();
}

}  // namespace
