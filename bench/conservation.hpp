// Conservation: a seeded stress in which no message may be lost or delivered twice, while
// everything that moves processes and messages around is on at once.
//
//   ergon-bench conservation [scale]     10,000,000 messages at scale 1 (bench/conservation.cpp)
//   tests/core/conservation_test.cpp     the same workload at CI size, in every variant
//
// Design
// ------
// P producers send M counted messages in all to C consumers; every choice comes from one seed.
// Around them:
//   - forced migration (Options::force_migration, a 100 us balance interval): the balancer
//     moves a queued process off every worker each tick, so senders and receivers keep moving;
//   - watchdog hand-offs: now and then a producer runs 1 ms without a reduction point, past
//     handoff_after (500 us), so its worker goes to a spare carrier mid-send-loop;
//   - fault injection: delayed and reordered messages (the delay line holds and releases
//     them), and crashes of bystander processes that send uncounted messages and spawn;
//   - exits: producers end at random points of their quota, normally or by a throw.
// Counting: a producer counts a message (sent_[producer][consumer], an atomic) only after its
// send returned, and the sequence number it carries is that count. Producers are spawned with
// SpawnOptions::faults = false, so fault injection delays and reorders their messages but never
// crashes them inside a send (a crash at the yield that ends a send's slice would come after
// the push: the message would be delivered but not counted). Each consumer keeps a bitmap per
// producer: a sequence number seen twice is a duplicate, one beyond the producer's count an
// extra, and one missing at the end a loss. When every producer has ended (monitored), main
// tells each consumer how many messages it must have; the consumer waits for them (delayed ones
// are at most max_delay late), then waits one more max_delay for any extra one.
//
// Rejected: counting with messages to main (a producer that throws must still report, and the
// report itself could be delayed by the line); checking totals only (a loss and a duplicate
// would cancel).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ergon/ergon.hpp"

