// Tests of the watchdog's judgement (control/watchdog.hpp, docs/design.md "Preemption"): which
// slices it reports and hands off, and which it leaves alone. tests/core/preempt_test.cpp has
// the mechanics (yield requests, hand-offs, blocking).
//
// No test here measures time: each counts stall reports (Options::on_stall). A process that
// must be caught spins until its report arrives, with an escape hatch that turns a missing
// report into a failure instead of a hang.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon_test::await;
using ergon_test::scaled;

struct Done {};

// How long a process that must be reported spins before the test gives up on the report.
constexpr auto kEscape = 30s;  // a missing report costs this, then fails

// Threads outside the runtime that spin on every core for their lifetime: the machine is
// oversubscribed, and the kernel deschedules the runtime's threads at arbitrary points.
class CpuHog {
 public:
  explicit CpuHog(unsigned threads) {
    for (unsigned i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        std::uint64_t x = 1;
        while (!stop_.load(std::memory_order_relaxed)) x = x * 6364136223846793005ull + 1;
        sink_.fetch_add(x, std::memory_order_relaxed);
      });
    }
  }
  ~CpuHog() {
    stop_.store(true, std::memory_order_relaxed);
    for (auto& t : threads_) t.join();
  }
  CpuHog(const CpuHog&) = delete;
  CpuHog& operator=(const CpuHog&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> sink_{0};
  std::vector<std::thread> threads_;
};

// The stall reports of one runtime, by pid.
class Reports {
 public:
  void add(const ergon::StallReport& r) {
    std::lock_guard<std::mutex> g(mu_);
    all_.push_back(r);
  }
  std::vector<ergon::StallReport> all() const {
    std::lock_guard<std::mutex> g(mu_);
    return all_;
  }
  std::size_t about(ergon::Pid pid) const {
    std::lock_guard<std::mutex> g(mu_);
    return static_cast<std::size_t>(
        std::count_if(all_.begin(), all_.end(), [&](const auto& r) { return r.pid == pid; }));
  }

 private:
  mutable std::mutex mu_;
  std::vector<ergon::StallReport> all_;
};

// Computes with a reduction point at every step: `slices` slices' worth of ergon::checkpoint().
std::uint64_t compute_with_reduction_points(int slices) {
  std::uint64_t x = 88172645463325252ull;
  for (int i = 0; i < slices * 4000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ergon::checkpoint();
  }
  return x;
}

// Spins with no reduction point until `caught` is set (or the escape hatch).
void spin_until(const std::atomic<bool>& caught) {
  const auto end = std::chrono::steady_clock::now() + kEscape;
  while (!caught.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < end) {
  }
}

std::string describe(const std::vector<ergon::StallReport>& v) {
  std::string out;
  for (const auto& r : v) {
    out += "\n  " + r.pid.to_string() + " worker " + std::to_string(r.worker) + ": slice " +
           std::to_string(r.running_for.count()) + " ns, cpu after request " +
           std::to_string(r.cpu_after_yield_request.count()) + " ns, " +
           (r.blocked ? "blocked " : "computing ") + r.where;
  }
  return out;
}

unsigned cores() { return std::max(1u, std::thread::hardware_concurrency()); }

// --- oversubscription ------------------------------------------------------------------------

// Twice as many workers as cores, and a hog thread on every core besides.
class WatchdogOversubscribed : public ergon_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Oversubscribed, WatchdogOversubscribed,
                         testing::Values(std::max(2u, 2 * cores())), ergon_test::worker_count_name);

// What one run of the scenario below saw.
struct OversubscribedRun {
  std::vector<ergon::StallReport> all;
  std::size_t about_spinner = 0;
  bool caught = false;
  std::uint64_t handoffs = 0, stalls = 0;
};

