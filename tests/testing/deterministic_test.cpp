// Tests of deterministic mode (Options::deterministic, runtime/src/testing/deterministic.hpp):
//   - a seed replays the same schedule (digest) and the same outcome; other seeds explore
//     other schedules;
//   - time is logical: sleeps and timeouts take no real time and keep their order;
//   - a run where every process waits with no timer is reported as Deadlock, with the seed;
//   - seed sweeps: concurrency scenarios (per-pair order, links and monitors, nurseries,
//     supervisors, timeouts racing messages) over many seeds each: ERGON_DETERMINISTIC_SEEDS
//     (default 500, 50 under tsan; the nightly size is 5000), or the one seed in ERGON_SEED;
//   - the explorer: tests/fixtures/lost_update has a deliberate rare-interleaving bug; the
//     search finds it within 1,000 seeds and replaying the printed seed reproduces it exactly.
// Every failure names the seed that replays it.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon_test::contains;
using ergon_test::field;
using ergon_test::fixture_path;
using ergon_test::run_command;

// Seeds per sweep: ERGON_DETERMINISTIC_SEEDS, else 500 (50 under tsan, which is ten times
// slower). With ERGON_SEED set, only that seed.
std::vector<std::uint64_t> sweep_seeds() {
  if (const char* s = std::getenv("ERGON_SEED")) return {std::strtoull(s, nullptr, 10)};
  std::uint64_t n = ergon_test::scaled<std::uint64_t>(500, 50);
  if (const char* s = std::getenv("ERGON_DETERMINISTIC_SEEDS")) n = std::strtoull(s, nullptr, 10);
  // Seeds 1..n, so that every CI run checks the same schedules; ERGON_TEST_SEEDS=random starts
  // the range at a random point instead (exploring new seeds; a failure names its seed).
  const char* mode = std::getenv("ERGON_TEST_SEEDS");
  const std::uint64_t base = mode != nullptr && std::string(mode) == "random"
                                 ? ergon_test::test_seed() % (std::uint64_t{1} << 40)
                                 : 0;
  std::vector<std::uint64_t> v;
  for (std::uint64_t i = 0; i < n; ++i) v.push_back(base + i + 1);
  return v;
}

ergon::Options det_options(std::uint64_t seed, unsigned workers) {
  ergon::Options o;
  o.deterministic = true;
  o.seed = seed;
  o.workers = workers;
  o.on_crash = [](ergon::Pid, const std::string&) {};  // expected crashes stay quiet
  return o;
}

// Runs `scenario(seed, workers)` for every sweep seed over 1, 2 and 4 workers, stopping at the
// first failure (which names its seed).
void sweep(const std::function<void(std::uint64_t, unsigned)>& scenario) {
  const std::int64_t envelopes = ergon::mailbox::live_envelopes();
  for (std::uint64_t seed : sweep_seeds()) {
    const unsigned workers = 1u << (seed % 3);
    SCOPED_TRACE("ERGON_SEED=" + std::to_string(seed) + " (" + std::to_string(workers) +
                 " workers) replays it");
    scenario(seed, workers);
    ASSERT_EQ(ergon::mailbox::live_envelopes(), envelopes) << "envelopes leaked";
    if (testing::Test::HasFailure()) return;
  }
}

// --- replay ----------------------------------------------------------------------------------

struct Token {
  int hops;
};

// A small busy program whose outcome depends on the schedule: processes race to report, and
// the order of reports is the outcome.
std::pair<std::vector<int>, ergon::Stats> racing_reports(std::uint64_t seed, unsigned workers) {
  ergon::Runtime rt(det_options(seed, workers));
  std::vector<int> order;
  rt.run([&] {
    const ergon::Pid main = ergon::self();
    for (int i = 0; i < 8; ++i) {
      ergon::spawn([main, i] {
        for (int k = 0; k < 50 * (i % 3 + 1); ++k) ergon::reduce(1);
        ergon::send(main, i);
      });
    }
    for (int i = 0; i < 8; ++i) order.push_back(ergon::receive<int>());
  });
  return {order, rt.stats()};
}

TEST(Deterministic, TheSameSeedReplaysTheSameScheduleAndOutcome) {
  for (std::uint64_t seed : {1ull, 42ull, 1234567ull}) {
    for (unsigned workers : {1u, 4u}) {
      SCOPED_TRACE("seed " + std::to_string(seed) + ", " + std::to_string(workers) + " workers");
      const auto [a, sa] = racing_reports(seed, workers);
      const auto [b, sb] = racing_reports(seed, workers);
      EXPECT_EQ(a, b);
      EXPECT_EQ(sa.schedule_digest, sb.schedule_digest);
      EXPECT_EQ(sa.steps, sb.steps);
      EXPECT_GT(sa.steps, 8u);
      EXPECT_EQ(sa.seed, seed);
    }
  }
}

