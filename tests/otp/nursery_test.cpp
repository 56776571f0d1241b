// Tests of nurseries (ergon/nursery.hpp), one per rule: the scope waits for every child;
// results are collected; a failure cancels the siblings, interrupts the owner and is rethrown
// (the child's own exception, or ChildFailed); the body's exception and the owner's kill
// cancel the children; cancel() ends the scope normally; nurseries nest in one process and
// across processes; only the owner spawns; no process or envelope is left behind.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon::Down;
using ergon::ExitReason;
using ergon_test::await;
using ergon_test::contains;
using ergon_test::what_of;

struct Go {};
struct Up {
  ergon::Pid pid;
};
struct Never {};

class Nursery : public ergon_test::RuntimeTest {
 protected:
  void SetUp() override {
    RuntimeTest::SetUp();
    ergon::Options o = options();
    o.on_crash = [this](ergon::Pid, const std::string& what) {
      crashes.fetch_add(1);
      (void)what;
    };
    runtime(o);
  }
  std::atomic<int> crashes{0};
};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Nursery);

TEST_P(Nursery, TheScopeEndsOnlyWhenEveryChildHasEnded) {
  run([] {
    std::atomic<int> ended{0};
    ergon::nursery([&](ergon::Nursery& n) {
      for (int i = 0; i < 50; ++i) {
        n.spawn([&ended, i] {
          ergon::sleep_for(std::chrono::microseconds(200 * (i % 7)));
          for (int k = 0; k < i; ++k) ergon::yield();
          ended.fetch_add(1);
        });
      }
      EXPECT_GT(n.running(), 0u);
    });
    EXPECT_EQ(ended.load(), 50);
  });
}

TEST_P(Nursery, ChildrenHaveEndedCompletelyWhenTheScopeReturns) {
  run([] {
    std::vector<ergon::Ref> refs;
    ergon::nursery([&](ergon::Nursery& n) {
      std::vector<ergon::Pid> kids;
      for (int i = 0; i < 20; ++i) {
        kids.push_back(n.spawn([] { (void)ergon::receive<Go>(); }).pid());
        refs.push_back(ergon::monitor(kids.back()));
      }
      for (const ergon::Pid& k : kids) ergon::send(k, Go{});
    });
    // Every child sent its Down before its nursery was told it ended.
    for (std::size_t i = 0; i < refs.size(); ++i) {
      auto d = ergon::receive_for<Down>(0ms);
      if (!d) {
        auto late = ergon::receive_for<Down>(1s);
        ADD_FAILURE() << "Down " << i << " had not arrived when the scope ended; later: "
                      << (late ? late->reason.to_string() + " " + late->pid.to_string() : "none");
        return;
      }
      EXPECT_TRUE(d->reason.normal());
    }
  });
}

TEST_P(Nursery, ResultsAreCollectedInsideAndAfterTheScope) {
  run([] {
    std::vector<ergon::Child<int>> kids;
    const int inside = ergon::nursery([&](ergon::Nursery& n) {
      for (int i = 0; i < 10; ++i) kids.push_back(n.spawn([i] { return i * i; }));
      ergon::Child<std::string> s = n.spawn([] { return std::string("text"); });
      EXPECT_EQ(s.get(), "text");  // waits for that child
      EXPECT_TRUE(s.done());
      return kids[3].get();
    });
    EXPECT_EQ(inside, 9);
    int sum = 0;
    for (int i = 0; i < 10; ++i) {
      EXPECT_TRUE(kids[i].done());
      if (i != 3) sum += kids[i].get();
    }
    EXPECT_EQ(sum, 285 - 9);
  });
}

TEST_P(Nursery, AFailureCancelsTheSiblingsAndIsRethrownAsTheChildsException) {
  run([this] {
    const ergon::Pid main = ergon::self();
    std::vector<ergon::Ref> sibling_refs;
    const std::string what = what_of<std::logic_error>([&] {
      ergon::nursery([&](ergon::Nursery& n) {
        for (int i = 0; i < 5; ++i) {
          sibling_refs.push_back(
              ergon::monitor(n.spawn([main] {
                                ergon::send(main, Up{ergon::self()});
                                (void)ergon::receive<Never>();  // only a cancel ends it
                              }).pid()));
        }
        for (int i = 0; i < 5; ++i) (void)await<Up>();
        n.spawn([] { throw std::logic_error("child broke"); });
      });
    });
    EXPECT_EQ(what, "child broke");
    for (std::size_t i = 0; i < sibling_refs.size(); ++i) {
      const Down d = await<Down>();
      EXPECT_EQ(d.reason.kind, ExitReason::Kind::kKilled) << d.reason.to_string();
    }
    EXPECT_EQ(crashes.load(), 0) << "the owner gets the exception: no uncaught report";
  });
}

