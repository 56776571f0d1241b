// send and receive in a running runtime: delivery, selective receive (skipped messages keep
// their order for later receives), guards, handler order, return values, receive<T>,
// receive_for, after() timeouts (polls at zero, never early, the shortest wins), sleep_for
// keeping messages, receive markers, sends from threads outside the runtime, per-sender order
// with many senders, and timeouts racing with arrivals.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "ergon/ergon.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ergon_test::await;

class Receive : public ergon_test::RuntimeTest {};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Receive);

struct Request {
  ergon::Pid from;
  int v;
};
struct Reply {
  int v;
};
struct Seq {
  int sender;
  int n;
};
struct Stop {};

// Durations saturate instead of overflowing into a negative (already due) wait.
static_assert(ergon::detail::saturating_ns(std::chrono::hours::max()) == INT64_MAX);
static_assert(ergon::detail::saturating_ns(std::chrono::hours::min()) == INT64_MIN);
static_assert(ergon::detail::saturating_ns(std::chrono::years(1000)) == INT64_MAX);
static_assert(ergon::detail::saturating_ns(std::chrono::nanoseconds::max()) == INT64_MAX);
static_assert(ergon::detail::saturating_ns(std::chrono::milliseconds(5)) == 5'000'000);
static_assert(ergon::detail::saturating_ns(std::chrono::duration<unsigned long long>(~0ull)) ==
              INT64_MAX);
static_assert(ergon::detail::deadline_after(100, INT64_MAX) == ergon::detail::kNoDeadline);
static_assert(ergon::detail::deadline_after(100, -5) == 100);

TEST_P(Receive, AHugeTimeoutWaitsForeverInsteadOfFiringAtOnce) {
  using namespace std::chrono;
  std::atomic<int> early{0};
  run([&] {
    std::vector<ergon::Pid> waiters;
    auto wait_in_receive = [&](auto timeout) {
      waiters.push_back(ergon::spawn([&early, timeout] {
        ergon::receive([](Stop) {}, ergon::after(timeout, [&early] { ++early; }));
      }));
    };
    wait_in_receive(years(1000));
    wait_in_receive(hours::max());
    wait_in_receive(nanoseconds::max());
    wait_in_receive(duration<double>(1e300));
    auto sleep = [&early](auto d) {
      ergon::spawn([&early, d] {
        ergon::sleep_for(d);
        ++early;  // only a wake-up before the end of time gets here
      });
    };
    sleep(hours::max());
    sleep(nanoseconds::max());
    sleep(years(1000));
    // A wrapped duration fires in the waiter's first slice; let every one of them block.
    ergon::sleep_for(milliseconds(20));
    for (ergon::Pid w : waiters) ergon::send(w, Stop{});
  });
  EXPECT_EQ(early.load(), 0);
}

TEST_P(Receive, AMessageSentToSelfIsReceived) {
  int got = 0;
  run([&] {
    ergon::send(ergon::self(), 42);
    got = ergon::receive<int>();
  });
  EXPECT_EQ(got, 42);
}

TEST_P(Receive, AnEchoProcessRepliesToItsSender) {
  std::string reply;
  run([&] {
    ergon::Pid echo = ergon::spawn([] {
      auto [from, text] = ergon::receive<std::pair<ergon::Pid, std::string>>();
      ergon::send(from, text + "!");
    });
    ergon::send(echo, std::make_pair(ergon::self(), std::string("hello")));
    reply = await<std::string>();
  });
  EXPECT_EQ(reply, "hello!");
}

TEST_P(Receive, SelectiveReceiveKeepsSkippedMessagesInOrder) {
  std::vector<std::string> strings;
  std::vector<int> ints;
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::send(me, 1);
    ergon::send(me, std::string("a"));
    ergon::send(me, 2);
    ergon::send(me, std::string("b"));
    ergon::send(me, 3);
    for (int i = 0; i < 2; ++i) strings.push_back(ergon::receive<std::string>());
    for (int i = 0; i < 3; ++i) ints.push_back(ergon::receive<int>());
  });
  EXPECT_EQ(strings, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ints, (std::vector<int>{1, 2, 3}));
}