TEST(Deterministic, OtherSeedsExploreOtherSchedules) {
  std::set<std::uint64_t> digests;
  std::set<std::vector<int>> orders;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    const auto [order, s] = racing_reports(seed, 4);
    digests.insert(s.schedule_digest);
    orders.insert(order);
  }
  EXPECT_GE(digests.size(), 30u) << "40 seeds should give (nearly) 40 schedules";
  EXPECT_GE(orders.size(), 5u) << "the order of reports should vary with the seed";
}

TEST(Deterministic, ASeedOfZeroDrawsOneAndReportsIt) {
  ergon_test::EnvGuard no_seed("ERGON_SEED", "0");
  ergon::Runtime rt(det_options(0, 2));
  EXPECT_NE(rt.seed(), 0u);
  EXPECT_TRUE(rt.deterministic());
  rt.run([] {});
  EXPECT_EQ(rt.stats().seed, rt.seed());
}

TEST(Deterministic, TheEnvironmentTurnsItOn) {
  ergon_test::EnvGuard on("ERGON_DETERMINISTIC", "1");
  ergon_test::EnvGuard seed("ERGON_SEED", "77");
  ergon::Runtime rt;
  EXPECT_TRUE(rt.deterministic());
  EXPECT_EQ(rt.seed(), 77u);
  ergon_test::EnvGuard bad("ERGON_DETERMINISTIC", "maybe");
  const std::string w = ergon_test::what_of<ergon::ConfigError>([] { ergon::Runtime r; });
  EXPECT_TRUE(contains(w, "ERGON_DETERMINISTIC")) << w;
}

TEST(Deterministic, FaultInjectionReplaysWithTheSeed) {
  // Delayed and reordered messages, and crashes, come from the same seed: a run replays.
  auto once = [](std::uint64_t seed) {
    ergon::Options o = det_options(seed, 2);
    o.faults.delay_messages = 0.3;
    o.faults.reorder_messages = 0.2;
    o.faults.max_delay = std::chrono::microseconds(50);
    o.faults.crash = 0.01;
    ergon::Runtime rt(o);
    std::vector<int> got;
    rt.run([&] {
      const ergon::Pid main = ergon::self();
      for (int i = 0; i < 6; ++i) {
        ergon::spawn([main, i] {
          for (int k = 0; k < 10; ++k) ergon::send(main, i * 100 + k);
        });
      }
      while (auto v = ergon::receive_for<int>(10ms)) got.push_back(*v);
    });
    return std::make_pair(got, rt.stats());
  };
  for (std::uint64_t seed : {3ull, 99ull}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const auto [a, sa] = once(seed);
    const auto [b, sb] = once(seed);
    EXPECT_EQ(a, b);
    EXPECT_EQ(sa.schedule_digest, sb.schedule_digest);
    EXPECT_EQ(sa.messages_delayed, sb.messages_delayed);
    EXPECT_EQ(sa.injected_crashes, sb.injected_crashes);
    EXPECT_GT(sa.messages_delayed, 0u);
  }
}

// --- the logical clock -----------------------------------------------------------------------

TEST(Deterministic, TimeIsLogicalSleepsTakeNoRealTimeAndKeepTheirOrder) {
  ergon::Runtime rt(det_options(5, 2));
  std::vector<int> woke;
  const auto t0 = std::chrono::steady_clock::now();
  rt.run([&] {
    const ergon::Pid main = ergon::self();
    for (int i : {3, 1, 2}) {
      ergon::spawn([main, i] {
        ergon::sleep_for(std::chrono::hours(i));
        ergon::send(main, i);
      });
    }
    for (int i = 0; i < 3; ++i) woke.push_back(ergon::receive<int>());
    // A timeout with nobody to send fires at its logical time.
    EXPECT_FALSE(ergon::receive_for<Token>(std::chrono::minutes(10)).has_value());
  });
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s) << "three hours took real time";
  EXPECT_EQ(woke, (std::vector<int>{1, 2, 3}));
}

TEST(Deterministic, AMessageBeatsALongerTimeoutAndLosesToAShorterOne) {
  ergon::Runtime rt(det_options(9, 1));
  rt.run([] {
    const ergon::Pid main = ergon::self();
    ergon::spawn([main] {
      ergon::sleep_for(50ms);
      ergon::send(main, Token{1});
      ergon::sleep_for(50ms);
      ergon::send(main, Token{2});
    });
    EXPECT_FALSE(ergon::receive_for<Token>(10ms).has_value());
    auto t = ergon::receive_for<Token>(1s);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->hops, 1);
    EXPECT_EQ(ergon::receive<Token>().hops, 2);
  });
}

