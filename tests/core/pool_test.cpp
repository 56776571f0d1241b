// Tests of worker pools (ergon::Pool, Options::pools): a process runs on its pool's workers
// only, its children are born there, it changes pool only by moving, messages and timers
// cross pools, and bad pool settings or names are reported with the fix.
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon_test::await;
using ergon_test::contains;
using ergon_test::what_of;

struct Done {
  bool ok;
};
struct Ping {
  ergon::Pid from;
};
struct Pong {};

// Pools "a" (2 workers: 0, 1) and "b" (1 worker: 2), policies from `policy`.
ergon::Options two_pools(ergon::Policy policy = ergon::Policy::kBalanceSteal) {
  ergon::Options o;
  o.pools = {{"a", 2, policy}, {"b", 1, std::nullopt}};
  return o;
}

class Pools : public ergon_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(
    Policies, Pools, testing::Values(0u, 1u, 2u), [](const testing::TestParamInfo<unsigned>& i) {
      return std::string(i.param == 0 ? "balance" : i.param == 1 ? "steal" : "balance_steal");
    });

ergon::Policy policy_of(unsigned p) {
  return p == 0   ? ergon::Policy::kBalance
         : p == 1 ? ergon::Policy::kSteal
                  : ergon::Policy::kBalanceSteal;
}

// Spawns `n` processes into `pool`; each yields `rounds` times (spawning one child on the way,
// which must be born in the same pool) and reports whether every worker it saw is in `ok`.
void check_stays(ergon::Pool pool, const std::set<unsigned>& ok, int n, int rounds) {
  const ergon::Pid main = ergon::self();
  for (int i = 0; i < n; ++i) {
    ergon::spawn(
        [=] {
          bool good = ergon::current_pool() == pool;
          for (int r = 0; r < rounds; ++r) {
            good &= ok.count(ergon::worker_id()) == 1;
            if (r == rounds / 2) {
              ergon::spawn([=] {
                ergon::yield();
                ergon::send(
                    main, Done{ergon::current_pool() == pool && ok.count(ergon::worker_id()) == 1});
              });
            }
            ergon::yield();
          }
          ergon::send(main, Done{good});
        },
        {.pool = pool});
  }
  for (int i = 0; i < 2 * n; ++i) EXPECT_TRUE(await<Done>().ok);
}

TEST_P(Pools, AProcessAndItsChildrenRunOnlyOnTheirPoolsWorkers) {
  ergon::Runtime& rt = runtime(two_pools(policy_of(GetParam())));
  EXPECT_EQ(rt.workers(), 3u);
  run([&] {
    const ergon::Pool a = ergon::pool("a"), b = ergon::pool("b");
    EXPECT_EQ(ergon::current_pool(), a) << "the main process is born in the first pool";
    const ergon::Pid main = ergon::self();
    // Both pools busy at once, so that a thief or the balancer has reason to cross over.
    ergon::spawn([=] {
      check_stays(a, {0, 1}, 100, 50);
      ergon::send(main, Done{true});
    });
    check_stays(b, {2}, 100, 50);
    EXPECT_TRUE(await<Done>().ok);
  });
}

TEST_P(Pools, MessagesCrossPools) {
  runtime(two_pools(policy_of(GetParam())));
  run([&] {
    const ergon::Pid pong = ergon::spawn(
        [] {
          for (int i = 0; i < 1000; ++i) {
            const Ping p = await<Ping>();
            EXPECT_EQ(ergon::worker_id(), 2u);
            ergon::send(p.from, Pong{});
          }
        },
        {.pool = ergon::pool("b")});
    for (int i = 0; i < 1000; ++i) {
      ergon::send(pong, Ping{ergon::self()});
      (void)await<Pong>();
      EXPECT_LT(ergon::worker_id(), 2u);
    }
  });
}

TEST_P(Pools, MoveToChangesThePoolOfAProcessAndOfItsLaterChildren) {
  runtime(two_pools(policy_of(GetParam())));
  run([&] {
    const ergon::Pool a = ergon::pool("a"), b = ergon::pool("b");
    ergon::move_to(b);
    EXPECT_EQ(ergon::worker_id(), 2u);
    EXPECT_EQ(ergon::current_pool(), b);
    EXPECT_EQ(ergon::pool_name(ergon::current_pool()), "b");
    const ergon::Pid main = ergon::self();
    ergon::spawn([main] { ergon::send(main, Done{ergon::worker_id() == 2}); });
    EXPECT_TRUE(await<Done>().ok);
    ergon::move_to(a);
    EXPECT_LT(ergon::worker_id(), 2u);
    ergon::move_to(a);  // already there: nothing happens
    EXPECT_EQ(ergon::current_pool(), a);
  });
}

TEST_P(Pools, TimersWorkInEveryPool) {
  runtime(two_pools(policy_of(GetParam())));
  run([&] {
    const ergon::Pid main = ergon::self();
    for (int i = 0; i < 20; ++i) {
      ergon::spawn(
          [main] {
            ergon::sleep_for(2ms);
            const bool timed_out = !ergon::receive_for<Pong>(1ms).has_value();
            ergon::send(main, Done{timed_out && ergon::worker_id() == 2});
          },
          {.pool = ergon::pool("b")});
    }
    for (int i = 0; i < 20; ++i) EXPECT_TRUE(await<Done>().ok);
  });
}