TEST_P(Receive, SkippedMessagesFromAnotherProcessKeepTheirOrder) {
  std::vector<int> evens, odds;
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::spawn([me] {
      for (int i = 1; i <= 10; ++i) ergon::send(me, i);
    });
    for (int i = 0; i < 5; ++i) {
      evens.push_back(ergon::receive(
          ergon::on<int>([](int v) { return v % 2 == 0; }, [](int v) { return v; })));
    }
    for (int i = 0; i < 5; ++i) odds.push_back(ergon::receive<int>());
  });
  EXPECT_EQ(evens, (std::vector<int>{2, 4, 6, 8, 10}));
  EXPECT_EQ(odds, (std::vector<int>{1, 3, 5, 7, 9}));
}

TEST_P(Receive, GuardsChooseMessagesByValue) {
  std::vector<std::string> seen;
  run([&] {
    ergon::Pid me = ergon::self();
    for (int v : {-1, 0, 7, 12}) ergon::send(me, v);
    for (int i = 0; i < 4; ++i) {
      seen.push_back(ergon::receive(ergon::on<int>([](int v) { return v > 10; },
                                                   [](int v) { return "big" + std::to_string(v); }),
                                    ergon::on<int>([](const int& v) { return v > 0; },
                                                   [](int v) { return "pos" + std::to_string(v); }),
                                    [](int v) { return "other" + std::to_string(v); }));
    }
  });
  // Each message, in arrival order, goes to the first handler whose guard holds.
  EXPECT_EQ(seen, (std::vector<std::string>{"other-1", "other0", "pos7", "big12"}));
}

TEST_P(Receive, TheFirstMessageInArrivalOrderWinsOverHandlerOrder) {
  std::string first;
  run([&] {
    ergon::send(ergon::self(), std::string("s"));
    ergon::send(ergon::self(), 5);
    first = ergon::receive([](int) { return std::string("int"); },
                           [](const std::string&) { return std::string("string"); });
    EXPECT_EQ(ergon::receive<int>(), 5);
  });
  EXPECT_EQ(first, "string");
}

TEST_P(Receive, HandlersForOneMessageAreTriedInTheOrderGiven) {
  int which = 0;
  run([&] {
    ergon::send(ergon::self(), 5);
    which = ergon::receive(ergon::on<int>([](int v) { return v > 0; }, [](int) { return 1; }),
                           [](int) { return 2; });
  });
  EXPECT_EQ(which, 1);
}

TEST_P(Receive, ReceiveReturnsTheCommonTypeOfItsHandlers) {
  run([&] {
    ergon::send(ergon::self(), 3);
    auto r = ergon::receive([](int v) -> long { return v * 2L; },
                            [](const std::string&) -> int { return -1; },
                            ergon::after(0ms, []() -> short { return 0; }));
    static_assert(std::is_same_v<decltype(r), long>);
    EXPECT_EQ(r, 6L);
    ergon::send(ergon::self(), 3);
    using VoidResult = decltype(ergon::receive([](int) {}, [](long) { return 1; }));
    static_assert(std::is_void_v<VoidResult>, "a void handler makes receive return void");
    bool ran = false;
    ergon::receive([&](int v) { ran = v == 3; });
    EXPECT_TRUE(ran);
  });
}

