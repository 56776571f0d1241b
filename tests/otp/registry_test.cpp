// Tests of registered names (ergon/registry.hpp), from Erlang's rules: a name names one live
// process, a process has one name, the name goes when the process ends, sending to a name
// nobody holds is an error that names the name.
#include <chrono>
#include <string>
#include <thread>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon_test::await;
using ergon_test::contains;
using ergon_test::what_of;

struct Hello {
  int n;
};
struct Quit {};

class Registry : public ergon_test::RuntimeTest {};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Registry);

// Waits (polling every millisecond, patience() at most) until nobody holds `name`.
bool released(const std::string& name) {
  const auto until = std::chrono::steady_clock::now() + ergon_test::patience();
  while (ergon::whereis(name)) {
    if (std::chrono::steady_clock::now() > until) return false;
    ergon::sleep_for(1ms);
  }
  return true;
}

TEST_P(Registry, ANameReachesItsProcess) {
  run([] {
    const ergon::Pid main = ergon::self();
    const ergon::Pid echo = ergon::spawn([main] {
      ergon::register_name("echo", ergon::self());
      ergon::send(main, Hello{0});
      const Hello h = await<Hello>();
      ergon::send(main, Hello{h.n + 1});
    });
    (void)await<Hello>();
    EXPECT_EQ(ergon::whereis("echo"), echo);
    ergon::send("echo", Hello{41});
    EXPECT_EQ(await<Hello>().n, 42);
  });
}

TEST_P(Registry, TheNameIsReleasedWhenItsProcessEnds) {
  run([] {
    const ergon::Pid main = ergon::self();
    ergon::spawn([main] {
      ergon::register_name("short", ergon::self());
      ergon::send(main, Hello{0});
      (void)await<Quit>();
    });
    (void)await<Hello>();
    ergon::send("short", Quit{});
    EXPECT_TRUE(released("short"));
    // Free again: another process may take it.
    ergon::register_name("short", ergon::self());
    EXPECT_EQ(ergon::whereis("short"), ergon::self());
  });
}

// As in BEAM, a process's name is released before anyone can learn of its end: the owner of
// a monitor finds it free when the Down arrives, and can take it (a supervisor restarting a
// registered child does just that). Without the order, the Down could come first and the
// name still be held by the ending process.
TEST_P(Registry, TheNameIsFreeWhenTheDownOfItsProcessArrives) {
  run([] {
    for (int round = 0; round < 200; ++round) {
      const ergon::Pid holder = ergon::spawn([] {
        ergon::register_name("fleeting", ergon::self());
        (void)await<Quit>();
      });
      const ergon::Ref ref = ergon::monitor(holder);
      while (ergon::whereis("fleeting") != holder) ergon::yield();
      ergon::send(holder, Quit{});
      const ergon::Down d = await<ergon::Down>();
      ASSERT_EQ(d.ref, ref);
      ASSERT_FALSE(ergon::whereis("fleeting")) << "round " << round;
      ergon::register_name("fleeting", ergon::self());  // free: taking it does not throw
      ASSERT_TRUE(ergon::unregister_name("fleeting"));
    }
  });
}

TEST_P(Registry, ATakenNameIsAClearError) {
  run([] {
    ergon::register_name("main", ergon::self());
    const ergon::Pid main = ergon::self();
    ergon::spawn([main] {
      const std::string w =
          what_of<ergon::Error>([] { ergon::register_name("main", ergon::self()); });
      ergon::send(main, Hello{contains(w, "already registered by " + main.to_string()) ? 1 : 0});
    });
    EXPECT_EQ(await<Hello>().n, 1);
    // One name per process.
    const std::string twice =
        what_of<ergon::Error>([] { ergon::register_name("other", ergon::self()); });
    EXPECT_TRUE(contains(twice, "already registered as \"main\"")) << twice;
    EXPECT_TRUE(ergon::unregister_name("main"));
    EXPECT_FALSE(ergon::unregister_name("main"));
    EXPECT_FALSE(ergon::whereis("main"));
    ergon::register_name("other", ergon::self());  // now it may
    EXPECT_EQ(ergon::whereis("other"), ergon::self());
  });
}

TEST_P(Registry, SendingToANameNobodyHoldsThrowsNamingIt) {
  run([] {
    const std::string w = what_of<ergon::Error>([] { ergon::send("nobody", Hello{1}); });
    EXPECT_TRUE(contains(w, "no process is registered as \"nobody\"")) << w;
  });
}

TEST_P(Registry, ADeadOrForeignPidCannotBeRegistered) {
  ergon::Runtime other(options());
  ergon::Pid foreign;
  other.run([&] { foreign = ergon::self(); });  // ended by now
  run([&] {
    std::string w = what_of<ergon::Error>([&] { ergon::register_name("x", foreign); });
    EXPECT_TRUE(contains(w, "names no live process of this runtime")) << w;
    w = what_of<ergon::Error>([] { ergon::register_name("", ergon::self()); });
    EXPECT_TRUE(contains(w, "empty")) << w;
  });
}

TEST_P(Registry, TheRuntimeRegistersAndLooksUpFromOutside) {
  ergon::Runtime& rt = runtime();
  run([&] {
    const ergon::Pid main = ergon::self();
    std::thread outside([&rt, main] {
      rt.register_name("boss", main);
      EXPECT_EQ(rt.whereis("boss"), main);
      EXPECT_FALSE(rt.whereis("nobody"));
    });
    outside.join();
    EXPECT_EQ(ergon::whereis("boss"), main);
  });
  const std::string w = what_of<ergon::NotInProcess>([] { (void)ergon::whereis("boss"); });
  EXPECT_TRUE(contains(w, "ergon::whereis")) << w;
}

}  // namespace
