// The 12 compass workloads (../shared/peers/WORKLOADS.md, first table) for ergon, with the
// exact semantics of the peers (../shared/peers/go/compass.go, caf/compass.cpp), plus
// hog_latency_checkpoint.
//
// Choices (ergon's entry for ../shared/peers/README.md "Exact choices per runtime"):
//   - process = ergon process (ergon::spawn, default 64 KiB lazily committed stack); mailbox =
//     its own unbounded mailbox; messages are small structs, one type per message kind (ergon
//     dispatches on the C++ type).  Peers are wired up in advance where the peers do so
//     (pingpong, ring, skynet, idle_cpu); big carries the sender's index in the ping.
//   - one ergon::Runtime with the default Options (one worker per hardware thread).  The
//     workload runs in the main process (rt.run), which spawns, collects and measures, like the
//     main goroutine in Go / the driver actor in CAF.  Runtime start-up is not timed.
//   - "wait for a process" = the child sends a done message to the waiter (ergon has no join).
//   - yield = ergon::yield() (back of the worker's run queue).
//   - hog_latency: the hogs run a pure LCG loop with no ergon call, checking the clock every
//     1,000 iterations: only the watchdog can stop them (it hands their workers to spare
//     threads).  hog_latency_checkpoint is the same with ergon::checkpoint() on every LCG step
//     (BEAM charges one reduction per call of its tail-recursive loop), so a hog yields when
//     its time slice is spent.
//   - blocking_latency: ::nanosleep(500 ms) inside a process (blocks its worker thread; the
//     watchdog hands the worker off).  blocking_latency_wrapped (ergon only) makes the same
//     call inside ergon::blocking, which hands the worker off before the call.
//   - idle_cpu: ergon::sleep_until(start + k x 10 ms) (absolute deadlines); cpu_s = getrusage
//     user+sys over the timed region.
//   - memory: VmRSS is read before spawning and after every process has signalled "started"
//     (an atomic count; the last one to start sends one message); untimed check: all are then
//     stopped with a message and counted.
//   - the program _exits right after printing, from inside the main process (no shutdown).
#include <time.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <ergon/ergon.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace bench {
namespace {

// ------------------------------------------------------------------ messages
struct Ping {
  std::int64_t v;
};
struct Pong {
  std::int64_t v;
};
struct Stop {};
struct Done {
  std::int64_t v;
};
struct Count {
  std::int64_t v;
};
struct NextPid {
  ergon::Pid pid;
};
struct Token {
  std::int64_t k;
};
struct Sum {
  std::int64_t v;
};
struct Start {};
struct BigPing {
  std::int32_t from;
};
struct BigPong {};
struct Ready {};
struct Gone {};
struct LatResult {
  std::uint64_t n, max, p50, p99;
};
struct Peer {
  ergon::Pid pid;
};
struct Tick {
  std::int64_t k;
};

// Runs `body` as the main process of a fresh runtime. `body` prints and _exits.
template <class F>
void in_runtime(F&& body) {
  ergon::Runtime rt;
  rt.run(std::forward<F>(body));
}

// ------------------------------------------------------------------ pingpong pieces
// Answers Ping with Pong to `pinger`; on Stop reports its count to `report_to`.
void ponger_loop(ergon::Pid pinger, ergon::Pid report_to) {
  std::int64_t count = 0;
  for (bool running = true; running;) {
    ergon::receive(
        [&](const Ping& p) {
          count++;
          ergon::send(pinger, Pong{p.v});
        },
        [&](Stop) { running = false; });
  }
  ergon::send(report_to, Count{count});
}

// n round trips with `ponger`.
void ping_rounds(ergon::Pid ponger, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    ergon::send(ponger, Ping{i});
    ergon::receive<Pong>();
  }
}

