// bimodal_* (ergon only): work-stealing against micropools under a bimodal load, after
// bartoszmodelski/ebsl ("Work-stealing vs micropools"). A closed-loop injector feeds packets
// into the runtime; 1 packet in 10,000 is expensive, the rest are cheap; each packet's latency
// from injection to completion goes into a log2-nanosecond histogram. The question is what a
// rare long job does to the tail of the short ones when every worker may pick it up (one pool,
// balance and/or steal) against when it is handed to a pool of its own.
//
//   ergon-bench bimodal_pools [scale]        scale 1.0 = 5,000,000 packets
//
// Design
// ------
//   - Injector: the program's main thread, outside the runtime (Runtime::spawn from a plain
//     thread). For each packet it waits for room, takes start = clk::now() and spawns one
//     process into the first (cheap, or only) pool. The wait for room is not part of the
//     packet's latency: the closed loop's backlog stays in front of the runtime.
//   - Bounded queue: at most kMaxInFlight = 1,024 packets in flight, an atomic count that the
//     injector raises before each spawn and the packet lowers when it completes. While the count
//     is at the bound the injector spins with a pause instruction and calls
//     std::this_thread::yield() every 64 spins: the machine has only 2 cores, both carrying
//     workers, so a pure spin would take a core away from the packets it waits for.
//   - Packet: draws from splitmix64 of its number (deterministic) whether it is expensive
//     (1 in 10,000). A cheap packet records its latency and is done. An expensive one, in the
//     two-pool mode, first moves to the "expensive" pool (ergon::move_to: handed over once,
//     like the seed's hand-off to the other pool); it then runs a chain of kChainSteps = 2,000
//     SHA-1 steps, each the SHA-1 of the decimal string of a PRNG number that depends on the
//     previous digest, with ergon::yield() after each step (the seed schedules each step as a
//     new task on the current pool), and records its latency.
//   - SHA-1: a small FIPS 180-4 implementation below, checked at start-up against three known
//     vectors (fail() on a mismatch).
//   - Histogram: 48 buckets, bucket i counts latencies in [2^i, 2^(i+1)) ns (values < 1 count as
//     1; index = min(floor(log2 v), 47)); one array of relaxed atomic counters per worker,
//     indexed by ergon::worker_id() at completion (relaxed fetch_add, so a process still running
//     on a carrier that lost its worker stays correct), summed at the end. Quantile q = the
//     first bucket whose cumulative count reaches q x total; its _us value is the bucket's upper
//     edge 2^(i+1) ns.
//   - Workloads: bimodal_balance, bimodal_steal, bimodal_balance_steal: one pool of all workers
//     (one per hardware thread) under that policy; bimodal_pools: pool "cheap" of
//     hardware_concurrency - 1 workers (at least 1) and pool "expensive" of 1 worker, each with
//     the default policy. ERGON_* variables still override these options.
//   - Warm-up: kWarmup = 4,096 empty packets, unmeasured, go through the same queue first, so
//     that the measured packets find their stacks mapped (issue 4 note: without it ~1,500 of
//     the first packets took over 8 ms at any scale, page faults and not scheduling).
//   - Sizes: one pool of every worker, or cheap = workers - 1 and expensive = 1. On a 2-core
//     machine that is 1 + 1 against 2; the seed's 2 + 1 against 3 runs with
//     ERGON_POOLS=cheap:2,expensive:1 and ERGON_WORKERS=3 (oversubscribed here).
//   - wall_ms: from the first injection to the injector seeing the in-flight count back at 0
//     after the last injection.
//   - Checks: the histogram holds exactly `packets` latencies; and while the injector waits,
//     the in-flight count moves at least once every 10 s (kStuckAfter), else the line is an
//     ERROR naming the counts instead of a hang (a lost wake-up leaves packets unrun).
//   - Work: each SHA-1 step also charges ergon::reduce(kStepReductions), its measured cost in
//     the simulation's reductions (below), so that the simulated mode sees the work. A real
//     run yields right after it, so the charge changes nothing there.
//
// Simulated (ERGON_SIMULATE=1; docs/design.md, "Simulated-parallel mode")
// ------
// The same workloads on simulated workers, latencies on the logical clock (ergon::now()):
//   ERGON_SIMULATE=1 ERGON_WORKERS=16 ergon-bench bimodal_pools 1
// ERGON_WORKERS (default 16) is the count of workers for packets: one pool of them, or
// cheap = workers - 1 and expensive = 1. The injector cannot be a thread (the simulation runs
// every worker on Runtime::run's thread), so it is the main process, on a pool "inject" of one
// worker of its own in front of them (as the thread is a core of its own beside the workers):
// it spawns each packet into the first packet pool, and while kMaxInFlight are in flight it
// waits for a message (Room) that the packet taking the count below the bound sends. No
// warm-up (the model has no page faults). The line adds simulated=1, workers=<packet
// workers> and logical_ms (first injection to the last completion seen, logical); wall_ms is
// the simulation's own time. bench/simulate.py runs the set and writes the table.
//
//   RESULT bimodal_pools ergon wall_ms=.. packets=.. p50_log2=.. p99_log2=.. p999_log2=..
//       p9995_log2=.. p50_us=.. p99_us=.. p999_us=.. p9995_us=.. slow_ge_b23=.. expensive=..
//       hist=c0/c1/.../c47 [simulated=1 workers=.. logical_ms=..]
//   ergon-bench bimodal_step [scale]: ns_per_step of the SHA-1 step alone, no runtime (for
//       kStepReductions).
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ergon/ergon.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace bench {
namespace {

constexpr std::int64_t kMaxInFlight = 1024;         // the bound of the injector's queue
constexpr std::int64_t kWarmup = 4 * kMaxInFlight;  // empty packets before the measured ones
constexpr std::uint64_t kExpensiveOneIn = 10'000;
constexpr int kChainSteps = 2'000;                      // SHA-1 steps of an expensive packet
constexpr int kBuckets = 48;                            // log2-ns histogram
constexpr int kSlowBucket = 23;                         // 2^23 ns = 8.4 ms
constexpr auto kStuckAfter = std::chrono::seconds(10);  // no completion for this long: fail
constexpr std::uint64_t kChainSeed = 0x5eed0fc4a1202400ull;
// A SHA-1 step's cost in reductions for the simulated mode, whose reduction is 1 ns of a
// program's work (Deterministic::Cost::kReductionNs): 409 ns, `ergon-bench bimodal_step`'s
// median of 5 runs (python3 bench/sim_costs.py; docs/benchmarks.md, "The cost model of the
// simulation").
constexpr std::uint32_t kStepReductions = 409;
// Packet workers of the simulated mode when ERGON_WORKERS is not set.
constexpr unsigned kSimulatedWorkers = 16;

// ------------------------------------------------------------------ PRNG
// splitmix64's output function on the x-th element of its sequence (seed 0).
constexpr std::uint64_t splitmix64(std::uint64_t x) {
  std::uint64_t z = (x + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// ------------------------------------------------------------------ SHA-1 (FIPS 180-4)
using Digest = std::array<std::uint8_t, 20>;

std::uint32_t load_be32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | static_cast<std::uint32_t>(p[3]);
}

// One 64-byte block into the state h (FIPS 180-4, 6.1.2).
void sha1_block(std::uint32_t h[5], const std::uint8_t* block) {
  std::uint32_t w[80];
  for (int t = 0; t < 16; ++t) w[t] = load_be32(block + 4 * t);
  for (int t = 16; t < 80; ++t) w[t] = std::rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
  std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int t = 0; t < 80; ++t) {
    std::uint32_t f, k;
    if (t < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999u;
    } else if (t < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1u;
    } else if (t < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdcu;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6u;
    }
    const std::uint32_t tmp = std::rotl(a, 5) + f + e + k + w[t];
    e = d;
    d = c;
    c = std::rotl(b, 30);
    b = a;
    a = tmp;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

// SHA-1 of `len` bytes: the whole blocks, then the padded tail (0x80, zeros, the 64-bit
// big-endian bit length), which takes one block or two.
Digest sha1(const void* data, std::size_t len) {
  std::uint32_t h[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u};
  const auto* p = static_cast<const std::uint8_t*>(data);
  std::size_t left = len;
  for (; left >= 64; left -= 64, p += 64) sha1_block(h, p);
  std::uint8_t tail[128] = {};
  std::memcpy(tail, p, left);
  tail[left] = 0x80;
  const std::size_t tail_len = left + 1 + 8 <= 64 ? 64 : 128;
  const std::uint64_t bits = static_cast<std::uint64_t>(len) * 8;
  for (int i = 0; i < 8; ++i) tail[tail_len - 1 - i] = static_cast<std::uint8_t>(bits >> (8 * i));
  for (std::size_t off = 0; off < tail_len; off += 64) sha1_block(h, tail + off);
  Digest out;
  for (int i = 0; i < 5; ++i) {
    out[4 * i] = static_cast<std::uint8_t>(h[i] >> 24);
    out[4 * i + 1] = static_cast<std::uint8_t>(h[i] >> 16);
    out[4 * i + 2] = static_cast<std::uint8_t>(h[i] >> 8);
    out[4 * i + 3] = static_cast<std::uint8_t>(h[i]);
  }
  return out;
}

std::string hex(const Digest& d) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (std::uint8_t b : d) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

// Known answers (FIPS 180 examples): one block, the empty message, and a 56-byte message whose
// padding spills into a second block.
void sha1_self_check() {
  struct Vec {
    std::string_view in, out;
  };
  static constexpr Vec kVecs[] = {
      {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
      {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
  };
  for (const Vec& v : kVecs) {
    const std::string got = hex(sha1(v.in.data(), v.in.size()));
    check(got == v.out,
          "sha1(\"" + std::string(v.in) + "\")=" + got + " want " + std::string(v.out));
  }
}

// ------------------------------------------------------------------ shared state
// One worker's histogram, on cache lines of its own.
struct alignas(64) WorkerHist {
  // relaxed: independent counters, read only after the in-flight count has been seen at 0
  // (acquire), which orders every packet's increments before the read.
  std::atomic<std::uint64_t> b[kBuckets] = {};
};

struct State {
  explicit State(unsigned workers) : hist(workers) {}
  // Packets spawned and not yet completed. Raised by the injector (relaxed fetch_add: it is
  // the only writer that raises it, and nothing is published through the raise); lowered by
  // each packet after it has recorded its latency (release fetch_sub: publishes its histogram
  // increment); the injector's final wait reads it with acquire, which (release sequences of
  // read-modify-writes) synchronizes with every packet's decrement. Alone on its cache line.
  alignas(64) std::atomic<std::int64_t> in_flight{0};
  // relaxed: a count read after the same final acquire; touched by 1 packet in 10,000.
  alignas(64) std::atomic<std::uint64_t> expensive{0};
  // relaxed: keeps the SHA-1 chains' results alive; never read for ordering.
  std::atomic<std::uint64_t> sink{0};
  std::vector<WorkerHist> hist;
  // Simulated mode: the injector process, which a packet taking in_flight below the bound
  // wakes with a Room message; invalid for the injector thread, which spins.
  ergon::Pid injector{};
};

struct Room {};

int bucket_of(std::int64_t ns) {
  const std::uint64_t v = ns < 1 ? 1 : static_cast<std::uint64_t>(ns);
  return std::min(63 - __builtin_clzll(v), kBuckets - 1);
}

// An expensive packet's work: kChainSteps SHA-1 steps, each of the decimal string of a number
// drawn from the previous digest, with a yield after each (a new task on the current pool in
// the seed).
std::uint64_t sha1_chain(std::uint64_t id) {
  std::uint64_t x = splitmix64(id ^ kChainSeed);
  for (int s = 0; s < kChainSteps; ++s) {
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
    (void)ec;  // 24 chars hold any uint64_t
    const Digest d = sha1(buf, static_cast<std::size_t>(end - buf));
    std::uint64_t from_digest = 0;
    std::memcpy(&from_digest, d.data(), sizeof from_digest);
    x = splitmix64(x ^ from_digest);
    ergon::reduce(kStepReductions);  // the step's work, for the simulated mode (see the top)
    ergon::yield();
  }
  return x;
}

// The body of packet `id`, injected at `start` (ergon::now(): steady_clock in a real run, the
// logical clock in the simulated mode). `expensive_pool` is valid in the two-pool mode.
void packet(State& st, std::uint64_t id, clk::time_point start, ergon::Pool expensive_pool) {
  if (splitmix64(id) % kExpensiveOneIn == 0) {
    st.expensive.fetch_add(1, std::memory_order_relaxed);  // relaxed: see State::expensive
    if (expensive_pool.valid()) ergon::move_to(expensive_pool);
    st.sink.fetch_xor(sha1_chain(id), std::memory_order_relaxed);  // relaxed: see State::sink
  }
  const int b =
      bucket_of(std::chrono::duration_cast<std::chrono::nanoseconds>(ergon::now() - start).count());
  WorkerHist& h = st.hist[ergon::worker_id() % st.hist.size()];
  h.b[b].fetch_add(1, std::memory_order_relaxed);  // relaxed: see WorkerHist
  // release: see State::in_flight.
  if (st.in_flight.fetch_sub(1, std::memory_order_release) == kMaxInFlight && st.injector)
    ergon::send(st.injector, Room{});
}

// Waits while the in-flight count is at least `limit`, spinning with a pause and yielding the
// thread every 64th round (2 cores, see the top); loads with `order`. A count that does not
// move for kStuckAfter means lost packets (or a runtime that stopped running them): the
// workload then fails instead of hanging, naming the counts.
void wait_below(const State& st, std::int64_t limit, std::memory_order order,
                std::int64_t injected) {
  std::int64_t seen = st.in_flight.load(order);
  if (seen < limit) return;
  clk::time_point moved = clk::now();
  for (int spins = 0;;) {
    if (spin_backoff(spins)) {
      const clk::time_point now = clk::now();
      const std::int64_t cur = st.in_flight.load(order);
      if (cur != seen) {
        seen = cur;
        moved = now;
      } else if (now - moved >= kStuckAfter) {
        fail("no packet completed for 10 s: in_flight=" + std::to_string(cur) +
             " injected=" + std::to_string(injected));
      }
    }
    if (st.in_flight.load(order) < limit) return;
  }
}

[[noreturn]] void report(const State& st, std::int64_t n, double wall_ns, const std::string& extra);

// Injects the packets into `rt` (into `cheap`), waits for the last, prints the line.
[[noreturn]] void inject(ergon::Runtime& rt, ergon::Pool cheap, ergon::Pool expensive_pool,
                         double scale) {
  const std::int64_t n = cnt(5'000'000, scale);
  State st(rt.workers());
  const ergon::SpawnOptions spawn_opts{.stack_size = 0, .pool = cheap};
  // Warm-up, not measured: fill the bounded queue a few times with empty packets, so that the
  // stacks the measured packets use are already mapped (a first touch costs ~12 us a page on
  // these machines; without this, the first ~1,500 packets land above 8 ms).
  for (std::int64_t i = 0; i < kWarmup; ++i) {
    // relaxed: as below.
    wait_below(st, kMaxInFlight, std::memory_order_relaxed, i);
    st.in_flight.fetch_add(1, std::memory_order_relaxed);  // relaxed: see State::in_flight
    rt.spawn([&st] { st.in_flight.fetch_sub(1, std::memory_order_release); }, spawn_opts);
  }
  wait_below(st, 1, std::memory_order_acquire, kWarmup);  // acquire: see State::in_flight
  const clk::time_point t0 = clk::now();
  for (std::int64_t i = 0; i < n; ++i) {
    // relaxed: the injector only needs to see room eventually; no data comes with it.
    wait_below(st, kMaxInFlight, std::memory_order_relaxed, i);
    st.in_flight.fetch_add(1, std::memory_order_relaxed);  // relaxed: see State::in_flight
    const clk::time_point start = ergon::now();  // steady_clock here (outside the runtime)
    const auto id = static_cast<std::uint64_t>(i);
    rt.spawn([&st, id, start, expensive_pool] { packet(st, id, start, expensive_pool); },
             spawn_opts);
  }
  // acquire: see State::in_flight; after it every histogram increment is visible.
  wait_below(st, 1, std::memory_order_acquire, n);
  report(st, n, ns_between(t0, clk::now()), "");
}

// Prints the line of a run of `n` packets that took `wall_ns`, with `extra` fields at its end.
[[noreturn]] void report(const State& st, std::int64_t n, double wall_ns,
                         const std::string& extra) {
  std::array<std::uint64_t, kBuckets> hist{};
  for (const WorkerHist& h : st.hist) {
    for (int b = 0; b < kBuckets; ++b) hist[b] += h.b[b].load(std::memory_order_relaxed);
  }
  std::uint64_t total = 0;
  for (std::uint64_t c : hist) total += c;
  check(total == static_cast<std::uint64_t>(n),
        "histogram holds " + std::to_string(total) + " latencies, want " + std::to_string(n));

  auto quantile = [&](double q) {
    const double need = q * static_cast<double>(total);
    std::uint64_t acc = 0;
    for (int b = 0; b < kBuckets; ++b) {
      acc += hist[b];
      if (static_cast<double>(acc) >= need) return b;
    }
    return kBuckets - 1;
  };
  auto upper_us = [](int b) { return std::ldexp(1.0, b + 1) / 1e3; };
  const int p50 = quantile(0.5), p99 = quantile(0.99), p999 = quantile(0.999),
            p9995 = quantile(0.9995);
  std::uint64_t slow = 0;
  for (int b = kSlowBucket; b < kBuckets; ++b) slow += hist[b];
  std::string joined;
  for (int b = 0; b < kBuckets; ++b) {
    if (b > 0) joined += '/';
    joined += std::to_string(hist[b]);
  }
  finish(fmt_result(
      wall_ns,
      kvi("packets", n) + kvi("p50_log2", p50) + kvi("p99_log2", p99) + kvi("p999_log2", p999) +
          kvi("p9995_log2", p9995) + kvf("p50_us", upper_us(p50)) + kvf("p99_us", upper_us(p99)) +
          kvf("p999_us", upper_us(p999)) + kvf("p9995_us", upper_us(p9995)) +
          kvi("slow_ge_b23", static_cast<long long>(slow)) +
          kvi("expensive", static_cast<long long>(st.expensive.load(std::memory_order_relaxed))) +
          kvs("hist", joined) + extra));
}

// The simulated mode's injector: the main process of `rt`, on pool "inject" (see the top).
[[noreturn]] void inject_simulated(ergon::Runtime& rt, unsigned workers, ergon::Pool first,
                                   ergon::Pool expensive_pool, double scale) {
  const std::int64_t n = cnt(5'000'000, scale);
  State st(rt.workers());
  const clk::time_point wall0 = clk::now();
  std::int64_t logical_ns = 0;
  rt.run([&] {
    st.injector = ergon::self();
    const ergon::SpawnOptions spawn_opts{.stack_size = 0, .pool = first};
    const clk::time_point t0 = ergon::now();
    for (std::int64_t i = 0; i < n; ++i) {
      // relaxed: one thread runs every process in this mode; see State::in_flight.
      while (st.in_flight.load(std::memory_order_relaxed) >= kMaxInFlight)
        (void)ergon::receive<Room>();
      st.in_flight.fetch_add(1, std::memory_order_relaxed);  // relaxed: see State::in_flight
      const clk::time_point start = ergon::now();
      const auto id = static_cast<std::uint64_t>(i);
      ergon::spawn([&st, id, start, expensive_pool] { packet(st, id, start, expensive_pool); },
                   spawn_opts);
    }
    // The drain: a poll every 20 us of logical time, a timer on an idle worker.
    while (st.in_flight.load(std::memory_order_acquire) != 0)  // acquire: see State::in_flight
      ergon::sleep_for(std::chrono::microseconds(20));
    logical_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(ergon::now() - t0).count();
  });
  report(st, n, ns_between(wall0, clk::now()),
         kvi("simulated", 1) + kvi("workers", workers) + kvf("logical_ms", logical_ns / 1e6));
}

// The simulated mode's packet workers: ERGON_WORKERS, or kSimulatedWorkers. The variable is
// cleared once read: the runtime's count is the pools' sum, packet workers plus the injector's.
unsigned simulated_workers() {
  const unsigned w = ergon::Options::from_env().workers;
  ::unsetenv("ERGON_WORKERS");
  return w != 0 ? w : kSimulatedWorkers;
}

// One pool of every worker under `policy`.
[[noreturn]] void one_pool(ergon::Policy policy, double scale) {
  sha1_self_check();
  if (ergon::Options::from_env().simulate) {
    const unsigned w = simulated_workers();
    ergon::Options o;
    o.pools = {{"inject", 1, {}}, {"packets", w, policy}};
    ergon::Runtime rt(o);
    inject_simulated(rt, w, rt.pool("packets"), ergon::Pool{}, scale);
  }
  ergon::Options o;
  o.workers = 0;  // one per hardware thread
  o.policy = policy;
  ergon::Runtime rt(o);
  inject(rt, ergon::Pool{}, ergon::Pool{}, scale);  // Pool{} from outside: the first pool
}

void bimodal_balance(double s) { one_pool(ergon::Policy::kBalance, s); }
void bimodal_steal(double s) { one_pool(ergon::Policy::kSteal, s); }
void bimodal_balance_steal(double s) { one_pool(ergon::Policy::kBalanceSteal, s); }

// Micropools: "cheap" (hardware threads - 1, at least 1) and "expensive" (1 worker).
void bimodal_pools(double s) {
  sha1_self_check();
  if (ergon::Options::from_env().simulate) {
    const unsigned w = std::max(2u, simulated_workers());
    ergon::Options o;
    o.pools = {{"inject", 1, {}}, {"cheap", w - 1, {}}, {"expensive", 1, {}}};
    ergon::Runtime rt(o);
    inject_simulated(rt, w, rt.pool("cheap"), rt.pool("expensive"), s);
  }
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  ergon::Options o;
  o.pools = {{"cheap", std::max(1u, hw - 1), {}}, {"expensive", 1, {}}};
  ergon::Runtime rt(o);
  inject(rt, rt.pool("cheap"), rt.pool("expensive"), s);
}

// The SHA-1 step alone, timed on this thread: what kStepReductions is measured by.
void bimodal_step(double s) {
  sha1_self_check();
  const std::int64_t n = cnt(1'000'000, s);
  std::uint64_t x = kChainSeed;
  const clk::time_point t0 = clk::now();
  for (std::int64_t i = 0; i < n; ++i) {
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
    (void)ec;
    const Digest d = sha1(buf, static_cast<std::size_t>(end - buf));
    std::uint64_t from_digest = 0;
    std::memcpy(&from_digest, d.data(), sizeof from_digest);
    x = splitmix64(x ^ from_digest);
  }
  const double ns = ns_between(t0, clk::now());
  finish(fmt_result(ns, kvi("steps", n) + kvf("ns_per_step", ns / static_cast<double>(n)) +
                            kvi("sink", static_cast<long long>(x & 0xffff))));
}

const Workload kBimodal[] = {
    {"bimodal_balance", bimodal_balance,
     "1 packet in 10,000 runs 2,000 SHA-1 steps: latency histogram, policy balance"},
    {"bimodal_steal", bimodal_steal, "the same, one pool, policy steal"},
    {"bimodal_balance_steal", bimodal_balance_steal, "the same, one pool, policy balance+steal"},
    {"bimodal_pools", bimodal_pools,
     "the same, expensive packets moved to a 1-worker pool of their own"},
    {"bimodal_step", bimodal_step, "the SHA-1 step of an expensive packet alone: ns_per_step"},
};

}  // namespace

std::span<const Workload> bimodal_workloads() { return kBimodal; }

}  // namespace bench
