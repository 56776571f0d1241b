// Tests of monitors (ergon/monitor.hpp), one per rule of Erlang's monitor/2 and demonitor/2:
// one Down per monitor with the reason, noproc at once for a dead or unknown pid, monitors
// stack, demonitor cancels (and flush removes a delivered Down, even one being sent), Down
// comes after the process's last messages, a monitor leaves no entry on either side once it is
// cancelled, fired, or its watcher ended; a monitor by registered name resolves the name at the
// call and its Downs carry the name. Plus a seeded stress: every monitor fires exactly
// once.
#include <atomic>
#include <chrono>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon::Down;
using ergon::ExitReason;
using ergon_test::await;

struct Go {};
struct Last {
  int n;
};

class Monitor : public ergon_test::RuntimeTest {
 protected:
  void quiet() {
    ergon::Options o = options();
    o.on_crash = [](ergon::Pid, const std::string&) {};
    runtime(o);
  }
};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Monitor);

// Receives the Down of `ref` (other messages stay in the mailbox).
Down down_of(const ergon::Ref& ref) {
  std::optional<Down> d = ergon::receive_for<Down>(ergon_test::patience());
  while (d && d->ref != ref) d = ergon::receive_for<Down>(ergon_test::patience());
  if (!d) throw std::runtime_error("no Down for " + ref.to_string());
  return *d;
}

// Receives the Downs of all of `refs`, in any order; other messages (other Downs too) stay.
std::vector<Down> downs_of(const std::vector<ergon::Ref>& refs) {
  std::unordered_set<ergon::Ref> want(refs.begin(), refs.end());
  std::vector<Down> got;
  while (!want.empty()) {
    std::optional<Down> d =
        ergon::receive(ergon::on<Down>([&want](const Down& x) { return want.count(x.ref) != 0; },
                                       [](Down& x) { return std::optional<Down>(std::move(x)); }),
                       ergon::after(ergon_test::patience(), [] { return std::optional<Down>(); }));
    if (!d) throw std::runtime_error("no Down for " + std::to_string(want.size()) + " monitors");
    want.erase(d->ref);
    got.push_back(std::move(*d));
  }
  return got;
}

TEST_P(Monitor, DownCarriesNormalWhenTheProcessReturns) {
  run([] {
    const ergon::Pid p = ergon::spawn([] { (void)await<Go>(); });
    const ergon::Ref r = ergon::monitor(p);
    EXPECT_EQ(r.target(), p);
    ergon::send(p, Go{});
    const Down d = await<Down>();
    EXPECT_EQ(d.ref, r);
    EXPECT_EQ(d.pid, p);
    EXPECT_TRUE(d.reason.normal());
    EXPECT_EQ(d.reason.to_string(), "normal");
  });
}

TEST_P(Monitor, DownCarriesTheExceptionThatEndedTheProcess) {
  quiet();
  run([] {
    const ergon::Pid p = ergon::spawn([] {
      (void)await<Go>();
      throw std::runtime_error("disk on fire");
    });
    const ergon::Ref r = ergon::monitor(p);
    ergon::send(p, Go{});
    const Down d = await<Down>();
    EXPECT_EQ(d.ref, r);
    EXPECT_EQ(d.reason.kind, ExitReason::Kind::kException);
    EXPECT_EQ(d.reason.what, "disk on fire");
    EXPECT_EQ(d.reason.to_string(), "exception: disk on fire");
  });
}

TEST_P(Monitor, ADeadOrUnknownPidGivesNoprocAtOnce) {
  run([] {
    const ergon::Pid p = ergon::spawn([] {});
    const ergon::Ref first = ergon::monitor(p);
    (void)down_of(first);  // now it has certainly ended
    const ergon::Ref again = ergon::monitor(p);
    Down d = await<Down>();
    EXPECT_EQ(d.ref, again);
    EXPECT_EQ(d.pid, p);
    EXPECT_EQ(d.reason.kind, ExitReason::Kind::kNoProc);
    const ergon::Ref none = ergon::monitor(ergon::Pid{});
    d = await<Down>();
    EXPECT_EQ(d.ref, none);
    EXPECT_EQ(d.reason.to_string(), "noproc");
  });
}

TEST_P(Monitor, MonitorsStack) {
  run([] {
    const ergon::Pid p = ergon::spawn([] { (void)await<Go>(); });
    const ergon::Ref a = ergon::monitor(p), b = ergon::monitor(p);
    EXPECT_NE(a, b);
    ergon::send(p, Go{});
    const Down d1 = await<Down>(), d2 = await<Down>();
    EXPECT_EQ(d1.ref, a);  // in the order they were made
    EXPECT_EQ(d2.ref, b);
    EXPECT_EQ(d1.pid, p);
    EXPECT_EQ(d2.pid, p);
  });
}

