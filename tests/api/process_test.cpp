// Processes: spawn and self, Pid's notation, 100,000 processes alive at once, a spawn tree,
// yield and reductions, crashes reported through Options::on_crash, exceptions from the main
// function, how run() and the destructor end the processes still alive, stale pids and slot
// reuse, per-spawn stack sizes, and the counters in Stats.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ergon/ergon.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon_test::await;

class Process : public ergon_test::RuntimeTest {
 protected:
  // Yields until pred() holds; throws if it does not within the test's patience.
  template <class Pred>
  static void yield_until(Pred pred) {
    auto give_up = std::chrono::steady_clock::now() + ergon_test::patience();
    while (!pred()) {
      if (std::chrono::steady_clock::now() > give_up) {
        throw std::runtime_error("yield_until: the condition never held");
      }
      ergon::yield();
    }
  }
};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Process);

struct Ready {};
struct Stop {};
struct Done {};
struct Count {
  long n;
};
struct Crashed {
  ergon::Pid pid;
  std::string what;
};

// Counts its destruction: proves that a process's stack was unwound.
struct Unwound {
  std::atomic<int>& n;
  ~Unwound() { n.fetch_add(1, std::memory_order_relaxed); }
};

// --- Pid -----------------------------------------------------------------------------------

TEST(Pid, PacksIndexAndGenerationIntoOneWord) {
  ergon::Pid p(5, 3);
  EXPECT_EQ(p.index(), 5u);
  EXPECT_EQ(p.generation(), 3u);
  EXPECT_EQ(ergon::Pid::from_raw(p.raw()), p);
  EXPECT_EQ(p.raw(), (std::uint64_t{3} << 32) | 5u);
  EXPECT_TRUE(static_cast<bool>(p));
  EXPECT_FALSE(static_cast<bool>(ergon::Pid{}));
  EXPECT_NE(ergon::Pid(5, 3), ergon::Pid(5, 4));
  EXPECT_LT(ergon::Pid(5, 3), ergon::Pid(5, 4));
  EXPECT_EQ(std::hash<ergon::Pid>{}(p), std::hash<ergon::Pid>{}(ergon::Pid(5, 3)));
}

TEST(Pid, PrintsInErlangNotation) {
  EXPECT_EQ(ergon::Pid(12, 7).to_string(), "<0.12.7>");
  std::ostringstream os;
  os << ergon::Pid(1, 2);
  EXPECT_EQ(os.str(), "<0.1.2>");
}

// --- spawning ------------------------------------------------------------------------------

TEST_P(Process, SpawnRunsTheFunctionAndSelfNamesTheNewProcess) {
  ergon::Pid spawned, reported, main_pid;
  run([&] {
    ergon::Pid me = ergon::self();
    main_pid = me;
    spawned = ergon::spawn([me] { ergon::send(me, ergon::self()); });
    reported = await<ergon::Pid>();
  });
  EXPECT_TRUE(static_cast<bool>(spawned));
  EXPECT_EQ(reported, spawned);
  EXPECT_NE(spawned, main_pid);
}

TEST_P(Process, WorkerIdNamesOneOfTheWorkers) {
  run([&] {
    EXPECT_LT(ergon::worker_id(), workers());
    ergon::Pid me = ergon::self();
    for (int i = 0; i < 16; ++i) ergon::spawn([me] { ergon::send(me, ergon::worker_id()); });
    for (int i = 0; i < 16; ++i) EXPECT_LT(await<unsigned>(), workers());
  });
  EXPECT_EQ(runtime().workers(), workers());
}

