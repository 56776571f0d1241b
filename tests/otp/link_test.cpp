// Tests of links and exit signals (ergon/link.hpp), one per rule of Erlang's semantics:
// an abnormal exit ends linked processes with the same reason, a normal one does not, trapping
// turns signals into Exit messages, kill cannot be trapped, exit(pid, normal) is ignored by a
// process that does not trap, linking a dead pid is noproc, unlink stops the signal,
// spawn_link links before the child runs, exit(reason) ends the caller with it, a signal that
// races its target's block still ends it.
#include <chrono>
#include <stdexcept>
#include <string>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon::Down;
using ergon::Exit;
using ergon::ExitReason;
using ergon_test::await;
using ergon_test::contains;
using ergon_test::what_of;

struct Go {};
struct Up {
  ergon::Pid pid;
};

class Link : public ergon_test::QuietCrashTest {};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Link);

// A process that links to `partner` (if given), reports Up, and waits for ever.
ergon::Pid idler(ergon::Pid main, ergon::Pid partner = {}) {
  return ergon::spawn([main, partner] {
    if (partner) ergon::link(partner);
    ergon::send(main, Up{ergon::self()});
    (void)ergon::receive<Go>();
  });
}

TEST_P(Link, AnAbnormalExitEndsTheLinkedPartnerWithTheSameReason) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid partner = idler(main);
    (void)await<Up>();
    const ergon::Ref r = ergon::monitor(partner);
    const ergon::Pid crasher = ergon::spawn([main, partner] {
      ergon::link(partner);
      ergon::send(main, Up{ergon::self()});
      (void)await<Go>();
      throw std::runtime_error("boom");
    });
    (void)await<Up>();
    ergon::send(crasher, Go{});
    const Down d = await<Down>();
    EXPECT_EQ(d.ref, r);
    EXPECT_EQ(d.reason.kind, ExitReason::Kind::kException);
    EXPECT_EQ(d.reason.what, "boom");
  });
}

TEST_P(Link, MainEndedByAnExitSignalMakesRunThrowNamingSenderAndReason) {
  ergon::Pid crasher;
  try {
    run([&crasher] {
      crasher = ergon::spawn_link([] {
        (void)await<Go>();
        throw std::runtime_error("boom in a linked child");
      });
      ergon::send(crasher, Go{});
      (void)await<Go>();  // never comes: the child's crash ends main here
      ADD_FAILURE() << "main went on after its linked child crashed";
    });
    ADD_FAILURE() << "run() returned as if main had ended by itself";
  } catch (const ergon::KilledBySignal& e) {
    EXPECT_EQ(e.sender(), crasher.to_string());
    EXPECT_TRUE(contains(e.reason_text(), "boom in a linked child")) << e.reason_text();
    EXPECT_TRUE(contains(e.what(), crasher.to_string())) << e.what();
    EXPECT_TRUE(contains(e.what(), "trap_exits")) << e.what();
  }
  expect_no_leaks();
}

TEST_P(Link, ACrashPropagatesThroughASpawnLink) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid parent = ergon::spawn([main] {
      const ergon::Pid child = ergon::spawn_link([] {
        (void)await<Go>();
        throw std::runtime_error("boom");
      });
      ergon::send(main, Up{child});
      (void)ergon::receive<Up>();  // never comes: the child's crash ends this process
    });
    const ergon::Ref r = ergon::monitor(parent);
    const ergon::Pid child = await<Up>().pid;
    ergon::send(child, Go{});
    const Down d = await<Down>();
    EXPECT_EQ(d.ref, r);
    EXPECT_EQ(d.reason.kind, ExitReason::Kind::kException);
    EXPECT_EQ(d.reason.what, "boom");
  });
}

TEST_P(Link, ANormalExitDoesNotEndThePartner) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid partner = idler(main);
    (void)await<Up>();
    const ergon::Ref r = ergon::monitor(partner);
    // The quitter waits for Go, so that it is monitored before it ends (else the Down could
    // say noproc: the deterministic sweep finds that schedule).
    const ergon::Pid quitter = ergon::spawn([main, partner] {
      ergon::link(partner);
      ergon::send(main, Up{ergon::self()});
      (void)await<Go>();
    });
    const ergon::Ref q = ergon::monitor(quitter);
    (void)await<Up>();
    ergon::send(quitter, Go{});
    Down d = await<Down>();
    EXPECT_EQ(d.ref, q);  // the quitter ended, normally
    EXPECT_TRUE(d.reason.normal());
    ergon::send(partner, Go{});  // the partner is still there to end when told
    d = await<Down>();
    EXPECT_EQ(d.ref, r);
    EXPECT_TRUE(d.reason.normal());
  });
}

TEST_P(Link, TrappingTurnsTheSignalIntoAnExitMessage) {
  run([] {
    EXPECT_FALSE(ergon::trap_exits(true));
    const ergon::Pid child = ergon::spawn_link([] {
      (void)await<Go>();
      ergon::exit(ExitReason::user("tired"));
    });
    ergon::send(child, Go{});
    const Exit e = await<Exit>();
    EXPECT_EQ(e.from, child);
    EXPECT_EQ(e.reason.kind, ExitReason::Kind::kUser);
    EXPECT_EQ(e.reason.to_string(), "tired");
    // A normal end of a linked child is an Exit too, when trapping.
    const ergon::Pid quiet = ergon::spawn_link([] {});
    const Exit n = await<Exit>();
    EXPECT_EQ(n.from, quiet);
    EXPECT_TRUE(n.reason.normal());
    EXPECT_TRUE(ergon::trap_exits(false));
  });
}

