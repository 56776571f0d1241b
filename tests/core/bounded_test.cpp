// Bounded mailboxes (SpawnOptions::mailbox_capacity, core/bounded.hpp): each policy on a real
// runtime, over worker counts and deterministic mode; system messages bypass the capacity; a
// flood with the block policy never holds more than the capacity and loses nothing; the drop
// policies conserve messages exactly (sent = received + dropped); a cycle of blocked senders
// is reported instead of hanging; a thread outside the runtime blocks itself, not a worker.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "ergon/ergon.hpp"
#include "test_util.hpp"

namespace {

using ergon_test::contains;

class Bounded : public ergon_test::RuntimeTest {};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Bounded);

struct Finish {};
struct Ready {};
struct Report {
  std::vector<int> got;
  ergon::ProcessInfo info;
};

// A receiver with `so`'s mailbox that first waits for the Down of a helper (a system message,
// which never counts and is never dropped), so that every ordinary message sent before the
// helper ends stays in its mailbox; then drains it and reports to `main`.
struct Parked {
  ergon::Pid receiver, helper;
};
Parked spawn_parked(ergon::Pid main, ergon::SpawnOptions so) {
  const ergon::Pid helper = ergon::spawn([] { (void)ergon_test::await<Finish>(); });
  const ergon::Pid receiver = ergon::spawn(
      [main, helper] {
        ergon::monitor(helper);
        ergon::send(main, Ready{});
        (void)ergon_test::await<ergon::Down>();
        Report r;
        while (auto v = ergon::receive_for<int>(std::chrono::milliseconds(0))) r.got.push_back(*v);
        r.info = *ergon::process_info(ergon::self());
        ergon::send(main, std::move(r));
      },
      so);
  (void)ergon_test::await<Ready>();
  return {receiver, helper};
}

TEST_P(Bounded, DropNewestKeepsTheFirstMessagesAndCountsTheRest) {
  run([] {
    const Parked p = spawn_parked(
        ergon::self(), {.mailbox_capacity = 4, .overflow = ergon::MailboxPolicy::kDropNewest});
    for (int i = 0; i < 10; ++i) ergon::send(p.receiver, i);
    ergon::send(p.helper, Finish{});
    const Report r = ergon_test::await<Report>();
    EXPECT_EQ(r.got, (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(r.info.mailbox_capacity, 4u);
    EXPECT_EQ(r.info.mailbox_high_water, 4u);
    EXPECT_EQ(r.info.mailbox_dropped, 6u);
  });
  EXPECT_EQ(stats().mailbox_dropped, 6u);
}

TEST_P(Bounded, DropOldestKeepsTheNewestMessages) {
  run([] {
    const Parked p = spawn_parked(
        ergon::self(), {.mailbox_capacity = 4, .overflow = ergon::MailboxPolicy::kDropOldest});
    for (int i = 0; i < 10; ++i) ergon::send(p.receiver, i);
    ergon::send(p.helper, Finish{});
    const Report r = ergon_test::await<Report>();
    EXPECT_EQ(r.got, (std::vector<int>{6, 7, 8, 9}));
    EXPECT_EQ(r.info.mailbox_dropped, 6u);
  });
  EXPECT_EQ(stats().mailbox_dropped, 6u);
}

TEST_P(Bounded, FailThrowsMailboxFullNamingTheReceiverAndTheFix) {
  run([] {
    const Parked p = spawn_parked(ergon::self(),
                                  {.mailbox_capacity = 2, .overflow = ergon::MailboxPolicy::kFail});
    ergon::send(p.receiver, 0);
    ergon::send(p.receiver, 1);
    try {
      ergon::send(p.receiver, 2);
      ADD_FAILURE() << "the third send should throw";
    } catch (const ergon::MailboxFull& e) {
      EXPECT_EQ(e.receiver(), p.receiver);
      EXPECT_TRUE(contains(e.what(), p.receiver.to_string())) << e.what();
      EXPECT_TRUE(contains(e.what(), "mailbox_capacity")) << e.what();
      EXPECT_TRUE(contains(e.what(), "policy fail")) << e.what();
    }
    ergon::send(p.helper, Finish{});
    EXPECT_EQ(ergon_test::await<Report>().got, (std::vector<int>{0, 1}));
  });
  EXPECT_EQ(stats().mailbox_full_errors, 1u);
}

TEST_P(Bounded, ForwardSendsTheOverflowToTheFallback) {
  run([] {
    const ergon::Pid main = ergon::self();
    const Parked fb = spawn_parked(main, {});
    const Parked p = spawn_parked(main, {.mailbox_capacity = 2,
                                         .overflow = ergon::MailboxPolicy::kForward,
                                         .fallback = fb.receiver});
    for (int i = 0; i < 5; ++i) ergon::send(p.receiver, i);
    ergon::send(p.helper, Finish{});
    EXPECT_EQ(ergon_test::await<Report>().got, (std::vector<int>{0, 1}));
    ergon::send(fb.helper, Finish{});
    EXPECT_EQ(ergon_test::await<Report>().got, (std::vector<int>{2, 3, 4}));
  });
  EXPECT_EQ(stats().messages_forwarded, 3u);
}

TEST_P(Bounded, SystemMessagesNeverCountAndAreNeverDropped) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid r = ergon::spawn(
        [main] {
          std::vector<ergon::Pid> watched;
          for (int i = 0; i < 3; ++i) watched.push_back(ergon_test::await<ergon::Pid>());
          for (ergon::Pid w : watched) ergon::monitor(w);
          ergon::send(main, Ready{});
          // Its mailbox fills with ints meanwhile; the Downs still come in past them.
          for (int i = 0; i < 3; ++i) (void)ergon_test::await<ergon::Down>();
          ergon::send(main, *ergon::process_info(ergon::self()));
        },
        {.mailbox_capacity = 3, .overflow = ergon::MailboxPolicy::kDropNewest});
    std::vector<ergon::Pid> helpers;
    for (int i = 0; i < 3; ++i) {
      helpers.push_back(ergon::spawn([] { (void)ergon_test::await<Finish>(); }));
      ergon::send(r, helpers.back());
    }
    (void)ergon_test::await<Ready>();
    for (int i = 0; i < 4; ++i) ergon::send(r, i);  // the fourth is dropped
    for (ergon::Pid h : helpers) ergon::send(h, Finish{});
    const ergon::ProcessInfo info = ergon_test::await<ergon::ProcessInfo>();
    EXPECT_EQ(info.mailbox_dropped, 1u);
    EXPECT_EQ(info.message_queue_len, 3u) << "the three ints, never the Downs";
  });
}