TEST_P(Receive, HandlersTakeMessagesByValueReferenceOrConstReference) {
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::send(me, std::string("value"));
    ergon::send(me, std::string("const-ref"));
    ergon::send(me, std::string("ref"));
    ergon::send(me, std::make_unique<int>(17));
    EXPECT_EQ(ergon::receive([](std::string s) { return s; }), "value");
    EXPECT_EQ(ergon::receive([](const std::string& s) { return s; }), "const-ref");
    EXPECT_EQ(ergon::receive([](std::string& s) {
                s += "+";
                return std::move(s);
              }),
              "ref+");
    std::unique_ptr<int> p = ergon::receive<std::unique_ptr<int>>();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 17);
  });
}

TEST_P(Receive, SendNewConstructsTheMessageInPlace) {
  std::pair<int, std::string> got;
  run([&] {
    ergon::send_new<std::pair<int, std::string>>(ergon::self(), 4, "four");
    got = ergon::receive<std::pair<int, std::string>>();
  });
  EXPECT_EQ(got, (std::pair<int, std::string>{4, "four"}));
}

TEST_P(Receive, LargeAndSmallMessagesArriveIntact) {
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::spawn([me] {
      std::array<char, 4096> big;
      for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
      ergon::send(me, big);
      ergon::send(me, std::vector<int>(10'000, 3));
      ergon::send(me, 'c');
    });
    auto big = await<std::array<char, 4096>>();
    int wrong = 0;
    for (std::size_t i = 0; i < big.size(); ++i) wrong += big[i] != static_cast<char>(i * 7);
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(await<std::vector<int>>(), std::vector<int>(10'000, 3));
    EXPECT_EQ(await<char>(), 'c');
  });
}

TEST_P(Receive, AnExceptionFromAHandlerPropagatesAndConsumesTheMessage) {
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::send(me, 1);
    ergon::send(me, 2);
    std::string what = ergon_test::what_of<std::runtime_error>(
        [] { ergon::receive([](int) { throw std::runtime_error("handler failed"); }); });
    EXPECT_EQ(what, "handler failed");
    EXPECT_EQ(ergon::receive<int>(), 2) << "the message the handler threw on is gone";
  });
}

TEST_P(Receive, AGuardThatThrowsLeavesTheMessageInPlace) {
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::send(me, 1);
    std::string what = ergon_test::what_of<std::runtime_error>([] {
      ergon::receive(ergon::on<int>([](int) -> bool { throw std::runtime_error("guard failed"); },
                                    [](int) {}));
    });
    EXPECT_EQ(what, "guard failed");
    EXPECT_EQ(ergon::receive<int>(), 1);
  });
}

// A lone arrival (Mailbox::fetch_lone) that no handler takes stays in the mailbox, before
// whatever comes later.
TEST_P(Receive, ALoneArrivalNoHandlerTakesWaitsInItsOrder) {
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::send(me, 1);
    EXPECT_FALSE(ergon::receive_for<std::string>(0ms).has_value());
    ergon::send(me, std::string("a"));
    ergon::send(me, 2);
    EXPECT_EQ(ergon::receive<int>(), 1);
    EXPECT_EQ(ergon::receive<int>(), 2);
    EXPECT_EQ(ergon::receive<std::string>(), "a");
  });
}

// The same for a lone arrival that wakes a blocked receive it does not match.
TEST_P(Receive, ALoneArrivalThatWakesANonMatchingReceiveIsKept) {
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::spawn([me] {
      ergon::send(me, 7);
      ergon::sleep_for(2ms);  // most runs: the test is woken by 7 alone, then waits again
      ergon::send(me, std::string("done"));
    });
    EXPECT_EQ(ergon::receive<std::string>(), "done") << "woken by 7 first, it keeps waiting";
    EXPECT_EQ(ergon::receive_for<int>(0ms), std::optional<int>(7));
  });
}

TEST_P(Receive, ReceiveForReturnsNulloptWhenNothingMatchesInTime) {
  if (is_deterministic()) GTEST_SKIP() << ergon_test::kMeasuresRealTime;
  run([&] {
    ergon::send(ergon::self(), std::string("not an int"));
    auto t0 = Clock::now();
    std::optional<int> r = ergon::receive_for<int>(10ms);
    EXPECT_GE(Clock::now() - t0, 10ms) << "the timeout fired early";
    EXPECT_FALSE(r.has_value());
    EXPECT_EQ(ergon::receive<std::string>(), "not an int");
  });
}