// A known false alarm (docs/design.md, "A known false alarm"): in about one full-suite run in
// ten (release and tsan, 4 workers on 2 cores), one busy process that checkpoints at every
// step was reported too, with 0.58 to 0.72 ms of CPU after the request against the 0.5 ms
// bound; never in 50 runs of this test alone. The thread CPU clock counts system time, and
// kernel work of other programs' (or earlier tests') traffic is charged to whatever thread
// runs when it comes. The scenario runs a second time when the first saw such a report, and
// the test fails if the second does too.
TEST_P(WatchdogOversubscribed, DescheduledCodeIsNeverReportedAndAPureLoopStillIs) {
  auto once = [this] {
    ergon::Options o = options();
    auto reports = std::make_shared<Reports>();
    auto spinner = std::make_shared<std::atomic<std::uint64_t>>(0);
    auto caught = std::make_shared<std::atomic<bool>>(false);
    o.on_stall = [reports, spinner, caught](const ergon::StallReport& r) {
      reports->add(r);
      if (r.pid.raw() == spinner->load(std::memory_order_acquire)) {
        caught->store(true, std::memory_order_release);
      }
    };
    runtime(o);
    // Each busy process computes for about 40 ms of CPU in release (2 ns a step), 4 ms under
    // tsan; together they keep every worker's thread in process code while the kernel shares
    // the cores among them and the hogs, so their slices are often descheduled mid-way.
    const int slices = scaled(10000, 1000);
    const unsigned busy = 2 * workers();
    ergon::Pid spinner_pid;
    {
      CpuHog hog(cores());
      run([&] {
        const ergon::Pid main = ergon::self();
        for (unsigned i = 0; i < busy; ++i) {
          ergon::spawn([main, slices] {
            volatile std::uint64_t keep = compute_with_reduction_points(slices);
            (void)keep;
            ergon::send(main, Done{});
          });
        }
        // A real pure loop, under the same load.
        spinner_pid = ergon::spawn([&] {
          spinner->store(ergon::self().raw(), std::memory_order_release);
          spin_until(*caught);
          ergon::send(main, Done{});
        });
        for (unsigned i = 0; i < busy + 1; ++i) await<Done>();
      });
    }
    OversubscribedRun r;
    r.all = reports->all();
    r.about_spinner = reports->about(spinner_pid);
    r.caught = caught->load();
    r.handoffs = stats().handoffs;
    r.stalls = stats().stalls;
    return r;
  };
  OversubscribedRun r = once();
  if (r.caught && r.all.size() > r.about_spinner) {
    std::fprintf(stderr,
                 "watchdog_test: a busy process was reported (the known false alarm above):%s\n"
                 "watchdog_test: running the scenario once more\n",
                 describe(r.all).c_str());
    r = once();
  }
  EXPECT_TRUE(r.caught) << "the pure loop was never reported";
  EXPECT_GE(r.about_spinner, 1u);
  EXPECT_EQ(r.all.size(), r.about_spinner)
      << "code with a reduction point at every step was reported:" << describe(r.all);
  // Every hand-off was the spinner's: none for descheduled slices (each makes a report).
  EXPECT_EQ(r.handoffs, r.stalls);
  EXPECT_EQ(r.stalls, r.about_spinner);
}

// --- rate limit ------------------------------------------------------------------------------

class WatchdogReports : public ergon_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, WatchdogReports, testing::Values(1u, 2u),
                         ergon_test::worker_count_name);

// Two pure loops at once: the second is reported although the first was reported a moment
// before (a limit for the whole runtime left it out). On one worker the second runs once the
// first's hand-off has freed the worker; on two, both are stuck side by side.
TEST_P(WatchdogReports, TwoProcessesStuckAtOnceAreBothReported) {
  ergon::Options o = options();
  Reports reports;
  std::mutex mu;
  std::set<std::uint64_t> reported;
  std::atomic<bool> both{false};
  o.on_stall = [&](const ergon::StallReport& r) {
    reports.add(r);
    std::lock_guard<std::mutex> g(mu);
    reported.insert(r.pid.raw());
    if (reported.size() >= 2) both.store(true, std::memory_order_release);
  };
  runtime(o);
  ergon::Pid a, b;
  run([&] {
    const ergon::Pid main = ergon::self();
    auto stuck = [&both, main] {
      spin_until(both);
      ergon::send(main, Done{});
    };
    a = ergon::spawn(stuck);
    b = ergon::spawn(stuck);
    await<Done>();
    await<Done>();
  });
  EXPECT_TRUE(both.load()) << "only one of the two was reported:" << describe(reports.all());
  EXPECT_EQ(reports.about(a), 1u) << describe(reports.all());
  EXPECT_EQ(reports.about(b), 1u) << describe(reports.all());
  for (const auto& r : reports.all()) EXPECT_EQ(r.suppressed, 0u);
}

}  // namespace