TEST_P(Process, HundredThousandProcessesAreAliveAtOnce) {
  // Under tsan every live fiber holds a thread record (it dies past 8128) that costs
  // milliseconds to create.
  const long n = ergon_test::scaled(100'000L, 2'000L);
  std::uint64_t alive_at_peak = 0;
  std::vector<ergon::Pid> pids;
  pids.reserve(n);
  long done = 0;
  run([&] {
    ergon::Pid me = ergon::self();
    for (long i = 0; i < n; ++i) {
      pids.push_back(ergon::spawn([me] {
        ergon::send(me, Ready{});
        ergon::receive<Stop>();
        ergon::send(me, Done{});
      }));
    }
    for (long i = 0; i < n; ++i) await<Ready>();
    // Every process has run and now waits for Stop (or is about to).
    alive_at_peak = runtime().stats().processes_alive;
    for (ergon::Pid p : pids) ergon::send(p, Stop{});
    for (long i = 0; i < n; ++i) {
      await<Done>();
      ++done;
    }
  });
  EXPECT_EQ(alive_at_peak, static_cast<std::uint64_t>(n) + 1);
  // Sorted here, not in the main process: std::sort's recursion does not fit in a 64 KiB
  // process stack under asan.
  std::sort(pids.begin(), pids.end());
  EXPECT_EQ(std::unique(pids.begin(), pids.end()) - pids.begin(), n) << "pids were not unique";
  EXPECT_EQ(done, n);
  EXPECT_EQ(stats().processes_spawned, static_cast<std::uint64_t>(n) + 1);
}

// Each node spawns `fanout` children, adds up their subtree sizes and reports to its parent.
void tree_node(ergon::Pid parent, int depth, int fanout) {
  long count = 1;
  if (depth > 0) {
    ergon::Pid me = ergon::self();
    for (int i = 0; i < fanout; ++i) {
      ergon::spawn([me, depth, fanout] { tree_node(me, depth - 1, fanout); });
    }
    for (int i = 0; i < fanout; ++i) count += ergon::receive<Count>().n;
  }
  ergon::send(parent, Count{count});
}

TEST_P(Process, ASpawnTreeReportsEveryNode) {
  const int depth = ergon_test::scaled(7, 4);
  const int fanout = 4;
  long expected = 0;
  for (long level = 1, d = 0; d <= depth; ++d, level *= fanout) expected += level;
  long total = 0;
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::spawn([me, depth] { tree_node(me, depth, fanout); });
    total = await<Count>().n;
  });
  EXPECT_EQ(total, expected);
  EXPECT_EQ(stats().processes_spawned, static_cast<std::uint64_t>(expected) + 1);
}

TEST_P(Process, ProcessesOutliveTheirSpawner) {
  int got = 0;
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::spawn([me] {
      ergon::Pid child = ergon::spawn([me] { ergon::send(me, ergon::receive<int>() + 1); });
      ergon::send(me, child);
    });
    ergon::Pid child = await<ergon::Pid>();
    ergon::send(child, 41);
    got = await<int>();
  });
  EXPECT_EQ(got, 42);
}

TEST_P(Process, RuntimeSpawnWorksFromAThreadOutsideTheRuntime) {
  if (is_deterministic()) GTEST_SKIP() << ergon_test::kNeedsThreads;
  int got = 0;
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::Runtime& rt = runtime();
    std::thread t([&rt, me] { rt.spawn([me] { ergon::send(me, 7); }); });
    got = await<int>();
    t.join();
  });
  EXPECT_EQ(got, 7);
  EXPECT_EQ(stats().processes_spawned, 2u);
}