TEST_P(Monitor, DownComesAfterTheLastMessagesOfTheProcess) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid p = ergon::spawn([main] {
      (void)await<Go>();
      for (int i = 0; i < 100; ++i) ergon::send(main, Last{i});
    });
    const ergon::Ref r = ergon::monitor(p);
    ergon::send(p, Go{});
    // A Down before the last Last would be received first here.
    int next = 0;
    for (bool done = false; !done;) {
      ergon::receive([&](const Last& l) { EXPECT_EQ(l.n, next++); },
                     [&](const Down& d) {
                       EXPECT_EQ(d.ref, r);
                       done = true;
                     });
    }
    EXPECT_EQ(next, 100);
  });
}

TEST_P(Monitor, DemonitorCancelsTheDown) {
  run([] {
    const ergon::Pid p = ergon::spawn([] { (void)await<Go>(); });
    const ergon::Ref cancelled = ergon::monitor(p);
    const ergon::Ref kept = ergon::monitor(p);
    EXPECT_TRUE(ergon::demonitor(cancelled));
    EXPECT_FALSE(ergon::demonitor(cancelled));  // not active any more
    ergon::send(p, Go{});
    EXPECT_EQ(await<Down>().ref, kept);
    // The ending process sends its Downs in the order the monitors were made, so the
    // cancelled one would already be here.
    EXPECT_FALSE(ergon::receive_for<Down>(0ms).has_value());
  });
}

TEST_P(Monitor, DemonitorWithFlushRemovesADeliveredDown) {
  run([] {
    const ergon::Pid p = ergon::spawn([] { (void)await<Go>(); });
    const ergon::Ref first = ergon::monitor(p);
    const ergon::Ref second = ergon::monitor(p);
    ergon::send(p, Go{});
    (void)down_of(second);  // skips (and keeps) the first one's Down
    EXPECT_FALSE(ergon::demonitor(first, /*flush=*/true));
    EXPECT_FALSE(ergon::receive_for<Down>(0ms).has_value()) << "flush left the Down";
  });
}

TEST_P(Monitor, ProcessesEndedByTheRuntimeReportShutdown) {
  std::atomic<int> downs{0};
  std::atomic<int> shutdowns{0};
  run([&] {
    const ergon::Pid sleeper = ergon::spawn([] { (void)ergon::receive<Go>(); });
    ergon::spawn([&, sleeper] {
      const ergon::Ref r = ergon::monitor(sleeper);
      ergon::receive([&](const Down& d) {
        downs.fetch_add(1);
        if (d.ref == r && d.reason.kind == ExitReason::Kind::kShutdown) shutdowns.fetch_add(1);
      });
    });
    ergon::sleep_for(5ms);  // main returns: the runtime ends both
  });
  // The watcher may itself be ended before its Down arrives; if it got one, it says shutdown.
  EXPECT_EQ(downs.load(), shutdowns.load());
}

// --- both sides: a monitor leaves no entry behind --------------------------------------------

using ergon::detail::monitor_counts;

TEST_P(Monitor, DemonitorTakesTheMonitorOffBothSides) {
  run([] {
    const ergon::Pid p = ergon::spawn([] { (void)await<Go>(); });
    const ergon::Ref a = ergon::monitor(p), b = ergon::monitor(p);
    EXPECT_EQ(monitor_counts(p).on, 2u);
    EXPECT_EQ(monitor_counts(ergon::self()).held, 2u);
    EXPECT_TRUE(ergon::demonitor(a));
    EXPECT_EQ(monitor_counts(p).on, 1u);
    EXPECT_EQ(monitor_counts(ergon::self()).held, 1u);
    EXPECT_TRUE(ergon::demonitor(b, /*flush=*/true));
    EXPECT_EQ(monitor_counts(p).on, 0u);
    EXPECT_EQ(monitor_counts(ergon::self()).held, 0u);
    (void)ergon::monitor(ergon::Pid{});  // noproc keeps nothing either
    EXPECT_EQ(await<Down>().reason.kind, ExitReason::Kind::kNoProc);
    EXPECT_EQ(monitor_counts(ergon::self()).held, 0u);
    const ergon::Ref r = ergon::monitor(p);
    ergon::send(p, Go{});
    EXPECT_EQ(down_of(r).pid, p);
    EXPECT_EQ(monitor_counts(ergon::self()).held, 0u) << "a delivered Down left its entry";
  });
}

