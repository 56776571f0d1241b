// ergon::hibernate (core/hibernate.hpp): the stack unwinds (destructors run) and goes back to
// the pool; the next message continues the process in the new function on a fresh stack, with
// its mailbox, pid and links kept. Over worker counts and deterministic mode.
#include <gtest/gtest.h>

#include <string>

#include "ergon/ergon.hpp"
#include "test_util.hpp"

namespace {

class Hibernate : public ergon_test::RuntimeTest {};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Hibernate);

struct Unwound {};

// Sends Unwound to `to` when destroyed: proof that the stack unwound.
struct Guard {
  ergon::Pid to;
  ~Guard() { ergon::send(to, Unwound{}); }
};

TEST_P(Hibernate, TheStackUnwindsAndTheNextMessageContinuesInTheNewFunction) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid p = ergon::spawn([main] {
      Guard g{main};
      ergon::hibernate([main] {
        const int v = ergon_test::await<int>();
        ergon::send(main, v + 1);
      });
    });
    (void)ergon_test::await<Unwound>();
    // It parks right after the unwinding; until then it may still be on its way there.
    std::optional<ergon::ProcessInfo> info;
    for (int i = 0; i < 100000; ++i) {
      info = ergon::process_info(p);
      if (info && info->waiting_in != nullptr && std::string(info->waiting_in) == "hibernate")
        break;
      ergon::yield();
    }
    ASSERT_TRUE(info.has_value());
    EXPECT_STREQ(info->waiting_in, "hibernate");
    EXPECT_EQ(info->stack_used, 0u) << "no stack while it sleeps";
    ergon::send(p, 41);
    EXPECT_EQ(ergon_test::await<int>(), 42);
  });
}

// Hibernates again after every message: each continuation is a fresh stack.
void counter(ergon::Pid main, int n) {
  const int v = ergon_test::await<int>();
  if (v < 0) {
    ergon::send(main, n);
    return;
  }
  ergon::hibernate([main, n] { counter(main, n + 1); });
}

TEST_P(Hibernate, AProcessMayHibernateAfterEveryMessage) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid p = ergon::spawn([main] { ergon::hibernate([main] { counter(main, 0); }); });
    for (int i = 0; i < 200; ++i) ergon::send(p, i);
    ergon::send(p, -1);
    EXPECT_EQ(ergon_test::await<int>(), 200);
  });
}

TEST_P(Hibernate, HibernatedProcessesEndAtShutdownAndTheirLinksFire) {
  run([] {
    const ergon::Pid main = ergon::self();
    std::vector<ergon::Pid> sleepers;
    for (int i = 0; i < 50; ++i) {
      sleepers.push_back(
          ergon::spawn([] { ergon::hibernate([] { (void)ergon::receive<int>(); }); }));
    }
    ergon::monitor(sleepers.front());
    ergon::exit(sleepers.front(), ergon::ExitReason::kill());
    const ergon::Down d = ergon_test::await<ergon::Down>();
    EXPECT_EQ(d.pid, sleepers.front());
    (void)main;
    // The rest are still hibernated when run() ends: the shutdown ends them (the fixture
    // checks that no process, stack or envelope is left).
  });
}

TEST_P(Hibernate, OutsideAProcessItIsNotInProcess) {
  const std::string w = ergon_test::what_of<ergon::NotInProcess>([] { ergon::hibernate([] {}); });
  EXPECT_TRUE(ergon_test::contains(w, "ergon::hibernate")) << w;
}

}  // namespace
