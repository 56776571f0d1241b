// Processes moving between workers in the middle of a function (ergon::move_to_worker): the
// process resumes on the worker it asked for, on that worker's thread; its stack (locals, a
// reference to a stack object, values computed only on the stack) survives every move; the
// C++ exception state travels with it (a process that blocks or moves inside a catch block
// can still rethrow, and std::uncaught_exceptions() is its own); messages and timers follow it.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ergon/ergon.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon_test::await;

// The thread running the caller, read afresh on every call: pthread_self() is declared
// `const`, so the compiler may reuse one call's result across a switch; this wrapper is opaque.
[[gnu::noipa]] std::thread::id current_thread_id() { return std::this_thread::get_id(); }

struct MoveReport {
  int wrong_worker = 0;    // worker_id() after a move was not the requested one
  int corrupted = 0;       // stack data changed across a move
  int thread_changed = 0;  // a worker id was seen on two different threads
  std::vector<std::thread::id> thread_of_worker;  // by worker id; default id: never visited
};

struct StackObject {
  std::array<std::uint64_t, 32> words;
  std::string text;
};

// Moves `moves` times over every worker, checking its stack after each move.
MoveReport wander(unsigned workers, int moves, unsigned salt) {
  MoveReport r;
  r.thread_of_worker.resize(workers);
  StackObject object;
  for (std::size_t i = 0; i < object.words.size(); ++i) object.words[i] = i * 0x9e3779b97f4a7c15ull;
  object.text = "lives on the stack of process " + std::to_string(salt);
  const std::string text_copy = object.text;
  StackObject& ref = object;
  std::uint64_t lcg = salt;  // computed on the stack only, independent of any thread_local
  std::uint64_t mirror[32];
  for (std::size_t i = 0; i < 32; ++i) mirror[i] = object.words[i];
  for (int i = 0; i < moves; ++i) {
    const unsigned target = static_cast<unsigned>(i) * 7 + salt;
    ergon::move_to_worker(target);
    const unsigned here = ergon::worker_id();
    if (here != target % workers) ++r.wrong_worker;
    std::thread::id& seen = r.thread_of_worker.at(here);
    if (seen == std::thread::id()) seen = current_thread_id();
    if (seen != current_thread_id()) ++r.thread_changed;
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    ref.words[i % 32] += lcg;
    mirror[i % 32] += lcg;
    for (std::size_t k = 0; k < 32; ++k) {
      if (object.words[k] != mirror[k]) ++r.corrupted;
    }
    if (ref.text != text_copy) ++r.corrupted;
  }
  std::uint64_t check = salt;
  for (int i = 0; i < moves; ++i) check = check * 6364136223846793005ull + 1442695040888963407ull;
  if (check != lcg) ++r.corrupted;
  return r;
}

class Migration : public ergon_test::RuntimeTest {
 protected:
  // Runs `movers` processes that each wander `moves` times at once; returns their reports.
  std::vector<MoveReport> wander_together(int movers, int moves) {
    std::vector<MoveReport> reports;
    // Without the watchdog: a hand-off (a slow slice under tsan, or a descheduled thread)
    // legitimately moves a worker to another thread, which the one-to-one check below forbids.
    ergon::Options o = options();
    o.watchdog_tick = std::chrono::microseconds(0);
    runtime(o);
    run([&] {
      ergon::Pid me = ergon::self();
      const unsigned workers = GetParam();
      for (int m = 0; m < movers; ++m) {
        ergon::spawn([me, workers, moves, m] {
          ergon::send(me, wander(workers, moves, static_cast<unsigned>(m)));
        });
      }
      for (int m = 0; m < movers; ++m) reports.push_back(ergon_test::await<MoveReport>());
    });
    return reports;
  }
};
ERGON_INSTANTIATE_WORKERS(Migration);

// What must hold after a wander: the stack survived, every worker was visited, worker ids
// and threads correspond one to one. (Where the process resumed is checked separately, in
// DISABLED_AProcessResumesOnTheWorkerItMovedTo.)
void expect_good_wander(const MoveReport& r, unsigned workers) {
  EXPECT_EQ(r.corrupted, 0) << "stack data changed across moves";
  EXPECT_EQ(r.thread_changed, 0) << "worker_id() named a worker running on another thread";
  std::set<std::thread::id> distinct;
  for (unsigned w = 0; w < workers; ++w) {
    EXPECT_NE(r.thread_of_worker[w], std::thread::id()) << "worker " << w << " never visited";
    distinct.insert(r.thread_of_worker[w]);
  }
  EXPECT_EQ(distinct.size(), workers) << "each worker has its own thread";
}

