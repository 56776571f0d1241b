// Fault injection (ergon/faults.hpp): nothing happens when it is off; delays keep the order of
// each sender-receiver pair and let other senders overtake; reorders happen; delayed messages
// arrive and short timeouts fire first; crashes end processes with InjectedFault and
// supervisors restart them; failed spawns throw SpawnError; held messages are freed at
// shutdown; bad values are ConfigErrors; a seed replays the same crashes.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ergon/ergon.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon_test::await;
using ergon_test::contains;

class Faults : public ergon_test::RuntimeTest {
 protected:
  // Options for fault injection with this instance's seed (ergon_test::fixed_test_seed; a
  // deterministic instance already has one), which every failure message names.
  ergon::Options faulty() {
    if (!is_deterministic()) {
      seed_ = ergon_test::fixed_test_seed();
      seed_trace_.emplace(__FILE__, __LINE__,
                          "ERGON_SEED=" + std::to_string(seed_) + " replays the faults");
    }
    ergon::Options o = options();
    o.seed = seed_;
    o.on_crash = [](ergon::Pid, const std::string&) {};  // crashes are the point: keep quiet
    return o;
  }
  // The same with a seed of the test's own choosing.
  ergon::Options faulty(std::uint64_t seed) const {
    ergon::Options o = options();
    o.seed = seed;
    o.on_crash = [](ergon::Pid, const std::string&) {};
    return o;
  }
};

struct Seq {
  unsigned sender;
  unsigned n;
};
struct Done {};

TEST_P(Faults, OffInjectsNothing) {
  EXPECT_FALSE(ergon::Options{}.faults.any());
  run([] {
    const ergon::Pid me = ergon::self();
    for (int i = 0; i < 50; ++i) {
      ergon::Pid p = ergon::spawn([me] {
        for (int k = 0; k < 20; ++k) {
          ergon::send(me, k);
          ergon::yield();
        }
      });
      (void)p;
    }
    for (int i = 0; i < 50 * 20; ++i) (void)await<int>();
  });
  const ergon::Stats s = stats();
  EXPECT_EQ(s.messages_delayed, 0u);
  EXPECT_EQ(s.messages_reordered, 0u);
  EXPECT_EQ(s.injected_crashes, 0u);
  EXPECT_EQ(s.injected_spawn_failures, 0u);
  EXPECT_EQ(s.processes_crashed, 0u);
}

// Several senders, heavy delay and reordering: each sender's numbers arrive in order.
TEST_P(Faults, DelayKeepsPerPairOrder) {
  ergon::Options o = faulty();
  o.faults.delay_messages = 0.5;
  o.faults.reorder_messages = 0.3;
  o.faults.max_delay = 300us;
  runtime(o);
  constexpr unsigned kSenders = 4;
  const unsigned per = ergon_test::scaled(500u, 100u);
  std::vector<unsigned> out_of_order(kSenders, 0), received(kSenders, 0);
  unsigned interleavings = 0;
  run([&] {
    const ergon::Pid me = ergon::self();
    for (unsigned s = 0; s < kSenders; ++s) {
      ergon::spawn([me, s, per] {
        for (unsigned n = 0; n < per; ++n) ergon::send(me, Seq{s, n});
        ergon::send(me, Done{});  // behind every Seq of this sender
      });
    }
    std::vector<unsigned> next(kSenders, 0);
    unsigned last_sender = kSenders, done = 0;
    while (done < kSenders) {
      ergon::receive(
          [&](const Seq& q) {
            if (q.n != next[q.sender]) ++out_of_order[q.sender];
            next[q.sender] = q.n + 1;
            ++received[q.sender];
            if (last_sender != kSenders && last_sender != q.sender) ++interleavings;
            last_sender = q.sender;
          },
          [&](const Done&) { ++done; },
          ergon::after(ergon_test::patience(), [] { throw std::runtime_error("lost messages"); }));
    }
  });
  for (unsigned s = 0; s < kSenders; ++s) {
    EXPECT_EQ(out_of_order[s], 0u) << "sender " << s;
    EXPECT_EQ(received[s], per) << "sender " << s;
  }
  EXPECT_GT(stats().messages_delayed, 0u);
}

