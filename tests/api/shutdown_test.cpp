// Shutdown's deadline (Options::shutdown_timeout; api/shutdown.hpp, core/scheduler.hpp SD1..SD7):
// processes that refuse to end are named, run() throws ShutdownTimeout, ~Runtime reports them
// and abandons the runtime, and nothing hangs without a word.
//
// No test measures time. Each refuser loops until the test releases it (after run() has
// thrown), with an escape hatch that turns a hang into a failure.
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon_test::contains;

constexpr auto kEscape = 60s;  // how long a refuser refuses if nobody releases it

// A refuser tells the test it has begun refusing with `started` (an atomic, not a message):
// between that and its refusing loop it must reach no reduction point, or the kill that the
// main's end sends could land there, outside the loop, and end it properly.

// Catches every exception, the runtime's kill included, and goes on computing with a reduction
// point at every step, until `release`.
void catch_everything_until(const std::atomic<bool>& release, std::atomic<int>& started) {
  const auto end = std::chrono::steady_clock::now() + kEscape;
  started.fetch_add(1, std::memory_order_release);
  for (;;) {
    try {
      while (!release.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < end) {
        ergon::checkpoint();
      }
      return;
    } catch (...) {  // swallows the kill: what the shutdown must survive
    }
  }
}

// Reaches no reduction point until `release`.
void spin_until(const std::atomic<bool>& release, std::atomic<int>& started) {
  const auto end = std::chrono::steady_clock::now() + kEscape;
  started.fetch_add(1, std::memory_order_release);
  while (!release.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < end) {
  }
}

// In the main process: waits until `n` refusers have started. It polls, since an atomic wakes
// nobody; sleep_for leaves the worker to the refusers meanwhile.
void await_started(const std::atomic<int>& started, int n) {
  const auto until = std::chrono::steady_clock::now() + ergon_test::patience();
  while (started.load(std::memory_order_acquire) < n) {
    if (std::chrono::steady_clock::now() > until)
      throw std::runtime_error("a refuser never started");
    ergon::sleep_for(1ms);
  }
}

// Counts down, at the end of a refuser's function, the refusers still in it. The acq_rel
// decrement, acquired by the test's wait, orders the refuser's reads of the test's locals
// before the test's frame goes (the runtime's own counts are relaxed statistics).
struct Counted {
  std::atomic<int>& n;
  ~Counted() { n.fetch_sub(1, std::memory_order_acq_rel); }
};

// Polls until every refuser has left its function and `rt` (if given) has no process left;
// false after patience().
bool all_ended(const std::atomic<int>& running, ergon::Runtime* rt) {
  const auto until = std::chrono::steady_clock::now() + ergon_test::patience();
  while (running.load(std::memory_order_acquire) != 0 ||
         (rt != nullptr && rt->stats().processes_alive != 0)) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

class Shutdown : public ergon_test::RuntimeTest {
 protected:
  ergon::Options options() const {
    ergon::Options o = RuntimeTest::options();
    o.shutdown_timeout = 200ms;
    o.on_stall = [](const ergon::StallReport&) {};  // the spinner's stall is expected
    return o;
  }
};
INSTANTIATE_TEST_SUITE_P(Workers, Shutdown, testing::Values(1u, 2u), ergon_test::worker_count_name);

TEST_P(Shutdown, RunThrowsNamingAProcessThatCatchesTheKillAndOneWithNoReductionPoint) {
  ergon::Runtime& rt = runtime(options());
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  std::atomic<int> running{2};
  ergon::Pid catcher, spinner;
  std::string what;
  std::vector<ergon::Pid> refused;
  try {
    rt.run([&] {
      catcher = ergon::spawn([&] {
        Counted c{running};
        ergon::register_name("catcher", ergon::self());
        catch_everything_until(release, started);
      });
      spinner = ergon::spawn([&] {
        Counted c{running};
        spin_until(release, started);
      });
      await_started(started, 2);
    });
    ADD_FAILURE() << "run() returned although two processes refused to end";
  } catch (const ergon::ShutdownTimeout& e) {
    what = e.what();
    refused = e.refused();
  }
  EXPECT_TRUE(contains(what, catcher.to_string() + " \"catcher\"")) << what;
  EXPECT_TRUE(contains(what, spinner.to_string())) << what;
  EXPECT_TRUE(contains(what, "catches the kill")) << what;
  EXPECT_TRUE(contains(what, "reached no reduction point")) << what;
  EXPECT_TRUE(contains(what, "ERGON_SHUTDOWN_TIMEOUT")) << what;
  EXPECT_TRUE(contains(what, ": 2 processes of this runtime did not end")) << what;
  EXPECT_EQ(refused.size(), 2u) << what;
  // Left running, still killed: released, both end, and the runtime ends clean (the fixture
  // checks that no process, stack or envelope is left).
  release.store(true, std::memory_order_release);
  EXPECT_TRUE(all_ended(running, &rt));
}

TEST_P(Shutdown, AfterAFailedMainRunRethrowsItsErrorAndPrintsTheRefusers) {
  ergon::Runtime& rt = runtime(options());
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  std::atomic<int> running{1};
  ergon::Pid catcher;
  testing::internal::CaptureStderr();
  try {
    rt.run([&] {
      catcher = ergon::spawn([&] {
        Counted c{running};
        catch_everything_until(release, started);
      });
      await_started(started, 1);
      throw std::runtime_error("main failed");
    });
    ADD_FAILURE() << "run() returned although main threw";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "main failed");
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(err, catcher.to_string())) << err;
  EXPECT_TRUE(contains(err, "main process's exception")) << err;
  release.store(true, std::memory_order_release);
  EXPECT_TRUE(all_ended(running, &rt));
}