// --- deadlock --------------------------------------------------------------------------------

TEST(Deterministic, EveryProcessWaitingWithNoTimerIsADeadlockNamingTheSeed) {
  ergon::Runtime rt(det_options(31, 2));
  const std::string w = ergon_test::what_of<ergon::Deadlock>([&] {
    rt.run([] {
      const ergon::Pid main = ergon::self();
      ergon::spawn([main] { (void)ergon::receive<Token>(); });  // waits for main
      (void)ergon::receive<Token>();                            // waits for it
      (void)main;
    });
  });
  EXPECT_TRUE(contains(w, "deadlock")) << w;
  EXPECT_TRUE(contains(w, "ERGON_SEED=31")) << w;
  EXPECT_TRUE(contains(w, "waiting in receive")) << w;
  EXPECT_EQ(rt.stats().processes_alive, 0u);
  rt.run([] {});  // the runtime is usable afterwards
}

// --- sweeps ----------------------------------------------------------------------------------

struct Seq {
  int sender;
  int n;
};

TEST(DeterministicSweep, EachSendersMessagesArriveInOrder) {
  sweep([](std::uint64_t seed, unsigned workers) {
    ergon::Runtime rt(det_options(seed, workers));
    rt.run([] {
      const ergon::Pid main = ergon::self();
      constexpr int kSenders = 4, kEach = 30;
      for (int s = 0; s < kSenders; ++s) {
        ergon::spawn([main, s] {
          for (int n = 0; n < kEach; ++n) ergon::send(main, Seq{s, n});
        });
      }
      std::array<int, kSenders> next{};
      for (int i = 0; i < kSenders * kEach; ++i) {
        const Seq m = ergon::receive<Seq>();
        ASSERT_EQ(m.n, next[m.sender]) << "sender " << m.sender;
        ++next[m.sender];
      }
    });
  });
}

TEST(DeterministicSweep, LinkedProcessesDieTogetherAndEveryMonitorFiresOnce) {
  sweep([](std::uint64_t seed, unsigned workers) {
    ergon::Runtime rt(det_options(seed, workers));
    rt.run([seed] {
      // A chain of 6 linked processes; one in the middle crashes; a monitor on each.
      const int kChain = 6;
      const int crash_at = static_cast<int>(seed % kChain);
      std::vector<ergon::Pid> pids;
      std::map<std::uint64_t, ergon::Pid> refs;
      const ergon::Pid main = ergon::self();
      ergon::Pid prev;
      for (int i = 0; i < kChain; ++i) {
        // Each links itself to the one before and reports; once all have, main tells one to
        // crash, and the exit signals must end the whole chain.
        prev = ergon::spawn([i, crash_at, prev, main] {
          if (prev) ergon::link(prev);
          ergon::send(main, Token{i});
          (void)ergon::receive<Token>();
          if (i == crash_at) throw std::runtime_error("boom");
          (void)ergon::receive<Token>();  // nobody sends a second one
        });
        pids.push_back(prev);
      }
      for (ergon::Pid p : pids) refs[ergon::monitor(p).id()] = p;
      for (int i = 0; i < kChain; ++i) (void)ergon::receive<Token>();
      ergon::send(pids[crash_at], Token{-1});
      std::set<std::uint64_t> fired;
      for (int i = 0; i < kChain; ++i) {
        const ergon::Down d = ergon::receive<ergon::Down>();
        EXPECT_TRUE(fired.insert(d.ref.id()).second) << "a monitor fired twice";
        EXPECT_TRUE(refs.count(d.ref.id()) == 1);
      }
      EXPECT_FALSE(ergon::receive_for<ergon::Down>(10ms).has_value());
    });
    EXPECT_EQ(rt.stats().processes_alive, 0u);
  });
}

TEST(DeterministicSweep, ANurseryFailureCancelsTheRestAndIsRethrown) {
  sweep([](std::uint64_t seed, unsigned workers) {
    ergon::Runtime rt(det_options(seed, workers));
    rt.run([seed] {
      int ended = 0;
      const int failing = static_cast<int>(seed % 5);
      try {
        ergon::nursery([&](ergon::Nursery& n) {
          for (int i = 0; i < 5; ++i) {
            n.spawn([i, failing] {
              for (int k = 0; k < i + 1; ++k) ergon::yield();
              if (i == failing) throw std::runtime_error("child " + std::to_string(i));
              (void)ergon::receive<Token>();  // only a cancel ends it
            });
          }
        });
      } catch (const std::runtime_error& e) {
        ended = 1;
        EXPECT_EQ(std::string(e.what()), "child " + std::to_string(failing));
      }
      EXPECT_EQ(ended, 1) << "the failure was not rethrown";
    });
    EXPECT_EQ(rt.stats().processes_alive, 0u);
  });
}

