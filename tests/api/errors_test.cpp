// The errors ergon reports: calls that need a process made outside one (NotInProcess, naming
// the call), the process limit (SpawnError naming max_processes / ERGON_MAX_PROCESSES), bad
// options and ERGON_* environment values (ConfigError naming the variable), run() from inside
// a process, and a stack overflow, which ends the program with a report that names the
// process and its stack size (a death test).
#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ergon/ergon.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon_test::await;
using ergon_test::what_of;

using ergon_test::EnvGuard;

using ergon_test::contains;

// --- calls outside a process ---------------------------------------------------------------

TEST(NotInProcess, ReceiveOutsideAProcessThrowsNamingTheCall) {
  std::string w = what_of<ergon::NotInProcess>([] { ergon::receive([](int) {}); });
  EXPECT_TRUE(contains(w, "ergon::receive")) << w;
  w = what_of<ergon::NotInProcess>([] { (void)ergon::receive<int>(); });
  EXPECT_TRUE(contains(w, "ergon::receive")) << w;
  w = what_of<ergon::NotInProcess>([] { (void)ergon::receive_for<int>(1ms); });
  EXPECT_TRUE(contains(w, "ergon::receive")) << w;
}

TEST(NotInProcess, SelfYieldAndSleepOutsideAProcessThrowNamingTheCall) {
  std::string w = what_of<ergon::NotInProcess>([] { (void)ergon::self(); });
  EXPECT_TRUE(contains(w, "ergon::self")) << w;
  w = what_of<ergon::NotInProcess>([] { ergon::yield(); });
  EXPECT_TRUE(contains(w, "ergon::yield")) << w;
  w = what_of<ergon::NotInProcess>([] { ergon::sleep_for(1ms); });
  EXPECT_TRUE(contains(w, "ergon::sleep_for")) << w;
  w = what_of<ergon::NotInProcess>([] { ergon::reduce(); });
  EXPECT_TRUE(contains(w, "ergon::reduce")) << w;
  w = what_of<ergon::NotInProcess>([] { (void)ergon::worker_id(); });
  EXPECT_TRUE(contains(w, "ergon::worker_id")) << w;
  w = what_of<ergon::NotInProcess>([] { ergon::move_to_worker(0); });
  EXPECT_TRUE(contains(w, "ergon::move_to_worker")) << w;
  w = what_of<ergon::NotInProcess>([] { ergon::Marker m = ergon::mark(); });
  EXPECT_TRUE(contains(w, "ergon::mark")) << w;
}

// Regression (found by this suite, fixed in 8853824): sleep_until used to name
// "ergon::sleep_for".
TEST(NotInProcess, SleepUntilOutsideAProcessNamesSleepUntil) {
  std::string w = what_of<ergon::NotInProcess>(
      [] { ergon::sleep_until(std::chrono::steady_clock::now() + 1ms); });
  EXPECT_TRUE(contains(w, "ergon::sleep_until")) << w;
}

TEST(NotInProcess, SpawnOutsideAProcessThrowsAndTellsToUseRuntimeSpawn) {
  std::string w = what_of<ergon::NotInProcess>([] { ergon::spawn([] {}); });
  EXPECT_TRUE(contains(w, "ergon::spawn")) << w;
  EXPECT_TRUE(contains(w, "Runtime::spawn")) << w;
}

TEST(RuntimeRun, ASecondThreadsRunIsAnErrorNotASecondMain) {
  ergon::Options o;
  o.workers = 2;
  ergon::Runtime rt(o);
  struct Go {};
  std::atomic<bool> started{false};
  std::atomic<std::uint64_t> first_main{0};
  std::thread first([&] {
    rt.run([&] {
      first_main = ergon::self().raw();
      started = true;
      (void)ergon::receive<Go>();
    });
  });
  while (!started) std::this_thread::sleep_for(1ms);
  bool second_ran = false;
  const std::string what = what_of<ergon::Error>([&] { rt.run([&] { second_ran = true; }); });
  EXPECT_TRUE(contains(what, "already running a main process")) << what;
  EXPECT_FALSE(second_ran);
  ergon::send(ergon::Pid::from_raw(first_main), Go{});  // the first main goes on, unharmed
  first.join();
  bool third_ran = false;
  rt.run([&] { third_ran = true; });  // one after the other is fine
  EXPECT_TRUE(third_ran);
}