TEST_P(Receive, ReceiveForReturnsAMessageThatArrives) {
  std::optional<int> r;
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::spawn([me] { ergon::send(me, 9); });
    r = ergon::receive_for<int>(ergon_test::patience());
  });
  EXPECT_EQ(r, std::optional<int>(9));
}

TEST_P(Receive, AfterZeroPollsWithoutWaiting) {
  run([&] {
    ergon::Pid me = ergon::self();
    EXPECT_EQ(ergon::receive([](int) { return 1; }, ergon::after(0ms, [] { return 0; })), 0);
    ergon::send(me, std::string("skip me"));
    EXPECT_EQ(ergon::receive([](int) { return 1; }, ergon::after(0ms, [] { return 0; })), 0);
    ergon::send(me, 5);
    EXPECT_EQ(ergon::receive([](int) { return 1; }, ergon::after(0ms, [] { return 0; })), 1);
    EXPECT_EQ(ergon::receive<std::string>(), "skip me");
    // A negative timeout polls too.
    EXPECT_EQ(ergon::receive([](int) { return 1; }, ergon::after(-5ms, [] { return 0; })), 0);
  });
}

TEST_P(Receive, AfterFiresNoEarlierThanItsTimeout) {
  if (is_deterministic()) GTEST_SKIP() << ergon_test::kMeasuresRealTime;
  run([&] {
    for (auto timeout : {1ms, 5ms, 20ms}) {
      auto t0 = Clock::now();
      bool timed_out =
          ergon::receive([](int) { return false; }, ergon::after(timeout, [] { return true; }));
      EXPECT_TRUE(timed_out);
      EXPECT_GE(Clock::now() - t0, timeout) << "after(" << timeout.count() << "ms) fired early";
    }
  });
}

TEST_P(Receive, TheShortestAfterWins) {
  int which = 0;
  run([&] {
    which = ergon::receive([](int) { return 0; }, ergon::after(1h, [] { return 1; }),
                           ergon::after(1ms, [] { return 2; }));
  });
  EXPECT_EQ(which, 2);
}

TEST_P(Receive, AMatchingArrivalEndsATimedReceive) {
  int got = 0;
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::spawn([me] { ergon::send(me, 11); });
    got = ergon::receive([](int v) { return v; },
                         ergon::after(ergon_test::patience(), [] { return -1; }));
  });
  EXPECT_EQ(got, 11);
}

TEST_P(Receive, NonMatchingArrivalsDoNotEndATimedReceive) {
  if (is_deterministic()) GTEST_SKIP() << ergon_test::kMeasuresRealTime;
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::spawn([me] {
      for (int i = 0; i < 5; ++i) ergon::send(me, std::to_string(i));
    });
    auto t0 = Clock::now();
    bool timed_out =
        ergon::receive([](int) { return false; }, ergon::after(20ms, [] { return true; }));
    EXPECT_TRUE(timed_out);
    EXPECT_GE(Clock::now() - t0, 20ms);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(await<std::string>(), std::to_string(i));
  });
}

TEST_P(Receive, ManyTimersFireWhileTheRuntimeIsOtherwiseIdle) {
  if (is_deterministic()) GTEST_SKIP() << ergon_test::kMeasuresRealTime;
  const int kProcesses = 64;
  int timed_out = 0;
  run([&] {
    ergon::Pid me = ergon::self();
    for (int i = 0; i < kProcesses; ++i) {
      ergon::spawn([me, i] {
        auto timeout = std::chrono::milliseconds(1 + i % 8);
        auto t0 = Clock::now();
        bool fired =
            ergon::receive([](int) { return false; }, ergon::after(timeout, [] { return true; }));
        ergon::send(me, fired && Clock::now() - t0 >= timeout);
      });
    }
    for (int i = 0; i < kProcesses; ++i) timed_out += await<bool>() ? 1 : 0;
  });
  EXPECT_EQ(timed_out, kProcesses);
}