TEST_P(Monitor, DemonitorOfARefTheCallerDoesNotHoldCancelsNothing) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid p = ergon::spawn([] { (void)await<Go>(); });
    const ergon::Ref mine = ergon::monitor(p);
    ergon::spawn([main, mine] { ergon::send(main, Last{ergon::demonitor(mine) ? 1 : 0}); });
    EXPECT_EQ(await<Last>().n, 0);
    ergon::send(p, Go{});
    EXPECT_EQ(down_of(mine).pid, p);
  });
}

// Erlang removes a dead watcher's monitors from their targets. Without that, a long-lived
// server monitored by every client of a request/reply call keeps one entry per client that
// ever called it.
TEST_P(Monitor, WatchersThatEndDropTheirMonitorsFromTheTarget) {
  const int watchers = ergon_test::scaled(10000, 500);
  const int batch = 250;  // live at once: tsan counts fibers as threads
  run([&] {
    const ergon::Pid server = ergon::spawn([] { (void)await<Go>(); });
    for (int done = 0; done < watchers; done += batch) {
      std::vector<ergon::Pid> ws;
      for (int i = 0; i < batch; ++i) {
        ws.push_back(ergon::spawn([server] {
          (void)ergon::monitor(server);
          (void)await<Go>();  // ends without demonitor
        }));
      }
      std::vector<ergon::Ref> refs;
      for (const ergon::Pid& w : ws) {
        refs.push_back(ergon::monitor(w));  // before Go: a real Down, sent after its cleanup
        ergon::send(w, Go{});
      }
      for (const Down& d : downs_of(refs)) EXPECT_TRUE(d.reason.normal());
    }
    EXPECT_EQ(monitor_counts(server).on, 0u) << "monitors of ended watchers stayed on the server";
    EXPECT_EQ(monitor_counts(ergon::self()).held, 0u) << "Downs delivered here left entries";
    ergon::send(server, Go{});
  });
}

// The flush of demonitor(ref, true) must also catch a Down its target is sending right then:
// after it returns, no Down of that monitor is in the mailbox or on its way.
TEST_P(Monitor, DemonitorWithFlushLeavesNoDownBehindEvenInARace) {
  const std::uint64_t seed = ergon_test::test_seed();
  SCOPED_TRACE("ERGON_SEED=" + std::to_string(seed) + " replays this workload");
  const int rounds = ergon_test::scaled(200, 40);
  const int targets = 20;
  run([&] {
    std::mt19937_64 rng(seed);
    for (int round = 0; round < rounds; ++round) {
      std::vector<ergon::Pid> ps;
      std::vector<ergon::Ref> refs;
      for (int i = 0; i < targets; ++i) {
        const int yields = static_cast<int>(rng() % 4);
        ps.push_back(ergon::spawn([yields] {
          for (int k = 0; k < yields; ++k) ergon::yield();
        }));
        refs.push_back(ergon::monitor(ps.back()));
      }
      if (rng() % 2 == 0) ergon::yield();
      for (const ergon::Ref& r : refs) (void)ergon::demonitor(r, /*flush=*/true);
      // A Down that was on its way would arrive before these: each target sends its Downs in
      // the order its monitors were made.
      std::vector<ergon::Ref> after;
      for (const ergon::Pid& p : ps) after.push_back(ergon::monitor(p));
      (void)downs_of(after);
      while (std::optional<Down> d = ergon::receive_for<Down>(0ms)) {
        ADD_FAILURE() << "a Down survived demonitor(flush) in round " << round;
      }
    }
    EXPECT_EQ(monitor_counts(ergon::self()).held, 0u);
  });
}

// --- monitors by registered name -------------------------------------------------------------

TEST_P(Monitor, AMonitorByNameFollowsTheProcessThatHeldIt) {
  run([] {
    const ergon::Pid p = ergon::spawn([] { (void)await<Go>(); });
    ergon::register_name("server", p);
    const ergon::Ref r = ergon::monitor("server");
    EXPECT_EQ(r.target(), p);
    ergon::send("server", Go{});
    const Down d = down_of(r);
    EXPECT_EQ(d.pid, p);
    EXPECT_EQ(d.name, "server");
    EXPECT_TRUE(d.reason.normal());
    // A monitor by pid has no name.
    const ergon::Pid q = ergon::spawn([] {});
    EXPECT_EQ(down_of(ergon::monitor(q)).name, "");
  });
}

