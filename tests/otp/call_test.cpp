// Tests of calls (ergon/call.hpp), one per outcome of gen_server:call: the reply, a timeout,
// the server's end (its reason, at once), noproc for a dead pid or an unknown name,
// calling_self; a late reply never lands in the caller's mailbox (aliases); reply() from
// another process, twice, or with the wrong type; casts; no monitor left behind. Plus a seeded
// stress of callers, servers that die and timeouts.
#include <atomic>
#include <chrono>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon::CallError;
using ergon::CallTimeout;
using ergon::ExitReason;
using ergon_test::await;
using ergon_test::contains;
using ergon_test::what_of;

struct Square {
  using Reply = int;
  int v;
};
struct Untyped {
  int v;
};
struct Touch {};  // a void call (no Reply)
struct Slow {
  using Reply = int;
};
struct Crash {
  using Reply = int;
};
struct Go {};
struct Done {};
struct Stop {};

class Call : public ergon_test::RuntimeTest {
 protected:
  void quiet() {
    ergon::Options o = options();
    o.on_crash = [](ergon::Pid, const std::string&) {};
    runtime(o);
  }
};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Call);

// A hand-written server: Square, Untyped (as int) and Touch, until Stop.
void square_server() {
  for (bool running = true; running;) {
    ergon::receive([](ergon::Call<Square>& c) { ergon::reply(c.from, c.request.v * c.request.v); },
                   [](ergon::Call<Untyped>& c) { ergon::reply(c.from, c.request.v + 1); },
                   [](ergon::Call<Touch>& c) { ergon::reply(c.from); },
                   [&](Stop) { running = false; });
  }
}

// No reply of type Reply<int> is in the caller's mailbox.
bool no_stray_reply() {
  return ergon::receive(
      ergon::on<ergon::Reply<int>>([](const auto&) { return true; },
                                   [](const ergon::Reply<int>&) { return false; }),
      ergon::after(0ms, [] { return true; }));
}

TEST_P(Call, ReturnsTheReplyOfTheDeclaredType) {
  run([] {
    const ergon::Pid s = ergon::spawn(square_server);
    const int r = ergon::call(s, Square{7}, 5s);
    EXPECT_EQ(r, 49);
    EXPECT_EQ(ergon::call<int>(s, Untyped{1}, 5s), 2);
    ergon::call(s, Touch{}, 5s);  // void: returns once handled
    ergon::send(s, Stop{});
  });
}

TEST_P(Call, WaitsForeverWithInfinity) {
  run([] {
    const ergon::Pid s = ergon::spawn(square_server);
    EXPECT_EQ(ergon::call(s, Square{3}, ergon::kInfinity), 9);
    ergon::send(s, Stop{});
  });
}

TEST_P(Call, ReachesARegisteredName) {
  run([] {
    const ergon::Pid s = ergon::spawn(square_server);
    ergon::register_name("squares", s);
    EXPECT_EQ(ergon::call("squares", Square{4}, 5s), 16);
    ergon::send(s, Stop{});
  });
}

TEST_P(Call, AnUnknownNameIsNoproc) {
  run([] {
    bool thrown = false;
    try {
      (void)ergon::call("nobody", Square{4}, 5s);
    } catch (const CallError& e) {
      thrown = true;
      EXPECT_EQ(e.reason().kind, ExitReason::Kind::kNoProc);
      EXPECT_TRUE(contains(e.what(), "\"nobody\"")) << e.what();
    }
    EXPECT_TRUE(thrown);
  });
}

TEST_P(Call, ADeadPidIsNoproc) {
  run([] {
    const ergon::Pid p = ergon::spawn([] {});
    const ergon::Ref m = ergon::monitor(p);
    (void)await<ergon::Down>();
    (void)m;
    bool thrown = false;
    try {
      (void)ergon::call(p, Square{4}, 5s);
    } catch (const CallError& e) {
      thrown = true;
      EXPECT_EQ(e.reason().kind, ExitReason::Kind::kNoProc);
      EXPECT_EQ(e.server(), p);
    }
    EXPECT_TRUE(thrown);
    EXPECT_TRUE(contains(what_of<CallError>([] { (void)ergon::call(ergon::Pid{}, Square{1}, 5s); }),
                         "Pid{}"));
    EXPECT_EQ(ergon::detail::monitor_counts(ergon::self()).held, 0u);
  });
}

TEST_P(Call, CallingItselfIsAnError) {
  run([] {
    const std::string w =
        what_of<CallError>([] { (void)ergon::call(ergon::self(), Square{1}, 5s); });
    EXPECT_TRUE(contains(w, "called itself")) << w;
  });
}

TEST_P(Call, AServerThatDiesGivesItsReasonAtOnce) {
  quiet();
  run([] {
    const ergon::Pid s = ergon::spawn([] {
      ergon::receive([](ergon::Call<Crash>&) { throw std::runtime_error("disk on fire"); });
    });
    // An hour's timeout: the test ends only because the Down ends the call.
    bool thrown = false;
    try {
      (void)ergon::call(s, Crash{}, std::chrono::hours(1));
    } catch (const CallError& e) {
      thrown = true;
      EXPECT_EQ(e.reason().kind, ExitReason::Kind::kException);
      EXPECT_EQ(e.reason().what, "disk on fire");
      EXPECT_TRUE(contains(e.what(), "disk on fire")) << e.what();
    }
    EXPECT_TRUE(thrown);
    EXPECT_EQ(ergon::detail::monitor_counts(ergon::self()).held, 0u);
  });
}

