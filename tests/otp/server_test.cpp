// Tests of ergon::Server (ergon/server.hpp), one per rule of gen_server: calls, casts and
// infos reach their handlers; init runs before start returns and a failed init is an error,
// not a crash of the starter; an exception in a handler ends the server and its callers get
// CallError at once, after terminate saw the reason; stop runs terminate; a deferred reply;
// a message no handler takes is dropped (or given to handle_info(AnyMessage)); a server runs
// under a supervisor, restarted with its name.
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon::CallError;
using ergon::ExitReason;
using ergon_test::await;
using ergon_test::contains;
using ergon_test::what_of;

struct Get {
  using Reply = std::optional<std::string>;
  std::string key;
};
struct Put {
  using Reply = bool;
  std::string key, value;
};
struct Size {
  using Reply = std::size_t;
};
struct Boom {
  using Reply = int;
};
struct Later {
  using Reply = int;
};
struct Release {};
struct Clear {};
struct Poke {
  int n;
};
struct Terminated {
  ExitReason reason;
};
struct Unknown {
  int n;
};

class Kv {
 public:
  using Calls = ergon::Handles<Get, Put, Size, Boom, Later>;
  using Casts = ergon::Handles<Clear, Release>;
  using Infos = ergon::Handles<Poke>;

  explicit Kv(ergon::Pid watcher, bool fail_init = false) : watcher_(watcher) {
    if (fail_init) throw std::runtime_error("no disk");
  }
  std::optional<std::string> handle_call(const Get& g) {
    auto it = m_.find(g.key);
    if (it == m_.end()) return std::nullopt;
    return it->second;
  }
  bool handle_call(const Put& p) { return m_.insert_or_assign(p.key, p.value).second; }
  std::size_t handle_call(const Size&) { return m_.size() + pokes_; }
  int handle_call(const Boom&) { throw std::runtime_error("disk on fire"); }
  ergon::NoReply handle_call(const Later&, const ergon::From& from) {
    later_ = from;
    if (watcher_) ergon::send(watcher_, Release{});  // tells the test the call is held
    return {};
  }
  void handle_cast(const Clear&) { m_.clear(); }
  void handle_cast(const Release&) { ergon::reply(later_, 42); }
  void handle_info(const Poke& p) { pokes_ += static_cast<std::size_t>(p.n); }
  void terminate(const ExitReason& why) {
    if (watcher_) ergon::send(watcher_, Terminated{why});
  }

 private:
  ergon::Pid watcher_;
  std::map<std::string, std::string> m_;
  std::size_t pokes_ = 0;
  ergon::From later_;
};

class Server : public ergon_test::RuntimeTest {
 protected:
  void quiet() {
    ergon::Options o = options();
    o.on_crash = [](ergon::Pid, const std::string&) {};
    runtime(o);
  }
};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Server);

TEST_P(Server, CallsCastsAndInfosReachTheirHandlers) {
  run([] {
    const ergon::Pid kv =
        ergon::start_server_link<Kv>(ergon::ServerOptions{.name = "kv"}, ergon::Pid{});
    EXPECT_EQ(ergon::whereis("kv"), kv);
    EXPECT_TRUE(ergon::call(kv, Put{"a", "1"}, 5s));
    EXPECT_FALSE(ergon::call("kv", Put{"a", "2"}, 5s));
    EXPECT_EQ(ergon::call(kv, Get{"a"}, 5s), std::optional<std::string>("2"));
    EXPECT_EQ(ergon::call(kv, Get{"b"}, 5s), std::nullopt);
    ergon::cast(kv, Clear{});
    ergon::send(kv, Poke{3});
    EXPECT_EQ(ergon::call(kv, Size{}, 5s), 3u);  // the cast and the info came first
    ergon::stop_server(kv);
    EXPECT_EQ(ergon::whereis("kv"), ergon::Pid{});
  });
}

TEST_P(Server, AFailedInitIsAnErrorNotACrashOfTheStarter) {
  quiet();
  run([] {
    const std::string w = what_of<ergon::Error>(
        [] { (void)ergon::start_server_link<Kv>(ergon::ServerOptions{}, ergon::Pid{}, true); });
    EXPECT_TRUE(contains(w, "no disk")) << w;
    // Still alive, and not linked to anything that could end it.
    EXPECT_EQ(
        ergon::call(ergon::start_server<Kv>(ergon::ServerOptions{}, ergon::Pid{}), Size{}, 5s), 0u);
  });
}

TEST_P(Server, AHandlerExceptionEndsTheServerAndItsCallerAtOnce) {
  quiet();
  run([] {
    const ergon::Pid kv = ergon::start_server<Kv>(ergon::ServerOptions{}, ergon::self());
    bool thrown = false;
    try {
      (void)ergon::call(kv, Boom{}, std::chrono::hours(1));  // ends by the Down, not the timeout
    } catch (const CallError& e) {
      thrown = true;
      EXPECT_EQ(e.reason().kind, ExitReason::Kind::kException);
      EXPECT_EQ(e.reason().what, "disk on fire");
    }
    EXPECT_TRUE(thrown);
    const Terminated t = await<Terminated>();
    EXPECT_EQ(t.reason.to_string(), "exception: disk on fire");
  });
}