// A process's Down comes after every message it sent before it ended, delayed or not.
TEST_P(Faults, DownComesAfterDelayedMessages) {
  ergon::Options o = faulty();
  o.faults.delay_messages = 1.0;
  o.faults.max_delay = 2ms;
  runtime(o);
  run([] {
    const ergon::Pid me = ergon::self();
    for (int round = 0; round < 20; ++round) {
      ergon::Pid p = ergon::spawn([me] {
        (void)ergon::receive<Done>();
        for (int i = 0; i < 10; ++i) ergon::send(me, i);
      });
      const ergon::Ref r = ergon::monitor(p);
      ergon::send(p, Done{});
      int got = 0;
      bool down = false;
      while (!down) {
        ergon::receive([&](int v) { EXPECT_EQ(v, got++); },
                       [&](const ergon::Down& d) {
                         EXPECT_EQ(d.ref, r);
                         down = true;
                       });
      }
      EXPECT_EQ(got, 10);
    }
  });
}

// A sends to R, then tells B to send to R: causally A's message is first, and without faults
// R always sees it first. With reordering on, B's message overtakes it in some rounds.
TEST_P(Faults, MessagesFromDifferentSendersAreReordered) {
  ergon::Options o = faulty();
  o.faults.reorder_messages = 0.5;
  o.faults.max_delay = 1ms;
  runtime(o);
  struct Go {
    ergon::Pid r, b;
  };
  struct FromA {};
  struct FromB {};
  const int rounds = ergon_test::scaled(200, 60);
  int inverted = 0;
  run([&] {
    const ergon::Pid me = ergon::self();
    const ergon::Pid r = ergon::spawn([me, rounds] {
      for (int i = 0; i < rounds; ++i) {
        bool a_first =
            ergon::receive([](const FromA&) { return true; }, [](const FromB&) { return false; });
        ergon::receive([](const FromA&) {}, [](const FromB&) {});
        ergon::send(me, a_first);
      }
    });
    const ergon::Pid b = ergon::spawn([rounds] {
      for (int i = 0; i < rounds; ++i) ergon::send(ergon::receive<ergon::Pid>(), FromB{});
    });
    const ergon::Pid a = ergon::spawn([rounds] {
      for (int i = 0; i < rounds; ++i) {
        Go g = ergon::receive<Go>();
        ergon::send(g.r, FromA{});
        ergon::send(g.b, g.r);
      }
    });
    for (int i = 0; i < rounds; ++i) {
      ergon::send(a, Go{r, b});
      if (!await<bool>()) ++inverted;
    }
  });
  EXPECT_GT(inverted, 0) << "no message from B ever overtook one from A";
  EXPECT_GT(stats().messages_reordered, 0u);
}

// Every message is delayed by up to 100 ms: a 1 ms receive_for mostly times out, and every
// message still arrives.
TEST_P(Faults, DelayedMessagesArriveAndShortTimeoutsFire) {
  ergon::Options o = faulty();
  o.faults.delay_messages = 1.0;
  o.faults.max_delay = 100ms;
  runtime(o);
  constexpr int kMessages = 20;
  int timeouts = 0, arrived = 0;
  run([&] {
    const ergon::Pid me = ergon::self();
    for (int i = 0; i < kMessages; ++i) {
      ergon::send(me, i);
      if (!ergon::receive_for<int>(1ms))
        ++timeouts;
      else
        ++arrived;
    }
    while (arrived < kMessages) {
      (void)await<int>();
      ++arrived;
    }
  });
  // A delay below 1 ms has probability 1/100: 10 early arrivals of 20 would be a broken line.
  EXPECT_GE(timeouts, kMessages / 2);
  EXPECT_EQ(arrived, kMessages);
  EXPECT_EQ(stats().messages_delayed, static_cast<std::uint64_t>(kMessages));
}

