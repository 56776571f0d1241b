// Tests of the balancer (docs/design.md, "The balancer"): migration conserves processes and
// messages, an induced imbalance evens out, compaction puts workers to sleep and wakes them,
// and each policy does what it says. No test measures time: each waits for the state it
// expects, with patience() as an escape hatch that turns "never" into a failure.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon_test::await;

std::uint64_t total_migrations(const ergon::Stats& s) {
  std::uint64_t n = 0;
  for (const auto& w : s.workers) n += w.migrations_in;
  return n;
}

std::uint64_t total_steals(const ergon::Stats& s) {
  std::uint64_t n = 0;
  for (const auto& w : s.workers) n += w.steals;
  return n;
}

// Polls `cond` from inside a process every millisecond until it holds; false after
// patience().
template <class F>
bool eventually(F&& cond) {
  const auto until = std::chrono::steady_clock::now() + ergon_test::patience();
  while (!cond()) {
    if (std::chrono::steady_clock::now() > until) return false;
    ergon::sleep_for(1ms);
  }
  return true;
}

class Balancer : public ergon_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, Balancer, testing::Values(2u, 4u), ergon_test::worker_count_name);

// --- conservation under forced migration (seeded) -------------------------------------------

struct Seq {
  int pair;
  int n;  // -1: the last message, `total` says how many came before
  int total;
};
struct Finished {
  int received;
};

TEST_P(Balancer, ForcedMigrationLosesNoProcessOrMessageAndKeepsPairOrder) {
  const std::uint64_t seed = ergon_test::test_seed();
  SCOPED_TRACE("ERGON_SEED=" + std::to_string(seed) + " replays this workload");
  ergon::Options o = options();
  o.force_migration = true;  // every tick moves a queued process off every worker
  o.balance_interval = 10us;
  ergon::Runtime& rt = runtime(o);
  const int pairs = ergon_test::scaled(64, 16);
  const std::uint64_t migrations = ergon_test::scaled(2000u, 200u);
  std::atomic<int> started{0};      // relaxed: read after every process reported back
  std::atomic<bool> enough{false};  // release/acquire: only stops the senders
  run([&] {
    const ergon::Pid main = ergon::self();
    std::mt19937_64 rng(seed);
    for (int k = 0; k < pairs; ++k) {
      const std::uint64_t rseed = rng(), sseed = rng();
      const ergon::Pid receiver = ergon::spawn([&, main, k, rseed] {
        started.fetch_add(1, std::memory_order_relaxed);
        std::mt19937_64 r(rseed);
        for (int expect = 0;; ++expect) {
          const Seq m = await<Seq>();
          if (m.n == -1 && m.pair == k && m.total == expect) {
            ergon::send(main, Finished{expect});
            return;
          }
          if (m.pair != k || m.n != expect) {  // lost, duplicated or out of order
            ergon::send(main, Finished{-1});
            return;
          }
          if (r() % 4 == 0) ergon::yield();  // queued: something for the balancer to move
        }
      });
      ergon::spawn([&, receiver, k, sseed] {
        started.fetch_add(1, std::memory_order_relaxed);
        std::mt19937_64 r(sseed);
        int n = 0;
        while (!enough.load(std::memory_order_acquire)) {
          ergon::send(receiver, Seq{k, n++, 0});
          if (r() % 3 == 0) ergon::yield();
        }
        ergon::send(receiver, Seq{k, -1, n});
      });
    }
    // Run until the balancer has moved plenty of processes, however fast that is.
    EXPECT_TRUE(eventually([&] { return total_migrations(rt.stats()) >= migrations; }));
    enough.store(true, std::memory_order_release);
    for (int k = 0; k < pairs; ++k) EXPECT_GE(await<Finished>().received, 0);
  });
  EXPECT_EQ(started.load(std::memory_order_relaxed), 2 * pairs);
}

// --- an induced imbalance evens out -----------------------------------------------------------