TEST_P(Server, StopRunsTerminateWithTheReason) {
  run([] {
    const ergon::Pid kv = ergon::start_server<Kv>(ergon::ServerOptions{}, ergon::self());
    ergon::stop_server(kv, ExitReason{ExitReason::Kind::kShutdown, "maintenance"}, 5s);
    EXPECT_EQ(await<Terminated>().reason.to_string(), "shutdown: maintenance");
    const std::string w = what_of<CallError>([kv] { ergon::stop_server(kv); });
    EXPECT_TRUE(contains(w, "noproc")) << w;
  });
}

TEST_P(Server, AHandlerMayReplyLater) {
  run([] {
    const ergon::Pid me = ergon::self();
    const ergon::Pid kv = ergon::start_server<Kv>(ergon::ServerOptions{}, me);
    ergon::spawn([kv, me] { ergon::send(me, ergon::call(kv, Later{}, 5s)); });
    (void)await<Release>();  // the server holds the call
    // The other caller waits; the server is free meanwhile.
    EXPECT_EQ(ergon::call(kv, Size{}, 5s), 0u);
    ergon::cast(kv, Release{});
    EXPECT_EQ(await<int>(), 42);
    ergon::stop_server(kv);
  });
}

struct Catcher {
  using Calls = ergon::Handles<Size>;
  explicit Catcher(ergon::Pid w) : w_(w) {}
  std::size_t handle_call(const Size&) { return seen_; }
  void handle_info(const ergon::AnyMessage& m) {
    ++seen_;
    ergon::send(w_, m.type_name());
  }
  ergon::Pid w_;
  std::size_t seen_ = 0;
};

TEST_P(Server, AMessageNoHandlerTakesIsDroppedOrCaught) {
  run([] {
    const ergon::Pid kv = ergon::start_server<Kv>(ergon::ServerOptions{}, ergon::Pid{});
    ergon::send(kv, Unknown{1});  // reported on stderr once, and dropped
    EXPECT_EQ(ergon::call(kv, Size{}, 5s), 0u);
    ergon::stop_server(kv);
    const ergon::Pid c = ergon::start_server<Catcher>(ergon::ServerOptions{}, ergon::self());
    ergon::send(c, Unknown{2});
    EXPECT_TRUE(contains(await<std::string>(), "Unknown"));
    EXPECT_EQ(ergon::call(c, Size{}, 5s), 1u);
    ergon::stop_server(c);
  });
}

struct Restarted {
  ergon::Pid pid;
};

TEST_P(Server, RunsUnderASupervisorAndIsRestartedWithItsName) {
  quiet();
  run([] {
    const ergon::Pid me = ergon::self();
    ergon::SupervisorSpec spec;
    spec.intensity = 5;
    spec.children = {
        {.id = "kv", .start = ergon::serve<Kv>(ergon::ServerOptions{.name = "kv"}, ergon::Pid{})}};
    spec.on_event = [me](const ergon::SupervisorEvent& e) {
      if (e.kind == ergon::SupervisorEvent::Kind::kRestarted) ergon::send(me, Restarted{e.pid});
    };
    const ergon::Pid sup = ergon::start_supervisor(spec);
    // A child takes the name as it starts, maybe after start_supervisor returned: wait for it
    // (a bounded poll).
    auto named = [](auto ok) {
      const auto give_up = std::chrono::steady_clock::now() + ergon_test::patience();
      while (!ok(ergon::whereis("kv")) && std::chrono::steady_clock::now() < give_up) {
        ergon::sleep_for(1ms);
      }
      return ergon::whereis("kv");
    };
    const ergon::Pid first = named([](ergon::Pid p) { return static_cast<bool>(p); });
    ASSERT_TRUE(first);
    EXPECT_TRUE(ergon::call("kv", Put{"a", "1"}, 5s));
    EXPECT_THROW((void)ergon::call("kv", Boom{}, 5s), CallError);
    const ergon::Pid second = await<Restarted>().pid;
    EXPECT_NE(second, first);
    ASSERT_EQ(named([second](ergon::Pid p) { return p == second; }), second);
    EXPECT_EQ(ergon::call("kv", Get{"a"}, 5s), std::nullopt);  // a fresh state
    ergon::supervisor::stop(sup);
  });
}

struct Trapper {
  static constexpr bool kTrapExits = true;
  using Calls = ergon::Handles<Size>;
  explicit Trapper(ergon::Pid w) : w_(w) {}
  std::size_t handle_call(const Size&) { return 0; }
  void terminate(const ExitReason& why) { ergon::send(w_, Terminated{why}); }
  ergon::Pid w_;
};

TEST_P(Server, ATrappingServerRunsTerminateWhenItsSupervisorShutsItDown) {
  run([] {
    ergon::SupervisorSpec spec;
    spec.children = {
        {.id = "t", .start = ergon::serve<Trapper>(ergon::ServerOptions{}, ergon::self())}};
    const ergon::Pid sup = ergon::start_supervisor(spec);
    // Once it answers, it traps exits (a signal before that would end it without terminate,
    // as it would end a gen_server still in init).
    EXPECT_EQ(ergon::call(ergon::supervisor::which_children(sup).at(0).pid, Size{}, 5s), 0u);
    ergon::supervisor::stop(sup);
    EXPECT_EQ(await<Terminated>().reason.kind, ExitReason::Kind::kShutdown);
  });
}

}  // namespace