// `taskset -c 0` (an affinity mask of one CPU) gives one worker by default, not one per CPU
// of the machine.
TEST(DefaultWorkers, FollowTheAffinityMaskOfTheCallingThread) {
  if (std::getenv("ERGON_WORKERS") != nullptr) GTEST_SKIP() << "ERGON_WORKERS is set";
  cpu_set_t old_set, one;
  ASSERT_EQ(::sched_getaffinity(0, sizeof old_set, &old_set), 0);
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE && first < 0; ++c) {
    if (CPU_ISSET(c, &old_set)) first = c;
  }
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(::sched_setaffinity(0, sizeof one, &one), 0);
  unsigned workers = 0;
  {
    ergon::Runtime rt;
    workers = rt.workers();
  }
  ASSERT_EQ(::sched_setaffinity(0, sizeof old_set, &old_set), 0);
  EXPECT_EQ(workers, 1u);
  ergon::Runtime all;  // and with the mask restored, one per CPU of it (at most)
  EXPECT_LE(all.workers(), static_cast<unsigned>(CPU_COUNT(&old_set)));
  EXPECT_GE(all.workers(), 1u);
}

TEST(NotInProcess, IsAnErgonError) {
  EXPECT_THROW((void)ergon::self(), ergon::Error);
  EXPECT_THROW((void)ergon::self(), std::runtime_error);
}

// --- inside a runtime ----------------------------------------------------------------------

class Errors : public ergon_test::RuntimeTest {};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Errors);

TEST_P(Errors, AThreadOutsideTheRuntimeIsNotAProcessWhileTheRuntimeRuns) {
  std::string w;
  run([&] {
    std::thread t([&w] { w = what_of<ergon::NotInProcess>([] { (void)ergon::self(); }); });
    t.join();
  });
  EXPECT_TRUE(contains(w, "ergon::self")) << w;
}

TEST_P(Errors, RunFromInsideAProcessThrows) {
  std::string w = what_of<ergon::Error>([&] { runtime().run([&] { runtime().run([] {}); }); });
  EXPECT_TRUE(contains(w, "Runtime::run")) << w;
  expect_no_leaks();
}

TEST_P(Errors, SpawnBeyondMaxProcessesThrowsSpawnError) {
  ergon::Options o = options();
  o.max_processes = 10;
  runtime(o);
  std::string w;
  bool spawned_after_one_ended = false;
  run([&] {
    std::vector<ergon::Pid> children;
    for (int i = 0; i < 9; ++i) children.push_back(ergon::spawn([] { ergon::receive<int>(); }));
    // The main process and nine children make ten.
    w = what_of<ergon::SpawnError>([] { ergon::spawn([] {}); });
    // The runtime goes on, and a slot frees up when a process ends.
    ergon::send(children[0], 1);
    auto give_up = std::chrono::steady_clock::now() + ergon_test::patience();
    while (runtime().stats().processes_alive > 9 && std::chrono::steady_clock::now() < give_up) {
      ergon::yield();
    }
    ergon::Pid me = ergon::self();
    ergon::spawn([me] { ergon::send(me, true); });
    spawned_after_one_ended = await<bool>();
  });
  EXPECT_TRUE(contains(w, "max_processes")) << w;
  EXPECT_TRUE(contains(w, "ERGON_MAX_PROCESSES")) << w;
  EXPECT_TRUE(contains(w, "10")) << w;
  EXPECT_TRUE(spawned_after_one_ended);
}

TEST_P(Errors, RuntimeSpawnBeyondMaxProcessesThrowsSpawnError) {
  ergon::Options o = options();
  o.max_processes = 1;
  runtime(o);
  run([&] {
    ergon::Runtime& rt = runtime();
    std::string w;
    std::thread t([&] { w = what_of<ergon::SpawnError>([&] { rt.spawn([] {}); }); });
    t.join();
    EXPECT_TRUE(contains(w, "max_processes")) << w;
  });
}

// --- configuration -------------------------------------------------------------------------

TEST_P(Errors, ABadErgonWorkersMakesTheConstructorThrowConfigError) {
  EnvGuard env("ERGON_WORKERS", "abc");
  std::string w = what_of<ergon::ConfigError>([&] { ergon::Runtime rt(options()); });
  EXPECT_TRUE(contains(w, "ERGON_WORKERS")) << w;
  EXPECT_TRUE(contains(w, "abc")) << w;
}