void pingpong(double s) {
  const std::int64_t n = cnt(1e6, s);
  in_runtime([n] {
    const ergon::Pid main = ergon::self();
    const clk::time_point t0 = clk::now();
    // The pinger spawns its ponger (so the ponger knows its pid), does n round trips and
    // reports to main; both processes and the final wait are timed (as in the peers).
    ergon::spawn([main, n] {
      const ergon::Pid me = ergon::self();
      const ergon::Pid ponger = ergon::spawn([me, main] { ponger_loop(me, main); });
      ping_rounds(ponger, n);
      ergon::send(main, NextPid{ponger});
      ergon::send(main, Done{n});
    });
    const ergon::Pid ponger = ergon::receive<NextPid>().pid;
    const std::int64_t rounds = ergon::receive<Done>().v;
    const std::int64_t ns = ns_since(t0);
    ergon::send(ponger, Stop{});  // untimed check: the ponger's count
    const std::int64_t pongs = ergon::receive<Count>().v;
    check(rounds == n && pongs == n, "pongs=" + std::to_string(pongs));
    finish(fmt_result(ns, kvf("ns_per_rt", double(ns) / n) + kvi("round_trips", n)));
  });
}

void pingpong_pairs(double s) {
  const std::int64_t p = 1000;
  const std::int64_t r = cnt(1000, s);
  in_runtime([p, r] {
    const ergon::Pid main = ergon::self();
    const clk::time_point t0 = clk::now();
    for (std::int64_t i = 0; i < p; ++i) {
      ergon::spawn([main, r] {
        const ergon::Pid me = ergon::self();
        const ergon::Pid ponger = ergon::spawn([me] { ponger_loop(me, me); });
        ping_rounds(ponger, r);
        ergon::send(ponger, Stop{});
        ergon::send(main, Done{ergon::receive<Count>().v});  // the ponger's count
      });
    }
    std::int64_t total = 0;
    for (std::int64_t i = 0; i < p; ++i) total += ergon::receive<Done>().v;
    const std::int64_t ns = ns_since(t0);
    check(total == p * r, "round_trips=" + std::to_string(total));
    finish(fmt_result(ns, kvf("ns_per_rt", double(ns) / total) + kvi("round_trips", total)));
  });
}

// ------------------------------------------------------------------ ring
void ring_node(std::int64_t idx, ergon::Pid next, ergon::Pid main) {
  for (;;) {
    const std::int64_t k = ergon::receive<Token>().k;
    if (k == 0) {
      ergon::send(main, Done{idx});
    } else {
      ergon::send(next, Token{k - 1});
    }
  }
}

void ring(double s) {
  const std::int64_t n = 10000;
  const std::int64_t h = cnt(1e6, s);
  in_runtime([n, h] {
    const ergon::Pid main = ergon::self();
    const clk::time_point t0 = clk::now();
    // As CAF: spawn the last node first (it learns its successor, node 0, by message), then
    // nodes n-2 .. 0, each given its already spawned successor.
    const ergon::Pid last = ergon::spawn([n, main] {
      const ergon::Pid next = ergon::receive<NextPid>().pid;
      ring_node(n - 1, next, main);
    });
    ergon::Pid next = last;
    for (std::int64_t i = n - 2; i >= 0; --i) {
      next = ergon::spawn([i, next, main] { ring_node(i, next, main); });
    }
    ergon::send(last, NextPid{next});
    const clk::time_point t1 = clk::now();
    ergon::send(next, Token{h});
    const std::int64_t idx = ergon::receive<Done>().v;
    const std::int64_t ns = ns_since(t1);
    check(idx == h % n, "final node " + std::to_string(idx));
    finish(fmt_result(ns, kvf("ns_per_hop", double(ns) / h) +
                              kvf("create_ms", ns_between(t0, t1) / 1e6) + kvi("hops", h) +
                              kvi("procs", n)));
  });
}

// ------------------------------------------------------------------ skynet
void skynet_node(ergon::Pid parent, std::int64_t num, std::int64_t size) {
  if (size == 1) {
    ergon::send(parent, Sum{num});
    return;
  }
  const std::int64_t sub = size / 10;
  const ergon::Pid me = ergon::self();
  for (std::int64_t i = 0; i < 10; ++i) {
    const std::int64_t child = num + i * sub;
    ergon::spawn([me, child, sub] { skynet_node(me, child, sub); });
  }
  std::int64_t sum = 0;
  for (int i = 0; i < 10; ++i) sum += ergon::receive<Sum>().v;
  ergon::send(parent, Sum{sum});
}

std::int64_t skynet_leaves(double s) {
  int d = static_cast<int>(std::lround(6 + std::log10(s)));
  if (d < 1) d = 1;
  std::int64_t l = 1;
  for (int i = 0; i < d; ++i) l *= 10;
  return l;
}