// The destructor cannot throw: it prints the report and returns, leaving the runtime (its
// threads, its memory) to the processes that refuse. Released later, they still end properly.
TEST(ShutdownAbandon, TheDestructorNamesTheRefusersAndReturnsWithoutDestroyingThem) {
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  std::atomic<int> running{2};  // refusers whose function has not returned
  ergon::Pid catcher, spinner;
  ergon::Options o;
  o.workers = 1;
  o.shutdown_timeout = 100ms;
  o.on_stall = [](const ergon::StallReport&) {};
  auto rt = std::make_unique<ergon::Runtime>(o);
  EXPECT_THROW(rt->run([&] {
    catcher = ergon::spawn([&] {
      Counted c{running};
      catch_everything_until(release, started);
    });
    spinner = ergon::spawn([&] {
      Counted c{running};
      spin_until(release, started);
    });
    await_started(started, 2);
  }),
               ergon::ShutdownTimeout);
  testing::internal::CaptureStderr();
  rt.reset();  // waits shutdown_timeout again, reports, and returns
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(err, "ergon::Runtime::~Runtime")) << err;
  EXPECT_TRUE(contains(err, catcher.to_string())) << err;
  EXPECT_TRUE(contains(err, spinner.to_string())) << err;
  EXPECT_TRUE(contains(err, "abandoned")) << err;
  EXPECT_EQ(running.load(), 2);
  release.store(true, std::memory_order_release);
  EXPECT_TRUE(all_ended(running, nullptr)) << "the abandoned processes did not end once released";
}

// Deterministic mode: the one thread runs the refuser in the shutdown; the deadline stops it.
TEST(ShutdownDeterministic, RunThrowsNamingAProcessThatCatchesTheKill) {
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  ergon::Pid catcher;
  ergon::Options o;
  o.workers = 2;
  o.deterministic = true;
  o.shutdown_timeout = 200ms;
  {
    ergon::Runtime rt(o);
    const std::string what = ergon_test::what_of<ergon::ShutdownTimeout>([&] {
      rt.run([&] {
        catcher = ergon::spawn([&] { catch_everything_until(release, started); });
        await_started(started, 1);
      });
    });
    EXPECT_TRUE(contains(what, catcher.to_string())) << what;
    EXPECT_TRUE(contains(what, "catches the kill")) << what;
    release.store(true, std::memory_order_release);
  }  // ~Runtime runs it to its end
}

TEST(ShutdownOptions, TheDefaultIsFiveSecondsAndANegativeTimeoutIsRejected) {
  EXPECT_EQ(ergon::Options{}.shutdown_timeout, 5s);
  ergon::Options o;
  o.shutdown_timeout = -1ms;
  const std::string what = ergon_test::what_of<ergon::ConfigError>([&] { ergon::Runtime rt(o); });
  EXPECT_TRUE(contains(what, "shutdown_timeout")) << what;
  EXPECT_TRUE(contains(what, "ERGON_SHUTDOWN_TIMEOUT")) << what;
}

}  // namespace