// `procs` processes start on worker 0 and yield in a loop, each writing the worker it runs on
// into its slot. Returns once every worker of `workers` holds at least `share` of them
// (true), or when patience() ran out (false). Call it from the main process.
bool spread_from_worker_zero(int procs, unsigned workers, double share) {
  std::vector<std::atomic<int>> where(procs);
  for (auto& w : where) w.store(-1, std::memory_order_relaxed);
  std::atomic<bool> stop{false};
  bool ok = false;
  std::vector<int> last;
  ergon::move_to_worker(0);
  const ergon::Pid main = ergon::self();
  for (int i = 0; i < procs; ++i) {
    ergon::spawn([&, i, main] {
      ergon::move_to_worker(0);
      // acquire: pairs with the release store below (nothing is published; it only stops).
      while (!stop.load(std::memory_order_acquire)) {
        where[i].store(static_cast<int>(ergon::worker_id()), std::memory_order_relaxed);
        ergon::yield();
      }
      ergon::send(main, Finished{0});
    });
  }
  ok = eventually([&] {
    std::vector<int> per_worker(workers, 0);
    for (auto& w : where) {
      const int v = w.load(std::memory_order_relaxed);  // relaxed: a sample
      if (v < 0) return false;
      per_worker[static_cast<unsigned>(v)]++;
    }
    last = per_worker;
    for (int n : per_worker) {
      if (n < share * procs / workers) return false;
    }
    return true;
  });
  if (!ok) {
    std::string seen;
    for (int n : last) seen += std::to_string(n) + " ";
    ADD_FAILURE() << "processes per worker at the last look: " << seen;
  }
  stop.store(true, std::memory_order_release);
  for (int i = 0; i < procs; ++i) (void)await<Finished>();
  return ok;
}

TEST_P(Balancer, AnImbalanceEvensOutByMigrationAlone) {
  ergon::Options o = options();
  o.policy = ergon::Policy::kBalance;  // no stealing: only the balancer can move them
  o.compaction = false;
  runtime(o);
  // More than a run queue's ring (256) holds: the excess waits in the worker's overflow list,
  // which the balancer counts and drains through the ring.
  run([&] {
    EXPECT_TRUE(spread_from_worker_zero(ergon_test::scaled(2000, 300), GetParam(), 0.5));
  });
  const ergon::Stats s = stats();
  EXPECT_EQ(total_steals(s), 0u);
  EXPECT_GT(total_migrations(s), 0u);
  EXPECT_GT(s.pools.at(0).balances, 0u);
}

// Stealing spreads work only while a worker is idle: a worker that stole a few busy processes
// never steals again, so the split can stay uneven for ever (the thesis of the balancer).
// What the steal policy does promise: every worker gets some of the work.
TEST_P(Balancer, UnderTheStealPolicyIdleWorkersStealWithoutABalancer) {
  ergon::Options o = options();
  o.policy = ergon::Policy::kSteal;
  runtime(o);
  run([&] {
    EXPECT_TRUE(spread_from_worker_zero(ergon_test::scaled(200, 64), GetParam(), 0.001));
  });
  const ergon::Stats s = stats();
  EXPECT_GT(total_steals(s), 0u);
  EXPECT_EQ(total_migrations(s), 0u) << "the steal policy has no balancer";
  EXPECT_EQ(s.pools.at(0).active, GetParam()) << "the steal policy does not compact";
  EXPECT_EQ(s.pools.at(0).contractions, 0u);
}

// With a balancing policy a run queue has no bound: processes beyond the ring wait in order
// behind it, so a worker still serves them round robin (under the steal policy they spill to
// the global queue, served one pick in 61 while local work lasts, as in Go).
TEST(BalancerQueue, AWorkerServesMoreProcessesThanItsRingRoundRobin) {
  ergon::Options o;
  o.workers = 1;
  o.policy = ergon::Policy::kBalance;
  // No hand-offs: a slow slice (tsan) would move the worker's queue to another thread and
  // reorder it, which is not what this test measures.
  o.watchdog_tick = std::chrono::microseconds(0);
  ergon::Runtime rt(o);
  const int procs = ergon_test::scaled(1000, 300);
  const int rounds = 20;
  std::atomic<long> step{0};  // relaxed: one worker, a counter of turns
  std::vector<long> finished(procs, 0);
  rt.run([&] {
    const ergon::Pid main = ergon::self();
    std::vector<ergon::Pid> pids;
    for (int i = 0; i < procs; ++i) {
      pids.push_back(ergon::spawn([&, i, main] {
        (void)await<Finished>();  // start together
        for (int r = 0; r < rounds; ++r) {
          step.fetch_add(1, std::memory_order_relaxed);
          ergon::yield();
        }
        finished[i] = step.load(std::memory_order_relaxed);
        ergon::send(main, Finished{0});
      }));
    }
    for (ergon::Pid p : pids) ergon::send(p, Finished{0});
    for (int i = 0; i < procs; ++i) (void)await<Finished>();
  });
  const auto [lo, hi] = std::minmax_element(finished.begin(), finished.end());
  // Round robin: everyone finishes in the last round or two. Served one pick in 61, the
  // processes beyond the ring would finish about rounds x procs turns apart.
  EXPECT_LE(*hi - *lo, 3L * procs) << "first finished at turn " << *lo << ", last at " << *hi;
}

// --- compaction -------------------------------------------------------------------------------

