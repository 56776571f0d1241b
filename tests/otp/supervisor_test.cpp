// Tests of supervisors (ergon/supervisor.hpp), one per rule of Erlang's supervisor: the three
// strategies, the three restart types, restart intensity, ordered shutdown with a timeout per
// child (and brutal kill), nesting, the parent's exit signal, the dynamic calls and the
// errors. Over 1, 2 and 4 workers.
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon::ChildSpec;
using ergon::Down;
using ergon::ExitReason;
using ergon::Restart;
using ergon::Strategy;
using ergon::SupervisorEvent;
using ergon::SupervisorSpec;
using ergon_test::await;
using ergon_test::contains;
using ergon_test::what_of;

struct Up {
  std::string id;
  ergon::Pid pid;
};
struct Crash {};
struct Quit {};

// A worker that reports Up to `main`, then crashes on Crash and returns on Quit.
ChildSpec worker(std::string id, ergon::Pid main, Restart r = Restart::kPermanent) {
  ChildSpec c;
  c.id = id;
  c.restart = r;
  c.start = [id, main] {
    ergon::send(main, Up{id, ergon::self()});
    ergon::receive([](Crash) { throw std::runtime_error("crash on request"); }, [](Quit) {});
  };
  return c;
}

// The events a supervisor reported, shared with the test (the supervisor calls on_event in
// its own process).
struct Log {
  std::mutex m;
  std::vector<SupervisorEvent> events;
  std::function<void(const SupervisorEvent&)> hook() {
    return [this](const SupervisorEvent& e) {
      std::lock_guard<std::mutex> g(m);
      events.push_back(e);
    };
  }
  std::vector<std::string> of(SupervisorEvent::Kind k) {
    std::lock_guard<std::mutex> g(m);
    std::vector<std::string> ids;
    for (const auto& e : events) {
      if (e.kind == k) ids.push_back(e.child);
    }
    return ids;
  }
  void clear() {
    std::lock_guard<std::mutex> g(m);
    events.clear();
  }
};

// The Up messages of `n` starts, by id.
std::map<std::string, ergon::Pid> ups(int n) {
  std::map<std::string, ergon::Pid> m;
  for (int i = 0; i < n; ++i) {
    Up u = await<Up>();
    m[u.id] = u.pid;
  }
  return m;
}

std::map<std::string, ergon::Pid> pids_of(ergon::Pid sup) {
  std::map<std::string, ergon::Pid> m;
  for (const ergon::ChildInfo& c : ergon::supervisor::which_children(sup)) m[c.id] = c.pid;
  return m;
}

class Supervisor : public ergon_test::QuietCrashTest {};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Supervisor);

SupervisorSpec three(Strategy s, ergon::Pid main, Log& log) {
  SupervisorSpec spec;
  spec.strategy = s;
  spec.intensity = 10;
  spec.children = {worker("a", main), worker("b", main), worker("c", main)};
  spec.on_event = log.hook();
  return spec;
}

TEST_P(Supervisor, OneForOneRestartsOnlyTheChildThatEnded) {
  run([] {
    Log log;
    const ergon::Pid sup = ergon::start_supervisor(three(Strategy::kOneForOne, ergon::self(), log));
    auto first = ups(3);
    EXPECT_EQ(log.of(SupervisorEvent::Kind::kStarted), (std::vector<std::string>{"a", "b", "c"}));
    ergon::send(first["b"], Crash{});
    const Up again = await<Up>();
    EXPECT_EQ(again.id, "b");
    EXPECT_NE(again.pid, first["b"]);
    auto now = pids_of(sup);
    EXPECT_EQ(now["a"], first["a"]);
    EXPECT_EQ(now["b"], again.pid);
    EXPECT_EQ(now["c"], first["c"]);
    EXPECT_EQ(log.of(SupervisorEvent::Kind::kTerminated).size(), 0u);
    ergon::supervisor::stop(sup);
  });
}

TEST_P(Supervisor, OneForAllRestartsEveryChildShuttingTheOthersDownInReverse) {
  run([] {
    Log log;
    const ergon::Pid sup = ergon::start_supervisor(three(Strategy::kOneForAll, ergon::self(), log));
    auto first = ups(3);
    log.clear();
    ergon::send(first["b"], Crash{});
    auto second = ups(3);
    // The last child can say Up before the supervisor logs its restart: a call to the
    // supervisor waits until it has finished handling the crash (seen in deterministic mode).
    (void)pids_of(sup);
    for (const auto& [id, pid] : second) EXPECT_NE(pid, first[id]) << id;
    EXPECT_EQ(log.of(SupervisorEvent::Kind::kTerminated), (std::vector<std::string>{"c", "a"}));
    EXPECT_EQ(log.of(SupervisorEvent::Kind::kRestarted), (std::vector<std::string>{"a", "b", "c"}));
    ergon::supervisor::stop(sup);
  });
}