namespace conservation {

struct Config {
  std::uint64_t messages = 10'000'000;  // counted messages in all
  unsigned producers = 64;
  unsigned consumers = 8;
  std::uint64_t seed = 1;
};

struct Result {
  std::uint64_t sent = 0, received = 0, lost = 0, duplicated = 0, extra = 0;
  std::uint64_t producers_thrown = 0, bystanders = 0;
  std::string error;  // non-empty: the run itself failed
  bool ok() const { return error.empty() && lost == 0 && duplicated == 0 && extra == 0; }
};

// The options the workload runs under, on top of `base` (workers, deterministic, ...).
inline ergon::Options options(ergon::Options base) {
  using namespace std::chrono;
  base.force_migration = true;
  base.balance_interval = microseconds(100);
  base.watchdog_tick = microseconds(100);
  base.preempt_after = microseconds(200);
  base.handoff_after = microseconds(500);
  base.faults.delay_messages = 0.01;
  base.faults.reorder_messages = 0.01;
  base.faults.max_delay = milliseconds(1);
  base.faults.crash = 0.001;       // only the bystanders can crash (producers: faults = false)
  base.faults.fail_spawns = 0.01;  // and only their spawns fail
  base.on_stall = [](const ergon::StallReport&) {};  // hand-offs are the point: no reports
  base.on_crash = [](ergon::Pid, const std::string&) {};
  return base;
}

namespace detail {

struct Msg {
  std::uint32_t producer;
  std::uint32_t seq;
};
struct Finish {
  std::vector<std::uint64_t> expected;  // per producer
};
struct Report {
  unsigned consumer;
  std::uint64_t received, duplicated, extra, lost;
};
struct Noise {};  // a bystander's message: not counted

struct Shared {
  Config cfg;
  std::vector<ergon::Pid> consumers;
  // sent[p * consumers + c]: messages producer p's sends to consumer c that returned.
  std::unique_ptr<std::atomic<std::uint64_t>[]> sent;
  std::atomic<std::uint64_t> thrown{0}, bystanders{0};
};

inline void busy_for(std::chrono::microseconds d) {  // no reduction point: the watchdog's case
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
  }
}

inline void producer(Shared& s, unsigned id, std::uint64_t quota, std::uint64_t seed, bool spins) {
  std::mt19937_64 rng(seed);
  const unsigned c = s.cfg.consumers;
  std::vector<std::uint32_t> next(c, 0);
  const std::uint64_t stop_at = rng() % 8 == 0 ? rng() % (quota + 1) : quota;  // an early end
  const bool throws = rng() % 16 == 0;
  for (std::uint64_t k = 0; k < stop_at; ++k) {
    const unsigned to = static_cast<unsigned>(rng() % c);
    ergon::send(s.consumers[to], Msg{id, next[to]});
    ++next[to];
    // release: pairs with main's acquire after the producer's Down (the count is final).
    s.sent[id * c + to].store(next[to], std::memory_order_release);
    if (spins && rng() % 20'000 == 0) busy_for(std::chrono::microseconds(1000));
    if (rng() % 64 == 0) ergon::yield();
  }
  if (throws) {
    s.thrown.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    throw std::runtime_error("a producer ends by a throw, on purpose");
  }
}

inline void bystander(Shared& s, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  s.bystanders.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  for (int i = 0; i < 200; ++i) {
    ergon::send(s.consumers[rng() % s.consumers.size()], Noise{});  // may crash here (faults)
    if (rng() % 50 == 0 && s.bystanders.load(std::memory_order_relaxed) < 256) {
      try {
        (void)ergon::spawn([&s, sd = rng()] { bystander(s, sd); });  // may fail (fail_spawns)
      } catch (const ergon::Error&) {
      }
    }
  }
}

inline void consumer(const Shared& s, unsigned id, ergon::Pid main) {
  std::vector<std::vector<std::uint64_t>> seen(s.cfg.producers);  // a bitmap per producer
  Report r{id, 0, 0, 0, 0};
  auto record = [&](const Msg& m) {
    std::vector<std::uint64_t>& bits = seen[m.producer];
    if (bits.size() <= m.seq / 64) bits.resize(m.seq / 64 + 1, 0);
    std::uint64_t& word = bits[m.seq / 64];
    const std::uint64_t bit = std::uint64_t{1} << (m.seq % 64);
    if ((word & bit) != 0) ++r.duplicated;
    word |= bit;
    ++r.received;
  };
  std::vector<std::uint64_t> expected;
  while (expected.empty()) {
    ergon::receive(
        record, [](Noise) {}, [&](Finish f) { expected = std::move(f.expected); });
  }
  std::uint64_t want = 0;
  for (std::uint64_t e : expected) want += e;
  const auto late = std::chrono::milliseconds(2);  // twice the delay line's max_delay
  // Delayed messages are at most max_delay late; a generous patience turns a loss into a count.
  while (r.received < want) {
    const bool got = ergon::receive(
        [&](const Msg& m) {
          record(m);
          return true;
        },
        [](Noise) { return true; }, ergon::after(std::chrono::seconds(30), [] { return false; }));
    if (!got) break;
  }
  // One more max_delay (and then some) for anything beyond the count.
  while (ergon::receive(
      [&](const Msg& m) {
        record(m);
        return true;
      },
      [](Noise) { return true; }, ergon::after(late, [] { return false; }))) {
  }
  for (unsigned p = 0; p < s.cfg.producers; ++p) {
    for (std::uint64_t q = 0; q < expected[p]; ++q) {
      const std::vector<std::uint64_t>& bits = seen[p];
      if (q / 64 >= bits.size() || (bits[q / 64] & (std::uint64_t{1} << (q % 64))) == 0) ++r.lost;
    }
    // Sequence numbers at or beyond the producer's count were never sent.
    const std::vector<std::uint64_t>& bits = seen[p];
    for (std::uint64_t q = expected[p]; q < bits.size() * 64; ++q) {
      if ((bits[q / 64] & (std::uint64_t{1} << (q % 64))) != 0) ++r.extra;
    }
  }
  ergon::send(main, r);
}

}  // namespace detail

// Runs the workload as `rt`'s main process (rt must have been built with options()).
inline Result run(ergon::Runtime& rt, const Config& cfg) {
  using namespace detail;
  Shared s;
  s.cfg = cfg;
  s.sent = std::make_unique<std::atomic<std::uint64_t>[]>(cfg.producers * cfg.consumers);
  Result res;
  const bool spins = !rt.deterministic();  // no watchdog in deterministic mode
  try {
    rt.run([&] {
      std::mt19937_64 rng(cfg.seed);
      const ergon::Pid main = ergon::self();
      const ergon::SpawnOptions immune{.faults = false};
      for (unsigned c = 0; c < cfg.consumers; ++c) {
        s.consumers.push_back(ergon::spawn([&s, c, main] { consumer(s, c, main); }, immune));
      }
      std::vector<ergon::Ref> refs;
      const std::uint64_t per = cfg.messages / cfg.producers;
      for (unsigned p = 0; p < cfg.producers; ++p) {
        const std::uint64_t quota = per + (p < cfg.messages % cfg.producers ? 1 : 0);
        const std::uint64_t sd = rng();
        refs.push_back(ergon::monitor(
            ergon::spawn([&s, p, quota, sd, spins] { producer(s, p, quota, sd, spins); }, immune)));
      }
      for (int b = 0; b < 8; ++b) {
        try {
          (void)ergon::spawn([&s, sd = rng()] { detail::bystander(s, sd); });
        } catch (const ergon::Error&) {  // fault injection may fail a spawn
        }
      }
      for (std::size_t i = 0; i < refs.size(); ++i) {
        (void)ergon::receive([](const ergon::Down&) {});  // every producer has ended
      }
      for (unsigned c = 0; c < cfg.consumers; ++c) {
        Finish f;
        for (unsigned p = 0; p < cfg.producers; ++p) {
          // acquire: pairs with the producer's release store; its Down came after it.
          f.expected.push_back(s.sent[p * cfg.consumers + c].load(std::memory_order_acquire));
          res.sent += f.expected.back();
        }
        ergon::send(s.consumers[c], std::move(f));
      }
      for (unsigned c = 0; c < cfg.consumers; ++c) {
        const Report r = ergon::receive([](const Report& x) { return x; });
        res.received += r.received;
        res.lost += r.lost;
        res.duplicated += r.duplicated;
        res.extra += r.extra;
      }
    });
  } catch (const std::exception& e) {
    res.error = e.what();
  }
  res.producers_thrown = s.thrown.load();
  res.bystanders = s.bystanders.load();
  return res;
}

}  // namespace conservation