TEST_P(Bounded, BlockedFloodHoldsAtMostTheCapacityAndLosesNothing) {
  const int n = ergon_test::scaled(20'000, 2'000);
  run([n] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid consumer = ergon::spawn(
        [main, n] {
          int next = 0;
          bool in_order = true;
          for (int i = 0; i < n; ++i) {
            const int v = ergon_test::await<int>();
            in_order = in_order && v == next;
            next = v + 1;
            if (i % 64 == 0) ergon::yield();  // a slow consumer
          }
          ergon::send(main, in_order);
          ergon::send(main, *ergon::process_info(ergon::self()));
        },
        {.mailbox_capacity = 8, .overflow = ergon::MailboxPolicy::kBlock});
    for (int i = 0; i < n; ++i) ergon::send(consumer, i);
    EXPECT_TRUE(ergon_test::await<bool>()) << "every message, in order";
    const ergon::ProcessInfo info = ergon_test::await<ergon::ProcessInfo>();
    EXPECT_LE(info.mailbox_high_water, 8u);
    EXPECT_EQ(info.mailbox_dropped, 0u);
  });
  EXPECT_EQ(stats().mailbox_dropped, 0u);
  if (workers() == 1 && !is_deterministic()) {
    EXPECT_GT(stats().sends_blocked, 0u) << "one worker: the producer fills the mailbox first";
  }
}

TEST_P(Bounded, BlockedSendTimesOutWithMailboxFull) {
  run([] {
    const Parked p = spawn_parked(ergon::self(), {.mailbox_capacity = 1,
                                                  .overflow = ergon::MailboxPolicy::kBlock,
                                                  .send_timeout = std::chrono::milliseconds(5)});
    ergon::send(p.receiver, 0);
    const std::string what =
        ergon_test::what_of<ergon::MailboxFull>([&] { ergon::send(p.receiver, 1); });
    EXPECT_TRUE(contains(what, "send_timeout")) << what;
    EXPECT_TRUE(contains(what, p.receiver.to_string())) << what;
    ergon::send(p.helper, Finish{});
    EXPECT_EQ(ergon_test::await<Report>().got, (std::vector<int>{0}));
  });
}

TEST_P(Bounded, TwoSendersBlockedOnEachOtherAreReportedNotHung) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::SpawnOptions so{.mailbox_capacity = 2, .overflow = ergon::MailboxPolicy::kBlock};
    // Each sends four messages into the other's mailbox of two and never receives them. (The
    // pids travel in closures: a pid sent into a mailbox that the peer fills first would never
    // be received, a hang of the test's own making.)
    auto flood = [main](ergon::Pid peer) {
      std::string error;
      try {
        for (int i = 0; i < 4; ++i) ergon::send(peer, i);  // the third waits for a slot
      } catch (const ergon::MailboxFull& e) {
        error = e.what();
      }
      ergon::send(main, error);
    };
    const ergon::Pid a = ergon::spawn(
        [flood, so] {
          const ergon::Pid me = ergon::self();
          const ergon::Pid b = ergon::spawn([flood, me] { flood(me); }, so);
          flood(b);
        },
        so);
    const std::string first = ergon_test::await<std::string>();
    const std::string second = ergon_test::await<std::string>();
    const std::string& report = first.empty() ? second : first;
    EXPECT_TRUE(contains(report, "deadlock")) << report;
    EXPECT_TRUE(contains(report, a.to_string())) << report;
    EXPECT_TRUE(contains(report, " -> ")) << report;
  });
}