TEST_P(Supervisor, RestForOneRestartsTheChildAndTheOnesStartedAfterIt) {
  run([] {
    Log log;
    const ergon::Pid sup =
        ergon::start_supervisor(three(Strategy::kRestForOne, ergon::self(), log));
    auto first = ups(3);
    log.clear();
    ergon::send(first["b"], Crash{});
    auto second = ups(2);
    EXPECT_EQ(second.count("a"), 0u);
    EXPECT_NE(second["b"], first["b"]);
    EXPECT_NE(second["c"], first["c"]);
    EXPECT_EQ(pids_of(sup)["a"], first["a"]);
    EXPECT_EQ(log.of(SupervisorEvent::Kind::kTerminated), (std::vector<std::string>{"c"}));
    EXPECT_EQ(log.of(SupervisorEvent::Kind::kRestarted), (std::vector<std::string>{"b", "c"}));
    ergon::supervisor::stop(sup);
  });
}

TEST_P(Supervisor, RestartTypesDecideWhoComesBack) {
  run([] {
    const ergon::Pid main = ergon::self();
    SupervisorSpec spec;
    spec.intensity = 10;
    spec.children = {worker("perm", main, Restart::kPermanent),
                     worker("trans", main, Restart::kTransient),
                     worker("temp", main, Restart::kTemporary)};
    const ergon::Pid sup = ergon::start_supervisor(spec);
    auto p = ups(3);
    // A normal end: only the permanent child comes back.
    std::vector<ergon::Ref> refs;
    for (const auto& [id, pid] : p) refs.push_back(ergon::monitor(pid));
    for (const auto& [id, pid] : p) ergon::send(pid, Quit{});
    // Each child's exit signal reached the supervisor before its Down reached us, so the
    // supervisor handles the three ends before the calls below.
    for (std::size_t i = 0; i < refs.size(); ++i) (void)await<Down>();
    EXPECT_EQ(await<Up>().id, "perm");
    auto kids = ergon::supervisor::which_children(sup);
    ASSERT_EQ(kids.size(), 2u) << "a temporary child is forgotten when it ends";
    EXPECT_EQ(kids[0].id, "perm");
    EXPECT_TRUE(kids[0].pid);
    EXPECT_EQ(kids[1].id, "trans");
    EXPECT_FALSE(kids[1].pid) << "a transient child that ended normally stays stopped";
    // A crash: the transient child comes back too.
    const ergon::Pid trans = ergon::supervisor::restart_child(sup, "trans");
    EXPECT_EQ(await<Up>().pid, trans);
    ergon::send(trans, Crash{});
    const Up u = await<Up>();
    EXPECT_EQ(u.id, "trans");
    EXPECT_NE(u.pid, trans);
    ergon::supervisor::stop(sup);
  });
}

TEST_P(Supervisor, TooManyRestartsEndTheSupervisor) {
  run([] {
    const ergon::Pid main = ergon::self();
    Log log;
    SupervisorSpec spec;
    spec.intensity = 2;
    spec.period = 60s;
    spec.children = {worker("a", main), worker("b", main)};
    spec.on_event = log.hook();
    const ergon::Pid sup = ergon::start_supervisor(spec);
    (void)ergon::trap_exits(true);  // the supervisor is linked to us
    const ergon::Ref ref = ergon::monitor(sup);
    auto p = ups(2);
    const ergon::Ref b_ref = ergon::monitor(p["b"]);
    for (int i = 0; i < 2; ++i) {  // two restarts are allowed
      ergon::send(p["a"], Crash{});
      p["a"] = await<Up>().pid;
    }
    ergon::send(p["a"], Crash{});  // the third is one too many
    const Down d = await<Down>();
    EXPECT_EQ(d.ref, b_ref) << "the other child is shut down before the supervisor ends";
    EXPECT_EQ(d.reason.kind, ExitReason::Kind::kShutdown);
    const Down s = await<Down>();
    EXPECT_EQ(s.ref, ref);
    EXPECT_EQ(s.reason.kind, ExitReason::Kind::kShutdown);
    EXPECT_EQ(s.reason.what, "reached_max_restart_intensity");
    EXPECT_EQ(s.reason.to_string(), "shutdown: reached_max_restart_intensity");
    EXPECT_EQ(log.of(SupervisorEvent::Kind::kGaveUp).size(), 1u);
    const ergon::Exit e = await<ergon::Exit>();
    EXPECT_EQ(e.from, sup);
  });
}

