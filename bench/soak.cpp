// ergon-bench soak [scale]: a supervision tree under constant failure for 600 s x scale, to show
// that resident memory and the process count stay flat once warm (nothing accumulates: not
// records, stacks, envelopes, timers, monitors nor registered names).
//
// The tree: a one_for_one supervisor of kWorkers permanent workers, each registered by name,
// each serving calls (a request with a reply-to pid, answered with a reply) and crashing on
// 1 call in kCrashOdds; each worker links a helper that dies with it. kClients clients call a
// random worker by name, with a monitor and a timeout (a crashed callee is a Down or a timeout,
// then a retry), and sleep 0.5-4.5 ms on a timer between calls. Every second a sampler prints
//   SAMPLE t_s=<s> rss_kb=<VmRSS> processes=<alive> calls=<answered> crashes=<...>
//          carriers=<OS threads carrying workers, spares included>
//          stacks_kb=<resident bytes of every pooled or used stack / 1024> stacks=<mapped>
// and the end prints one RESULT line: the RSS and process count at the end of the warm-up
// (the first tenth of the run) and at the end, and their ratios. bench/soak_plot.py draws the
// samples (docs/benchmarks.md, "Soak").
//
// Not in CI: ten minutes is the point. The supervisor's intensity is set high enough (kCrashOdds
// crashes are expected) that it never gives up; if it did, the RESULT would be an ERROR line.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "ergon/ergon.hpp"
#include "harness.hpp"

namespace bench {
namespace {

constexpr int kWorkers = 32;
constexpr int kClients = 256;
constexpr int kCrashOdds = 500;  // a worker crashes on 1 call in 500

struct Call {
  ergon::Pid from;
  std::uint64_t id;
};
struct Reply {
  std::uint64_t id;
};

std::atomic<std::uint64_t> g_calls{0}, g_crashes{0}, g_stalls{0};

void worker(int index) {
  ergon::register_name("w" + std::to_string(index), ergon::self());
  // A helper linked to the worker: it dies with each crash, and a new one comes with the
  // restart (links fire both ways).
  (void)ergon::spawn_link([] { (void)ergon::receive([](int) {}); });
  std::mt19937_64 rng(static_cast<std::uint64_t>(index) * 7919 + ergon::self().raw());
  for (;;) {
    ergon::receive(
        [&](const Call& c) {
          if (rng() % kCrashOdds == 0) {
            g_crashes.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
            throw std::runtime_error("a soak worker crashes on purpose");
          }
          ergon::send(c.from, Reply{c.id});
        },
        ergon::after(std::chrono::milliseconds(50), [] {}));  // an idle timer, re-armed
  }
}

void client(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (std::uint64_t id = 1;; ++id) {
    const ergon::Pid w = ergon::whereis("w" + std::to_string(rng() % kWorkers));
    if (!w) {  // between a crash and its restart
      ergon::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    const ergon::Ref ref = ergon::monitor(w);
    ergon::send(w, Call{ergon::self(), id});
    const bool answered =
        ergon::receive(ergon::on<Reply>([id](const Reply& r) { return r.id == id; },
                                        [](const Reply&) { return true; }),
                       ergon::on<ergon::Down>([&ref](const ergon::Down& d) { return d.ref == ref; },
                                              [](const ergon::Down&) { return false; }),
                       ergon::after(std::chrono::milliseconds(100), [] { return false; }));
    (void)ergon::demonitor(ref, true);
    if (answered) g_calls.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    // Stale replies of calls that timed out: drop them, as a gen_server caller does.
    while (ergon::receive([](const Reply&) { return true; },
                          ergon::after(std::chrono::milliseconds(0), [] { return false; }))) {
    }
    // Paced: a soak is about a steady state, not throughput (about 100,000 calls a second in
    // all, a fraction of one core), and a timer per call.
    ergon::sleep_for(std::chrono::microseconds(500 + rng() % 4000));
  }
}

void run_soak(double scale) {
  const double seconds = 600.0 * scale;
  ergon::Options o;
  o.on_crash = [](ergon::Pid, const std::string&) {};  // crashes are the point
  o.on_stall = [](const ergon::StallReport&) { g_stalls.fetch_add(1); };
  ergon::Runtime rt(o);
  long warm_rss = -1, end_rss = -1;
  std::uint64_t warm_procs = 0, end_procs = 0;
  std::string error;
  const clk::time_point t0 = clk::now();
  rt.run([&] {
    ergon::SupervisorSpec spec;
    spec.strategy = ergon::Strategy::kOneForOne;
    spec.intensity = 1'000'000;  // expected crashes never exhaust it
    spec.period = std::chrono::seconds(1);
    for (int i = 0; i < kWorkers; ++i) {
      ergon::ChildSpec child;
      child.id = "w" + std::to_string(i);
      child.start = [i] { worker(i); };
      spec.children.push_back(std::move(child));
    }
    const ergon::Pid sup = ergon::start_supervisor(spec);
    for (int c = 0; c < kClients; ++c) {
      (void)ergon::spawn([c] { client(static_cast<std::uint64_t>(c) + 1); });
    }
    const ergon::Ref sup_ref = ergon::monitor(sup);
    for (int s = 1; s <= static_cast<int>(seconds); ++s) {
      const bool down = ergon::receive(
          ergon::on<ergon::Down>([&](const ergon::Down& d) { return d.ref == sup_ref; },
                                 [](const ergon::Down&) { return true; }),
          ergon::after(std::chrono::seconds(1), [] { return false; }));
      if (down) {
        error = "the supervisor gave up";
        return;
      }
      const ergon::Stats st = rt.stats();
      const long rss = vmrss_kb();
      std::printf(
          "SAMPLE t_s=%d rss_kb=%ld processes=%llu calls=%llu crashes=%llu carriers=%llu "
          "stacks_kb=%llu stacks=%llu\n",
          s, rss, static_cast<unsigned long long>(st.processes_alive),
          static_cast<unsigned long long>(g_calls.load()),
          static_cast<unsigned long long>(g_crashes.load()),
          static_cast<unsigned long long>(st.carriers),
          static_cast<unsigned long long>(st.stacks_resident_bytes / 1024),
          static_cast<unsigned long long>(st.stacks_mapped));
      std::fflush(stdout);
      if (s == std::max(1, static_cast<int>(seconds / 10))) {
        warm_rss = rss;
        warm_procs = st.processes_alive;
      }
      end_rss = rss;
      end_procs = st.processes_alive;
    }
  });
  check(error.empty(), error);
  check(warm_rss > 0 && end_rss > 0, "no samples (scale too small?)");
  const double wall = ns_since(t0);
  finish(fmt_result(wall, kvi("warm_rss_kb", warm_rss) + kvi("end_rss_kb", end_rss) +
                              kvf("rss_ratio", static_cast<double>(end_rss) / warm_rss) +
                              kvi("warm_processes", static_cast<long long>(warm_procs)) +
                              kvi("end_processes", static_cast<long long>(end_procs)) +
                              kvi("calls", static_cast<long long>(g_calls.load())) +
                              kvi("crashes", static_cast<long long>(g_crashes.load())) +
                              kvi("stall_reports", static_cast<long long>(g_stalls.load()))));
}

const Workload kSoak[] = {
    {"soak", run_soak,
     "600 s x scale of a crashing supervision tree: RSS and process count stay flat"},
};

}  // namespace

std::span<const Workload> soak_workloads() { return kSoak; }

}  // namespace bench