TEST_P(Nursery, AFailureInterruptsAnOwnerBlockedInReceive) {
  run([] {
    const std::string what = what_of<std::runtime_error>([] {
      ergon::nursery([](ergon::Nursery& n) {
        n.spawn([] {
          ergon::sleep_for(1ms);
          throw std::runtime_error("late failure");
        });
        (void)ergon::receive<Never>();  // never comes: the failure unwinds the body
        ADD_FAILURE() << "the body went on after its child failed";
      });
    });
    EXPECT_EQ(what, "late failure");
  });
}

TEST_P(Nursery, AChildsExitWithAReasonIsAChildFailed) {
  run([] {
    try {
      ergon::nursery([](ergon::Nursery& n) {
        n.spawn([] { ergon::exit(ExitReason::user("gave up")); });
        n.spawn([] { ergon::exit(ExitReason::normal_exit()); });  // normal: not a failure
      });
      ADD_FAILURE() << "no ChildFailed";
    } catch (const ergon::ChildFailed& e) {
      EXPECT_EQ(e.reason().kind, ExitReason::Kind::kUser);
      EXPECT_EQ(e.reason().what, "gave up");
      EXPECT_TRUE(contains(e.what(), e.pid().to_string())) << e.what();
    }
  });
}

TEST_P(Nursery, AChildKilledFromOutsideIsAFailure) {
  run([] {
    const ergon::Pid main = ergon::self();
    try {
      ergon::nursery([main](ergon::Nursery& n) {
        const ergon::Pid victim = n.spawn([] { (void)ergon::receive<Never>(); }).pid();
        ergon::spawn([victim] { ergon::exit(victim, ExitReason::kill()); });
        (void)main;
      });
      ADD_FAILURE() << "no ChildFailed";
    } catch (const ergon::ChildFailed& e) {
      EXPECT_EQ(e.reason().kind, ExitReason::Kind::kKilled);
      EXPECT_TRUE(contains(e.what(), "did not come from its nursery")) << e.what();
    }
  });
}

TEST_P(Nursery, TheBodysExceptionCancelsTheChildrenAndGoesOn) {
  run([] {
    const ergon::Pid main = ergon::self();
    ergon::Ref ref;
    const std::string what = what_of<std::out_of_range>([&] {
      ergon::nursery([&](ergon::Nursery& n) {
        ref = ergon::monitor(n.spawn([main] {
                                ergon::send(main, Go{});
                                (void)ergon::receive<Never>();
                              }).pid());
        (void)await<Go>();
        throw std::out_of_range("body");
      });
    });
    EXPECT_EQ(what, "body");
    const Down d = await<Down>();
    EXPECT_EQ(d.ref, ref);
    EXPECT_EQ(d.reason.kind, ExitReason::Kind::kKilled);
  });
}

TEST_P(Nursery, KillingTheOwnerCancelsTheChildrenBeforeItEnds) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid owner = ergon::spawn([main] {
      ergon::nursery([main](ergon::Nursery& n) {
        for (int i = 0; i < 3; ++i) {
          n.spawn([main] {
            ergon::send(main, Up{ergon::self()});
            (void)ergon::receive<Never>();
          });
        }
        (void)ergon::receive<Never>();
      });
    });
    std::vector<ergon::Pid> kids;
    for (int i = 0; i < 3; ++i) kids.push_back(await<Up>().pid);
    std::vector<ergon::Ref> kid_refs;
    for (const ergon::Pid& k : kids) kid_refs.push_back(ergon::monitor(k));
    const ergon::Ref owner_ref = ergon::monitor(owner);
    ergon::exit(owner, ExitReason::user("stop"));
    // The children's Downs come first: the owner waits for them before it ends.
    int kids_down = 0;
    for (int i = 0; i < 4; ++i) {
      const Down d = await<Down>();
      if (d.ref == owner_ref) {
        EXPECT_EQ(kids_down, 3) << "the owner ended before its children";
        EXPECT_EQ(d.reason.to_string(), "stop");
      } else {
        EXPECT_EQ(d.reason.kind, ExitReason::Kind::kKilled);
        ++kids_down;
      }
    }
  });
}