TEST_P(Faults, CrashEndsProcessesWithInjectedFault) {
  ergon::Options o = faulty();
  o.faults.crash = 0.01;
  ergon::Runtime& rt = runtime(o);
  ASSERT_EQ(rt.seed(), seed_);
  constexpr int kProcesses = 20;
  int crashed_downs = 0, caught = 0;
  run([&] {
    const ergon::Pid me = ergon::self();
    for (int i = 0; i < kProcesses; ++i) {
      ergon::Pid p = ergon::spawn([me] {
        try {
          for (;;) ergon::yield();  // ends only by a crash
        } catch (const ergon::InjectedFault& e) {
          ergon::send(me, std::string(e.what()));  // may crash too: then no string
          throw;
        }
      });
      (void)ergon::monitor(p);
    }
    int downs = 0;
    while (downs < kProcesses) {
      ergon::receive(
          [&](const std::string& what) {
            EXPECT_TRUE(contains(what, "ERGON_FAULT_CRASH")) << what;
            ++caught;
          },
          [&](const ergon::Down& d) {
            ++downs;
            const std::string& w = d.reason.what;
            EXPECT_EQ(d.reason.kind, ergon::ExitReason::Kind::kException) << w;
            if (contains(w, "fault injection crashed process " + d.pid.to_string()) &&
                contains(w, "Options::faults.crash") && contains(w, "ERGON_FAULT_CRASH") &&
                contains(w, "ERGON_SEED=" + std::to_string(seed_))) {
              ++crashed_downs;
            } else {
              ADD_FAILURE() << "not an injected crash: " << w;
            }
          },
          ergon::after(ergon_test::patience(), [] { throw std::runtime_error("no Down"); }));
    }
  });
  EXPECT_EQ(crashed_downs, kProcesses);
  EXPECT_GT(caught, 0);
  // The sends in the handlers are crash points too: at least one crash per process.
  EXPECT_GE(stats().injected_crashes, static_cast<std::uint64_t>(kProcesses));
  EXPECT_EQ(stats().processes_crashed, static_cast<std::uint64_t>(kProcesses));
}

// crash = 1: every reduction point crashes, but not the main process, nor a process spawned
// with SpawnOptions::faults = false.
TEST_P(Faults, MainAndOptedOutProcessesAreImmune) {
  ergon::Options o = faulty(7);
  o.faults.crash = 1.0;
  runtime(o);
  run([] {
    const ergon::Pid me = ergon::self();
    // Both wait for Go, sent once both are monitored: on other workers they could otherwise
    // end before monitor() and their Downs would say noproc.
    struct Go {};
    ergon::Pid immune = ergon::spawn(
        [me] {
          (void)ergon::receive<Go>();
          for (int i = 0; i < 100; ++i) ergon::yield();
          ergon::send(me, 1);
        },
        ergon::SpawnOptions{.faults = false});
    ergon::Pid doomed = ergon::spawn([me] {
      (void)ergon::receive<Go>();  // crashes at the switch back, or at the yield below
      ergon::yield();
      ergon::send(me, 2);
    });
    const ergon::Ref ri = ergon::monitor(immune);
    const ergon::Ref rd = ergon::monitor(doomed);
    ergon::send(immune, Go{});
    ergon::send(doomed, Go{});
    for (int i = 0; i < 100; ++i) ergon::yield();  // main: never crashed
    EXPECT_EQ(await<int>(), 1);
    for (int i = 0; i < 2; ++i) {
      const ergon::Down d = await<ergon::Down>();
      if (d.ref == ri) {
        EXPECT_TRUE(d.reason.normal()) << d.reason.to_string();
      } else {
        EXPECT_EQ(d.ref, rd);
        EXPECT_TRUE(contains(d.reason.what, "fault injection")) << d.reason.what;
      }
    }
    EXPECT_FALSE(ergon::receive_for<int>(0ms).has_value());  // the doomed one never sent
  });
}