TEST_P(Bounded, ASenderStuckOnAFullMailboxIsNamedInTheHangReport) {
  if (!is_deterministic())
    GTEST_SKIP()
        << "deterministic mode's Deadlock; tests/api/asleep_test.cpp has the threaded report";
  ergon::Pid stuck_on;
  const std::string w = ergon_test::what_of<ergon::Deadlock>([&] {
    runtime().run([&] {
      // It waits for a Finish that never comes, so its one slot never frees.
      stuck_on = ergon::spawn([] { (void)ergon::receive<Finish>(); },
                              {.mailbox_capacity = 1, .overflow = ergon::MailboxPolicy::kBlock});
      ergon::send(stuck_on, 1);
      ergon::send(stuck_on, 2);  // waits forever: no cycle, no timeout
    });
  });
  EXPECT_TRUE(contains(w, "waiting in send (mailbox full) to " + stuck_on.to_string())) << w;
}

TEST_P(Bounded, TheTopViewShowsBoundedMailboxesAndTheirCounters) {
  run([] {
    const Parked p = spawn_parked(
        ergon::self(), {.mailbox_capacity = 4, .overflow = ergon::MailboxPolicy::kDropNewest});
    for (int i = 0; i < 6; ++i) ergon::send(p.receiver, i);
    const std::string table = ergon::top_table(10);
    EXPECT_TRUE(contains(table, "bounded mailboxes: 2 dropped by policy")) << table;
    EXPECT_TRUE(contains(table, "fullest first")) << table;
    EXPECT_TRUE(contains(table, p.receiver.to_string())) << table;
    ergon::send(p.helper, Finish{});
    EXPECT_EQ(ergon_test::await<Report>().got.size(), 4u);
  });
}

// Conservation: producers flood consumers with drop policies; every message is received or
// counted as dropped, exactly.
TEST_P(Bounded, DropPoliciesConserveMessagesExactly) {
  const int per_producer = ergon_test::scaled(5'000, 500);
  for (ergon::MailboxPolicy policy :
       {ergon::MailboxPolicy::kDropNewest, ergon::MailboxPolicy::kDropOldest}) {
    SCOPED_TRACE(ergon::to_string(policy));
    std::uint64_t received = 0, dropped = 0;
    run([&] {
      const ergon::Pid main = ergon::self();
      constexpr int kProducers = 4;
      ergon::spawn(
          [main, per_producer] {
            // Spawned and monitored from here, so that no producer's pid has to travel
            // through a mailbox that drops.
            for (int i = 0; i < kProducers; ++i) {
              const ergon::Pid me = ergon::self();
              ergon::monitor(ergon::spawn([me, per_producer] {
                for (int k = 0; k < per_producer; ++k) ergon::send(me, k);
              }));
            }
            std::uint64_t got = 0;
            int downs = 0;
            while (downs < kProducers) {
              ergon::receive([&](int) { ++got; }, [&](const ergon::Down&) { ++downs; });
            }
            // Each producer's Down comes after its messages: what is left is in the mailbox.
            while (ergon::receive_for<int>(std::chrono::milliseconds(0))) ++got;
            ergon::send(main, got);
            ergon::send(main, ergon::process_info(ergon::self())->mailbox_dropped);
          },
          {.mailbox_capacity = 16, .overflow = policy});
      received = ergon_test::await<std::uint64_t>();
      dropped = ergon_test::await<std::uint64_t>();
    });
    EXPECT_EQ(received + dropped, 4u * per_producer);
    EXPECT_EQ(stats().mailbox_dropped, dropped);
    runtime(options());  // a fresh runtime (and counters) for the next policy
  }
}

class BoundedThreads : public ergon_test::RuntimeTest {};
ERGON_INSTANTIATE_WORKERS(BoundedThreads);

TEST_P(BoundedThreads, AThreadOutsideTheRuntimeBlocksItselfNotAWorker) {
  run([] {
    const Parked p = spawn_parked(ergon::self(), {.mailbox_capacity = 2});
    std::atomic<int> sent{0};
    std::thread outside([&] {
      for (int i = 0; i < 5; ++i) {
        ergon::send(p.receiver, i);
        sent.fetch_add(1);
      }
    });
    // The thread fills the mailbox and waits; the runtime's processes go on meanwhile.
    while (sent.load() < 2) ergon::sleep_for(std::chrono::milliseconds(1));
    ergon::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(sent.load(), 2) << "the third send waits for a slot";
    ergon::send(p.helper, Finish{});
    const Report r = ergon_test::await<Report>();
    outside.join();  // the receiver drained the mailbox: the thread has finished
    EXPECT_EQ(sent.load(), 5);
    // What the drain did not see arrived after it; it was received or is in a dead mailbox.
    EXPECT_GE(r.got.size(), 2u);
  });
}

}  // namespace