TEST(DeterministicSweep, ASupervisorRestartsCrashedChildrenWithinItsIntensity) {
  sweep([](std::uint64_t seed, unsigned workers) {
    ergon::Runtime rt(det_options(seed, workers));
    rt.run([seed] {
      int restarts = 0;
      ergon::SupervisorSpec spec;
      spec.strategy = seed % 2 == 0 ? ergon::Strategy::kOneForOne : ergon::Strategy::kOneForAll;
      spec.intensity = 10;
      spec.period = std::chrono::seconds(60);
      spec.on_event = [&restarts](const ergon::SupervisorEvent& e) {
        if (e.kind == ergon::SupervisorEvent::Kind::kRestarted) ++restarts;
      };
      for (const char* id : {"a", "b", "c"}) {
        ergon::ChildSpec c;
        c.id = id;
        c.start = [id = std::string(id)] {
          ergon::register_name(id, ergon::self());
          (void)ergon::receive<Token>();
          throw std::runtime_error("crash on request");
        };
        spec.children.push_back(std::move(c));
      }
      const ergon::Pid sup = ergon::start_supervisor(spec);
      for (int round = 0; round < 3; ++round) {
        ergon::Pid victim;
        while (!(victim = ergon::whereis(round == 1 ? "b" : "a"))) ergon::sleep_for(1ms);
        const ergon::Ref r = ergon::monitor(victim);
        ergon::send(victim, Token{round});
        while (ergon::receive<ergon::Down>().ref != r) {
        }
        // Wait for the restart to register the name again.
        while (!ergon::whereis(round == 1 ? "b" : "a") ||
               ergon::whereis(round == 1 ? "b" : "a") == victim) {
          ergon::sleep_for(1ms);
        }
      }
      const auto children = ergon::supervisor::which_children(sup);
      EXPECT_EQ(children.size(), 3u);
      EXPECT_GE(restarts, 3);
      ergon::supervisor::stop(sup);
    });
    EXPECT_EQ(rt.stats().processes_alive, 0u);
  });
}

TEST(DeterministicSweep, TimeoutsRacingMessagesLoseNothing) {
  sweep([](std::uint64_t seed, unsigned workers) {
    ergon::Runtime rt(det_options(seed, workers));
    rt.run([] {
      // Each receiver waits a short time for its message; the message is sent around the
      // deadline. Every message is either received in time or found afterwards: none is lost
      // and none is seen twice.
      const ergon::Pid main = ergon::self();
      constexpr int kPairs = 6;
      for (int i = 0; i < kPairs; ++i) {
        const ergon::Pid rx = ergon::spawn([main] {
          const auto got = ergon::receive_for<Token>(200us);
          const int late = got ? 0 : ergon::receive<Token>().hops + 1000;
          ergon::send(main, got ? got->hops : late);
        });
        ergon::spawn([rx, i] {
          for (int k = 0; k < 2 + i; ++k) ergon::reduce(1);
          ergon::sleep_for(std::chrono::microseconds(150 + 20 * i));
          ergon::send(rx, Token{i});
        });
      }
      std::set<int> seen;
      for (int i = 0; i < kPairs; ++i) seen.insert(ergon::receive<int>() % 1000);
      EXPECT_EQ(seen.size(), static_cast<std::size_t>(kPairs));
    });
  });
}

// --- the explorer ----------------------------------------------------------------------------

TEST(Explorer, FindsTheRareInterleavingBugWithin1000SeedsAndReplaysIt) {
  const std::string fixture = fixture_path("lost_update");
  ASSERT_EQ(::access(fixture.c_str(), X_OK), 0) << fixture << " is not built";
  int status = -1;
  const std::string found = run_command(fixture + " --search 1 1000", &status);
  ASSERT_EQ(status, 0) << "the explorer did not find the lost update in 1,000 seeds:\n" << found;
  const std::string seed = field(found, "seed");
  ASSERT_FALSE(seed.empty()) << found;
  EXPECT_EQ(field(found, "bug"), "yes") << found;
  EXPECT_TRUE(contains(found, "replay: ERGON_SEED=" + seed)) << found;
  // The printed seed replays the bug exactly: the same balance and the same schedule, twice,
  // each in a fresh program.
  for (int i = 0; i < 2; ++i) {
    const std::string replay = run_command("ERGON_SEED=" + seed + " " + fixture, &status);
    ASSERT_EQ(status, 0) << replay;
    EXPECT_EQ(field(replay, "seed"), seed) << replay;
    EXPECT_EQ(field(replay, "bug"), "yes") << replay;
    EXPECT_EQ(field(replay, "balance"), field(found, "balance")) << replay;
    EXPECT_EQ(field(replay, "digest"), field(found, "digest")) << replay;
  }
}

}  // namespace