TEST_P(Supervisor, ShutdownWaitsForEachChildUpToItsTimeoutThenKills) {
  run([] {
    const ergon::Pid main = ergon::self();
    Log log;
    ChildSpec stubborn;  // traps exits and ignores the shutdown signal
    stubborn.id = "stubborn";
    stubborn.shutdown = 20ms;
    stubborn.start = [main] {
      (void)ergon::trap_exits(true);
      ergon::send(main, Up{"stubborn", ergon::self()});
      for (;;) (void)ergon::receive<ergon::Exit>();
    };
    ChildSpec brutal = worker("brutal", main);
    brutal.shutdown = ChildSpec::kBrutalKill;
    SupervisorSpec spec;
    spec.children = {worker("plain", main), stubborn, brutal};
    spec.on_event = log.hook();
    const ergon::Pid sup = ergon::start_supervisor(spec);
    (void)ups(3);
    ergon::supervisor::stop(sup);
    std::lock_guard<std::mutex> g(log.m);
    std::vector<std::string> order;
    std::map<std::string, ExitReason> how;
    for (const auto& e : log.events) {
      if (e.kind != SupervisorEvent::Kind::kTerminated) continue;
      order.push_back(e.child);
      how[e.child] = e.reason;
    }
    EXPECT_EQ(order, (std::vector<std::string>{"brutal", "stubborn", "plain"}));
    EXPECT_EQ(how["brutal"].kind, ExitReason::Kind::kKilled);
    EXPECT_EQ(how["stubborn"].kind, ExitReason::Kind::kKilled) << "killed after its 20 ms";
    EXPECT_EQ(how["plain"].kind, ExitReason::Kind::kShutdown);
  });
}

TEST_P(Supervisor, SupervisorsNest) {
  run([] {
    const ergon::Pid main = ergon::self();
    Log inner_log;
    SupervisorSpec inner;
    inner.intensity = 1;
    inner.period = 60s;
    inner.children = {worker("w", main)};
    inner.on_event = inner_log.hook();
    SupervisorSpec outer;
    outer.intensity = 5;
    outer.children = {worker("x", main), ergon::supervisor_child("inner", inner)};
    const ergon::Pid sup = ergon::start_supervisor(outer);
    auto p = ups(2);
    auto kids = ergon::supervisor::which_children(sup);
    ASSERT_EQ(kids.size(), 2u);
    EXPECT_EQ(kids[1].type, ergon::ChildType::kSupervisor);
    const ergon::Pid inner_pid = kids[1].pid;
    EXPECT_EQ(pids_of(inner_pid)["w"], p["w"]);
    // The inner supervisor handles one crash itself...
    ergon::send(p["w"], Crash{});
    p["w"] = await<Up>().pid;
    EXPECT_EQ(pids_of(sup)["inner"], inner_pid);
    // ...gives up at the second; the outer one restarts it, and with it its worker.
    ergon::send(p["w"], Crash{});
    const Up u = await<Up>();
    EXPECT_EQ(u.id, "w");
    const ergon::Pid inner2 = pids_of(sup)["inner"];
    EXPECT_NE(inner2, inner_pid);
    EXPECT_EQ(pids_of(inner2)["w"], u.pid);
    EXPECT_EQ(pids_of(sup)["x"], p["x"]) << "one_for_one: x is untouched";
    // Stopping the outer supervisor ends the whole tree.
    const ergon::Ref r1 = ergon::monitor(inner2), r2 = ergon::monitor(u.pid);
    ergon::supervisor::stop(sup);
    for (int i = 0; i < 2; ++i) {
      const Down d = await<Down>();
      EXPECT_TRUE(d.ref == r1 || d.ref == r2);
      EXPECT_EQ(d.reason.kind, ExitReason::Kind::kShutdown) << d.reason.to_string();
    }
  });
}

