// Preemption: reductions and ergon::checkpoint(), the watchdog's yield request and hand-off,
// ergon::blocking, stall reports and their options.
//
// No test here measures time. A test that needs "the others ran while X was stuck" makes X
// stay stuck until the others have done a fixed amount of work (they release it), with a
// generous escape hatch that turns a missing preemption into a failure instead of a hang.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using ergon_test::await;
using ergon_test::RuntimeTest;
using ergon_test::scaled;
using namespace std::chrono_literals;

struct Ping {
  int n;
};
struct Pong {
  int n;
};
struct Stop {};
struct Done {
  std::int64_t n;
};

// The escape hatch: how long a stuck process waits for its release before the test gives up.
constexpr auto kEscape = 30s;

// Spawns a ponger and does `rounds` round trips with it; returns when they are done.
void pingpong(int rounds) {
  const ergon::Pid me = ergon::self();
  const ergon::Pid ponger = ergon::spawn([me] {
    for (;;) {
      bool stop = false;
      ergon::receive([&](const Ping& p) { ergon::send(me, Pong{p.n}); },
                     [&](Stop) { stop = true; });
      if (stop) return;
    }
  });
  for (int i = 0; i < rounds; ++i) {
    ergon::send(ponger, Ping{i});
    EXPECT_EQ(await<Pong>().n, i);
  }
  ergon::send(ponger, Stop{});
}

// Spins with no reduction point until `release` is set (or the escape hatch).
void spin_until(const std::atomic<bool>& release) {
  const auto end = std::chrono::steady_clock::now() + kEscape;
  while (!release.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < end) {
  }
}