TEST_P(Process, ProcessesOfTwoRuntimesTalkThroughPids) {
  if (is_deterministic()) GTEST_SKIP() << ergon_test::kNeedsThreads;
  ergon::Runtime other(options());
  std::vector<int> replies;
  run([&] {
    ergon::Pid me = ergon::self();
    // Spawned from a process of this runtime into the other one.
    ergon::Pid echo = other.spawn([] {
      for (;;) {
        auto [from, v] = ergon::receive<std::pair<ergon::Pid, int>>();
        ergon::send(from, v + 1);
      }
    });
    for (int i = 0; i < 100; ++i) {
      ergon::send(echo, std::make_pair(me, i));
      replies.push_back(await<int>());
    }
  });
  ASSERT_EQ(replies.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(replies[i], i + 1);
  // The echo process belongs to the other runtime, which keeps it until its destructor.
  EXPECT_EQ(other.stats().processes_spawned, 1u);
  EXPECT_EQ(other.stats().processes_alive, 1u);
}

TEST_P(Process, YieldLetsOtherProcessesRun) {
  run([&] {
    std::atomic<bool> flag{false};
    ergon::spawn([&flag] { flag.store(true, std::memory_order_release); });
    // With one worker this only ends if yield() runs the other process.
    while (!flag.load(std::memory_order_acquire)) ergon::yield();
  });
}

TEST_P(Process, ReduceYieldsWhenTheSliceIsSpent) {
  ergon::Options o = options();
  o.reductions = 100;
  runtime(o);
  run([&] {
    std::atomic<bool> flag{false};
    ergon::spawn([&flag] { flag.store(true, std::memory_order_release); });
    // A loop that never blocks but charges reductions is preempted.
    while (!flag.load(std::memory_order_acquire)) ergon::reduce();
  });
}

TEST_P(Process, ARuntimeRunsSeveralMainsInTurn) {
  std::vector<int> results;
  for (int round = 0; round < 3; ++round) {
    run([&] {
      ergon::Pid me = ergon::self();
      ergon::spawn([me, round] { ergon::send(me, round * 10); });
      ergon::spawn([] { ergon::receive<Stop>(); });  // left alive: run() ends it
      results.push_back(await<int>());
    });
  }
  EXPECT_EQ(results, (std::vector<int>{0, 10, 20}));
  EXPECT_EQ(stats().processes_spawned, 9u);
}

// Processes blocked in receive without a timeout leave nothing to run: every worker parks
// (no CPU is measured; the test waits until it has seen each worker parked), and a message
// still wakes the processes up afterwards.
TEST_P(Process, AnIdleRuntimeParksEveryWorkerAndStillWakesUp) {
  if (is_deterministic()) GTEST_SKIP() << "deterministic mode has no worker threads to park";
  const int kBlocked = 100;
  int replies = 0;
  bool all_parked = false;
  run([&] {
    ergon::Pid me = ergon::self();
    std::vector<ergon::Pid> blocked;
    for (int i = 0; i < kBlocked; ++i) {
      blocked.push_back(ergon::spawn([me] {
        ergon::send(me, Ready{});
        ergon::receive<Stop>();
        ergon::send(me, Done{});
      }));
    }
    for (int i = 0; i < kBlocked; ++i) await<Ready>();
    std::vector<std::uint64_t> parks_before;
    for (const ergon::WorkerStats& w : runtime().stats().workers) parks_before.push_back(w.parks);
    auto give_up = std::chrono::steady_clock::now() + ergon_test::patience();
    while (!all_parked && std::chrono::steady_clock::now() < give_up) {
      ergon::sleep_for(1ms);  // while the main process sleeps, nothing at all can run
      std::vector<ergon::WorkerStats> now = runtime().stats().workers;
      // Parked since we looked, or parked now (parks is counted before the futex wait,
      // wake-ups after it).
      all_parked = true;
      for (std::size_t i = 0; i < now.size(); ++i) {
        all_parked &= now[i].parks > parks_before[i] || now[i].parks > now[i].wakeups;
      }
    }
    for (ergon::Pid p : blocked) ergon::send(p, Stop{});
    for (int i = 0; i < kBlocked; ++i) {
      await<Done>();
      ++replies;
    }
  });
  EXPECT_TRUE(all_parked) << "a worker never parked while every process was blocked";
  EXPECT_EQ(replies, kBlocked);
}

// --- crashes -------------------------------------------------------------------------------

TEST_P(Process, ACrashIsReportedThroughOnCrashAndTheRuntimeGoesOn) {
  std::atomic<std::uint64_t> observer{0};
  std::mutex mu;
  std::vector<Crashed> reports;
  ergon::Options o = options();
  o.on_crash = [&](ergon::Pid pid, const std::string& what) {
    {
      std::lock_guard<std::mutex> g(mu);
      reports.push_back(Crashed{pid, what});
    }
    ergon::send(ergon::Pid::from_raw(observer.load()), Crashed{pid, what});
  };
  runtime(o);
  ergon::Pid crasher, odd_crasher;
  int echoed = 0;
  run([&] {
    ergon::Pid me = ergon::self();
    observer.store(me.raw());
    crasher = ergon::spawn([] {
      ergon::receive<int>();
      throw std::runtime_error("boom");
    });
    for (int i = 0; i < 3; ++i) ergon::send(crasher, i);  // two are left in its mailbox
    Crashed c = await<Crashed>();
    EXPECT_EQ(c.pid, crasher);
    EXPECT_EQ(c.what, "boom");
    // The runtime goes on.
    ergon::Pid echo = ergon::spawn([] {
      auto [from, v] = ergon::receive<std::pair<ergon::Pid, int>>();
      ergon::send(from, v);
    });
    ergon::send(echo, std::make_pair(me, 5));
    echoed = await<int>();
    odd_crasher = ergon::spawn([] { throw 42; });
    Crashed c2 = await<Crashed>();
    EXPECT_EQ(c2.pid, odd_crasher);
    EXPECT_NE(c2.what.find("an exception of type int (not derived from std::exception)"),
              std::string::npos)
        << c2.what;
  });
  EXPECT_EQ(echoed, 5);
  EXPECT_EQ(stats().processes_crashed, 2u);
  std::lock_guard<std::mutex> g(mu);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].pid, crasher);
}