void skynet(double s) {
  const std::int64_t l = skynet_leaves(s);
  in_runtime([l] {
    const ergon::Pid main = ergon::self();
    const clk::time_point t0 = clk::now();
    ergon::spawn([main, l] { skynet_node(main, 0, l); });
    const std::int64_t sum = ergon::receive<Sum>().v;
    const std::int64_t ns = ns_since(t0);
    check(sum == l * (l - 1) / 2, "sum=" + std::to_string(sum));
    std::int64_t procs = 0;
    for (std::int64_t x = l; x >= 1; x /= 10) procs += x;
    finish(fmt_result(ns, kvi("sum", sum) + kvi("procs", procs)));
  });
}

// ------------------------------------------------------------------ spawn_many / spawn_one
void spawn_many(double s) {
  const std::int64_t n = cnt(1e6, s);
  in_runtime([n] {
    const ergon::Pid main = ergon::self();
    static std::atomic<std::int64_t> ran{0};
    const clk::time_point t0 = clk::now();
    for (std::int64_t i = 0; i < n; ++i) {
      ergon::spawn([main] {
        ran.fetch_add(1, std::memory_order_relaxed);
        ergon::send(main, Done{1});
      });
    }
    for (std::int64_t i = 0; i < n; ++i) ergon::receive<Done>();
    const std::int64_t ns = ns_since(t0);
    check(ran.load() == n, "ran=" + std::to_string(ran.load()));
    finish(fmt_result(ns, kvf("ns_per_spawn", double(ns) / n) + kvi("procs", n)));
  });
}

void spawn_one(double s) {
  const std::int64_t n = cnt(1e5, s);
  in_runtime([n] {
    const ergon::Pid main = ergon::self();
    const clk::time_point t0 = clk::now();
    for (std::int64_t i = 0; i < n; ++i) {
      ergon::spawn([main] { ergon::send(main, Done{1}); });
      ergon::receive<Done>();
    }
    const std::int64_t ns = ns_since(t0);
    finish(fmt_result(ns, kvf("ns_per_spawn", double(ns) / n) + kvi("procs", n)));
  });
}

// ------------------------------------------------------------------ yield
void yield_w(double s) {
  const std::int64_t p = 1000;
  const std::int64_t y = cnt(1000, s);
  in_runtime([p, y] {
    const ergon::Pid main = ergon::self();
    const clk::time_point t0 = clk::now();
    for (std::int64_t i = 0; i < p; ++i) {
      ergon::spawn([main, y] {
        for (std::int64_t j = 0; j < y; ++j) ergon::yield();
        ergon::send(main, Done{y});
      });
    }
    std::int64_t total = 0;
    for (std::int64_t i = 0; i < p; ++i) total += ergon::receive<Done>().v;
    const std::int64_t ns = ns_since(t0);
    check(total == p * y, "yields=" + std::to_string(total));
    finish(fmt_result(ns, kvf("ns_per_yield", double(ns) / total) + kvi("yields", total)));
  });
}

// ------------------------------------------------------------------ big
void big(double s) {
  std::int64_t n = std::llround(1000 * std::sqrt(s));
  if (n < 2) n = 2;
  in_runtime([n] {
    const ergon::Pid main = ergon::self();
    const clk::time_point t0 = clk::now();
    // The peer table is filled while early processes already run: every process waits for
    // Start, which main sends once the table is complete (as CAF). Table and spawns are timed.
    std::vector<ergon::Pid> peers;
    peers.reserve(static_cast<std::size_t>(n));
    const std::vector<ergon::Pid>* table = &peers;  // main outlives them (it _exits)
    for (std::int64_t i = 0; i < n; ++i) {
      const auto me = static_cast<std::int32_t>(i);
      peers.push_back(ergon::spawn([table, me, n, main] {
        ergon::receive<Start>();
        for (std::int64_t k = 1; k < n; ++k) {
          ergon::send((*table)[static_cast<std::size_t>((me + k) % n)], BigPing{me});
        }
        std::int64_t pings = n - 1, pongs = n - 1, c = 0;
        while (pings > 0 || pongs > 0) {
          ergon::receive(
              [&](const BigPing& m) {
                c++;
                ergon::send((*table)[static_cast<std::size_t>(m.from)], BigPong{});
                pings--;
              },
              [&](BigPong) {
                c++;
                pongs--;
              });
        }
        ergon::send(main, Done{c});
      }));
    }
    for (const ergon::Pid& p : peers) ergon::send(p, Start{});
    std::int64_t total = 0;
    for (std::int64_t i = 0; i < n; ++i) total += ergon::receive<Done>().v;
    const std::int64_t ns = ns_since(t0);
    check(total == 2 * n * (n - 1), "messages=" + std::to_string(total));
    finish(fmt_result(ns, kvi("messages", total) + kvi("procs", n)));
  });
}