TEST_P(Faults, SupervisorRestartsCrashedChildren) {
  ergon::Options o = faulty();
  o.faults.crash = 0.002;
  runtime(o);
  struct Restarted {};
  run([&] {
    const ergon::Pid me = ergon::self();
    ergon::SupervisorSpec spec;
    spec.strategy = ergon::Strategy::kOneForOne;
    spec.intensity = 1000000;  // restarts are the point
    spec.period = 1s;
    for (int i = 0; i < 3; ++i) {
      ergon::ChildSpec c;
      c.id = "w" + std::to_string(i);
      c.start = [] {
        for (;;) {
          ergon::send(ergon::self(), 1);
          (void)ergon::receive<int>();
        }
      };
      spec.children.push_back(std::move(c));
    }
    spec.on_event = [me](const ergon::SupervisorEvent& e) {
      if (e.kind == ergon::SupervisorEvent::Kind::kRestarted) ergon::send(me, Restarted{});
    };
    const ergon::Pid sup = ergon::start_supervisor(spec);
    for (int i = 0; i < 10; ++i) (void)await<Restarted>();
    EXPECT_EQ(ergon::supervisor::which_children(sup).size(), 3u);
    ergon::supervisor::stop(sup);
  });
  EXPECT_GE(stats().injected_crashes, 10u);
}

TEST_P(Faults, FailSpawnsThrowsSpawnError) {
  ergon::Options o = faulty();
  o.faults.fail_spawns = 0.5;
  runtime(o);
  int failed = 0, started = 0;
  run([&] {
    for (int i = 0; i < 200; ++i) {
      try {
        ergon::spawn([] {});
        ++started;
      } catch (const ergon::SpawnError& e) {
        EXPECT_TRUE(contains(e.what(), "fault injection")) << e.what();
        EXPECT_TRUE(contains(e.what(), "ERGON_FAULT_FAIL_SPAWNS")) << e.what();
        ++failed;
      }
    }
    for (int i = 0; i < 50; ++i) ergon::spawn([] {}, ergon::SpawnOptions{.faults = false});
  });
  EXPECT_GT(failed, 0);
  EXPECT_GT(started, 0);
  EXPECT_EQ(stats().injected_spawn_failures, static_cast<std::uint64_t>(failed));
}

// A supervisor whose children cannot be spawned fails to start, as with any spawn failure.
TEST_P(Faults, SupervisorSeesInjectedSpawnFailure) {
  ergon::Options o = faulty(11);
  o.faults.fail_spawns = 1.0;
  runtime(o);
  run([] {
    ergon::SupervisorSpec spec;
    ergon::ChildSpec c;
    c.id = "child";
    c.start = [] {};
    spec.children.push_back(std::move(c));
    const std::string what = ergon_test::what_of<ergon::Error>(
        [&] { (void)ergon::start_supervisor(spec, ergon::SpawnOptions{.faults = false}); });
    EXPECT_TRUE(contains(what, "failed to start child 'child'")) << what;
    EXPECT_TRUE(contains(what, "fault injection")) << what;
    EXPECT_TRUE(contains(ergon_test::what_of<ergon::SpawnError>(
                             [] { (void)ergon::start_supervisor(ergon::SupervisorSpec{}); }),
                         "fault injection"));
  });
}

// Messages held for a minute when the run ends are freed (the fixture checks the envelope
// count) and counted as dropped.
TEST_P(Faults, HeldMessagesAreFreedAtShutdown) {
  ergon::Options o = faulty(3);
  o.faults.delay_messages = 1.0;
  o.faults.max_delay = 60s;
  runtime(o);
  run([] {
    const ergon::Pid me = ergon::self();
    ergon::Pid sink = ergon::spawn([] { (void)ergon::receive<Done>(); });
    for (int i = 0; i < 100; ++i) ergon::send(sink, std::string(100, 'x'));  // a heap payload
    for (int i = 0; i < 100; ++i) ergon::send(me, i);
  });
  EXPECT_EQ(stats().messages_delayed, 200u);
  EXPECT_GE(stats().messages_dropped, 200u);
}