TEST_P(Errors, BadSizesAndCountsInTheEnvironmentNameTheirVariable) {
  for (const char* name : {"ERGON_STACK_SIZE", "ERGON_MAX_PROCESSES", "ERGON_REDUCTIONS",
                           "ERGON_SPIN_ROUNDS", "ERGON_WORKERS"}) {
    for (const char* value : {"", "12Q", "-", "1.5", "K"}) {
      EnvGuard env(name, value);
      std::string w = what_of<ergon::ConfigError>([&] { ergon::Runtime rt(options()); });
      EXPECT_TRUE(contains(w, name)) << name << "='" << value << "': " << w;
    }
  }
}

TEST_P(Errors, ABadPoolInTheEnvironmentQuotesTheWholeVariableAndNamesThePool) {
  for (const char* value : {"a:", "a:x", "a:0", "a:1,b:", "a:99999999999999999999"}) {
    EnvGuard env("ERGON_POOLS", value);
    const std::string w = what_of<ergon::ConfigError>([&] { ergon::Runtime rt(options()); });
    EXPECT_TRUE(contains(w, std::string("ERGON_POOLS='") + value + "'")) << w;
    EXPECT_TRUE(contains(w, "name:workers")) << w;
    EXPECT_FALSE(contains(w, "ERGON_POOLS='' is not a number")) << w;
  }
}

TEST_P(Errors, ARangeErrorOfAValueFromTheEnvironmentNamesTheVariable) {
  for (auto [name, value] : {std::pair{"ERGON_WORKERS", "2000"},
                             {"ERGON_REDUCTIONS", "0"},
                             {"ERGON_MAX_PROCESSES", "0"},
                             {"ERGON_MAX_SPARE_CARRIERS", "100001"}}) {
    EnvGuard env(name, value);
    const std::string w = what_of<ergon::ConfigError>([&] { ergon::Runtime rt(options()); });
    EXPECT_TRUE(contains(w, name)) << name << "='" << value << "': " << w;
  }
}

TEST_P(Errors, TheEnvironmentOverridesTheOptions) {
  EnvGuard workers("ERGON_WORKERS", "3");
  EnvGuard stack("ERGON_STACK_SIZE", "128K");
  EnvGuard reductions("ERGON_REDUCTIONS", "77");
  ergon::Runtime& rt = runtime(options());
  EXPECT_EQ(rt.workers(), 3u);
  EXPECT_EQ(rt.options().stack_size, 128u * 1024);
  EXPECT_EQ(rt.options().reductions, 77u);
  run([&] {
    volatile char frame[96 * 1024];  // fits only in the larger stack
    frame[0] = 1;
    frame[sizeof frame - 1] = 1;
  });
}

TEST_P(Errors, BadOptionsThrowConfigError) {
  auto expect_config_error = [&](auto change, const char* part) {
    ergon::Options o = options();
    change(o);
    std::string w = what_of<ergon::ConfigError>([&] { ergon::Runtime rt(o); });
    EXPECT_TRUE(contains(w, part)) << w;
  };
  expect_config_error([](ergon::Options& o) { o.workers = 5000; }, "workers");
  expect_config_error([](ergon::Options& o) { o.reductions = 0; }, "reductions");
  expect_config_error([](ergon::Options& o) { o.stack_size = 100; }, "stack_size");
  expect_config_error([](ergon::Options& o) { o.max_processes = 0; }, "max_processes");
}

// The stack size's bounds are ergon::kMinStackSize (the C library needs about 16 KiB of a
// process stack; the old bound, 8 KiB, could not run fprintf) and ergon::kMaxStackSize, and
// the error says both and which variable sets the field.
TEST_P(Errors, AStackSizeOutsideItsBoundsIsAConfigErrorNamingTheBounds) {
  for (const std::size_t size :
       {std::size_t{8192}, ergon::kMinStackSize - 1, ergon::kMaxStackSize + 1, SIZE_MAX}) {
    SCOPED_TRACE(size);
    ergon::Options o = options();
    o.stack_size = size;
    const std::string w = what_of<ergon::ConfigError>([&] { ergon::Runtime rt(o); });
    EXPECT_TRUE(contains(
        w, "ergon::Options::stack_size (ERGON_STACK_SIZE) is " + std::to_string(size) + " bytes"))
        << w;
    EXPECT_TRUE(contains(w, "between 32 KiB")) << w;
    EXPECT_TRUE(contains(w, "and 1 TiB")) << w;
  }
  ergon::Options o = options();
  o.stack_size = ergon::kMinStackSize;
  ergon::Runtime& rt = runtime(o);
  EXPECT_EQ(rt.options().stack_size, ergon::kMinStackSize);
  run([] {});
  EnvGuard small("ERGON_STACK_SIZE", "16K");
  const std::string w = what_of<ergon::ConfigError>([&] { ergon::Runtime rt2(options()); });
  EXPECT_TRUE(contains(w, "ERGON_STACK_SIZE")) << w;
  EXPECT_TRUE(contains(w, "is 16384 bytes")) << w;
}