// ------------------------------------------------------------------ memory
void memory(double s) {
  const std::int64_t n = cnt(1e6, s);
  in_runtime([n] {
    const ergon::Pid main = ergon::self();
    static std::atomic<std::int64_t> ready{0}, gone{0};
    std::vector<ergon::Pid> procs;
    procs.reserve(static_cast<std::size_t>(n));
    const long rss0 = vmrss_kb();
    const clk::time_point t0 = clk::now();
    for (std::int64_t i = 0; i < n; ++i) {
      procs.push_back(ergon::spawn([main, n] {
        if (ready.fetch_add(1) + 1 == n) ergon::send(main, Ready{});
        ergon::receive<Stop>();  // blocks in receive until stopped
        if (gone.fetch_add(1) + 1 == n) ergon::send(main, Gone{});
      }));
    }
    ergon::receive<Ready>();
    const std::int64_t ns = ns_since(t0);
    const long rss1 = vmrss_kb();
    for (const ergon::Pid& p : procs) ergon::send(p, Stop{});  // untimed check
    ergon::receive<Gone>();
    check(ready.load() == n && gone.load() == n,
          "ready=" + std::to_string(ready.load()) + " gone=" + std::to_string(gone.load()));
    finish(fmt_result(ns, kvf("bytes_per_proc", double(rss1 - rss0) * 1024 / n) +
                              kvi("rss_before_kb", rss0) + kvi("rss_after_kb", rss1) +
                              kvi("procs", n)));
  });
}

// ------------------------------------------------------------------ memory_hibernated
// 1,000,000 processes parked by ergon::hibernate: RSS per process. They are spawned in waves
// of 256, each wave waited for until all of it has hibernated, so that stacks given back by
// hibernation are reused by the next wave, as a long-lived server's are: what stays per
// process is its record and mailbox (the stacks in play at once are a wave's, not a million).
void memory_hibernated(double s) {
  const std::int64_t n = cnt(1e6, s);
  in_runtime([n] {
    const ergon::Pid main = ergon::self();
    static std::atomic<std::int64_t> gone{0};
    std::vector<ergon::Pid> procs;
    procs.reserve(static_cast<std::size_t>(n));
    const long rss0 = vmrss_kb();
    const clk::time_point t0 = clk::now();
    constexpr std::int64_t kWave = 256;
    for (std::int64_t i = 0; i < n; i += kWave) {
      const std::int64_t wave = std::min(kWave, n - i);
      for (std::int64_t k = 0; k < wave; ++k) {
        procs.push_back(ergon::spawn([main, n] {
          ergon::send(main, Ready{});
          ergon::hibernate([main, n] {
            ergon::receive<Stop>();
            if (gone.fetch_add(1) + 1 == n) ergon::send(main, Gone{});
          });
        }));
      }
      for (std::int64_t k = 0; k < wave; ++k) ergon::receive<Ready>();
    }
    ergon::yield();  // the last wave's processes finish hibernating
    const std::int64_t ns = ns_since(t0);
    const long rss1 = vmrss_kb();
    for (const ergon::Pid& p : procs) ergon::send(p, Stop{});  // untimed check
    ergon::receive<Gone>();
    check(gone.load() == n, "gone=" + std::to_string(gone.load()));
    finish(fmt_result(ns, kvf("bytes_per_proc", double(rss1 - rss0) * 1024 / n) +
                              kvi("rss_before_kb", rss0) + kvi("rss_after_kb", rss1) +
                              kvi("procs", n)));
  });
}

