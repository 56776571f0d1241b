// The smolscale suite (../shared/peers/WORKLOADS.md, second table) for ergon, with the exact
// semantics and timing of the peers (../shared/peers/smolsuite/go/smolsuite.go,
// smolsuite/caf/smolsuite.cpp).
//
// Prints: RESULT <workload> ergon wall_ms=<float> ns_per_iter=<float> iters=<n> samples=<n>
//         batch=<n> ns_per_op=<float> setup_ms=<float>
//
// Timing: bench::measure (harness.hpp), the peers' loop: T = 1.5 s x scale, warm-up T/10,
// batch = max(1, floor(T / (50 est))), samples until T and at least 5, median per iteration.
// The timed loop runs in the main process (rt.run), as Go's runs in the main goroutine.
//
// Choices:
//   - "spawn and wait for it": the child sends a Done message to the waiter (ergon has no join
//     yet).  s_spawn_many / s_yield_now count the 25,000 / 300 Done messages instead of taking
//     them in spawn order, as CAF does: a guarded receive for child k would rescan the Done
//     messages of later children (they finish in about reverse spawn order), which is
//     quadratic and would measure the scan, not the spawns.  Same total work.
//   - yield = ergon::yield().
//   - bounded(n) channels = the receiver's plain mailbox (unbounded), as in the Erlang and CAF
//     peers: with one request (s_ping_pong) or one token (chains) in flight the bound is
//     never reached.
//   - one-shot reply (s_ping_pong) = a receive marker: `ergon::Marker m = ergon::mark();`
//     before the request {self()}, then `m.receive(Reply)`, which only looks at messages that
//     arrived after the marker (Erlang's make_ref + recv_marker; the cost of the marker is in
//     the timed loop, as the peers' fresh oneshot channels / refs are).
//   - chains: forwarder processes that send Tok{k} on to the next; the last sends to main.
//   - s_fanout: as the Erlang/CAF peers: a router process forwards each value round-robin to
//     1,000 worker processes; bounded(1) is emulated with one credit (a worker that receives a
//     value sends Credit to main, which sends value k+1 only after the credit of value k).
//     One value is sent during set-up, so every timed send waits for a credit.  Per value:
//     main -> router -> worker -> main (3 messages).  Check: the workers' counts add up to
//     every value sent.
//   - responders, forwarders, background yielders and fanout workers are never stopped: the
//     program _exits right after printing.
#include <cstdint>
#include <ergon/ergon.hpp>
#include <string>
#include <vector>

#include "harness.hpp"