TEST_P(Pools, SpawnsFromOutsideGoToTheFirstPoolOrTheNamedOne) {
  ergon::Runtime& rt = runtime(two_pools(policy_of(GetParam())));
  run([&] {
    const ergon::Pid main = ergon::self();
    std::thread outside([&rt, main] {
      rt.spawn([main] { ergon::send(main, Done{ergon::worker_id() < 2}); });
      rt.spawn([main] { ergon::send(main, Done{ergon::worker_id() == 2}); },
               {.pool = rt.pool("b")});
    });
    outside.join();
    EXPECT_TRUE(await<Done>().ok);
    EXPECT_TRUE(await<Done>().ok);
  });
}

TEST_P(Pools, StatsDescribeEachPool) {
  ergon::Options o = two_pools(policy_of(GetParam()));
  o.pools[1].policy = ergon::Policy::kSteal;
  runtime(o);
  const ergon::Stats s = stats();
  ASSERT_EQ(s.pools.size(), 2u);
  EXPECT_EQ(s.pools[0].name, "a");
  EXPECT_EQ(s.pools[0].first_worker, 0u);
  EXPECT_EQ(s.pools[0].workers, 2u);
  EXPECT_EQ(std::string(s.pools[0].policy), ergon::to_string(policy_of(GetParam())));
  EXPECT_EQ(s.pools[1].name, "b");
  EXPECT_EQ(s.pools[1].first_worker, 2u);
  EXPECT_EQ(std::string(s.pools[1].policy), "steal");
  ASSERT_EQ(s.workers.size(), 3u);
  EXPECT_EQ(s.workers[1].pool, 0u);
  EXPECT_EQ(s.workers[2].pool, 1u);
}

// --- errors -----------------------------------------------------------------------------------

TEST(PoolErrors, AnUnknownNameListsThePools) {
  ergon::Runtime rt(two_pools());
  std::string w = what_of<ergon::Error>([&] { (void)rt.pool("c"); });
  EXPECT_TRUE(contains(w, "no pool named \"c\"")) << w;
  EXPECT_TRUE(contains(w, "\"a\", \"b\"")) << w;
  rt.run([] {
    const std::string in = what_of<ergon::Error>([] { (void)ergon::pool("nope"); });
    EXPECT_TRUE(contains(in, "\"nope\"")) << in;
  });
  const std::string outside = what_of<ergon::NotInProcess>([] { (void)ergon::pool("a"); });
  EXPECT_TRUE(contains(outside, "ergon::pool")) << outside;
}

TEST(PoolErrors, APoolOfAnotherRuntimeIsRefused) {
  ergon::Options one;
  one.workers = 1;
  ergon::Runtime rt(one);
  rt.run([] {
    const std::string w = what_of<ergon::Error>([] { ergon::move_to(ergon::Pool::from_index(5)); });
    EXPECT_TRUE(contains(w, "not one of this runtime's")) << w;
  });
}

// The index exists in both runtimes: only the handle's runtime tells them apart.
TEST(PoolErrors, AHandleFromAnotherRuntimeIsRefusedEvenWhenItsIndexExists) {
  ergon::Runtime first(two_pools());
  ergon::Runtime second(two_pools());
  const ergon::Pool foreign = first.pool("b");
  const ergon::Pool own = second.pool("b");
  EXPECT_FALSE(foreign == own);
  second.run([foreign, own] {
    for (auto call : {+[](ergon::Pool p) { ergon::move_to(p); },
                      +[](ergon::Pool p) { (void)ergon::pool_name(p); },
                      +[](ergon::Pool p) { (void)ergon::spawn([] {}, {.pool = p}); }}) {
      const std::string w = what_of<ergon::Error>([&] { call(foreign); });
      EXPECT_TRUE(contains(w, "another Runtime")) << w;
      EXPECT_TRUE(contains(w, "ergon::pool(name)")) << w;
    }
    EXPECT_EQ(ergon::pool_name(own), "b");  // its own handle still works
    EXPECT_TRUE(ergon::current_pool() == ergon::pool("a"));
  });
}

TEST(PoolErrors, BadPoolSettingsAreRefusedWithTheFix) {
  ergon::Options o = two_pools();
  o.workers = 5;
  std::string w = what_of<ergon::ConfigError>([&] { ergon::Runtime rt(o); });
  EXPECT_TRUE(contains(w, "leave workers at 0")) << w;
  o = two_pools();
  o.pools[1].name = "a";
  w = what_of<ergon::ConfigError>([&] { ergon::Runtime rt(o); });
  EXPECT_TRUE(contains(w, "two pools are named \"a\"")) << w;
  o = two_pools();
  o.pools[0].workers = 0;
  w = what_of<ergon::ConfigError>([&] { ergon::Runtime rt(o); });
  EXPECT_TRUE(contains(w, "between 1 and 1024 workers")) << w;
}

TEST(PoolErrors, PoolsAreReadFromTheEnvironment) {
  ergon_test::EnvGuard env("ERGON_POOLS", "front:2,back:1:steal");
  const ergon::Options o = ergon::Options::from_env();
  ASSERT_EQ(o.pools.size(), 2u);
  EXPECT_EQ(o.pools[0].name, "front");
  EXPECT_EQ(o.pools[0].workers, 2u);
  EXPECT_FALSE(o.pools[0].policy.has_value());
  EXPECT_EQ(o.pools[1].policy, ergon::Policy::kSteal);
  ergon_test::EnvGuard bad("ERGON_POOLS", "front");
  const std::string w = what_of<ergon::ConfigError>([] { (void)ergon::Options::from_env(); });
  EXPECT_TRUE(contains(w, "name:workers[:policy]")) << w;
}

TEST(PoolErrors, TheDefaultPoolIsNamedDefault) {
  ergon::Options o;
  o.workers = 2;
  ergon::Runtime rt(o);
  EXPECT_EQ(rt.pool("default").index(), 0u);
  EXPECT_EQ(rt.stats().pools.at(0).workers, 2u);
}

}  // namespace