// ------------------------------------------------------------------ hog / blocking latency
std::atomic<std::uint64_t> g_sink{0};

// A pure compute loop: no ergon call, the clock checked every 1,000 iterations.
std::uint64_t hog_loop(std::chrono::nanoseconds d) {
  const clk::time_point end = clk::now() + d;
  std::uint64_t acc = 1;
  for (;;) {
    for (int i = 0; i < 1000; ++i) acc = (acc * 1103515245u + 12345u) & 0x7fffffffu;
    if (clk::now() >= end) return acc;
  }
}

// The same loop with ergon::checkpoint() on every iteration, so that the hog yields when its
// slice is spent.
std::uint64_t hog_loop_checkpoint(std::chrono::nanoseconds d) {
  const clk::time_point end = clk::now() + d;
  std::uint64_t acc = 1;
  for (;;) {
    for (int i = 0; i < 1000; ++i) {
      acc = (acc * 1103515245u + 12345u) & 0x7fffffffu;
      ergon::checkpoint();
    }
    if (clk::now() >= end) return acc;
  }
}

// Starts a ponger and a pinger; the pinger does back-to-back round trips for `dur` (its window
// ends at the first round trip that completes after `dur`) and sends a LatResult to `main`.
void start_lat_pair(ergon::Pid main, std::chrono::nanoseconds dur) {
  ergon::spawn([main, dur] {
    const ergon::Pid me = ergon::self();
    const ergon::Pid ponger = ergon::spawn([me] {
      for (bool running = true; running;) {
        ergon::receive([&](const Ping& p) { ergon::send(me, Pong{p.v}); },
                       [&](Stop) { running = false; });
      }
    });
    Hist h;
    const clk::time_point end = clk::now() + dur;
    for (std::int64_t i = 0;; ++i) {
      const clk::time_point t0 = clk::now();
      ergon::send(ponger, Ping{i});
      ergon::receive<Pong>();
      const clk::time_point t1 = clk::now();
      h.add(static_cast<std::uint64_t>(ns_between(t0, t1)));
      if (t1 >= end) break;
    }
    ergon::send(ponger, Stop{});
    ergon::send(main, LatResult{h.n, h.max, h.pct(0.50), h.pct(0.99)});
  });
}

enum class Disturber { kHog, kHogCheckpoint, kBlocker, kBlockerWrapped };

void latency(Disturber kind) {
  in_runtime([kind] {
    const std::int64_t nh = 4 * static_cast<std::int64_t>(std::thread::hardware_concurrency());
    const ergon::Pid main = ergon::self();
    const clk::time_point t0 = clk::now();
    start_lat_pair(main, std::chrono::seconds(2));
    for (std::int64_t i = 0; i < nh; ++i) {
      ergon::spawn([main, kind] {
        switch (kind) {
          case Disturber::kHog:
            g_sink += hog_loop(std::chrono::milliseconds(1500));
            break;
          case Disturber::kHogCheckpoint:
            g_sink += hog_loop_checkpoint(std::chrono::milliseconds(1500));
            break;
          case Disturber::kBlocker: {
            timespec ts{0, 500'000'000};  // a raw blocking syscall: blocks the worker thread
            while (::nanosleep(&ts, &ts) == -1 && errno == EINTR) {
            }
            break;
          }
          case Disturber::kBlockerWrapped:
            ergon::blocking([] {
              timespec ts{0, 500'000'000};
              while (::nanosleep(&ts, &ts) == -1 && errno == EINTR) {
              }
            });
            break;
        }
        ergon::send(main, Done{1});
      });
    }
    const LatResult lat = ergon::receive<LatResult>();
    std::int64_t done = 0;
    for (std::int64_t i = 0; i < nh; ++i) done += ergon::receive<Done>().v;
    const std::int64_t ns = ns_since(t0);
    check(lat.n > 0, "no samples");
    check(done == nh, "done=" + std::to_string(done));
    finish(fmt_result(
        ns, kvf("max_rt_us", double(lat.max) / 1e3) + kvf("p50_us", double(lat.p50) / 1e3) +
                kvf("p99_us", double(lat.p99) / 1e3) +
                kvi("samples", static_cast<long long>(lat.n)) +
                kvi(kind == Disturber::kBlocker || kind == Disturber::kBlockerWrapped ? "blockers"
                                                                                      : "hogs",
                    nh)));
  });
}