TEST_P(Receive, SleepForKeepsMessagesInTheMailbox) {
  if (is_deterministic()) GTEST_SKIP() << ergon_test::kMeasuresRealTime;
  std::vector<int> got;
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::send(me, 1);
    ergon::send(me, 2);
    ergon::spawn([me] { ergon::send(me, 3); });
    auto t0 = Clock::now();
    ergon::sleep_for(10ms);
    EXPECT_GE(Clock::now() - t0, 10ms) << "sleep_for returned early";
    for (int i = 0; i < 3; ++i) got.push_back(await<int>());
  });
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
}

TEST_P(Receive, SleepForIsNotCutShortByArrivals) {
  if (is_deterministic()) GTEST_SKIP() << ergon_test::kMeasuresRealTime;
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::spawn([me] {
      for (int i = 0; i < 100; ++i) ergon::send(me, i);
    });
    auto t0 = Clock::now();
    ergon::sleep_for(20ms);
    EXPECT_GE(Clock::now() - t0, 20ms);
    for (int i = 0; i < 100; ++i) ASSERT_EQ(await<int>(), i);
  });
}

TEST_P(Receive, SleepUntilWaitsForItsDeadline) {
  if (is_deterministic()) GTEST_SKIP() << ergon_test::kMeasuresRealTime;
  run([&] {
    auto deadline = Clock::now() + 10ms;
    ergon::sleep_until(deadline);
    EXPECT_GE(Clock::now(), deadline);
    ergon::sleep_until(Clock::now() - 1s);  // a past deadline returns at once
    ergon::sleep_for(0ms);
  });
}

TEST_P(Receive, AMarkerReceiveSeesOnlyNewerMessages) {
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::send(me, Reply{0});
    ergon::Marker m = ergon::mark();
    // The old reply is invisible through the marker.
    EXPECT_EQ(m.receive([](Reply r) { return r.v; }, ergon::after(0ms, [] { return -1; })), -1);
    ergon::send(me, Reply{1});
    EXPECT_EQ(m.receive([](Reply r) { return r.v; }), 1);
    // ... and still there for an ordinary receive.
    EXPECT_EQ(ergon::receive([](Reply r) { return r.v; }), 0);
  });
}

// A marker that outlives its process must not release the marker of the process that reuses
// its record: that one's marked receive would see messages from before its marker.
TEST_P(Receive, AMarkerOutlivingItsProcessLeavesTheNextOccupantsMarkerAlone) {
  bool reused = true;
  run([&] {
    const ergon::Pid me = ergon::self();
    // A: makes a marker and hands it out, then ends.
    const ergon::Pid a =
        ergon::spawn([me] { ergon::send(me, std::make_shared<ergon::Marker>(ergon::mark())); });
    auto stale = await<std::shared_ptr<ergon::Marker>>();
    (void)ergon::monitor(a);
    (void)await<ergon::Down>();
    // B: most likely in A's record (this worker's free records are reused last-in first-out).
    const ergon::Pid b = ergon::spawn([me] {
      ergon::send(ergon::self(), Reply{-1});  // before the marker: invisible through it
      ergon::Marker m = ergon::mark();
      ergon::send(me, Stop{});
      (void)ergon::receive([](Stop) {});
      ergon::send(ergon::self(), Reply{1});
      ergon::send(me, m.receive([](Reply r) { return r.v; }));
    });
    (void)await<Stop>();
    reused = b.index() == a.index();
    stale.reset();  // the stale marker goes, in another process than its own
    ergon::send(b, Stop{});
    EXPECT_EQ(await<int>(), 1);
  });
  if (!reused) GTEST_SKIP() << "B did not reuse A's record here: nothing to show";
}