TEST_P(Supervisor, AnExitSignalFromItsParentStopsItOthersAreIgnored) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid parent = ergon::spawn([main] {
      SupervisorSpec spec;
      spec.children = {worker("a", main)};
      const ergon::Pid sup = ergon::start_supervisor(spec);
      ergon::send(main, sup);
      (void)ergon::receive<Quit>();
      ergon::exit(ExitReason::user("parent leaves"));
    });
    const ergon::Pid sup = await<ergon::Pid>();
    const ergon::Pid a = await<Up>().pid;
    // From a stranger: ignored (the supervisor traps exits).
    ergon::exit(sup, ExitReason::user("stranger"));
    EXPECT_EQ(pids_of(sup)["a"], a);
    const ergon::Ref sr = ergon::monitor(sup), ar = ergon::monitor(a);
    ergon::send(parent, Quit{});
    const Down d1 = await<Down>();
    EXPECT_EQ(d1.ref, ar) << "the child ends first";
    EXPECT_EQ(d1.reason.kind, ExitReason::Kind::kShutdown);
    const Down d2 = await<Down>();
    EXPECT_EQ(d2.ref, sr);
    EXPECT_EQ(d2.reason.to_string(), "parent leaves");
  });
}

TEST_P(Supervisor, DynamicChildren) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid sup = ergon::start_supervisor(SupervisorSpec{});
    EXPECT_TRUE(ergon::supervisor::which_children(sup).empty());
    const ergon::Pid d = ergon::supervisor::start_child(sup, worker("d", main));
    EXPECT_EQ(await<Up>().pid, d);
    EXPECT_TRUE(contains(
        what_of<ergon::Error>([&] { ergon::supervisor::start_child(sup, worker("d", main)); }),
        "already started as " + d.to_string()));
    EXPECT_TRUE(contains(what_of<ergon::Error>([&] { ergon::supervisor::delete_child(sup, "d"); }),
                         "terminate_child it first"));
    const ergon::Ref r = ergon::monitor(d);
    ergon::supervisor::terminate_child(sup, "d");
    EXPECT_EQ(await<Down>().ref, r);
    EXPECT_FALSE(pids_of(sup)["d"]);
    EXPECT_TRUE(contains(
        what_of<ergon::Error>([&] { ergon::supervisor::start_child(sup, worker("d", main)); }),
        "already present"));
    const ergon::Pid d2 = ergon::supervisor::restart_child(sup, "d");
    EXPECT_EQ(await<Up>().pid, d2);
    ergon::supervisor::terminate_child(sup, "d");
    ergon::supervisor::delete_child(sup, "d");
    EXPECT_TRUE(ergon::supervisor::which_children(sup).empty());
    EXPECT_TRUE(
        contains(what_of<ergon::Error>([&] { ergon::supervisor::restart_child(sup, "nope"); }),
                 "no child 'nope'"));
    ergon::supervisor::stop(sup);
    EXPECT_TRUE(
        contains(what_of<ergon::Error>([&] { (void)ergon::supervisor::which_children(sup); }),
                 "is not running"));
  });
}

TEST_P(Supervisor, BadSpecsAreClearErrors) {
  run([] {
    SupervisorSpec s;
    s.children = {ChildSpec{}};
    EXPECT_TRUE(contains(what_of<ergon::Error>([&] { ergon::start_supervisor(s); }), "empty id"));
    s.children = {worker("a", ergon::self()), worker("a", ergon::self())};
    EXPECT_TRUE(contains(what_of<ergon::Error>([&] { ergon::start_supervisor(s); }),
                         "two children have the id 'a'"));
    s.children = {};
    s.intensity = -1;
    EXPECT_TRUE(contains(what_of<ergon::Error>([&] { ergon::start_supervisor(s); }), "intensity"));
  });
  EXPECT_TRUE(
      contains(what_of<ergon::NotInProcess>([] { ergon::start_supervisor(SupervisorSpec{}); }),
               "ergon::start_supervisor"));
}

TEST_P(Supervisor, AChildThatCannotStartFailsTheStartAndStopsTheOthers) {
  ergon::Options o = options();
  o.max_processes = 3;  // main, the supervisor, one child
  o.on_crash = [](ergon::Pid, const std::string&) {};
  runtime(o);
  run([] {
    const ergon::Pid main = ergon::self();
    SupervisorSpec s;
    s.children = {worker("a", main), worker("b", main)};
    const std::string what = what_of<ergon::Error>([&] { ergon::start_supervisor(s); });
    EXPECT_TRUE(contains(what, "failed to start child 'b'")) << what;
    EXPECT_TRUE(contains(what, "max_processes")) << what;
    // "a" was shut down (perhaps before it ran): the process limit has room again once the
    // supervisor has ended too. The fixture checks that nothing is left.
    for (int tries = 0;; ++tries) {
      try {
        ergon::spawn([] {});
        ergon::spawn([] {});
        break;
      } catch (const ergon::SpawnError&) {
        ASSERT_LT(tries, 10000) << "the supervisor and its child never ended";
        ergon::sleep_for(1ms);
      }
    }
  });
}

}  // namespace
