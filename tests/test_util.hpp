// Shared helpers of the ergon test suite: which build variant runs the tests (tsan is about
// ten times slower and caps live fibers, so heavy tests scale down there), the fixture that runs a
// runtime test over several worker counts and checks on tear-down that no process, stack or
// message envelope is left alive, a bounded wait that turns a lost message into a test
// failure instead of a hang, and running the fixture programs (tests/fixtures/).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>

#include "ergon/ergon.hpp"

namespace ergon_test {

// The variant the SConstruct names in ERGON_VARIANT when it runs the suite ("" when the
// binary is started by hand).
inline std::string variant() {
  const char* v = std::getenv("ERGON_VARIANT");
  return v != nullptr ? v : "";
}

// True under asan or tsan: the sanitizers own SIGSEGV, and everything is slower.
inline bool sanitized_variant() {
  const std::string v = variant();
  return v == "asan" || v == "tsan";
}

// True under tsan, which slows processes and context switches down about tenfold, and also
// counts every live fiber as a thread and dies past 8128 of them.
inline bool tsan_variant() { return variant() == "tsan"; }

// `full` in release, debug, asan (with UBSan) and ubsan builds; `reduced` under tsan.
template <class T>
T scaled(T full, T reduced) {
  return tsan_variant() ? reduced : full;
}

// How long a test waits for a message that must come before it calls the run a failure.
// Generous: it only exists to turn a lost message into a failure rather than a hang, and the
// machine is shared.
inline std::chrono::seconds patience() {
  return std::chrono::seconds(sanitized_variant() ? 180 : 60);
}

// Receives the next message of type T, or throws (ending the runtime's run() with an
// exception that the test reports) when none arrives within patience().
template <class T>
T await() {
  std::optional<T> v = ergon::receive_for<T>(patience());
  if (!v) {
    throw std::runtime_error(std::string("timed out waiting for a message of type ") +
                             typeid(T).name());
  }
  return std::move(*v);
}

// What `f` threw as E, or "" (and a failure) when it threw nothing.
template <class E, class F>
std::string what_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception of type " << typeid(E).name();
  return "";
}

// The seed of a seeded test: ERGON_SEED when set (to replay a run), else a random one. Tests
// print it in a SCOPED_TRACE so that a failure names the seed that replays it.
inline std::uint64_t test_seed() {
  if (const char* s = std::getenv("ERGON_SEED")) return std::strtoull(s, nullptr, 10);
  std::random_device rd;
  return (std::uint64_t{rd()} << 32) ^ rd();
}

// Sets an environment variable for the life of the guard, then restores the old value.
class EnvGuard {
 public:
  EnvGuard(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~EnvGuard() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The path of a fixture program (tests/fixtures/<name>.cpp), built beside the suite's binary.
inline std::string fixture_path(const char* name) {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string exe(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  return exe.substr(0, exe.rfind('/')) + "/fixtures/" + name;
}

// The value after "key=" in a fixture's output, up to the next space or newline ("" if none).
inline std::string field(const std::string& text, const std::string& key) {
  const std::size_t at = text.find(key + "=");
  if (at == std::string::npos) return "";
  const std::size_t start = at + key.size() + 1;
  return text.substr(start, text.find_first_of(" \n", start) - start);
}

// Runs `cmd` with /bin/sh and returns what it wrote to stdout; `*status` gets pclose's wait
// status. Add "2>&1" to the command to capture stderr too.
inline std::string run_command(const std::string& cmd, int* status) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, f) != nullptr) out += buf;
  *status = ::pclose(f);
  return out;
}

// Why a test skips its deterministic instances: it needs a thread outside the runtime, or a
// second runtime, running while the deterministic one's thread runs every process.
inline constexpr const char* kNeedsThreads =
    "needs a thread outside the runtime (or a second runtime) to run at the same time";

// Or: it checks real (steady_clock) time, which deterministic mode replaces with a logical
// clock.
inline constexpr const char* kMeasuresRealTime =
    "measures real time; deterministic mode runs on a logical clock";

// The seed of a test instance that runs in deterministic mode or injects faults: ERGON_SEED
// when set (a replay); a fresh random one when ERGON_TEST_SEEDS=random (exploring: run the
// suite many times so, and fix what fails); else one fixed by the test's full name, so that
// every CI run checks the same schedules and a failure there replays as it is. FNV-1a of the
// name.
inline std::uint64_t fixed_test_seed() {
  const char* mode = std::getenv("ERGON_TEST_SEEDS");
  if (std::getenv("ERGON_SEED") != nullptr || (mode != nullptr && std::string(mode) == "random")) {
    return test_seed();
  }
  const testing::TestInfo* t = testing::UnitTest::GetInstance()->current_test_info();
  const std::string name = std::string(t->test_suite_name()) + "." + t->name();
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return h != 0 ? h : 1;
}