// Tests over 1, 2 and 4 workers.
// A pipe that a process blocks on with a raw read. release() writes 'y'; if nobody released it
// within the escape hatch, a thread writes 'x' (so a missing hand-off fails instead of hanging).
class BlockingPipe {
 public:
  BlockingPipe() {
    if (::pipe(fds_) != 0) throw std::runtime_error("pipe");
    escape_ = std::thread([this] {
      const auto end = std::chrono::steady_clock::now() + kEscape;
      while (!released_.load() && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(10ms);
      }
      if (!released_.exchange(true)) (void)::write(fds_[1], "x", 1);
    });
  }
  ~BlockingPipe() {
    escape_.join();
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  char read_one() {  // blocks its thread
    char c = 0;
    (void)::read(fds_[0], &c, 1);
    return c;
  }
  void release() {
    if (!released_.exchange(true)) (void)::write(fds_[1], "y", 1);
  }

 private:
  int fds_[2];
  std::atomic<bool> released_{false};
  std::thread escape_;
};

class Preempt : public RuntimeTest {};
// Tests about one worker held by one process: on one worker nobody else can steal the rest.
class OneWorker : public RuntimeTest {};

// --- checkpoint and reductions ---------------------------------------------------------------

TEST(Checkpoint, OutsideAProcessDoesNothing) {
  for (int i = 0; i < 100000; ++i) ergon::checkpoint();
  SUCCEED();
}

TEST_P(OneWorker, CheckpointChargesAReductionAndYieldsWhenTheBudgetIsSpent) {
  ergon::Options o = options();
  o.reductions = 10;
  runtime(o);
  run([] {
    // On one worker, a checkpointing loop and a yielding loop alternate: the loop's 100
    // checkpoints are 10 slices, so the other runs between them.
    std::atomic<int> other_runs{0};
    std::atomic<bool> looping{true};
    const ergon::Pid main = ergon::self();
    ergon::spawn([&] {
      while (looping.load()) {
        other_runs.fetch_add(1);
        ergon::yield();
      }
      ergon::send(main, Done{0});
    });
    ergon::yield();  // let it start
    const int before = other_runs.load();
    for (int i = 0; i < 100; ++i) ergon::checkpoint();
    const int interleaved = other_runs.load() - before;
    looping.store(false);
    await<Done>();
    EXPECT_GE(interleaved, 9) << "the other process should run once per spent budget";
  });
}

TEST_P(OneWorker, TwoCheckpointingHogsOnOneWorkerShareItInProportion) {
  ergon::Options o = options();
  // Slices end by reductions only: with the watchdog on, a slice whose thread the OS set aside
  // (a loaded machine, a sanitizer) is cut short by time, and the shares drift (asan, CI).
  o.watchdog_tick = std::chrono::microseconds(0);
  runtime(o);
  run([] {
    const std::int64_t total = scaled<std::int64_t>(20'000'000, 2'000'000);
    std::atomic<std::int64_t> sum{0};
    std::atomic<std::int64_t> counts[2] = {0, 0};
    const ergon::Pid main = ergon::self();
    for (int h = 0; h < 2; ++h) {
      ergon::spawn([&, h] {
        std::int64_t mine = 0;
        while (sum.load(std::memory_order_relaxed) < total) {
          ++mine;
          sum.fetch_add(1, std::memory_order_relaxed);
          ergon::checkpoint();
        }
        counts[h].store(mine);
        ergon::send(main, Done{mine});
      });
    }
    await<Done>();
    await<Done>();
    const double a = static_cast<double>(counts[0].load());
    const double b = static_cast<double>(counts[1].load());
    EXPECT_GT(a, 0.35 * (a + b)) << a << " vs " << b;
    EXPECT_GT(b, 0.35 * (a + b)) << a << " vs " << b;
  });
}

TEST_P(OneWorker, TheWatchdogsRequestMakesACheckpointYieldWithAnEndlessBudget) {
  ergon::Options o = options();
  o.reductions = INT32_MAX;  // the budget never runs out by counting
  o.handoff_after = 3600s;   // and no hand-off: only the yield request can help
  runtime(o);
  run([this] {
    std::atomic<bool> release{false};
    const ergon::Pid main = ergon::self();
    ergon::spawn([&] {
      const auto end = std::chrono::steady_clock::now() + kEscape;
      while (!release.load() && std::chrono::steady_clock::now() < end) ergon::checkpoint();
      ergon::send(main, Done{0});
    });
    ergon::yield();  // the hog starts, and holds the worker until the watchdog asks
    pingpong(20);
    release.store(true);
    await<Done>();
    EXPECT_GE(stats().yield_requests, 1u);
  });
}

// --- the watchdog's hand-off ---------------------------------------------------------------

TEST_P(OneWorker, ASpinningProcessDoesNotStopAPingpongPairOnItsWorker) {
  ergon::Options o = options();
  runtime(o);
  std::atomic<bool> released_by_pair{false};
  run([&] {
    std::atomic<bool> release{false};
    const ergon::Pid main = ergon::self();
    ergon::spawn([&] {
      spin_until(release);  // no reduction point at all
      ergon::send(main, Done{0});
    });
    ergon::yield();  // the spinner takes the only worker; main resumes only by a hand-off
    pingpong(200);
    released_by_pair.store(true);
    release.store(true, std::memory_order_release);
    await<Done>();
  });
  EXPECT_TRUE(released_by_pair.load());
  EXPECT_GE(stats().handoffs, 1u);
  EXPECT_GE(stats().stalls, 1u);
}

TEST_P(OneWorker, AProcessBlockedInReadOnAPipeDoesNotStopAPingpongPair) {
  ergon::Options o = options();
  runtime(o);
  char got = 0;
  {
    BlockingPipe pipe;
    run([&] {
      const ergon::Pid main = ergon::self();
      ergon::spawn([&] {
        got = pipe.read_one();  // a raw blocking system call
        ergon::send(main, Done{0});
      });
      ergon::yield();  // the reader blocks the only worker's thread
      pingpong(200);
      pipe.release();
      await<Done>();
    });
  }
  EXPECT_EQ(got, 'y') << "the pair should finish before the escape hatch wrote 'x'";
}

TEST_P(OneWorker, AProcessInSleepDoesNotStopAPingpongPair) {
  ergon::Options o = options();
  std::atomic<int> stalls_seen{0};
  std::string where;
  std::mutex mu;
  o.on_stall = [&](const ergon::StallReport& r) {
    std::lock_guard<std::mutex> g(mu);
    where = r.where;
    stalls_seen.fetch_add(1);
  };
  runtime(o);
  std::atomic<bool> asleep{false}, awake{false};
  run([&] {
    const ergon::Pid main = ergon::self();
    ergon::spawn([&] {
      asleep.store(true);
      ::usleep(300'000);  // blocks its thread
      awake.store(true);
      ergon::send(main, Done{0});
    });
    ergon::yield();
    pingpong(50);
    EXPECT_TRUE(asleep.load());
    await<Done>();
  });
  // The pair may have finished before the sleeper woke (it usually does); either way the
  // sleep was reported as a stall, naming the system call.
  EXPECT_GE(stalls_seen.load(), 1);
  std::lock_guard<std::mutex> g(mu);
  EXPECT_NE(where.find("sleep"), std::string::npos) << where;
}

TEST_P(OneWorker, AtTheCapOfSpareCarriersTheStallIsReportedAsSuch) {
  ergon::Options o = options();
  o.max_spare_carriers = 0;
  std::atomic<bool> release{false};
  std::atomic<bool> at_cap{false};
  o.on_stall = [&](const ergon::StallReport& r) {
    at_cap.store(r.at_cap && !r.handed_off);
    release.store(true, std::memory_order_release);  // the report ends the spin
  };
  runtime(o);
  run([&] {
    const ergon::Pid main = ergon::self();
    ergon::spawn([&] {
      spin_until(release);
      ergon::send(main, Done{0});
    });
    await<Done>();
  });
  EXPECT_TRUE(release.load());
  EXPECT_TRUE(at_cap.load());
  EXPECT_GE(stats().carrier_cap_hits, 1u);
  EXPECT_EQ(stats().handoffs, 0u);
}

TEST_P(Preempt, WithTheWatchdogOffASpinnerIsNotReported) {
  ergon::Options o = options();
  o.watchdog_tick = 0us;
  runtime(o);
  run([] {
    const ergon::Pid main = ergon::self();
    ergon::spawn([main] {
      const auto end = std::chrono::steady_clock::now() + 20ms;
      while (std::chrono::steady_clock::now() < end) {
      }
      ergon::send(main, Done{0});
    });
    await<Done>();
  });
  EXPECT_EQ(stats().stalls, 0u);
  EXPECT_EQ(stats().handoffs, 0u);
}

// --- ergon::blocking ---------------------------------------------------------------------------

TEST_P(OneWorker, BlockingHandsTheWorkerOffAtOnceWhenItHasWork) {
  ergon::Options o = options();
  o.watchdog_tick = 0us;  // no watchdog: only blocking() can free the worker
  runtime(o);
  char got = 0;
  {
    BlockingPipe pipe;
    run([&] {
      const ergon::Pid main = ergon::self();
      ergon::spawn([&] {
        got = ergon::blocking([&] { return pipe.read_one(); });
        ergon::send(main, Done{0});  // back in the process, on whichever thread has its worker
      });
      ergon::yield();  // the reader runs first and blocks in read, with main waiting: work
      pingpong(100);
      pipe.release();
      await<Done>();
    });
  }
  EXPECT_EQ(got, 'y') << "the pair should finish before the escape hatch wrote 'x'";
  EXPECT_GE(stats().handoffs, 1u);
  EXPECT_EQ(stats().stalls, 0u);
}

TEST_P(Preempt, BlockingReturnsValuesAndReferencesAndPassesExceptionsOn) {
  run([] {
    int x = 41;
    int& r = ergon::blocking([&]() -> int& { return x; });
    EXPECT_EQ(&r, &x);
    EXPECT_EQ(ergon::blocking([&] { return x + 1; }), 42);
    std::string s = ergon::blocking([] { return std::string("moved"); });
    EXPECT_EQ(s, "moved");
    ergon::blocking([] {});
    // Nested calls and exceptions: the process is a process again afterwards.
    EXPECT_THROW(
        ergon::blocking([] { ergon::blocking([] { throw std::runtime_error("inner"); }); }),
        std::runtime_error);
    EXPECT_TRUE(ergon::self());
    ergon::send(ergon::self(), Done{7});
    EXPECT_EQ(await<Done>().n, 7);
  });
}

TEST_P(Preempt, InsideBlockingProcessCallsFailWithAClearErrorAndSendWorks) {
  run([] {
    const ergon::Pid me = ergon::self();
    const std::string what = ergon_test::what_of<ergon::NotInProcess>(
        [] { ergon::blocking([] { (void)ergon::self(); }); });
    EXPECT_NE(what.find("inside ergon::blocking"), std::string::npos) << what;
    ergon::blocking([me] { ergon::send(me, Done{3}); });
    EXPECT_EQ(await<Done>().n, 3);
  });
}

TEST(Blocking, OutsideAProcessJustCallsTheFunction) {
  EXPECT_EQ(ergon::blocking([] { return 5; }), 5);
}

// --- hand-off conservation (seeded) ----------------------------------------------------------

TEST_P(Preempt, HandOffsLoseAndDuplicateNoProcessAndNoMessage) {
  const std::uint64_t sd = ergon_test::test_seed();
  SCOPED_TRACE("ERGON_SEED=" + std::to_string(sd) + " replays this run");
  ergon::Options o = options();
  o.watchdog_tick = 50us;  // provoke many hand-offs
  o.preempt_after = 100us;
  o.handoff_after = 200us;
  o.on_stall = [](const ergon::StallReport&) {};  // quiet
  runtime(o);
  const int hogs = scaled(24, 8), messengers = scaled(40, 10);
  const int rounds = scaled(300, 60);
  std::atomic<std::int64_t> received{0};
  run([&] {
    const ergon::Pid main = ergon::self();
    std::mt19937_64 rng(sd);
    // Messengers form a ring; each token goes `rounds` times around. Every hop is counted.
    std::vector<ergon::Pid> ring(messengers);
    struct Next {
      ergon::Pid to;
    };
    struct Token {
      int hops_left;
    };
    for (int i = 0; i < messengers; ++i) {
      ring[i] = ergon::spawn([&received, main] {
        const ergon::Pid next = ergon::receive<Next>().to;
        for (bool stop = false; !stop;) {
          ergon::receive(
              [&](const Token& t) {
                received.fetch_add(1);
                if (t.hops_left == 0) {
                  ergon::send(main, Done{1});  // this token has gone all its rounds
                } else {
                  ergon::send(next, Token{t.hops_left - 1});
                }
              },
              [&](Stop) { stop = true; });
        }
        ergon::send(main, Done{0});
      });
    }
    for (int i = 0; i < messengers; ++i) ergon::send(ring[i], Next{ring[(i + 1) % messengers]});
    // Hogs: spin, sleep in a system call, or block through ergon::blocking, a random number
    // of times for random short spells.
    for (int h = 0; h < hogs; ++h) {
      const std::uint64_t hs = rng();
      ergon::spawn([main, hs] {
        std::mt19937_64 r(hs);
        for (int k = 0; k < 6; ++k) {
          const auto spell = std::chrono::microseconds(r() % 1500);
          switch (r() % 3) {
            case 0: {
              const auto end = std::chrono::steady_clock::now() + spell;
              while (std::chrono::steady_clock::now() < end) {
              }
              break;
            }
            case 1:
              std::this_thread::sleep_for(spell);
              break;
            default:
              ergon::blocking([spell] { std::this_thread::sleep_for(spell); });
          }
          ergon::yield();
        }
        ergon::send(main, Done{2});
      });
    }
    // One token per messenger.
    for (int i = 0; i < messengers; ++i) ergon::send(ring[i], Token{rounds});
    std::int64_t tokens_done = 0, hogs_done = 0;
    while (tokens_done < messengers || hogs_done < hogs) {
      const Done d = await<Done>();
      (d.n == 1 ? tokens_done : hogs_done) += 1;
    }
    for (int i = 0; i < messengers; ++i) ergon::send(ring[i], Stop{});
    for (int i = 0; i < messengers; ++i) EXPECT_EQ(await<Done>().n, 0);
  });
  // Each token is received rounds + 1 times (hops_left = rounds down to 0).
  EXPECT_EQ(received.load(), static_cast<std::int64_t>(messengers) * (rounds + 1));
  EXPECT_GE(stats().handoffs, 1u) << "the test did not exercise a hand-off";
}

// --- options -----------------------------------------------------------------------------------

TEST(PreemptOptions, DurationsAreReadFromTheEnvironmentWithUnits) {
  using Env = ergon_test::EnvGuard;
  {
    Env a("ERGON_WATCHDOG_TICK", "1ms"), b("ERGON_HANDOFF_AFTER", "5ms"),
        c("ERGON_SPARE_KEEPALIVE", "2s"), d("ERGON_MAX_SPARE_CARRIERS", "3");
    const ergon::Options o = ergon::Options::from_env();
    EXPECT_EQ(o.watchdog_tick, 1000us);
    EXPECT_EQ(o.handoff_after, 5000us);
    EXPECT_EQ(o.spare_keepalive, 2000ms);
    EXPECT_EQ(o.max_spare_carriers, 3u);
  }
  for (const char* bad : {"5", "5min", "ms", "-1ms", "1500ns"}) {
    Env e("ERGON_PREEMPT_AFTER", bad);
    const std::string what =
        ergon_test::what_of<ergon::ConfigError>([] { (void)ergon::Options::from_env(); });
    EXPECT_NE(what.find("ERGON_PREEMPT_AFTER"), std::string::npos) << bad << ": " << what;
  }
}

TEST(PreemptOptions, HandOffBeforeTheYieldRequestIsRejected) {
  ergon::Options o;
  o.preempt_after = 2ms;
  o.handoff_after = 1ms;
  const std::string what = ergon_test::what_of<ergon::ConfigError>([&] { ergon::Runtime rt(o); });
  EXPECT_NE(what.find("handoff_after"), std::string::npos) << what;
}

ERGON_INSTANTIATE_WORKERS(Preempt);
INSTANTIATE_TEST_SUITE_P(Workers, OneWorker, testing::Values(1u), ergon_test::worker_count_name);

}  // namespace