TEST_P(Process, AnExceptionFromTheMainFunctionIsRethrownFromRun) {
  std::string what = ergon_test::what_of<std::logic_error>([&] {
    runtime().run([] {
      ergon::spawn([] { ergon::receive<Stop>(); });  // still alive when main throws
      throw std::logic_error("from main");
    });
  });
  EXPECT_EQ(what, "from main");
  expect_no_leaks();
  EXPECT_EQ(stats().processes_crashed, 0u) << "main's exception goes to run(), not on_crash";
  bool again = false;
  run([&] { again = true; });
  EXPECT_TRUE(again) << "the runtime runs another main after one failed";
}

// --- ending processes ----------------------------------------------------------------------

TEST_P(Process, RunEndsEveryProcessStillAliveAndUnwindsIt) {
  std::atomic<int> unwound{0};
  const int kWaiters = 7;
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::spawn([&, me] {
      Unwound u{unwound};
      ergon::send(me, Ready{});
      ergon::receive<Stop>();
    });
    ergon::spawn([&, me] {
      Unwound u{unwound};
      ergon::send(me, Ready{});
      ergon::receive([](Stop) {}, ergon::after(1h, [] {}));
    });
    ergon::spawn([&, me] {
      Unwound u{unwound};
      ergon::send(me, Ready{});
      ergon::sleep_for(1h);
    });
    ergon::spawn([&, me] {
      Unwound u{unwound};
      ergon::send(me, Ready{});
      ergon::Marker m = ergon::mark();
      m.receive([](Stop) {});
    });
    ergon::spawn([&, me] {
      Unwound u{unwound};
      ergon::send(me, Ready{});
      for (;;) ergon::yield();
    });
    ergon::spawn([&, me] {
      Unwound u{unwound};
      ergon::send(me, Ready{});
      for (unsigned k = 0;; ++k) ergon::move_to_worker(k);
    });
    ergon::spawn([&, me] {  // keeps spawning while the runtime shuts down
      Unwound u{unwound};
      ergon::send(me, Ready{});
      for (int i = 0; i < 1000; ++i) {
        ergon::spawn([] { ergon::receive<Stop>(); });
        ergon::yield();
      }
      ergon::receive<Stop>();
    });
    for (int i = 0; i < kWaiters; ++i) await<Ready>();
    // Leave messages in some mailboxes: run() must free them.
    ergon::send(me, std::string("left in main's mailbox"));
  });
  EXPECT_EQ(unwound.load(), kWaiters);
}