TEST_P(Monitor, AMonitorByANameNobodyHoldsIsNoprocAtOnce) {
  run([] {
    const ergon::Ref r = ergon::monitor("nobody");
    EXPECT_EQ(r.target(), ergon::Pid{});
    const Down d = await<Down>();
    EXPECT_EQ(d.ref, r);
    EXPECT_EQ(d.pid, ergon::Pid{});
    EXPECT_EQ(d.reason.kind, ExitReason::Kind::kNoProc);
    EXPECT_EQ(d.name, "nobody");
    EXPECT_FALSE(ergon::demonitor(r));
    EXPECT_EQ(monitor_counts(ergon::self()).held, 0u);
  });
}

TEST_P(Monitor, TheNameIsResolvedOnceAtTheCall) {
  quiet();
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid first = ergon::spawn([main] {
      ergon::register_name("svc", ergon::self());
      ergon::send(main, Last{1});
      (void)await<Go>();
      ergon::unregister_name("svc");
      ergon::send(main, Last{2});
      (void)await<Go>();
      throw std::runtime_error("first fails");
    });
    EXPECT_EQ(await<Last>().n, 1);
    const ergon::Ref r = ergon::monitor("svc");
    EXPECT_EQ(r.target(), first);
    ergon::send(first, Go{});
    EXPECT_EQ(await<Last>().n, 2);
    const ergon::Pid second = ergon::spawn([] { (void)await<Go>(); });
    ergon::register_name("svc", second);  // the name moves; the monitor does not
    const ergon::Ref r2 = ergon::monitor("svc");
    ergon::send(first, Go{});
    const Down d = await<Down>();
    EXPECT_EQ(d.ref, r);
    EXPECT_EQ(d.pid, first);
    EXPECT_EQ(d.name, "svc");  // the name it was made by, though `first` gave it up
    EXPECT_EQ(d.reason.kind, ExitReason::Kind::kException);
    EXPECT_EQ(monitor_counts(second).on, 1u);
    EXPECT_TRUE(ergon::demonitor(r2));
    EXPECT_EQ(monitor_counts(second).on, 0u);
    ergon::send(second, Go{});
  });
}

TEST(MonitorErrors, MonitorByNameNeedsAProcess) {
  const std::string w =
      ergon_test::what_of<ergon::NotInProcess>([] { (void)ergon::monitor("anything"); });
  EXPECT_TRUE(ergon_test::contains(w, "ergon::monitor")) << w;
}

// --- seeded stress: every monitor fires exactly once -----------------------------------------

struct Count {
  int downs;
  int noprocs;
};

TEST_P(Monitor, EveryMonitorFiresExactlyOnce) {
  const std::uint64_t seed = ergon_test::test_seed();
  SCOPED_TRACE("ERGON_SEED=" + std::to_string(seed) + " replays this workload");
  const int targets = ergon_test::scaled(300, 60);
  const int watchers = ergon_test::scaled(30, 10);
  const int per_watcher = 20;
  run([&] {
    std::mt19937_64 rng(seed);
    std::vector<ergon::Pid> pids;
    for (int i = 0; i < targets; ++i) {
      const int yields = static_cast<int>(rng() % 20);
      pids.push_back(ergon::spawn([yields] {
        for (int k = 0; k < yields; ++k) ergon::yield();
      }));
    }
    const ergon::Pid main = ergon::self();
    for (int w = 0; w < watchers; ++w) {
      const std::uint64_t ws = rng();
      ergon::spawn([&pids, main, ws, per_watcher] {
        std::mt19937_64 r(ws);
        std::vector<ergon::Ref> refs;
        for (int k = 0; k < per_watcher; ++k) {
          refs.push_back(ergon::monitor(pids[r() % pids.size()]));
          if (r() % 2 == 0) ergon::yield();
        }
        Count c{0, 0};
        std::vector<bool> seen(refs.size(), false);
        for (std::size_t k = 0; k < refs.size(); ++k) {
          const Down d = await<Down>();
          for (std::size_t j = 0; j < refs.size(); ++j) {
            if (refs[j] == d.ref) {
              if (seen[j]) c.downs = -1000;  // fired twice
              seen[j] = true;
            }
          }
          c.downs++;
          if (d.reason.kind == ExitReason::Kind::kNoProc) c.noprocs++;
        }
        ergon::send(main, c);
      });
    }
    for (int w = 0; w < watchers; ++w) EXPECT_EQ(await<Count>().downs, per_watcher);
    // No Down beyond the expected ones arrives at anyone: each watcher counted exactly its own.
  });
}

}  // namespace