void hog_latency(double) { latency(Disturber::kHog); }
void hog_latency_checkpoint(double) { latency(Disturber::kHogCheckpoint); }
void blocking_latency(double) { latency(Disturber::kBlocker); }
void blocking_latency_wrapped(double) { latency(Disturber::kBlockerWrapped); }

// ------------------------------------------------------------------ idle_cpu
constexpr std::int64_t kIdleTicks = 500;
constexpr std::chrono::milliseconds kIdlePeriod{10};

// One side of a pair (Go's node()): optionally sends first; tick k is sent at start + k x 10 ms.
void idle_node(ergon::Pid main, clk::time_point start, bool first) {
  const ergon::Pid peer = ergon::receive<Peer>().pid;
  std::int64_t recv = 0;
  std::int64_t k = 1;
  if (!first) {
    const std::int64_t v = ergon::receive<Tick>().k;
    recv++;
    if (v == kIdleTicks) {
      ergon::send(main, Done{recv});
      return;
    }
    k = v + 1;
  }
  for (;;) {
    ergon::sleep_until(start + k * kIdlePeriod);
    ergon::send(peer, Tick{k});
    if (k == kIdleTicks) {
      ergon::send(main, Done{recv});
      return;
    }
    const std::int64_t v = ergon::receive<Tick>().k;
    recv++;
    if (v == kIdleTicks) {
      ergon::send(main, Done{recv});
      return;
    }
    k = v + 1;
  }
}

void idle_cpu(double s) {
  const std::int64_t p = cnt(1000, s);
  in_runtime([p] {
    const ergon::Pid main = ergon::self();
    const double cpu0 = cpu_seconds();
    const clk::time_point start = clk::now();
    for (std::int64_t i = 0; i < p; ++i) {
      const ergon::Pid a = ergon::spawn([main, start] { idle_node(main, start, true); });
      const ergon::Pid b = ergon::spawn([main, start] { idle_node(main, start, false); });
      ergon::send(a, Peer{b});
      ergon::send(b, Peer{a});
    }
    std::int64_t total = 0;
    for (std::int64_t i = 0; i < 2 * p; ++i) total += ergon::receive<Done>().v;
    const std::int64_t ns = ns_since(start);
    const double cpu = cpu_seconds() - cpu0;
    check(total == p * kIdleTicks, "messages=" + std::to_string(total));
    finish(fmt_result(ns, kvf("cpu_s", cpu) + kvi("messages", total) + kvi("pairs", p)));
  });
}

constexpr Workload kCompass[] = {
    {"pingpong", pingpong, "2 processes, 1,000,000 round trips"},
    {"pingpong_pairs", pingpong_pairs, "1,000 pairs x 1,000 round trips"},
    {"ring", ring, "10,000-process ring, 1,000,000 hops"},
    {"skynet", skynet, "10-ary spawn tree, 1,000,000 leaves"},
    {"spawn_many", spawn_many, "spawn 1,000,000 processes, wait for all"},
    {"spawn_one", spawn_one, "100,000 x spawn one process and wait"},
    {"yield", yield_w, "1,000 processes x 1,000 yields"},
    {"big", big, "1,000 processes, each pings every other"},
    {"memory", memory, "1,000,000 processes blocked in receive: RSS per process"},
    {"memory_hibernated", memory_hibernated,
     "1,000,000 processes parked by ergon::hibernate: RSS per process"},
    {"hog_latency", hog_latency, "pingpong latency while 4 x nproc hogs compute 1.5 s"},
    {"hog_latency_checkpoint", hog_latency_checkpoint,
     "hog_latency with ergon::checkpoint() in the hog loop"},
    {"blocking_latency", blocking_latency, "pingpong latency while 4 x nproc processes nanosleep"},
    {"blocking_latency_wrapped", blocking_latency_wrapped,
     "blocking_latency with the nanosleep inside ergon::blocking"},
    {"idle_cpu", idle_cpu, "1,000 pairs ticking every 10 ms for 5 s: cpu seconds"},
};

}  // namespace

std::span<const Workload> compass_workloads() { return kCompass; }

}  // namespace bench