TEST_P(Process, TheRuntimeDestructorEndsProcessesSpawnedWithoutRun) {
  auto token = std::make_shared<int>(0);
  {
    ergon::Runtime rt(options());
    for (int i = 0; i < 10; ++i) {
      ergon::Pid p = rt.spawn([token] { ergon::receive<Stop>(); });
      ergon::send(p, std::string("unread"));
    }
  }
  EXPECT_EQ(token.use_count(), 1) << "every process's function was destroyed";
}

// --- stale pids ----------------------------------------------------------------------------

struct Stale {};
struct Verdict {
  bool check;  // true: report whether a Stale arrived; false: just end
};

TEST_P(Process, AStalePidNeverReachesTheProcessThatReusesItsSlot) {
  const int kVictims = 5;
  const std::size_t kMaxProbes = ergon_test::tsan_variant() ? 4'000 : 20'000;
  int reused = 0;
  int stale_received = 0;
  std::uint64_t dropped = 0;
  run([&] {
    ergon::Pid me = ergon::self();
    for (int v = 0; v < kVictims; ++v) {
      ergon::Pid victim = ergon::spawn([] { ergon::receive<Stop>(); });
      ergon::send(victim, Stop{});
      yield_until([&] { return runtime().stats().processes_alive == 1; });  // victim ended
      // Spawn probes, from every worker in turn, and keep them alive, until one of them
      // takes the victim's slot (records are recycled per worker, last in first out).
      std::vector<ergon::Pid> probes;
      ergon::Pid heir;
      for (unsigned k = 0; !heir && probes.size() < kMaxProbes; ++k) {
        ergon::move_to_worker(k);
        ergon::Pid p = ergon::spawn([me] {
          Verdict verdict = ergon::receive<Verdict>();
          if (!verdict.check) return;
          ergon::send(me, ergon::receive([](Stale) { return true; },
                                         ergon::after(0ms, [] { return false; })));
        });
        probes.push_back(p);
        if (p.index() == victim.index()) heir = p;
      }
      ASSERT_TRUE(static_cast<bool>(heir)) << "no process reused the victim's slot";
      ++reused;
      EXPECT_NE(heir.generation(), victim.generation());
      std::uint64_t before = runtime().stats().messages_dropped;
      for (int i = 0; i < 3; ++i) ergon::send(victim, Stale{});
      dropped += runtime().stats().messages_dropped - before;
      for (ergon::Pid p : probes) ergon::send(p, Verdict{p == heir});
      stale_received += await<bool>() ? 1 : 0;
    }
  });
  EXPECT_EQ(reused, kVictims);
  EXPECT_EQ(stale_received, 0);
  EXPECT_EQ(dropped, 3u * kVictims);
}

TEST_P(Process, ShortLivedProcessesReuseSlots) {
  const int kProcesses = ergon_test::scaled(2'000, 300);
  std::size_t distinct_indexes = 0;
  // The watchdog off: under tsan a slice can outlast preempt_after, and a child asked to
  // yield at its send ends after the next spawn, which then takes another record.
  ergon::Options o = options();
  o.watchdog_tick = std::chrono::microseconds(0);
  runtime(o);
  run([&] {
    ergon::Pid me = ergon::self();
    std::unordered_set<std::uint32_t> indexes;
    for (int i = 0; i < kProcesses; ++i) {
      ergon::Pid p = ergon::spawn([me] { ergon::send(me, Done{}); });
      indexes.insert(p.index());
      await<Done>();
    }
    distinct_indexes = indexes.size();
  });
  // Each process ends soon after it reports, and its record is recycled by the next spawns.
  EXPECT_LT(distinct_indexes, static_cast<std::size_t>(kProcesses) / 2);
}

TEST_P(Process, SendsToAnEndedProcessAreDroppedAndCounted) {
  std::uint64_t dropped = 0;
  run([&] {
    ergon::Pid gone = ergon::spawn([] {});
    yield_until([&] { return runtime().stats().processes_alive == 1; });
    std::uint64_t before = runtime().stats().messages_dropped;
    for (int i = 0; i < 10; ++i) ergon::send(gone, i);
    ergon::send(ergon::Pid{}, 1);  // names no process
    dropped = runtime().stats().messages_dropped - before;
  });
  EXPECT_EQ(dropped, 11u);
}

// Regression (found by this suite, fixed in 8853824): a drop from a thread outside the
// runtime was counted nowhere once finish() had cleared the record's `sched`.
TEST_P(Process, ASendFromOutsideTheRuntimeToAnEndedProcessIsCounted) {
  ergon::Pid gone;
  run([&] {
    gone = ergon::spawn([] {});
    yield_until([&] { return runtime().stats().processes_alive == 1; });
  });
  std::uint64_t before = stats().messages_dropped;
  ergon::send(gone, 1);
  EXPECT_EQ(stats().messages_dropped, before + 1);
}

// --- stacks and statistics -----------------------------------------------------------------

TEST_P(Process, APerSpawnStackSizeAllowsLargeFrames) {
  long sum = -1;
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::spawn(
        [me] {
          constexpr std::size_t kBig = 512 * 1024;
          volatile char big[kBig];
          for (std::size_t i = 0; i < kBig; i += 512) big[i] = 1;
          long s = 0;
          for (std::size_t i = 0; i < kBig; i += 512) s += big[i];
          ergon::send(me, s);
        },
        ergon::SpawnOptions{.stack_size = 1 << 20});
    sum = await<long>();
  });
  EXPECT_EQ(sum, 1024);
}