TEST_P(Receive, AMarkerRequestReplySkipsOldRepliesAndWaitsForTheNewOne) {
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::Pid server = ergon::spawn([] {
      for (;;) {
        bool stop = ergon::receive(
            [](Request r) {
              ergon::send(r.from, Reply{r.v * 10});
              return false;
            },
            [](Stop) { return true; });
        if (stop) return;
      }
    });
    for (int i = 0; i < 5; ++i) ergon::send(me, Reply{-i});  // stale replies
    for (int i = 1; i <= 20; ++i) {
      ergon::Marker m = ergon::mark();
      ergon::send(server, Request{me, i});
      int v = m.receive([](Reply r) { return r.v; },
                        ergon::after(ergon_test::patience(), [] { return -999; }));
      ASSERT_EQ(v, i * 10);
    }
    ergon::send(server, Stop{});
    for (int i = 0; i < 5; ++i) EXPECT_EQ(ergon::receive<Reply>().v, -i);
  });
}

TEST_P(Receive, AMarkerSurvivesTheRemovalOfItsMessage) {
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::send(me, std::string("old"));
    ergon::send(me, Reply{1});
    ergon::Marker m = ergon::mark();          // at Reply{1}
    EXPECT_EQ(ergon::receive<Reply>().v, 1);  // removes the marked message
    EXPECT_EQ(m.receive([](const std::string& s) { return s; },
                        ergon::after(0ms, [] { return std::string("nothing new"); })),
              "nothing new");
    ergon::send(me, Reply{2});
    EXPECT_EQ(m.receive([](Reply r) { return r.v; }), 2);
    EXPECT_EQ(ergon::receive<std::string>(), "old");
  });
}

TEST_P(Receive, AMovedMarkerKeepsItsPosition) {
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::send(me, 1);
    ergon::Marker a = ergon::mark();
    ergon::Marker b = std::move(a);
    ergon::send(me, 2);
    EXPECT_EQ(b.receive([](int v) { return v; }), 2);
    EXPECT_EQ(ergon::receive<int>(), 1);
  });
}

TEST_P(Receive, FourLiveMarkersEachSeeOnlyNewerMessages) {
  run([&] {
    ergon::Pid me = ergon::self();
    std::vector<ergon::Marker> markers;
    markers.reserve(4);
    for (int i = 0; i < 4; ++i) {
      ergon::send(me, -1 - i);  // older than marker i
      markers.push_back(ergon::mark());
      ergon::send(me, i);
    }
    for (int i = 3; i >= 0; --i) {
      int v = markers[i].receive([](int v) { return v; }, ergon::after(0ms, [] { return -100; }));
      EXPECT_EQ(v, i) << "marker " << i;
    }
    for (int i = 0; i < 4; ++i) EXPECT_EQ(ergon::receive<int>(), -1 - i);
  });
}

TEST_P(Receive, MoreLiveMarkersThanTheMailboxTracksStillReceive) {
  run([&] {
    ergon::Pid me = ergon::self();
    std::vector<ergon::Marker> markers;
    markers.reserve(6);
    for (int i = 0; i < 6; ++i) markers.push_back(ergon::mark());
    for (int i = 5; i >= 0; --i) {
      ergon::send(me, i);
      EXPECT_EQ(markers[i].receive([](int v) { return v; }), i);
    }
  });
}

// Beyond the mailbox's four position markers, markers count arrivals (mailbox.hpp): a fifth
// live marker must still skip what came before it.
TEST_P(Receive, AFifthLiveMarkerSeesOnlyNewerMessages) {
  run([&] {
    ergon::Pid me = ergon::self();
    std::vector<ergon::Marker> markers;
    markers.reserve(5);
    for (int i = 0; i < 5; ++i) {
      ergon::send(me, -1 - i);  // older than marker i
      markers.push_back(ergon::mark());
    }
    ergon::send(me, 4);
    int v = markers[4].receive([](int v) { return v; });
    EXPECT_EQ(v, 4) << "the fifth marker returned a message sent before it was made";
  });
}