// A RuntimeTest parameter with this bit set runs its runtime in deterministic mode
// (Options::deterministic) with the worker count in the low bits.
constexpr unsigned kDeterministic = 0x10000;
constexpr unsigned deterministic(unsigned workers) { return kDeterministic | workers; }

// Names parameterized instances after their worker count: Receive.X/1worker, and
// Receive.X/det4workers in deterministic mode.
inline std::string worker_count_name(const testing::TestParamInfo<unsigned>& info) {
  const unsigned n = info.param & ~kDeterministic;
  return std::string((info.param & kDeterministic) != 0 ? "det" : "") + std::to_string(n) +
         (n == 1 ? "worker" : "workers");
}

// The fixture of every runtime test. The parameter is the worker count. A test creates its
// runtime with runtime() (or lets run() create it), and every run() and the tear-down check
// that the runtime ended every process, returned every stack and freed every envelope that
// this test allocated.
class RuntimeTest : public testing::TestWithParam<unsigned> {
 protected:
  void SetUp() override {
    envelopes_at_start_ = ergon::mailbox::live_envelopes();
    if (is_deterministic()) {
      // A deterministic instance runs with one seed (ERGON_SEED replays it); every failure
      // message of the test names it.
      seed_ = fixed_test_seed();
      seed_trace_.emplace(__FILE__, __LINE__,
                          "deterministic run: ERGON_SEED=" + std::to_string(seed_) +
                              " replays it (add --gtest_filter for this test)");
    }
  }

  void TearDown() override {
    if (rt_ != nullptr) {
      expect_no_leaks();
      rt_.reset();
    }
    EXPECT_EQ(ergon::mailbox::live_envelopes(), envelopes_at_start_)
        << "message envelopes leaked by the runtime's shutdown";
  }

  // Options with this instance's worker count (and deterministic mode with its seed).
  ergon::Options options() const {
    ergon::Options o;
    o.workers = workers();
    if (is_deterministic()) {
      o.deterministic = true;
      o.seed = seed_;
    }
    return o;
  }
  unsigned workers() const { return GetParam() & ~kDeterministic; }
  bool is_deterministic() const { return (GetParam() & kDeterministic) != 0; }

  // Replaces the runtime of this test with one made from `o`.
  ergon::Runtime& runtime(ergon::Options o) {
    if (rt_ != nullptr) expect_no_leaks();
    rt_.reset();
    rt_ = std::make_unique<ergon::Runtime>(std::move(o));
    return *rt_;
  }
  ergon::Runtime& runtime() { return rt_ != nullptr ? *rt_ : runtime(options()); }

  // Runs `main_fn` as the main process of this test's runtime, then checks for leaks.
  template <class F>
  void run(F&& main_fn) {
    runtime().run(std::forward<F>(main_fn));
    expect_no_leaks();
  }

  ergon::Stats stats() { return runtime().stats(); }

  // After run() returned: no process, stack or envelope is left alive.
  void expect_no_leaks() {
    ergon::Stats s = rt_->stats();
    EXPECT_EQ(s.processes_alive, 0u) << "processes left alive after run()";
    EXPECT_EQ(s.stacks_in_use, 0u) << "stacks not returned after run()";
    EXPECT_EQ(ergon::mailbox::live_envelopes(), envelopes_at_start_) << "message envelopes leaked";
  }

  std::int64_t envelopes_at_start_ = 0;
  std::uint64_t seed_ = 0;  // deterministic instances only
  std::optional<testing::ScopedTrace> seed_trace_;

 private:
  std::unique_ptr<ergon::Runtime> rt_;
};

// A RuntimeTest whose runtime reports no crashes: for suites where processes crash on purpose
// (links, supervisors, the tree stress).
class QuietCrashTest : public RuntimeTest {
 protected:
  void SetUp() override {
    RuntimeTest::SetUp();
    ergon::Options o = options();
    o.on_crash = [](ergon::Pid, const std::string&) {};  // crashes are the point here
    runtime(o);
  }
};

}  // namespace ergon_test

// Instantiates a RuntimeTest-derived suite with 1, 2 and 4 workers.
#define ERGON_INSTANTIATE_WORKERS(Suite)                                \
  INSTANTIATE_TEST_SUITE_P(Workers, Suite, testing::Values(1u, 2u, 4u), \
                           ergon_test::worker_count_name)

// The same, plus deterministic mode with 1 and 4 workers (a seed fixed by the test's name;
// ERGON_SEED replays one, ERGON_TEST_SEEDS=random explores). For suites whose tests do not depend
// on real threads or real time.
#define ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Suite)                                     \
  INSTANTIATE_TEST_SUITE_P(                                                                    \
      Workers, Suite,                                                                          \
      testing::Values(1u, 2u, 4u, ergon_test::deterministic(1), ergon_test::deterministic(4)), \
      ergon_test::worker_count_name)