TEST_P(Process, ATinyPerSpawnStackIsRoundedUpToAUsableOne) {
  int got = 0;
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::spawn([me] { ergon::send(me, 5); }, ergon::SpawnOptions{.stack_size = 1});
    got = await<int>();
  });
  EXPECT_EQ(got, 5);
}

TEST_P(Process, StatsCountSpawnsAndMessages) {
  const int kSenders = 10;
  const int kEach = 20;
  run([&] {
    ergon::Pid me = ergon::self();
    for (int s = 0; s < kSenders; ++s) {
      ergon::spawn([me] {
        for (int i = 0; i < kEach; ++i) ergon::send(me, i);
      });
    }
    for (int i = 0; i < kSenders * kEach; ++i) await<int>();
  });
  ergon::Stats s = stats();
  EXPECT_EQ(s.processes_spawned, static_cast<std::uint64_t>(kSenders) + 1);
  EXPECT_EQ(s.messages_sent, static_cast<std::uint64_t>(kSenders * kEach));
  EXPECT_EQ(s.messages_dropped, 0u);
  EXPECT_EQ(s.processes_crashed, 0u);
  EXPECT_EQ(s.workers.size(), workers());
  EXPECT_GE(s.stacks_mapped, 1u);
  std::uint64_t runs = 0;
  for (const ergon::WorkerStats& w : s.workers) runs += w.processes_run;
  EXPECT_GE(runs, static_cast<std::uint64_t>(kSenders) + 1);
}

}  // namespace

namespace {

// Senders keep sending to a process while it ends: each message is either received, dropped
// at the send, or freed with the mailbox; none may stay behind in the freed record.
//
// Regression (found by this suite, fixed in 8853824): finish() reopened the mailbox right
// after bumping the generation, so a sender that had read the old generation could push
// into the free record's inbox, where the envelope stayed (counted as sent, never dropped)
// until the slot was reused. Caught in about half of the tsan runs with 4 workers.
TEST_P(Process, SendsRacingWithTheEndOfTheReceiverLeakNothing) {
  const int kRounds = ergon_test::scaled(300, 150);
  const int kSenders = 3;
  run([&] {
    ergon::Pid me = ergon::self();
    for (int round = 0; round < kRounds; ++round) {
      ergon::Pid victim = ergon::spawn([] { ergon::receive<Stop>(); });
      for (int s = 0; s < kSenders; ++s) {
        ergon::spawn([me, victim] {
          for (int i = 0; i < 200; ++i) ergon::send(victim, i);
          ergon::send(me, Done{});
        });
      }
      ergon::send(victim, Stop{});
      for (int s = 0; s < kSenders; ++s) await<Done>();
    }
  });
}

}  // namespace