// Regression (found by this suite, fixed in 8853824): std::stoull accepted a '-' and wrapped
// it around, and neither `v * mult` nor the narrowing to unsigned / uint32_t was checked, so
// ERGON_STACK_SIZE=-1 gave 8 KiB stacks and ERGON_REDUCTIONS=4294967297 gave 1, silently.
TEST_P(Errors, NegativeOrOutOfRangeEnvironmentValuesThrowConfigError) {
  struct Case {
    const char* name;
    const char* value;
  };
  for (Case c : {Case{"ERGON_STACK_SIZE", "-1"}, Case{"ERGON_STACK_SIZE", "16777216G"},
                 Case{"ERGON_MAX_PROCESSES", "-1"}, Case{"ERGON_REDUCTIONS", "-1"},
                 Case{"ERGON_REDUCTIONS", "4294967297"}, Case{"ERGON_SPIN_ROUNDS", "-5"},
                 Case{"ERGON_WORKERS", "4294967297"}, Case{"ERGON_WORKERS", "-1"}}) {
    EnvGuard env(c.name, c.value);
    std::string w = what_of<ergon::ConfigError>([&] { ergon::Runtime rt(options()); });
    EXPECT_TRUE(contains(w, c.name)) << c.name << "='" << c.value << "': " << w;
  }
}

// Regression (found by this suite, fixed in 8853824): Scheduler::check_limit compared
// against static_cast<std::int64_t>(max), so max_processes = SIZE_MAX (the natural "no limit")
// turned negative and every spawn threw SpawnError.
TEST_P(Errors, TheLargestMaxProcessesDoesNotLimitSpawning) {
  ergon::Options o = options();
  o.max_processes = SIZE_MAX;
  runtime(o);
  bool ran = false;
  EXPECT_NO_THROW(run([&] { ran = true; }));
  EXPECT_TRUE(ran);
}

// --- stack overflow ------------------------------------------------------------------------

// Recurses until the stack runs out. The volatile frame keeps every level's stack use, and
// the addition after the call keeps the recursion from becoming a loop.
volatile long g_recursion_limit = LONG_MAX;

[[gnu::noinline]] long recurse(long depth) {
  volatile char frame[256];
  frame[0] = static_cast<char>(depth);
  if (depth == g_recursion_limit) return depth;
  return recurse(depth + 1) + frame[0];
}

class StackOverflowDeathTest : public testing::TestWithParam<unsigned> {};
INSTANTIATE_TEST_SUITE_P(Workers, StackOverflowDeathTest, testing::Values(1u, 2u, 4u),
                         ergon_test::worker_count_name);

TEST_P(StackOverflowDeathTest, OverflowReportsTheProcessAndItsStackSize) {
  if (ergon_test::sanitized_variant()) {
    GTEST_SKIP() << "the sanitizers own SIGSEGV in the " << ergon_test::variant() << " build";
  }
  testing::FLAGS_gtest_death_test_style = "threadsafe";
  const unsigned workers = GetParam();
  EXPECT_DEATH(
      {
        ergon::Options o;
        o.workers = workers;
        o.stack_size = 64 * 1024;
        ergon::Runtime rt(o);
        rt.run([] {
          ergon::spawn([] { (void)recurse(0); });
          ergon::receive<int>();  // never comes: the overflow ends the program
        });
      },
      "ergon: process <0\\.[0-9]+\\.[0-9]+> overflowed its stack of 64 KiB");
}

}  // namespace

