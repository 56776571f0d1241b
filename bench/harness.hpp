// ergon-bench harness: the output line, counts, clocks, the latency histogram and the smolscale
// timing loop, all identical to the peers' (../shared/peers: go/compass.go, caf/compass.cpp,
// smolsuite/go/smolsuite.go, smolsuite/caf/smolsuite.cpp).
//
//   ergon-bench <workload> [scale]
//   RESULT <workload> ergon wall_ms=<float> <metric>=<value> ...
//   ERROR <workload> ergon <reason>          (exit status 2)
//
// Every workload prints exactly one line (mpsc_compare: one per variant) and _exits at once,
// from inside the runtime, like the peers (no runtime shutdown in the cpu or rss columns).
#pragma once

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace bench {

using clk = std::chrono::steady_clock;

inline constexpr const char* kRuntime = "ergon";

// The workload named on the command line (for RESULT / ERROR lines).
extern std::string g_workload;

// max(1, round(base * scale)), as the peers' cnt().
std::int64_t cnt(double base, double scale);

inline std::int64_t ns_since(clk::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count();
}
inline double ns_between(clk::time_point a, clk::time_point b) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

// user + sys cpu seconds of this process (getrusage).
double cpu_seconds();
// VmRSS of /proc/self/status in KiB (-1 if missing).
long vmrss_kb();

// " key=value" pieces: floats with %.3f, integers with %lld (as the peers).
std::string kvf(const char* key, double v);
std::string kvi(const char* key, long long v);
std::string kvs(const char* key, const std::string& v);

// "RESULT <workload> ergon wall_ms=<wall_ns/1e6 %.3f><metrics>"
std::string fmt_result(double wall_ns, const std::string& metrics);
std::string fmt_error(const std::string& why);

// Prints `line`, flushes, and _exits: status 2 if the line is an ERROR line, else 0.
[[noreturn]] void finish(const std::string& line);
// Prints "ERROR <workload> ergon <why>" and _exits with status 2.
[[noreturn]] void fail(const std::string& why);
inline void check(bool ok, const std::string& why) {
  if (!ok) fail(why);
}
// Prints one line and flushes, without exiting (mpsc_compare prints several).
void emit(const std::string& line);

// One round of a polite spin wait: a pause instruction, and every 64th round a yield of the
// thread, when it returns true (on 2 cores the thread waited for may need this one's core).
inline bool spin_backoff(int& spins) {
  if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    return false;
  }
  spins = 0;
  sched_yield();
  return true;
}

// ------------------------------------------------------------------ latency histogram
// Log-linear, in ns: exact below 64 ns, then 64 sub-buckets per power of two (<= 1.6 % error).
// pct() returns the bucket midpoint (capped at the exact max), as in every peer.
struct Hist {
  static constexpr int kBuckets = 3840;
  std::vector<std::uint64_t> counts = std::vector<std::uint64_t>(kBuckets, 0);
  std::uint64_t n = 0;
  std::uint64_t max = 0;

  static int bucket(std::uint64_t v) {
    if (v < 64) return static_cast<int>(v);
    int k = 63 - __builtin_clzll(v);
    return (k - 5) * 64 + static_cast<int>((v >> (k - 6)) & 63);
  }
  static std::uint64_t mid(int b) {
    if (b < 64) return static_cast<std::uint64_t>(b);
    int k = b / 64 + 5;
    std::uint64_t sub = static_cast<std::uint64_t>(b % 64);
    return ((64 + sub) << (k - 6)) + ((std::uint64_t{1} << (k - 6)) >> 1);
  }
  void add(std::uint64_t v) {
    counts[bucket(v)]++;
    n++;
    if (v > max) max = v;
  }
  std::uint64_t pct(double q) const;
};

// ------------------------------------------------------------------ smolscale timing
// T = 1.5 s x scale. Warm-up iterations until T/10 has passed (at least one); est = warm-up
// time per iteration; batch = max(1, floor(T / (50 est))); then samples of `batch` back-to-back
// iterations until the timed phase has lasted T and there are at least 5 samples.
// ns_per_iter = median over samples of (sample time / batch); wall_ms = the whole timed phase;
// iters = samples x batch; ns_per_op = ns_per_iter / ops. Exactly smolsuite.go's measure().
std::string measure_line(std::vector<double> per, std::int64_t batch, double wall_ns, double ops,
                         double setup_ns);

template <class F>
std::string measure(double scale, double ops, double setup_ns, F&& iter) {
  const double target = 1.5e9 * scale;
  const clk::time_point w0 = clk::now();
  std::int64_t warm = 0;
  for (;;) {
    iter();
    warm++;
    if (ns_between(w0, clk::now()) >= target / 10) break;
  }
  const double est = ns_between(w0, clk::now()) / static_cast<double>(warm);
  const std::int64_t batch =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(std::floor(target / (50 * est))));
  std::vector<double> per;
  per.reserve(64);
  const clk::time_point m0 = clk::now();
  while (per.size() < 5 || ns_between(m0, clk::now()) < target) {
    const clk::time_point s0 = clk::now();
    for (std::int64_t i = 0; i < batch; ++i) iter();
    per.push_back(ns_between(s0, clk::now()) / static_cast<double>(batch));
  }
  const double wall = ns_between(m0, clk::now());
  return measure_line(std::move(per), batch, wall, ops, setup_ns);
}

// ------------------------------------------------------------------ workload tables
struct Workload {
  const char* name;
  void (*run)(double scale);  // prints its line(s) and _exits; never returns normally
  const char* what;           // one line for the usage message
};

std::span<const Workload> compass_workloads();
std::span<const Workload> tenants_workloads();
std::span<const Workload> smolsuite_workloads();
std::span<const Workload> mpsc_workloads();
std::span<const Workload> idle_workloads();
std::span<const Workload> checkpoint_workloads();
std::span<const Workload> bimodal_workloads();
std::span<const Workload> spread_workloads();
std::span<const Workload> conservation_workloads();
std::span<const Workload> soak_workloads();
std::span<const Workload> ops_workloads();
std::span<const Workload> net_workloads();
std::span<const Workload> dist_workloads();

// Every table above, in the order the usage message lists them.
std::span<const std::span<const Workload>> all_workloads();

}  // namespace bench
