// tenants_noisy, tenants_share, priority_low (ergon only; the issue of priorities and tenants,
// docs/benchmarks.md "Priorities and tenants"): what tenants and priorities buy under
// contention, each in one run.
//
//   ergon-bench tenants_noisy [scale]   scale 1.0 = 10,000 busy processes, 1,000 probe wake-ups
//   RESULT tenants_noisy ergon wall_ms=.. p99_alone_us=.. p99_noisy_us=.. p99_notenant_us=..
//       p99_high_us=.. slice_us=.. noise=..
//   ergon-bench tenants_share [scale]   scale 1.0 = three 1 s windows
//   RESULT tenants_share ergon wall_ms=.. max_share_error=.. jain=.. takeover=..
//   ergon-bench priority_low [scale]    scale 1.0 = 2 s
//   RESULT priority_low ergon wall_ms=.. low_per_normal=.. low_turns=.. normal_turns=..
//
// Design
// ------
// The busy processes run `burn`, an LCG loop of kBurnSteps steps, then ergon::checkpoint(): a
// reduction point per iteration (~0.1 us here), so a slice of Options::reductions (4,000)
// iterations lasts slice_us (measured at the start, the loop timed outside any process).
//
// tenants_noisy: one probe process sleeps 1 ms, kProbes times; its lateness is the time from
// the due time to when it runs again (the runtime's clock, steady_clock). Four phases, each
// with fresh processes:
//   alone     the probe in tenant "quiet", nothing else;
//   noisy     the probe in "quiet", `noise` busy processes in tenant "noisy";
//   notenant  the probe and the noise in the default tenant, all at normal priority: what a
//             runtime without tenants does (Go, Tokio): the probe waits behind the noise in
//             the run queue. Capped at kCapMs of wall time (it may not get its kProbes);
//   high      the noise in the default tenant, the probe at Priority::kHigh: BEAM's way.
// The main process runs at kHigh to keep control. Bar (the issue): p99_noisy_us <= 2 x
// p99_alone_us + slice_us.
//
// tenants_share: tenants weighted 100, 200, 400, each with 4 busy processes per worker; each
// process adds its iterations to its tenant's counter every kPublishEvery iterations. Per 1 s
// window, share_k = units_k / all units; max_share_error is the largest |share_k / (w_k / W)
// - 1| over the windows (a fraction of the weight's share). Then the weights are made equal,
// and after a 100 ms settle one window gives Jain's index (sum x)^2 / (n sum x^2). Then tenant
// "one" stops: takeover is the rate of all units in the first balancer window (1 ms) after its
// processes ended, over the rate in the 100 ms before it stopped (1.0: nothing lost).
//
// priority_low: per worker, one normal and one low process, each counting its turns (a turn:
// burn, then ergon::yield). low_per_normal = low turns / normal turns; BEAM's rule gives 1/8
// of the worker's normal turns to low, so at least 1/9 of normal's (the bar).
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ergon/ergon.hpp>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace bench {
namespace {

constexpr int kBurnSteps = 24;
constexpr std::int64_t kCapMs = 3000;
constexpr std::uint64_t kPublishEvery = 64;

volatile std::uint64_t g_sink = 0;

[[gnu::always_inline]] inline std::uint64_t burn(std::uint64_t acc) {
  for (int i = 0; i < kBurnSteps; ++i) {
    acc = (acc * 6364136223846793005ull + 1442695040888963407ull);
    __asm__ volatile("" : "+r"(acc));
  }
  return acc;
}

// Microseconds one slice of busy iterations takes, timed outside any process.
double slice_us(std::uint32_t reductions) {
  std::uint64_t acc = 1;
  const int n = 200;
  const auto t0 = clk::now();
  for (int k = 0; k < n; ++k) {
    for (std::uint32_t i = 0; i < reductions; ++i) acc = burn(acc);
  }
  g_sink = acc;
  return ns_between(t0, clk::now()) / n / 1000.0;
}

struct Gang {
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> live{0};
};

void spawn_noise(Gang& g, std::int64_t n, ergon::SpawnOptions so) {
  for (std::int64_t i = 0; i < n; ++i) {
    g.live.fetch_add(1, std::memory_order_relaxed);
    ergon::spawn(
        [&g] {
          std::uint64_t acc = 1;
          while (!g.stop.load(std::memory_order_relaxed)) {
            acc = burn(acc);
            ergon::checkpoint();
          }
          g_sink = acc;
          g.live.fetch_sub(1, std::memory_order_release);  // release: pairs with end_gang's acquire
        },
        so);
  }
}

void end_gang(Gang& g) {
  g.stop = true;
  while (g.live.load(std::memory_order_acquire) > 0) ergon::sleep_for(std::chrono::milliseconds(1));
}

// The probe: kProbes sleeps of 1 ms, or until kCapMs; returns the p99 lateness in us.
double probe_p99(std::int64_t probes, ergon::SpawnOptions so) {
  std::vector<std::int64_t> late;
  late.reserve(static_cast<std::size_t>(probes));
  const ergon::Pid main = ergon::self();
  ergon::spawn(
      [&late, probes, main] {
        const auto t0 = clk::now();
        for (std::int64_t i = 0; i < probes; ++i) {
          const auto due = clk::now() + std::chrono::milliseconds(1);
          ergon::sleep_for(std::chrono::milliseconds(1));
          late.push_back(static_cast<std::int64_t>(ns_between(due, clk::now())));
          if (ns_since(t0) > kCapMs * 1'000'000) break;
        }
        ergon::send(main, true);
      },
      so);
  (void)ergon::receive<bool>();
  check(!late.empty(), "the probe never woke");
  std::sort(late.begin(), late.end());
  return static_cast<double>(late[std::min(late.size() - 1, late.size() * 99 / 100)]) / 1000.0;
}

void tenants_noisy(double scale) {
  const std::int64_t noise = cnt(10000, scale);
  const std::int64_t probes = cnt(1000, scale);
  ergon::Options o;
  ergon::Runtime rt(o);
  const double slice = slice_us(rt.options().reductions);
  const auto t0 = clk::now();
  rt.run([&] {
    ergon::set_priority(ergon::Priority::kHigh);
    const ergon::Tenant quiet = ergon::create_tenant("quiet");
    const ergon::Tenant noisy = ergon::create_tenant("noisy");
    const double alone = probe_p99(probes, {.tenant = quiet});
    Gang a;
    spawn_noise(a, noise, {.tenant = noisy});
    ergon::sleep_for(std::chrono::milliseconds(50));  // every noise process has run
    const double with_tenants = probe_p99(probes, {.tenant = quiet});
    end_gang(a);
    Gang b;
    spawn_noise(b, noise, {});
    ergon::sleep_for(std::chrono::milliseconds(50));
    const double no_tenants = probe_p99(probes, {});
    const double high = probe_p99(probes, {.priority = ergon::Priority::kHigh});
    end_gang(b);
    finish(fmt_result(ns_between(t0, clk::now()),
                      kvf("p99_alone_us", alone) + kvf("p99_noisy_us", with_tenants) +
                          kvf("p99_notenant_us", no_tenants) + kvf("p99_high_us", high) +
                          kvf("slice_us", slice) + kvi("noise", noise)));
  });
}

// Units of work per tenant, added by its processes every kPublishEvery iterations.
struct ShareGang {
  Gang gang;
  std::atomic<std::uint64_t> units{0};
};

void spawn_share(ShareGang& g, unsigned n, ergon::Tenant t) {
  for (unsigned i = 0; i < n; ++i) {
    g.gang.live.fetch_add(1, std::memory_order_relaxed);
    ergon::spawn(
        [&g] {
          std::uint64_t acc = 1, mine = 0;
          while (!g.gang.stop.load(std::memory_order_relaxed)) {
            acc = burn(acc);
            ergon::checkpoint();
            if (++mine == kPublishEvery) {
              g.units.fetch_add(mine, std::memory_order_relaxed);
              mine = 0;
            }
          }
          g_sink = acc;
          g.gang.live.fetch_sub(1, std::memory_order_release);  // release: as in spawn_noise
        },
        {.tenant = t});
  }
}

void tenants_share(double scale) {
  const int windows = static_cast<int>(cnt(3, scale));
  ergon::Runtime rt{ergon::Options{}};
  const auto t0 = clk::now();
  rt.run([&] {
    ergon::set_priority(ergon::Priority::kHigh);
    const std::uint32_t w[3] = {100, 200, 400};
    const ergon::Tenant t[3] = {ergon::create_tenant("one", w[0]),
                                ergon::create_tenant("two", w[1]),
                                ergon::create_tenant("four", w[2])};
    std::array<ShareGang, 3> g;
    const unsigned per = 4 * rt.workers();
    for (int k = 0; k < 3; ++k) spawn_share(g[k], per, t[k]);
    auto snap = [&] {
      std::array<double, 3> u{};
      for (int k = 0; k < 3; ++k) u[k] = static_cast<double>(g[k].units.load());
      return u;
    };
    ergon::sleep_for(std::chrono::milliseconds(100));  // warm-up
    double worst = 0;
    for (int i = 0; i < windows; ++i) {
      const auto a = snap();
      ergon::sleep_for(std::chrono::seconds(1));
      const auto b = snap();
      const double all = (b[0] - a[0]) + (b[1] - a[1]) + (b[2] - a[2]);
      check(all > 0, "no work was done in a window");
      for (int k = 0; k < 3; ++k) {
        const double want = static_cast<double>(w[k]) / 700.0;
        worst = std::max(worst, std::abs((b[k] - a[k]) / all / want - 1.0));
      }
    }
    for (int k = 0; k < 3; ++k) ergon::set_tenant_weight(t[k], 100);
    ergon::sleep_for(std::chrono::milliseconds(100));
    const auto a = snap();
    ergon::sleep_for(std::chrono::seconds(1));
    const auto b = snap();
    double sum = 0, sq = 0;
    for (int k = 0; k < 3; ++k) {
      sum += b[k] - a[k];
      sq += (b[k] - a[k]) * (b[k] - a[k]);
    }
    const double jain = sum * sum / (3 * sq);
    // Takeover: "one" stops; the first balancer window after its end against the 100 ms
    // before.
    const auto before_a = snap();
    const auto tb0 = clk::now();
    ergon::sleep_for(std::chrono::milliseconds(100));
    const auto before_b = snap();
    const double before_rate =
        ((before_b[0] + before_b[1] + before_b[2]) - (before_a[0] + before_a[1] + before_a[2])) /
        ns_between(tb0, clk::now());
    end_gang(g[0].gang);
    const auto after_a = snap();
    const auto ta0 = clk::now();
    ergon::sleep_for(rt.options().balance_interval);
    const auto after_b = snap();
    const double after_rate =
        ((after_b[1] + after_b[2]) - (after_a[1] + after_a[2])) / ns_between(ta0, clk::now());
    end_gang(g[1].gang);
    end_gang(g[2].gang);
    finish(fmt_result(ns_between(t0, clk::now()), kvf("max_share_error", worst) +
                                                      kvf("jain", jain) +
                                                      kvf("takeover", after_rate / before_rate)));
  });
}

void priority_low(double scale) {
  const auto run_ms = static_cast<std::int64_t>(2000 * scale);
  ergon::Runtime rt{ergon::Options{}};
  const auto t0 = clk::now();
  rt.run([&] {
    ergon::set_priority(ergon::Priority::kHigh);
    Gang g;
    std::atomic<std::uint64_t> turns[2] = {0, 0};  // normal, low
    for (unsigned i = 0; i < rt.workers(); ++i) {
      for (int k = 0; k < 2; ++k) {
        g.live.fetch_add(1, std::memory_order_relaxed);
        ergon::spawn(
            [&g, &turns, k] {
              std::uint64_t acc = 1;
              while (!g.stop.load(std::memory_order_relaxed)) {
                for (int j = 0; j < 100; ++j) acc = burn(acc);
                turns[k].fetch_add(1, std::memory_order_relaxed);
                ergon::yield();
              }
              g_sink = acc;
              g.live.fetch_sub(1, std::memory_order_release);  // release: as in spawn_noise
            },
            {.priority = k == 0 ? ergon::Priority::kNormal : ergon::Priority::kLow});
      }
    }
    ergon::sleep_for(std::chrono::milliseconds(run_ms));
    end_gang(g);
    const double normal = static_cast<double>(turns[0].load());
    const double low = static_cast<double>(turns[1].load());
    check(normal > 0, "normal processes never ran");
    finish(fmt_result(ns_between(t0, clk::now()),
                      kvf("low_per_normal", low / normal) +
                          kvi("low_turns", static_cast<long long>(low)) +
                          kvi("normal_turns", static_cast<long long>(normal))));
  });
}

const Workload kTenants[] = {
    {"tenants_noisy", tenants_noisy,
     "a probe's wake-up lateness among 10,000 busy processes: alone, tenants, none, high"},
    {"tenants_share", tenants_share,
     "three saturated tenants 1:2:4: share error, Jain's index at equal weights, takeover"},
    {"priority_low", priority_low, "low against normal priority: low turns per normal turn"},
};

}  // namespace

std::span<const Workload> tenants_workloads() { return kTenants; }

}  // namespace bench