// Options::from_env is one table of (variable, field, parser): every variable of it reads a
// good value into its field, and a bad value is a ConfigError that names that variable.
TEST(OptionsFromEnv, EveryVariableReadsItsFieldAndNamesItselfInItsError) {
  using namespace std::chrono_literals;
  struct Case {
    const char* var;
    const char* good;
    bool (*read)(const ergon::Options&);
    const char* bad;
  };
  const Case cases[] = {
      {"ERGON_WORKERS", "3", [](const ergon::Options& o) { return o.workers == 3; }, "x"},
      {"ERGON_STACK_SIZE", "128K", [](const ergon::Options& o) { return o.stack_size == 131072; },
       "12Q"},
      {"ERGON_MAX_PROCESSES", "99", [](const ergon::Options& o) { return o.max_processes == 99; },
       "-1"},
      {"ERGON_STACK_OVERFLOW", "end_process",
       [](const ergon::Options& o) {
         return o.on_stack_overflow == ergon::OnStackOverflow::kEndProcess;
       },
       "end"},
      {"ERGON_REDUCTIONS", "77", [](const ergon::Options& o) { return o.reductions == 77; },
       "99999999999"},
      {"ERGON_SPIN_ROUNDS", "5", [](const ergon::Options& o) { return o.spin_rounds == 5; }, "a"},
      {"ERGON_WATCHDOG_TICK", "2ms",
       [](const ergon::Options& o) { return o.watchdog_tick == 2000us; }, "2"},
      {"ERGON_PREEMPT_AFTER", "3ms",
       [](const ergon::Options& o) { return o.preempt_after == 3000us; }, "3min"},
      {"ERGON_HANDOFF_AFTER", "4ms",
       [](const ergon::Options& o) { return o.handoff_after == 4000us; }, "1500ns"},
      {"ERGON_MAX_SPARE_CARRIERS", "7",
       [](const ergon::Options& o) { return o.max_spare_carriers == 7u; }, "100001"},
      {"ERGON_STALL_NICE", "5", [](const ergon::Options& o) { return o.stall_nice == 5; }, "20"},
      {"ERGON_SPARE_KEEPALIVE", "3s",
       [](const ergon::Options& o) { return o.spare_keepalive == 3000ms; }, "10us"},
      {"ERGON_SHUTDOWN_TIMEOUT", "250ms",
       [](const ergon::Options& o) { return o.shutdown_timeout == 250ms; }, "500us"},
      {"ERGON_POLICY", "steal",
       [](const ergon::Options& o) { return o.policy == ergon::Policy::kSteal; }, "fair"},
      {"ERGON_BALANCE_INTERVAL", "5ms",
       [](const ergon::Options& o) { return o.balance_interval == 5000us; }, "5"},
      {"ERGON_COMPACTION", "0", [](const ergon::Options& o) { return !o.compaction; }, "maybe"},
      {"ERGON_FORCE_MIGRATION", "1", [](const ergon::Options& o) { return o.force_migration; },
       "2"},
      {"ERGON_POOLS", "a:1,b:2",
       [](const ergon::Options& o) { return o.pools.size() == 2 && o.pools[1].workers == 2; }, "a"},
      {"ERGON_DETERMINISTIC", "yes", [](const ergon::Options& o) { return o.deterministic; }, "y"},
      {"ERGON_SIMULATE", "1", [](const ergon::Options& o) { return o.simulate; }, "16"},
      {"ERGON_SEED", "42", [](const ergon::Options& o) { return o.seed == 42u; }, "4 2"},
      {"ERGON_FAULT_DELAY_MESSAGES", "0.5",
       [](const ergon::Options& o) { return o.faults.delay_messages == 0.5; }, "2"},
      {"ERGON_FAULT_MAX_DELAY", "9ms",
       [](const ergon::Options& o) { return o.faults.max_delay == 9000us; }, "9"},
      {"ERGON_FAULT_REORDER_MESSAGES", "0.25",
       [](const ergon::Options& o) { return o.faults.reorder_messages == 0.25; }, "-0.1"},
      {"ERGON_FAULT_CRASH", "1e-3", [](const ergon::Options& o) { return o.faults.crash == 1e-3; },
       "often"},
      {"ERGON_FAULT_FAIL_SPAWNS", "1",
       [](const ergon::Options& o) { return o.faults.fail_spawns == 1.0; }, "1.5"},
  };
  for (const Case& c : cases) {
    {
      ergon_test::EnvGuard e(c.var, c.good);
      EXPECT_TRUE(c.read(ergon::Options::from_env())) << c.var << "=" << c.good;
    }
    ergon_test::EnvGuard e(c.var, c.bad);
    try {
      (void)ergon::Options::from_env();
      ADD_FAILURE() << c.var << "='" << c.bad << "' was accepted";
    } catch (const ergon::ConfigError& err) {
      EXPECT_NE(std::string(err.what()).find(c.var), std::string::npos)
          << "the error does not name " << c.var << ": " << err.what();
    }
  }
}