TEST_P(Nursery, CancelEndsTheScopeNormally) {
  run([] {
    ergon::Child<int> t;
    ergon::nursery([&](ergon::Nursery& n) {
      t = n.spawn([] {
        (void)ergon::receive<Never>();
        return 1;
      });
      n.spawn([] { ergon::sleep_for(1h); });
      ergon::yield();
      n.cancel();
    });
    EXPECT_TRUE(t.done());
    const std::string what = what_of<ergon::ChildFailed>([&] { (void)t.get(); });
    EXPECT_TRUE(contains(what, "killed")) << what;
  });
}

// A failure three nurseries down, each in another process, comes out at the top as the
// original exception; every process in between was cancelled.
TEST_P(Nursery, NurseriesNestAcrossProcesses) {
  run([] {
    std::atomic<int> started{0}, cancelled{0};
    std::function<void(int)> level = [&](int depth) {
      ergon::nursery([&, depth](ergon::Nursery& n) {
        if (depth == 0) {
          n.spawn([&] {
            // Fail only once every sibling runs: one cancelled before it started never runs
            // its body, which is right but not what this test counts (seen under tsan).
            while (started.load() < 3) ergon::sleep_for(1ms);
            throw std::invalid_argument("deep");
          });
          return;
        }
        n.spawn([&, depth] { level(depth - 1); });
        n.spawn([&] {
          struct Count {
            std::atomic<int>& c;
            ~Count() { c.fetch_add(1); }
          } count{cancelled};
          started.fetch_add(1);
          (void)ergon::receive<Never>();
        });
      });
    };
    EXPECT_EQ(what_of<std::invalid_argument>([&] { level(3); }), "deep");
    EXPECT_EQ(cancelled.load(), 3) << "each level's sibling is cancelled (and unwound)";
  });
}

// An outer nursery's child fails while the owner waits in an inner nursery of its own: the
// inner one cancels its children and the outer one rethrows.
TEST_P(Nursery, NurseriesNestInOneProcess) {
  run([] {
    ergon::Ref inner_child;
    std::atomic<bool> inner_up{false};
    const std::string what = what_of<std::runtime_error>([&] {
      ergon::nursery([&](ergon::Nursery& outer) {
        outer.spawn([&] {
          // Fail once the owner is inside the inner nursery (a slow machine may take longer
          // than any fixed sleep to get there).
          while (!inner_up.load()) ergon::sleep_for(1ms);
          throw std::runtime_error("outer child");
        });
        ergon::nursery([&](ergon::Nursery& inner) {
          inner_child = ergon::monitor(inner.spawn([] { (void)ergon::receive<Never>(); }).pid());
          inner_up.store(true);
        });
        ADD_FAILURE() << "the inner scope returned normally";
      });
    });
    EXPECT_EQ(what, "outer child");
    const Down d = await<Down>();
    EXPECT_EQ(d.ref, inner_child);
    EXPECT_EQ(d.reason.kind, ExitReason::Kind::kKilled);
    // The interrupt was used up: the process goes on normally.
    ergon::sleep_for(1ms);
    ergon::yield();
  });
}

TEST_P(Nursery, TheBodysValueIsReturned) {
  run([] {
    const std::string s = ergon::nursery([](ergon::Nursery&) { return std::string("v"); });
    EXPECT_EQ(s, "v");
  });
}

TEST_P(Nursery, OnlyTheOwnerSpawnsIntoIt) {
  run([] {
    const ergon::Pid main = ergon::self();
    ergon::nursery([main](ergon::Nursery& n) {
      ergon::Nursery* np = &n;
      n.spawn([np, main] {
        const std::string what = what_of<ergon::Error>([np] { np->spawn([] {}); });
        ergon::send(main, what);
      });
      const std::string what = await<std::string>();
      EXPECT_TRUE(contains(what, "belongs to process " + main.to_string())) << what;
    });
  });
}

TEST_P(Nursery, OutsideAProcessIsNotInProcess) {
  const std::string what =
      what_of<ergon::NotInProcess>([] { ergon::nursery([](ergon::Nursery&) {}); });
  EXPECT_TRUE(contains(what, "ergon::nursery")) << what;
}

// The runtime's end (run() returning) with a nursery open and children blocked: everything
// ends, nothing leaks (the fixture checks).
TEST_P(Nursery, TheRuntimesEndEndsOpenNurseries) {
  run([] {
    const ergon::Pid main = ergon::self();
    ergon::spawn([main] {
      ergon::nursery([main](ergon::Nursery& n) {
        for (int i = 0; i < 10; ++i) n.spawn([] { (void)ergon::receive<Never>(); });
        ergon::send(main, Go{});
        (void)ergon::receive<Never>();
      });
    });
    (void)await<Go>();
  });
}

}  // namespace
