// A seeded stress test: a random mix of processes that spawn, send to random (possibly dead)
// pids, receive selectively with timeouts, sleep, yield, exit early and crash, beside
// "drainer" processes that live through the run. The whole workload comes from one seed
// (ERGON_SEED, or a random one), printed on failure and recorded as a test property; setting
// ERGON_SEED replays the same workload (the interleaving still varies with the threads).
//
// Checks: every message sent to a drainer is received exactly once (conservation); every
// crash is reported; and, by the fixture, no process, stack or envelope leaks.
// ERGON_STRESS_VERBOSE=1 prints each run's totals.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ergon/ergon.hpp"
#include "test_util.hpp"

namespace {

using ergon_test::await;

class Stress : public ergon_test::RuntimeTest {};
ERGON_INSTANTIATE_WORKERS(Stress);

using ergon_test::test_seed;

// A message to a drainer (seq >= 0, counted) or to an actor (seq == -1, not counted).
struct Msg {
  int sender;
  int seq;
};
struct Finish {
  long expected;  // messages sent to this drainer in the whole run
};
struct DrainReport {
  int drainer;
  long received;
  long duplicates;
  long extra;  // arrived after the expected count was reached
};
struct Tally {
  int actor;
  std::vector<long> sent_to_drainer;
  bool crashing;
};

struct Config {
  int drainers;
  int initial_actors;
  int max_actors;
  int min_steps;
  int max_steps;
};

// State the processes of one run share. Guarded as noted; no lock is held across an ergon
// call that can switch.
struct World {
  Config cfg;
  ergon::Pid main;
  std::vector<ergon::Pid> drainers;    // written before any actor starts
  std::atomic<int> actors_started{0};  // incremented before each actor's spawn
  std::mutex mu;
  std::vector<ergon::Pid> actors;  // guarded by mu; alive or not
  ergon::Pid random_actor(std::mt19937_64& rng) {
    std::lock_guard<std::mutex> g(mu);
    return actors[rng() % actors.size()];
  }
  void add_actor(ergon::Pid p) {
    std::lock_guard<std::mutex> g(mu);
    actors.push_back(p);
  }
};

void drainer(World& w, int index, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::unordered_set<std::uint64_t> seen;
  DrainReport report{index, 0, 0, 0};
  auto record = [&](const Msg& m) {
    const std::uint64_t key = (std::uint64_t(std::uint32_t(m.sender)) << 32) | std::uint32_t(m.seq);
    if (!seen.insert(key).second) ++report.duplicates;
    ++report.received;
  };
  long expected = -1;
  // The busy phase: selective receives (by sequence number modulo 3) with random timeouts.
  while (expected < 0) {
    const int r = static_cast<int>(rng() % 3);
    const auto timeout = std::chrono::microseconds(rng() % 1000);
    ergon::receive(
        ergon::on<Msg>([r](const Msg& m) { return m.seq % 3 == r; }, record),
        [&](Finish f) { expected = f.expected; }, ergon::after(timeout, [] {}));
    if (rng() % 8 == 0) ergon::yield();
  }
  // The drain: everything that was sent must be here or on its way.
  while (report.received < expected) {
    std::optional<Msg> m = ergon::receive_for<Msg>(ergon_test::patience());
    if (!m) break;
    record(*m);
  }
  while (ergon::receive([&](Msg) { return true; },
                        ergon::after(std::chrono::milliseconds(0), [] { return false; }))) {
    ++report.extra;
  }
  ergon::send(w.main, report);
}

void actor(World& w, int id, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Tally tally{id, std::vector<long>(w.cfg.drainers, 0), false};
  std::vector<int> next_seq(w.cfg.drainers, 0);
  const int steps =
      w.cfg.min_steps + static_cast<int>(rng() % (w.cfg.max_steps - w.cfg.min_steps + 1));
  long received = 0;
  for (int step = 0; step < steps; ++step) {
    const int action = static_cast<int>(rng() % 1000);  // per mille
    if (action < 300) {                                 // to a drainer: counted
      const int d = static_cast<int>(rng() % w.cfg.drainers);
      ergon::send(w.drainers[d], Msg{id, next_seq[d]++});
      ++tally.sent_to_drainer[d];
    } else if (action < 450) {  // to an actor that may have ended
      ergon::send(w.random_actor(rng), Msg{id, -1});
    } else if (action < 600) {  // a selective receive with a timeout
      const bool odd = rng() % 2 == 0;
      const auto timeout = std::chrono::microseconds(rng() % 500);
      received +=
          ergon::receive(ergon::on<Msg>([odd](const Msg& m) { return (m.sender % 2 == 1) == odd; },
                                        [](const Msg&) { return 1; }),
                         ergon::after(timeout, [] { return 0; }));
    } else if (action < 700) {
      ergon::yield();
    } else if (action < 760) {  // spawn, within the run's budget
      if (w.actors_started.load(std::memory_order_relaxed) < w.cfg.max_actors) {
        const int child = w.actors_started.fetch_add(1, std::memory_order_relaxed);
        const std::uint64_t child_seed = rng();
        World* world = &w;
        w.add_actor(ergon::spawn([world, child, child_seed] { actor(*world, child, child_seed); }));
      }
    } else if (action < 800) {
      ergon::sleep_for(std::chrono::microseconds(rng() % 200));
    } else if (action < 802) {  // exit early
      break;
    } else if (action < 804) {  // crash, after reporting what was sent
      tally.crashing = true;
      ergon::send(w.main, tally);
      throw std::runtime_error("actor " + std::to_string(id) + " crashes on purpose");
    } else {  // poll
      received += ergon::receive([](const Msg&) { return 1; },
                                 ergon::after(std::chrono::microseconds(0), [] { return 0; }));
    }
  }
  (void)received;
  ergon::send(w.main, tally);
}

TEST_P(Stress, ARandomMixConservesMessagesAndLeaksNothing) {
  const std::uint64_t seed = test_seed();
  RecordProperty("seed", std::to_string(seed));
  const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
  const std::string replay =
      "seed=" + std::to_string(seed) + " (replay: ERGON_SEED=" + std::to_string(seed) +
      " ergon-tests --gtest_filter='" + info->test_suite_name() + "." + info->name() + "')";
  SCOPED_TRACE(replay);

  std::mt19937_64 rng(seed);
  Config cfg;
  cfg.drainers = 4;
  cfg.initial_actors = 16;
  cfg.max_actors = ergon_test::scaled(1500, 150);
  cfg.min_steps = 50;
  cfg.max_steps = ergon_test::scaled(600, 200);

  std::atomic<int> crashes_reported{0};
  ergon::Options o = options();
  o.reductions = 50 + static_cast<std::uint32_t>(rng() % 4000);  // preempt at random points
  o.on_crash = [&](ergon::Pid, const std::string& what) {
    if (what.find("on purpose") != std::string::npos) crashes_reported.fetch_add(1);
  };
  runtime(o);

  World w;
  w.cfg = cfg;
  std::vector<DrainReport> reports;
  std::vector<long> expected(cfg.drainers, 0);
  int tallies = 0;
  int crashing = 0;
  std::string error;
  try {
    run([&] {
      w.main = ergon::self();
      for (int d = 0; d < cfg.drainers; ++d) {
        const std::uint64_t s = rng();
        World* world = &w;
        w.drainers.push_back(ergon::spawn([world, d, s] { drainer(*world, d, s); }));
      }
      std::vector<std::uint64_t> seeds;
      for (int a = 0; a < cfg.initial_actors; ++a) seeds.push_back(rng());
      // Register every initial actor before any of them can look one up.
      std::vector<std::pair<int, std::uint64_t>> pending;
      for (int a = 0; a < cfg.initial_actors; ++a) {
        pending.emplace_back(w.actors_started.fetch_add(1, std::memory_order_relaxed), seeds[a]);
      }
      {
        std::lock_guard<std::mutex> g(w.mu);
        w.actors.push_back(w.main);  // a pid that is never an actor: its messages are skipped
      }
      for (auto [id, s] : pending) {
        World* world = &w;
        w.add_actor(ergon::spawn([world, id = id, s = s] { actor(*world, id, s); }));
      }
      // Every actor reports once; an actor counts in actors_started before it is spawned, so
      // when the tallies catch up with the count, every actor has finished.
      while (tallies < w.actors_started.load(std::memory_order_relaxed)) {
        Tally t = await<Tally>();
        ++tallies;
        crashing += t.crashing ? 1 : 0;
        for (int d = 0; d < cfg.drainers; ++d) expected[d] += t.sent_to_drainer[d];
      }
      for (int d = 0; d < cfg.drainers; ++d) ergon::send(w.drainers[d], Finish{expected[d]});
      for (int d = 0; d < cfg.drainers; ++d) reports.push_back(await<DrainReport>());
    });
  } catch (const std::exception& e) {
    error = e.what();
  }
  ASSERT_EQ(error, "") << "the run failed";
  ASSERT_EQ(reports.size(), static_cast<std::size_t>(cfg.drainers));
  for (const DrainReport& r : reports) {
    EXPECT_EQ(r.received, expected[r.drainer]) << "drainer " << r.drainer << " lost messages";
    EXPECT_EQ(r.duplicates, 0) << "drainer " << r.drainer << " got messages twice";
    EXPECT_EQ(r.extra, 0) << "drainer " << r.drainer << " got more than was sent";
  }
  EXPECT_EQ(tallies, w.actors_started.load());
  EXPECT_EQ(crashes_reported.load(), crashing);
  ergon::Stats s = stats();
  if (std::getenv("ERGON_STRESS_VERBOSE")) {
    long total = 0;
    for (long e : expected) total += e;
    std::printf("actors=%d crashing=%d to-drainers=%ld sent=%llu dropped=%llu\n", tallies, crashing,
                total, (unsigned long long)s.messages_sent, (unsigned long long)s.messages_dropped);
  }
  EXPECT_EQ(s.processes_crashed, static_cast<std::uint64_t>(crashing));
  EXPECT_EQ(s.processes_spawned,
            static_cast<std::uint64_t>(w.actors_started.load() + cfg.drainers + 1));
}

}  // namespace