namespace bench {
namespace {

constexpr std::int64_t kTasks = 300, kSteps = 300, kLightTasks = 25000, kNumPings = 1000,
                       kNumIter = 1000, kFanoutRecv = 1000;

struct Done {};
struct Req {
  ergon::Pid from;
};
struct Reply {
  std::uint8_t v;
};
struct Tok {
  std::int64_t k;
};
struct Val {};
struct Credit {};
struct CountReq {
  ergon::Pid from;
};
struct CountIs {
  std::int64_t c;
};

template <class F>
void in_runtime(F&& body) {
  ergon::Runtime rt;
  rt.run(std::forward<F>(body));
}

void s_spawn_one(double s) {
  in_runtime([s] {
    const ergon::Pid main = ergon::self();
    finish(measure(s, 1, 0, [main] {
      ergon::spawn([main] { ergon::send(main, Done{}); });
      ergon::receive<Done>();
    }));
  });
}

// s_spawn_many (steps = 0) and s_yield_now (steps = kSteps)
void spawn_n(double s, std::int64_t n, std::int64_t steps) {
  in_runtime([s, n, steps] {
    const ergon::Pid main = ergon::self();
    finish(measure(s, double(n * std::max<std::int64_t>(steps, 1)), 0, [main, n, steps] {
      for (std::int64_t i = 0; i < n; ++i) {
        ergon::spawn([main, steps] {
          for (std::int64_t j = 0; j < steps; ++j) ergon::yield();
          ergon::send(main, Done{});
        });
      }
      for (std::int64_t i = 0; i < n; ++i) ergon::receive<Done>();
    }));
  });
}

void s_spawn_many(double s) { spawn_n(s, kLightTasks, 0); }
void s_yield_now(double s) { spawn_n(s, kTasks, kSteps); }

void s_ping_pong(double s) {
  in_runtime([s] {
    const clk::time_point t0 = clk::now();
    const ergon::Pid responder = ergon::spawn([] {  // loops forever
      for (;;) {
        const Req r = ergon::receive<Req>();
        ergon::send(r.from, Reply{0});
      }
    });
    const double setup = ns_between(t0, clk::now());
    const ergon::Pid me = ergon::self();
    finish(measure(s, kNumPings, setup, [me, responder] {
      for (std::int64_t i = 0; i < kNumPings; ++i) {
        ergon::Marker m = ergon::mark();  // the one-shot reply: see the header
        ergon::send(responder, Req{me});
        const std::uint8_t v = m.receive([](const Reply& r) { return r.v; });
        if (v != 0) fail("reply " + std::to_string(v));
      }
    }));
  });
}

// A chain of n forwarders ending at `tail`; returns its head.
ergon::Pid chain(std::int64_t n, ergon::Pid tail) {
  ergon::Pid next = tail;
  for (std::int64_t i = 0; i < n; ++i) {
    next = ergon::spawn([next] {
      for (;;) ergon::send(next, ergon::receive<Tok>());
    });
  }
  return next;
}

// s_ctx_quiet (chain = kTasks, tokens = 1, busy = 0) and s_ctx_busy (kTasks/10, 10, kTasks)
void ctx(double s, std::int64_t chain_len, std::int64_t tokens, std::int64_t busy) {
  in_runtime([=] {
    const clk::time_point t0 = clk::now();
    const ergon::Pid head = chain(chain_len, ergon::self());
    for (std::int64_t i = 0; i < busy; ++i) {
      ergon::spawn([] {
        for (;;) ergon::yield();
      });
    }
    const double setup = ns_between(t0, clk::now());
    std::int64_t k = 0;
    finish(measure(s, double(tokens * chain_len), setup, [&k, head, tokens] {
      for (std::int64_t j = 0; j < tokens; ++j) {
        k++;
        ergon::send(head, Tok{k});
        const std::int64_t v = ergon::receive<Tok>().k;
        if (v != k) fail("token " + std::to_string(v) + ", want " + std::to_string(k));
      }
    }));
  });
}

void s_ctx_quiet(double s) { ctx(s, kTasks, 1, 0); }
void s_ctx_busy(double s) { ctx(s, kTasks / 10, 10, kTasks); }

void s_fanout(double s) {
  in_runtime([s] {
    const clk::time_point t0 = clk::now();
    const ergon::Pid main = ergon::self();
    std::vector<ergon::Pid> workers;
    workers.reserve(kFanoutRecv);
    for (std::int64_t i = 0; i < kFanoutRecv; ++i) {
      workers.push_back(ergon::spawn([main] {
        std::int64_t c = 0;
        for (;;) {
          ergon::receive(
              [&](Val) {
                c++;
                ergon::send(main, Credit{});
              },
              [&](const CountReq& r) { ergon::send(r.from, CountIs{c}); });
        }
      }));
    }
    const ergon::Pid router = ergon::spawn([ws = workers] {
      std::size_t i = 0;
      for (;;) {
        ergon::receive<Val>();
        ergon::send(ws[i], Val{});
        if (++i == ws.size()) i = 0;
      }
    });
    ergon::send(router, Val{});  // the value already in the bounded(1) slot
    std::int64_t sent = 1;
    const double setup = ns_between(t0, clk::now());
    const std::string line = measure(s, kNumIter, setup, [&sent, router] {
      for (std::int64_t i = 0; i < kNumIter; ++i) {
        ergon::receive<Credit>();
        ergon::send(router, Val{});
      }
      sent += kNumIter;
    });
    ergon::receive<Credit>();  // the last value has been taken
    for (const ergon::Pid& w : workers) ergon::send(w, CountReq{main});
    std::int64_t got = 0;
    for (std::int64_t i = 0; i < kFanoutRecv; ++i) got += ergon::receive<CountIs>().c;
    check(got == sent, "received " + std::to_string(got) + " of " + std::to_string(sent));
    finish(line);
  });
}

// s_nursery: smolscale's spawn_executors_recursively with structured concurrency. One
// nursery in main spawns kTasks processes; each nests kSteps nurseries, one per process, each
// spawning the next level and waiting for it (a chain of 300 processes per task, 90,000
// processes alive at the deepest point). Each level returns its depth + the level below's, so
// the sum checks that every nursery ran and collected its child's result. ergon only: the
// peers have no nursery (smolscale's Nursery is experimental and not in its benchmark table).
std::int64_t nest(std::int64_t depth) {
  if (depth == 0) return 0;
  return ergon::nursery([depth](ergon::Nursery& n) {
    ergon::Child<std::int64_t> below = n.spawn([depth] { return nest(depth - 1); });
    return depth + below.get();
  });
}

void s_nursery(double s) {
  in_runtime([s] {
    finish(measure(s, double(kTasks * kSteps), 0, [] {
      const std::int64_t total = ergon::nursery([](ergon::Nursery& n) {
        std::vector<ergon::Child<std::int64_t>> kids;
        kids.reserve(kTasks);
        for (std::int64_t i = 0; i < kTasks; ++i)
          kids.push_back(n.spawn([] { return nest(kSteps); }));
        std::int64_t sum = 0;
        for (auto& t : kids) sum += t.get();
        return sum;
      });
      const std::int64_t want = kTasks * kSteps * (kSteps + 1) / 2;
      if (total != want) fail("sum " + std::to_string(total) + ", want " + std::to_string(want));
    }));
  });
}

constexpr Workload kSmol[] = {
    {"s_spawn_one", s_spawn_one, "smolscale: spawn one empty process and wait (per iter)"},
    {"s_spawn_many", s_spawn_many, "smolscale: spawn 25,000 empty processes, wait for all"},
    {"s_yield_now", s_yield_now, "smolscale: 300 processes x 300 yields"},
    {"s_ping_pong", s_ping_pong, "smolscale: 1,000 request/replies with a one-shot reply"},
    {"s_ctx_quiet", s_ctx_quiet, "smolscale: one token through 300 forwarders"},
    {"s_ctx_busy", s_ctx_busy, "smolscale: 10 tokens through 30 forwarders + 300 yielders"},
    {"s_fanout", s_fanout, "smolscale: 1,000 sends to 1,000 competing receivers (router)"},
    {"s_nursery", s_nursery, "smolscale: 300 processes x 300 nested nurseries (ergon only)"},
};

}  // namespace

std::span<const Workload> smolsuite_workloads() { return kSmol; }

}  // namespace bench
