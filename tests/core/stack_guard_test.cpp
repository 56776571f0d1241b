// The stack guard.
//
// Against stack clash: a frame larger than the whole stack, in code built without
// -fstack-clash-protection (tests/fixtures/stack_clash.cpp), moves the stack pointer past the
// stack's end in one step. Its first store must fault in the guard zone below the stack and be
// reported as an overflow of the process that made the frame, never land in the neighbouring
// process's stack. The fixture runs as a child program because the report ends it.
//
// Options::on_stack_overflow = kEndProcess: an overflowing process ends alone, with reason
// stack_overflow, and the runtime goes on: its monitors get Down, its links the exit signal, a
// nursery the failure, run() the main process's; overflow after overflow, inside
// ergon::blocking too, in deterministic mode too. Where ending it alone is unsafe the program
// still aborts and says why (tests/fixtures/stack_overflow.cpp, a program of its own for the
// same reason as stack_clash; it also runs the sanitized builds, where the option falls back).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <climits>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace {

using ergon_test::await;
using ergon_test::contains;
using ergon_test::field;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;  // ASAN or TSAN: kEndProcess falls back to the abort
#else
constexpr bool kSanitized = false;
#endif
constexpr const char* kSanitizedSkip =
    "ASAN and TSAN track every stack themselves: in their builds on_stack_overflow = "
    "end_process aborts as abort does (the fixture tests below check that)";

struct ClashCase {
  long frame;  // bytes of the local array
  unsigned workers;
  friend void PrintTo(const ClashCase& c, std::ostream* os) {
    *os << c.frame << "-byte frame, " << c.workers << " workers";
  }
};

std::string clash_name(const testing::TestParamInfo<ClashCase>& info) {
  return std::to_string(info.param.frame) + "Bytes" + std::to_string(info.param.workers) +
         "Workers";
}

class StackClash : public testing::TestWithParam<ClashCase> {};
INSTANTIATE_TEST_SUITE_P(Frames, StackClash,
                         testing::Values(ClashCase{70000, 1}, ClashCase{200000, 1},
                                         ClashCase{70000, 2}, ClashCase{200000, 4}),
                         clash_name);

TEST_P(StackClash, AFrameLargerThanTheStackIsReportedAsAnOverflowOfItsProcess) {
  const std::string fixture = ergon_test::fixture_path("stack_clash");
  ASSERT_EQ(::access(fixture.c_str(), X_OK), 0) << fixture << " is not built";
  int status = -1;
  const std::string out =
      ergon_test::run_command(fixture + " " + std::to_string(GetParam().frame) + " " +
                                  std::to_string(GetParam().workers) + " 2>&1",
                              &status);
  const std::string victim = field(out, "victim");
  ASSERT_FALSE(victim.empty()) << out;
  EXPECT_FALSE(contains(out, "survived")) << "the frame jumped over the guard:\n" << out;
  EXPECT_TRUE(contains(out, "ergon: process " + victim + " overflowed its stack of 64 KiB")) << out;
  // Ended by the report's abort: the shell either passes the signal on or exits 128 + 6.
  const bool aborted = (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) ||
                       (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGABRT);
  EXPECT_TRUE(aborted) << "status " << status << "\n" << out;
}

// --- Options::on_stack_overflow, in a program of its own (tests/fixtures/stack_overflow) -------