TEST_P(Call, ALateReplyNeverLandsInTheCallersMailbox) {
  run([] {
    const ergon::Pid me = ergon::self();
    const ergon::Pid s = ergon::spawn([me] {
      ergon::From from = ergon::receive([](ergon::Call<Slow>& c) { return c.from; });
      (void)await<Go>();      // the caller has timed out
      ergon::reply(from, 1);  // too late: dropped before the caller's mailbox
      ergon::send(me, Done{});
    });
    const std::string w = what_of<CallTimeout>([s] { (void)ergon::call(s, Slow{}, 20ms); });
    EXPECT_TRUE(contains(w, "within 20 ms")) << w;
    ergon::send(s, Go{});
    (void)await<Done>();  // the reply, had it landed, came before this
    EXPECT_TRUE(no_stray_reply());
    EXPECT_EQ(ergon::detail::monitor_counts(ergon::self()).held, 0u);
  });
}

TEST_P(Call, AnotherProcessMayReplyAndOnlyTheFirstReplyCounts) {
  run([] {
    const ergon::Pid helper = ergon::spawn([] {
      const ergon::From from = await<ergon::From>();
      ergon::reply(from, 10);
      ergon::reply(from, 11);  // dropped: the call was answered
    });
    const ergon::Pid s = ergon::spawn([helper] {
      ergon::receive([helper](ergon::Call<Slow>& c) { ergon::send(helper, c.from); });
      (void)await<Stop>();  // alive until the end: a server that ended would fail the call
    });
    EXPECT_EQ(ergon::call(s, Slow{}, 5s), 10);
    ergon::send(s, Stop{});
    const ergon::Ref m = ergon::monitor(helper);
    (void)await<ergon::Down>();  // the helper ended: its second reply was made
    (void)m;
    EXPECT_TRUE(no_stray_reply());
  });
}

TEST_P(Call, AReplyOfTheWrongTypeIsAnErrorInTheReplier) {
  quiet();
  run([] {
    const ergon::Pid s = ergon::spawn([] {
      ergon::receive([](ergon::Call<Slow>& c) { ergon::reply(c.from, std::string("not an int")); });
    });
    bool thrown = false;
    try {
      (void)ergon::call(s, Slow{}, 5s);
    } catch (const CallError& e) {
      thrown = true;
      EXPECT_TRUE(contains(e.what(), "expects a reply of type int")) << e.what();
    }
    EXPECT_TRUE(thrown);
  });
}

TEST_P(Call, CastDeliversACastMessage) {
  run([] {
    const ergon::Pid me = ergon::self();
    const ergon::Pid s = ergon::spawn(
        [me] { ergon::receive([me](ergon::Cast<int>& c) { ergon::send(me, c.msg); }); });
    ergon::cast(s, 5);
    EXPECT_EQ(await<int>(), 5);
    ergon::cast("nobody", 6);  // dropped, as in Erlang
  });
}

TEST_P(Call, ManyCallsLeaveNoMonitorOnEitherSide) {
  run([] {
    const ergon::Pid s = ergon::spawn(square_server);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(ergon::call(s, Square{i}, 5s), i * i);
    EXPECT_EQ(ergon::detail::monitor_counts(ergon::self()).held, 0u);
    EXPECT_EQ(ergon::detail::monitor_counts(s).on, 0u);
    ergon::send(s, Stop{});
  });
}

// Callers call servers that answer late, answer, or die; every call ends with exactly the
// outcome its server chose, no reply is left in any mailbox, no monitor is left anywhere.
TEST_P(Call, StressEveryCallEndsOnceAndLeavesNothing) {
  quiet();
  const std::uint64_t seed = ergon_test::test_seed();
  SCOPED_TRACE("ERGON_SEED=" + std::to_string(seed));
  run([seed] {
    std::mt19937_64 rng(seed);
    const int kCallers = 20, kCalls = ergon_test::scaled(100, 20);
    std::vector<ergon::Pid> callers;
    const ergon::Pid main = ergon::self();
    for (int c = 0; c < kCallers; ++c) {
      const std::uint64_t s = rng();
      callers.push_back(ergon::spawn([s, kCalls, main] {
        std::mt19937_64 r(s);
        int replies = 0, timeouts = 0, errors = 0;
        for (int i = 0; i < kCalls; ++i) {
          const int mode = static_cast<int>(r() % 3);  // 0 answer, 1 answer late, 2 die
          const ergon::Pid srv = ergon::spawn([mode] {
            ergon::receive([mode](ergon::Call<Slow>& c) {
              if (mode == 2) throw std::runtime_error("boom");
              if (mode == 1) ergon::sleep_for(3ms);
              ergon::reply(c.from, 1);
            });
          });
          try {
            replies += ergon::call(srv, Slow{}, std::chrono::milliseconds(r() % 3));
          } catch (const CallTimeout&) {
            ++timeouts;
          } catch (const CallError&) {
            ++errors;
          }
        }
        if (replies + timeouts + errors != kCalls) throw std::runtime_error("a call ended twice");
        if (ergon::detail::monitor_counts(ergon::self()).held != 0) {
          throw std::runtime_error("a monitor was left");
        }
        ergon::sleep_for(10ms);  // every late server has answered by now, or ended
        if (!no_stray_reply()) throw std::runtime_error("a late reply landed");
        ergon::send(main, Done{});
      }));
    }
    for (int c = 0; c < kCallers; ++c) (void)await<Done>();
  });
}

}  // namespace