TEST_P(Receive, MessagesFromAThreadOutsideTheRuntimeArrive) {
  if (is_deterministic()) GTEST_SKIP() << ergon_test::kNeedsThreads;
  std::vector<int> got;
  run([&] {
    ergon::Pid me = ergon::self();
    std::thread t([me] {
      for (int i = 0; i < 100; ++i) ergon::send(me, i);
    });
    for (int i = 0; i < 100; ++i) got.push_back(await<int>());
    t.join();
  });
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(got[i], i);
}

TEST_P(Receive, ManySendersEachKeepTheirOrder) {
  const int kSenders = 8;
  const int kPerSender = ergon_test::scaled(5'000, 500);
  std::vector<int> next(kSenders, 0);
  int out_of_order = 0;
  int received = 0;
  run([&] {
    ergon::Pid me = ergon::self();
    for (int s = 0; s < kSenders; ++s) {
      ergon::spawn([me, s, kPerSender] {
        for (int i = 0; i < kPerSender; ++i) ergon::send(me, Seq{s, i});
      });
    }
    for (int k = 0; k < kSenders * kPerSender; ++k) {
      Seq m = await<Seq>();
      if (m.n != next[m.sender]) ++out_of_order;
      next[m.sender] = m.n + 1;
      ++received;
    }
    EXPECT_FALSE(ergon::receive([](Seq) { return true; }, ergon::after(0ms, [] { return false; })))
        << "more messages than were sent";
  });
  EXPECT_EQ(out_of_order, 0);
  EXPECT_EQ(received, kSenders * kPerSender);
  for (int s = 0; s < kSenders; ++s) EXPECT_EQ(next[s], kPerSender) << "sender " << s;
}

TEST_P(Receive, SelectiveReceiveBySenderSeesEachSendersOrder) {
  const int kSenders = 4;
  const int kPerSender = ergon_test::scaled(2'000, 200);
  int out_of_order = 0;
  run([&] {
    ergon::Pid me = ergon::self();
    for (int s = 0; s < kSenders; ++s) {
      ergon::spawn([me, s, kPerSender] {
        for (int i = 0; i < kPerSender; ++i) ergon::send(me, Seq{s, i});
      });
    }
    // Round robin over the senders: each receive skips everyone else's messages.
    std::vector<int> next(kSenders, 0);
    for (int k = 0; k < kSenders * kPerSender; ++k) {
      int s = k % kSenders;
      int n = ergon::receive(
          ergon::on<Seq>([s](const Seq& m) { return m.sender == s; }, [](Seq m) { return m.n; }),
          ergon::after(ergon_test::patience(), [] { return -1; }));
      ASSERT_NE(n, -1) << "a message from sender " << s << " never came";
      if (n != next[s]) ++out_of_order;
      next[s] = n + 1;
    }
  });
  EXPECT_EQ(out_of_order, 0);
}

// Receivers poll with short and zero timeouts while their senders send: every timeout either
// fires or yields to a message, and no message is lost or reordered in the race between the
// timer and the sender for the receiver's wake-up.
TEST_P(Receive, TimeoutsRacingWithArrivalsLoseNoMessage) {
  const int kPairs = 8;
  const int kPerPair = ergon_test::scaled(1'000, 150);
  int failures = 0;
  run([&] {
    ergon::Pid me = ergon::self();
    for (int p = 0; p < kPairs; ++p) {
      ergon::Pid receiver = ergon::spawn([me, p, kPerPair] {
        int next = 0;
        int bad = 0;
        int k = 0;
        while (next < kPerPair) {
          auto timeout = std::chrono::microseconds((k++ * 37 + p * 11) % 300);
          int v = ergon::receive([](int v) { return v; }, ergon::after(timeout, [] { return -1; }));
          if (v == -1) continue;
          if (v != next) ++bad;
          next = v + 1;
        }
        ergon::send(me, bad);
      });
      ergon::spawn([receiver, p, kPerPair] {
        for (int i = 0; i < kPerPair; ++i) {
          ergon::send(receiver, i);
          if ((i + p) % 7 == 0) ergon::yield();
          if ((i + p) % 97 == 0) ergon::sleep_for(std::chrono::microseconds(200));
        }
      });
    }
    for (int p = 0; p < kPairs; ++p) failures += await<int>();
  });
  EXPECT_EQ(failures, 0);
}

// --- shapes and limits of issue 17: catch-all, T& guards, several types, absolute deadlines

struct RxA {
  int v;
};
struct RxB {
  std::string s;
};

TEST_P(Receive, AGenericLambdaIsACatchAllThatDrainsAnyType) {
  run([] {
    ergon::send(ergon::self(), 2.5);
    ergon::send(ergon::self(), RxA{1});
    // A typed handler first still wins for its type; the catch-all takes the rest in order.
    const std::string first = ergon::receive([](const RxA&) { return std::string("RxA"); },
                                             [](auto&& m) { return m.type_name(); });
    EXPECT_EQ(first, "double");
    EXPECT_EQ(ergon::receive([](const ergon::AnyMessage& m) { return m.is<RxA>(); }), true);
    EXPECT_FALSE(ergon::receive_for<RxA>(std::chrono::milliseconds(0)));  // drained
  });
}

TEST_P(Receive, AGuardMayTakeTheMessageByNonConstReference) {
  run([] {
    ergon::send(ergon::self(), RxA{3});
    ergon::send(ergon::self(), RxA{4});
    const int v = ergon::receive(
        ergon::on<RxA>([](RxA& a) { return a.v == 4; }, [](auto& a) { return a.v; }));
    EXPECT_EQ(v, 4);
    EXPECT_EQ(ergon::receive<RxA>().v, 3);
  });
}

TEST_P(Receive, ReceiveForTakesSeveralTypesAndGivesAVariant) {
  run([] {
    ergon::send(ergon::self(), RxB{"x"});
    auto got = ergon::receive_for<RxA, RxB>(std::chrono::seconds(5));
    ASSERT_TRUE(got);
    ASSERT_EQ(got->index(), 1u);
    EXPECT_EQ(std::get<RxB>(*got).s, "x");
    EXPECT_FALSE((ergon::receive_for<RxA, RxB>(std::chrono::milliseconds(1))));
  });
}

TEST_P(Receive, AnAbsoluteDeadlineInThePastOnlyLooks) {
  run([] {
    const auto past = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    EXPECT_FALSE(ergon::receive_until<RxA>(past));
    ergon::send(ergon::self(), RxA{7});
    EXPECT_EQ(ergon::receive_until<RxA>(past)->v, 7);  // a queued message is still taken
    const bool timed_out =
        ergon::receive([](const RxA&) { return false; },
                       ergon::until(std::chrono::steady_clock::now() + std::chrono::milliseconds(2),
                                    [] { return true; }));
    EXPECT_TRUE(timed_out);
  });
}

TEST_P(Receive, AMarkerReceivesForSeveralTypes) {
  run([] {
    ergon::send(ergon::self(), RxA{1});  // before the marker: not seen through it
    ergon::Marker m = ergon::mark();
    ergon::send(ergon::self(), RxA{2});
    auto got = m.receive_for<RxA>(std::chrono::seconds(5));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->v, 2);
    EXPECT_FALSE(m.receive_for<RxA>(std::chrono::milliseconds(0)));
    EXPECT_EQ(ergon::receive<RxA>().v, 1);
  });
}

}  // namespace