TEST_P(Migration, AProcessKeepsItsStackAcrossMovesBetweenWorkers) {
  const int kMoves = ergon_test::scaled(2'000, 300);
  MoveReport report;
  run([&] { report = wander(GetParam(), kMoves, 1); });
  expect_good_wander(report, GetParam());
}

TEST_P(Migration, ManyProcessesMoveAtOnce) {
  const int kMovers = 8;
  const int kMoves = ergon_test::scaled(500, 100);
  std::vector<MoveReport> reports = wander_together(kMovers, kMoves);
  ASSERT_EQ(reports.size(), static_cast<std::size_t>(kMovers));
  for (const MoveReport& r : reports) expect_good_wander(r, GetParam());
}

// Regression: a moved process was handed to worker k's run queue (and later its runnext, from
// where it could be displaced) and a searching worker could steal it before it ran, so it
// resumed elsewhere. Moved processes now wait in k's owner-only pinned list.
TEST_P(Migration, AProcessResumesOnTheWorkerItMovedTo) {
  const int kMoves = ergon_test::scaled(2'000, 300);
  const int kMovers = 4;
  std::vector<MoveReport> reports = wander_together(kMovers, kMoves);
  for (const MoveReport& r : reports) {
    EXPECT_EQ(r.wrong_worker, 0) << "moves that resumed on another worker than requested";
  }
}

struct Go {};
struct CatchResult {
  int id;
  bool rethrew_its_own;  // `throw;` rethrew this process's exception
  bool same_exception;   // std::current_exception() was still the caught one
};

TEST_P(Migration, RethrowWorksAfterBlockingAndMovingInsideACatchBlock) {
  const int kProcesses = 8;
  std::vector<CatchResult> results;
  run([&] {
    ergon::Pid me = ergon::self();
    std::vector<ergon::Pid> pids;
    for (int id = 0; id < kProcesses; ++id) {
      pids.push_back(ergon::spawn([me, id] {
        CatchResult r{id, false, false};
        try {
          throw std::runtime_error("error " + std::to_string(id));
        } catch (const std::runtime_error&) {
          std::exception_ptr first = std::current_exception();
          // Others throw and catch their own exceptions on the same workers meanwhile.
          for (int i = 0; i < 10; ++i) {
            ergon::move_to_worker(static_cast<unsigned>(id + i));
            ergon::yield();
          }
          ergon::send(me, id);
          ergon::receive<Go>();  // blocked inside the catch block
          ergon::move_to_worker(static_cast<unsigned>(id) + 1);
          r.same_exception = std::current_exception() == first;
          try {
            throw;
          } catch (const std::runtime_error& again) {
            r.rethrew_its_own = again.what() == "error " + std::to_string(id);
          }
        }
        ergon::send(me, r);
      }));
    }
    for (int i = 0; i < kProcesses; ++i) await<int>();
    for (ergon::Pid p : pids) ergon::send(p, Go{});
    for (int i = 0; i < kProcesses; ++i) results.push_back(await<CatchResult>());
  });
  ASSERT_EQ(results.size(), static_cast<std::size_t>(kProcesses));
  for (const CatchResult& r : results) {
    EXPECT_TRUE(r.rethrew_its_own) << "process " << r.id;
    EXPECT_TRUE(r.same_exception) << "process " << r.id;
  }
}

// A destructor that runs during unwinding, and moves and yields there.
struct MovesWhileUnwinding {
  unsigned target;
  int& before;
  int& after;
  ~MovesWhileUnwinding() {
    before = std::uncaught_exceptions();
    ergon::move_to_worker(target);
    ergon::yield();
    after = std::uncaught_exceptions();
  }
};

TEST_P(Migration, UncaughtExceptionsTravelWithTheProcess) {
  const int kProcesses = 6;
  std::vector<std::pair<int, int>> counts;
  int outside = -1;
  run([&] {
    ergon::Pid me = ergon::self();
    for (int id = 0; id < kProcesses; ++id) {
      ergon::spawn([me, id] {
        int before = -1, after = -1;
        bool caught = false;
        try {
          MovesWhileUnwinding m{static_cast<unsigned>(id) + 1, before, after};
          throw std::runtime_error("unwinding");
        } catch (const std::runtime_error&) {
          caught = true;
        }
        ergon::send(me, std::make_pair(caught ? before : -2, after));
      });
    }
    for (int i = 0; i < kProcesses; ++i) counts.push_back(await<std::pair<int, int>>());
    outside = std::uncaught_exceptions();
  });
  for (auto [before, after] : counts) {
    EXPECT_EQ(before, 1);
    EXPECT_EQ(after, 1) << "the in-flight exception count did not follow the process";
  }
  EXPECT_EQ(outside, 0) << "another process's unwinding leaked into the main process";
}

TEST_P(Migration, MessagesAndTimersFollowAMovingProcess) {
  const int kMessages = ergon_test::scaled(2'000, 300);
  int out_of_order = 0;
  int received = 0;
  run([&] {
    ergon::Pid me = ergon::self();
    ergon::Pid mover = ergon::spawn([me, kMessages] {
      int next = 0;
      int bad = 0;
      for (unsigned i = 0; next < kMessages; ++i) {
        ergon::move_to_worker(i);
        // Sometimes arm a timer on this worker, sometimes wait without one.
        int v = (i % 3 == 0)
                    ? ergon::receive([](int v) { return v; }, ergon::after(50us, [] { return -1; }))
                    : ergon::receive([](int v) { return v; });
        if (v == -1) continue;
        if (v != next) ++bad;
        next = v + 1;
      }
      ergon::send(me, std::make_pair(next, bad));
    });
    ergon::spawn([mover, kMessages] {
      for (int i = 0; i < kMessages; ++i) {
        ergon::send(mover, i);
        if (i % 5 == 0) ergon::yield();
      }
    });
    auto [n, bad] = await<std::pair<int, int>>();
    received = n;
    out_of_order = bad;
  });
  EXPECT_EQ(received, kMessages);
  EXPECT_EQ(out_of_order, 0);
}

}  // namespace