// The same seed, the same crashes: a chain of processes, one at a time, each running 100
// reduction points (yields); which ones crash, and where, depends on the seed only (every
// decision of a process comes from its own stream, seeded from its spawner's).
TEST_P(Faults, SameSeedSameCrashes) {
  auto outcome = [this](std::uint64_t seed) {
    ergon::Options o = faulty(seed);
    o.faults.crash = 0.005;
    runtime(o);
    std::vector<int> steps(50, 0);
    run([&] {
      for (int& step : steps) {
        ergon::Pid p = ergon::spawn([&step] {
          for (; step < 100; ++step) ergon::yield();
        });
        const ergon::Ref r = ergon::monitor(p);
        (void)r;
        (void)await<ergon::Down>();
      }
    });
    return steps;
  };
  const std::uint64_t seed = ergon_test::fixed_test_seed();
  SCOPED_TRACE("ERGON_SEED=" + std::to_string(seed));
  const std::vector<int> first = outcome(seed);
  EXPECT_EQ(outcome(seed), first);
  EXPECT_NE(outcome(seed + 1), first);  // 50 processes of 100 points: a tie is ~2^-50
  int crashed = 0;
  for (int s : first) crashed += s < 100;
  EXPECT_GT(crashed, 0);
}

// --- options ------------------------------------------------------------------------------

TEST(FaultOptions, EnvironmentSetsEachField) {
  ergon_test::EnvGuard a("ERGON_FAULT_DELAY_MESSAGES", "0.25");
  ergon_test::EnvGuard b("ERGON_FAULT_MAX_DELAY", "2ms");
  ergon_test::EnvGuard c("ERGON_FAULT_REORDER_MESSAGES", "1e-3");
  ergon_test::EnvGuard d("ERGON_FAULT_CRASH", "1");
  ergon_test::EnvGuard e("ERGON_FAULT_FAIL_SPAWNS", "0");
  const ergon::Options o = ergon::Options::from_env();
  EXPECT_EQ(o.faults.delay_messages, 0.25);
  EXPECT_EQ(o.faults.max_delay, std::chrono::microseconds(2000));
  EXPECT_EQ(o.faults.reorder_messages, 1e-3);
  EXPECT_EQ(o.faults.crash, 1.0);
  EXPECT_EQ(o.faults.fail_spawns, 0.0);
}

TEST(FaultOptions, BadValuesAreConfigErrors) {
  for (const char* bad : {"2", "-0.1", "abc", "", "0.5x", "nan", "inf"}) {
    ergon_test::EnvGuard g("ERGON_FAULT_CRASH", bad);
    const std::string what =
        ergon_test::what_of<ergon::ConfigError>([] { (void)ergon::Options::from_env(); });
    EXPECT_TRUE(contains(what, "ERGON_FAULT_CRASH")) << bad << ": " << what;
    EXPECT_TRUE(contains(what, "probability")) << what;
  }
  {
    ergon_test::EnvGuard g("ERGON_FAULT_MAX_DELAY", "5");
    EXPECT_TRUE(
        contains(ergon_test::what_of<ergon::ConfigError>([] { (void)ergon::Options::from_env(); }),
                 "ERGON_FAULT_MAX_DELAY"));
  }
  auto rejects = [](auto set, const char* field) {
    ergon::Options o;
    o.workers = 1;
    set(o.faults);
    const std::string what = ergon_test::what_of<ergon::ConfigError>([&] { ergon::Runtime rt(o); });
    EXPECT_TRUE(contains(what, field)) << what;
  };
  rejects([](ergon::FaultOptions& f) { f.delay_messages = 1.5; }, "faults.delay_messages");
  rejects([](ergon::FaultOptions& f) { f.reorder_messages = -1; }, "faults.reorder_messages");
  rejects([](ergon::FaultOptions& f) { f.crash = std::nan(""); }, "faults.crash");
  rejects([](ergon::FaultOptions& f) { f.fail_spawns = 2; }, "faults.fail_spawns");
  rejects([](ergon::FaultOptions& f) { f.max_delay = std::chrono::microseconds(0); },
          "faults.max_delay");
}

TEST(FaultOptions, SeedZeroPicksOneAndReportsIt) {
  ergon::Options o;
  o.workers = 1;
  o.seed = 0;
  ergon::Runtime rt(o);
  EXPECT_NE(rt.seed(), 0u);
  EXPECT_EQ(rt.options().seed, rt.seed());
  o.seed = 42;
  ergon::Runtime rt2(o);
  EXPECT_EQ(rt2.seed(), 42u);
}

}  // namespace

ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Faults);