TEST_P(Balancer, CompactionPutsIdleWorkersToSleepAndWakesThemUnderLoad) {
  ergon::Options o = options();
  o.policy = ergon::Policy::kBalanceSteal;
  o.balance_interval = 200us;
  runtime(o);
  ergon::Runtime& rt = runtime();
  run([&] {
    // Light load (this process, waking every millisecond): the pool shrinks to one worker.
    ASSERT_TRUE(eventually([&] { return rt.stats().pools.at(0).active == 1; }));
    ergon::Stats s = rt.stats();
    EXPECT_GE(s.pools.at(0).contractions, 1u);
    EXPECT_TRUE(s.workers.at(0).active);
    for (unsigned i = 1; i < GetParam(); ++i) EXPECT_FALSE(s.workers.at(i).active);
    // Busy processes on the one active worker: a backlog it cannot clear wakes others.
    std::atomic<bool> stop{false};
    const ergon::Pid main = ergon::self();
    for (unsigned i = 0; i < 2 * GetParam(); ++i) {
      ergon::spawn([&stop, main] {
        // acquire: pairs with the release store below.
        while (!stop.load(std::memory_order_acquire)) ergon::checkpoint();
        ergon::send(main, Finished{0});
      });
    }
    EXPECT_TRUE(eventually([&] { return rt.stats().pools.at(0).active == GetParam(); }));
    // (The counter is bumped just after the count changes: wait for it too.)
    EXPECT_TRUE(eventually([&] { return rt.stats().pools.at(0).expansions >= 1; }));
    stop.store(true, std::memory_order_release);
    for (unsigned i = 0; i < 2 * GetParam(); ++i) (void)await<Finished>();
    // And back to one when the load is gone.
    EXPECT_TRUE(eventually([&] { return rt.stats().pools.at(0).active == 1; }));
  });
}

TEST_P(Balancer, WithoutCompactionEveryWorkerStaysActive) {
  ergon::Options o = options();
  o.compaction = false;
  o.balance_interval = 100us;
  runtime(o);
  run([&] {
    for (int i = 0; i < 50; ++i) ergon::sleep_for(1ms);  // idle: would compact
    const ergon::Stats s = stats();
    EXPECT_EQ(s.pools.at(0).active, GetParam());
    EXPECT_EQ(s.pools.at(0).contractions, 0u);
  });
}

TEST_P(Balancer, StatsReportUtilizationAndReductions) {
  ergon::Options o = options();
  o.balance_interval = 100us;
  // No hand-offs: the reductions of a slice whose worker was handed off are not counted.
  o.watchdog_tick = std::chrono::microseconds(0);
  runtime(o);
  run([&] {
    for (int i = 0; i < 20000; ++i) ergon::reduce(1);
    ergon::sleep_for(5ms);
    const ergon::Stats s = stats();
    std::uint64_t reds = 0;
    for (const auto& w : s.workers) {
      reds += w.reductions;
      EXPECT_GE(w.utilization, 0.0);
      EXPECT_LE(w.utilization, 1.0);
    }
    EXPECT_GE(reds, 20000u);
  });
}

// --- options ----------------------------------------------------------------------------------

TEST(BalancerOptions, AreReadFromTheEnvironment) {
  using Env = ergon_test::EnvGuard;
  Env a("ERGON_POLICY", "balance"), b("ERGON_BALANCE_INTERVAL", "250us"),
      c("ERGON_COMPACTION", "0"), d("ERGON_FORCE_MIGRATION", "1");
  const ergon::Options o = ergon::Options::from_env();
  EXPECT_EQ(o.policy, ergon::Policy::kBalance);
  EXPECT_EQ(o.balance_interval, 250us);
  EXPECT_FALSE(o.compaction);
  EXPECT_TRUE(o.force_migration);
  Env e("ERGON_POLICY", "balance+steal");
  EXPECT_EQ(ergon::Options::from_env().policy, ergon::Policy::kBalanceSteal);
  Env f("ERGON_POLICY", "steal");
  EXPECT_EQ(ergon::Options::from_env().policy, ergon::Policy::kSteal);
}

TEST(BalancerOptions, BadValuesNameTheVariable) {
  using Env = ergon_test::EnvGuard;
  {
    Env a("ERGON_POLICY", "random");
    EXPECT_TRUE(ergon_test::contains(
        ergon_test::what_of<ergon::ConfigError>([] { (void)ergon::Options::from_env(); }),
        "ERGON_POLICY"));
  }
  {
    Env a("ERGON_COMPACTION", "maybe");
    EXPECT_TRUE(ergon_test::contains(
        ergon_test::what_of<ergon::ConfigError>([] { (void)ergon::Options::from_env(); }),
        "ERGON_COMPACTION"));
  }
  ergon::Options o;
  o.balance_interval = 1us;
  EXPECT_TRUE(ergon_test::contains(
      ergon_test::what_of<ergon::ConfigError>([&] { ergon::Runtime rt(o); }), "balance_interval"));
}

}  // namespace