struct FixtureRun {
  std::string out;  // stdout and stderr
  int status = -1;
  bool aborted() const {  // the shell either passes the signal on or exits 128 + 6
    return (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) ||
           (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGABRT);
  }
  bool exited_0() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

// `option`: the value of ERGON_STACK_OVERFLOW, or nullptr to leave it unset.
FixtureRun run_overflow_fixture(const char* option, const char* mode, unsigned workers) {
  const std::string fixture = ergon_test::fixture_path("stack_overflow");
  EXPECT_EQ(::access(fixture.c_str(), X_OK), 0) << fixture << " is not built";
  const std::string env = option != nullptr ? std::string("env ERGON_STACK_OVERFLOW=") + option
                                            : std::string("env -u ERGON_STACK_OVERFLOW");
  FixtureRun r;
  r.out = ergon_test::run_command(
      env + " " + fixture + " " + mode + " " + std::to_string(workers) + " 2>&1", &r.status);
  return r;
}

constexpr const char* kReport = "overflowed its stack of 64 KiB (a frame reached";
constexpr const char* kCannot =
    "ergon: Options::on_stack_overflow is end_process, but this "
    "process cannot be ended alone: ";
constexpr const char* kSanitizedWhy = "this build has AddressSanitizer or ThreadSanitizer";

class OverflowFixture : public testing::TestWithParam<unsigned> {};
INSTANTIATE_TEST_SUITE_P(Workers, OverflowFixture, testing::Values(1u, 2u),
                         ergon_test::worker_count_name);

TEST_P(OverflowFixture, EndProcessFromTheEnvironmentEndsOnlyTheProcess) {
  const FixtureRun r = run_overflow_fixture("end_process", "plain", GetParam());
  if (kSanitized) {  // the fallback: the report, why, and the abort
    EXPECT_TRUE(r.aborted()) << "status " << r.status << "\n" << r.out;
    EXPECT_TRUE(contains(r.out, kReport)) << r.out;
    EXPECT_TRUE(contains(r.out, std::string(kCannot) + kSanitizedWhy)) << r.out;
    return;
  }
  EXPECT_TRUE(r.exited_0()) << "status " << r.status << "\n" << r.out;
  EXPECT_TRUE(contains(r.out, "down=stack_overflow")) << r.out;
  EXPECT_TRUE(contains(r.out, "survived")) << r.out;
  EXPECT_TRUE(contains(r.out, std::string("crash: stack_overflow: ") + kReport)) << r.out;
}

TEST_P(OverflowFixture, TheDefaultStillAborts) {
  for (const char* option : {static_cast<const char*>(nullptr), "abort"}) {
    SCOPED_TRACE(option != nullptr ? option : "(unset)");
    const FixtureRun r = run_overflow_fixture(option, "plain", GetParam());
    EXPECT_TRUE(r.aborted()) << "status " << r.status << "\n" << r.out;
    EXPECT_TRUE(contains(r.out, std::string("ergon: process <0."))) << r.out;
    EXPECT_TRUE(contains(r.out, kReport)) << r.out;
    EXPECT_FALSE(contains(r.out, kCannot)) << r.out;
    EXPECT_FALSE(contains(r.out, "down=")) << r.out;
  }
}

TEST_P(OverflowFixture, UnsafeOverflowsStillAbortAndSayWhy) {
  struct Case {
    const char* mode;
    const char* why;
  };
  for (const Case c : {Case{"nursery",
                            "it has a nursery open, whose children refer to the "
                            "nursery on its stack"},
                       Case{"unwinding", "an exception was propagating through it"},
                       Case{"libc", "the fault came inside libc.so"}}) {
    SCOPED_TRACE(c.mode);
    const FixtureRun r = run_overflow_fixture("end_process", c.mode, GetParam());
    EXPECT_TRUE(r.aborted()) << "status " << r.status << "\n" << r.out;
    EXPECT_TRUE(contains(r.out, kReport)) << r.out;
    EXPECT_TRUE(contains(r.out, std::string(kCannot) + (kSanitized ? kSanitizedWhy : c.why)))
        << r.out;
    EXPECT_FALSE(contains(r.out, "down=")) << r.out;
  }
}

// --- Options::on_stack_overflow = kEndProcess, in this process ------------------------------

// Recurses until the stack runs out: each level keeps a 1 KiB frame (volatile, written at both
// ends) and adds after the call, so the recursion is neither a loop nor cut short.
volatile long g_depth_limit = LONG_MAX;

[[gnu::noinline]] long deep(long depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  frame[sizeof frame - 1] = static_cast<char>(depth);
  if (depth == g_depth_limit) return depth;
  return deep(depth + 1) + frame[0] + frame[sizeof frame - 1];
}

struct Go {};
struct Ping {
  ergon::Pid from;
};

// Overflows once it receives Go.
void overflow_on_go() {
  (void)ergon::receive([](Go) {});
  (void)deep(0);
}

class EndProcessOnOverflow : public ergon_test::RuntimeTest {
 protected:
  void SetUp() override {
    RuntimeTest::SetUp();
    if (kSanitized) GTEST_SKIP() << kSanitizedSkip;
    ergon::Options o = options();
    o.on_stack_overflow = ergon::OnStackOverflow::kEndProcess;
    o.on_crash = [this](ergon::Pid pid, const std::string& what) {
      std::lock_guard<std::mutex> g(mu_);
      reports_.push_back(pid.to_string() + " " + what);
    };
    runtime(o);
  }
  std::vector<std::string> reports() {
    std::lock_guard<std::mutex> g(mu_);
    return reports_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> reports_;
};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(EndProcessOnOverflow);

// A process that answers Ping until the end: proof that the runtime still runs processes.
ergon::Pid echo() {
  return ergon::spawn([] {
    for (;;) ergon::receive([](const Ping& p) { ergon::send(p.from, 42); });
  });
}

TEST_P(EndProcessOnOverflow, AMonitorGetsDownWithReasonStackOverflowAndTheRuntimeGoesOn) {
  ergon::Pid victim;
  run([&] {
    const ergon::Pid e = echo();
    victim = ergon::spawn(overflow_on_go);
    const ergon::Ref ref = ergon::monitor(victim);
    ergon::send(victim, Go{});
    const ergon::Down d = await<ergon::Down>();
    EXPECT_EQ(d.ref, ref);
    EXPECT_EQ(d.pid, victim);
    EXPECT_TRUE(d.reason.is_stack_overflow()) << d.reason.to_string();
    EXPECT_EQ(d.reason.to_string(), "stack_overflow");
    // The echo, spawned before, and a process spawned after, both still run.
    ergon::send(e, Ping{ergon::self()});
    EXPECT_EQ(await<int>(), 42);
    const ergon::Pid later = echo();
    ergon::send(later, Ping{ergon::self()});
    EXPECT_EQ(await<int>(), 42);
  });
  EXPECT_EQ(stats().processes_crashed, 1u);
  const std::vector<std::string> r = reports();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(
      contains(r[0], victim.to_string() + " stack_overflow: overflowed its stack of 64 KiB"))
      << r[0];
  EXPECT_TRUE(contains(r[0], "ended alone with reason stack_overflow")) << r[0];
}

TEST_P(EndProcessOnOverflow, ALinkedProcessGetsTheExitSignal) {
  run([] {
    // A partner that traps exits gets Exit{victim, stack_overflow}.
    (void)ergon::trap_exits(true);
    const ergon::Pid victim = ergon::spawn_link(overflow_on_go);
    ergon::send(victim, Go{});
    const ergon::Exit x = await<ergon::Exit>();
    EXPECT_EQ(x.from, victim);
    EXPECT_TRUE(x.reason.is_stack_overflow()) << x.reason.to_string();
    (void)ergon::trap_exits(false);

    // One that does not trap ends with the same reason, which its monitor sees.
    const ergon::Pid main = ergon::self();
    const ergon::Pid middle = ergon::spawn([main] {
      const ergon::Pid v = ergon::spawn_link(overflow_on_go);
      ergon::send(main, v);
      (void)ergon::receive([](Go) {});  // never comes: the link's signal ends it
    });
    const ergon::Ref ref = ergon::monitor(middle);
    const ergon::Pid v = await<ergon::Pid>();
    ergon::send(v, Go{});
    const ergon::Down d = await<ergon::Down>();
    EXPECT_EQ(d.ref, ref);
    EXPECT_TRUE(d.reason.is_stack_overflow()) << d.reason.to_string();
  });
  EXPECT_EQ(stats().processes_crashed, 2u);  // the victims; `middle` was ended by a signal
}

TEST_P(EndProcessOnOverflow, OverflowAfterOverflowEachEndsOnlyItsProcess) {
  // One after the other (the handler must be armed again each time: SIGSEGV unblocked), then
  // several at once, on every worker.
  constexpr int kInARow = 10, kAtOnce = 8;
  run([] {
    for (int i = 0; i < kInARow; ++i) {
      const ergon::Pid v = ergon::spawn(overflow_on_go);
      (void)ergon::monitor(v);
      ergon::send(v, Go{});
      const ergon::Down d = await<ergon::Down>();
      ASSERT_TRUE(d.reason.is_stack_overflow()) << "overflow " << i << ": " << d.reason.to_string();
    }
    std::vector<ergon::Pid> vs;
    for (int i = 0; i < kAtOnce; ++i) {
      vs.push_back(ergon::spawn(overflow_on_go));
      (void)ergon::monitor(vs.back());
    }
    for (const ergon::Pid& v : vs) ergon::send(v, Go{});
    for (int i = 0; i < kAtOnce; ++i) {
      const ergon::Down d = await<ergon::Down>();
      EXPECT_TRUE(d.reason.is_stack_overflow()) << d.reason.to_string();
    }
    const ergon::Pid e = echo();
    ergon::send(e, Ping{ergon::self()});
    EXPECT_EQ(await<int>(), 42);
  });
  EXPECT_EQ(stats().processes_crashed, static_cast<std::uint64_t>(kInARow + kAtOnce));
  EXPECT_EQ(reports().size(), static_cast<std::size_t>(kInARow + kAtOnce));
}

TEST_P(EndProcessOnOverflow, AnOverflowInsideBlockingEndsTheProcess) {
  run([] {
    const ergon::Pid v = ergon::spawn([] {
      (void)ergon::receive([](Go) {});
      ergon::blocking([] { (void)deep(0); });
    });
    (void)ergon::monitor(v);
    ergon::send(v, Go{});
    const ergon::Down d = await<ergon::Down>();
    EXPECT_TRUE(d.reason.is_stack_overflow()) << d.reason.to_string();
    // Its worker is back in play (the blocking call had released it).
    const ergon::Pid e = echo();
    ergon::send(e, Ping{ergon::self()});
    EXPECT_EQ(await<int>(), 42);
  });
}

TEST_P(EndProcessOnOverflow, ARegisteredNameIsReleased) {
  run([] {
    const ergon::Pid v = ergon::spawn([] {
      ergon::register_name("deep", ergon::self());
      overflow_on_go();
    });
    (void)ergon::monitor(v);
    // Registered before it waits for Go: ask until the name is there.
    while (ergon::whereis("deep") != v) ergon::yield();
    ergon::send(v, Go{});
    const ergon::Down d = await<ergon::Down>();
    EXPECT_TRUE(d.reason.is_stack_overflow()) << d.reason.to_string();
    EXPECT_FALSE(ergon::whereis("deep"));
  });
}

TEST_P(EndProcessOnOverflow, ANurseryChildsOverflowFailsItsNursery) {
  run([] {
    bool failed = false;
    try {
      ergon::nursery([](ergon::Nursery& n) {
        n.spawn([] { (void)ergon::receive([](Go) {}); });  // cancelled by the failure
        n.spawn([] { (void)deep(0); });
      });
    } catch (const ergon::ChildFailed& e) {
      failed = true;
      EXPECT_TRUE(e.reason().is_stack_overflow()) << e.what();
      EXPECT_TRUE(contains(e.what(), "ended with reason stack_overflow")) << e.what();
    }
    EXPECT_TRUE(failed) << "the nursery returned normally";
  });
}

TEST_P(EndProcessOnOverflow, AMainProcessThatOverflowsMakesRunThrowStackOverflow) {
  ergon::Pid other;
  const std::string w = ergon_test::what_of<ergon::StackOverflow>([&] {
    runtime().run([&] {
      other = echo();  // ended by the shutdown, as after any main
      (void)deep(0);
    });
  });
  EXPECT_TRUE(contains(w, "the main process <0.")) << w;
  EXPECT_TRUE(contains(w, "overflowed its stack of 64 KiB")) << w;
  EXPECT_TRUE(contains(w, "ergon::Options::stack_size / ERGON_STACK_SIZE (for example 256K)")) << w;
  EXPECT_FALSE(runtime().process_info(other));
  expect_no_leaks();
  // The runtime runs another main.
  bool ran = false;
  run([&] { ran = true; });
  EXPECT_TRUE(ran);
}

}  // namespace