TEST_P(Link, KillCannotBeTrapped) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid t = ergon::spawn([main] {
      ergon::trap_exits(true);
      ergon::send(main, Up{ergon::self()});
      for (;;) (void)ergon::receive<Exit>();  // traps everything it can
    });
    (void)await<Up>();
    const ergon::Ref r = ergon::monitor(t);
    ergon::exit(t, ExitReason::user("please"));  // trapped: it stays
    ergon::exit(t, ExitReason::kill());
    const Down d = await<Down>();
    EXPECT_EQ(d.ref, r);
    EXPECT_EQ(d.reason.kind, ExitReason::Kind::kKilled);
    EXPECT_EQ(d.reason.to_string(), "killed");
  });
}

TEST_P(Link, ExitNormalIsIgnoredUnlessTrapped) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid t = idler(main);
    (void)await<Up>();
    const ergon::Ref r = ergon::monitor(t);
    ergon::exit(t, ExitReason::normal_exit());  // ignored
    ergon::exit(t, ExitReason::user("stop"));   // ends it with that reason
    const Down d = await<Down>();
    EXPECT_EQ(d.ref, r);
    EXPECT_EQ(d.reason.kind, ExitReason::Kind::kUser);
    EXPECT_EQ(d.reason.what, "stop");
    // Trapping: exit(self, normal) is a message.
    ergon::trap_exits(true);
    ergon::exit(ergon::self(), ExitReason::normal_exit());
    const Exit e = await<Exit>();
    EXPECT_EQ(e.from, ergon::self());
    EXPECT_TRUE(e.reason.normal());
  });
}

TEST_P(Link, LinkingADeadPidIsNoproc) {
  run([] {
    const ergon::Pid gone = ergon::spawn([] {});
    (void)ergon::monitor(gone);
    (void)await<Down>();  // it has ended
    const std::string w = what_of<ergon::Error>([gone] { ergon::link(gone); });
    EXPECT_TRUE(contains(w, "noproc")) << w;
    ergon::trap_exits(true);
    ergon::link(gone);
    const Exit e = await<Exit>();
    EXPECT_EQ(e.from, gone);
    EXPECT_EQ(e.reason.kind, ExitReason::Kind::kNoProc);
  });
}

TEST_P(Link, UnlinkStopsTheSignal) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid crasher = ergon::spawn([] {
      (void)await<Go>();
      throw std::runtime_error("alone");
    });
    const ergon::Pid survivor = ergon::spawn([main, crasher] {
      ergon::link(crasher);
      ergon::unlink(crasher);
      ergon::send(main, Up{ergon::self()});
      (void)ergon::receive<Go>();
    });
    (void)await<Up>();
    const ergon::Ref c = ergon::monitor(crasher);
    const ergon::Ref s = ergon::monitor(survivor);
    ergon::send(crasher, Go{});
    EXPECT_EQ(await<Down>().ref, c);
    ergon::send(survivor, Go{});  // it is alive to receive this
    const Down d = await<Down>();
    EXPECT_EQ(d.ref, s);
    EXPECT_TRUE(d.reason.normal());
  });
}

TEST_P(Link, AChainOfLinksEndsTogether) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid a = idler(main);
    (void)await<Up>();
    const ergon::Pid b = idler(main, a);
    (void)await<Up>();
    const ergon::Pid c = idler(main, b);
    (void)await<Up>();
    const ergon::Ref ra = ergon::monitor(a), rb = ergon::monitor(b), rc = ergon::monitor(c);
    ergon::exit(c, ExitReason::user("domino"));
    int seen = 0;
    for (int i = 0; i < 3; ++i) {
      const Down d = await<Down>();
      EXPECT_TRUE(d.ref == ra || d.ref == rb || d.ref == rc);
      EXPECT_EQ(d.reason.what, "domino");
      ++seen;
    }
    EXPECT_EQ(seen, 3);
  });
}

// An exit signal that lands while its target is between its last check and its block must
// still end it (a lost wake-up would leave the target asleep until its next message, which
// here never comes). Each round races a message the target is about to handle against the
// signal.
TEST_P(Link, ASignalRacingTheTargetsBlockStillEndsIt) {
  const int rounds = ergon_test::scaled(2000, 300);
  run([&] {
    for (int i = 0; i < rounds; ++i) {
      const ergon::Pid t = ergon::spawn([] {
        for (;;) (void)ergon::receive<Go>();
      });
      const ergon::Ref r = ergon::monitor(t);
      ergon::send(t, Go{});
      for (int k = 0; k < i % 4; ++k) ergon::yield();
      ergon::exit(t, ExitReason::user("stop"));
      const Down d = await<Down>();
      ASSERT_EQ(d.ref, r);
      ASSERT_EQ(d.reason.kind, ExitReason::Kind::kUser);
    }
  });
}

TEST(LinkErrors, SpawnLinkNeedsAProcess) {
  ergon::Options o;
  o.workers = 1;
  ergon::Runtime rt(o);
  const std::string w = what_of<ergon::NotInProcess>([&] {
    (void)rt.spawn([] {}, ergon::SpawnOptions{.stack_size = 0, .pool = {}, .link = true});
  });
  EXPECT_TRUE(contains(w, "spawn_link")) << w;
}

}  // namespace
