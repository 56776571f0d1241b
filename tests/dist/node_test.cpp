// An ergon node in a real Erlang cluster (ergon/dist.hpp): an epmd of its own and `erl` nodes
// running tests/dist/ergon_peer.erl. One erl node (a) serves the whole suite; the tests that
// kill a node start one of their own.
//
// Covered: publishing and hidden-node visibility, sends both ways (pids and registered names)
// with order kept, gen_server calls both ways and rpc, links and monitors from Erlang with the
// exit rules, exit signals from Erlang, connection loss (noconnection, NodeDown), wrong cookies
// both ways, and two ergon nodes talking (tests/fixtures/dist_node).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "ergon/dist.hpp"
#include "ergon/ergon.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon::Atom;
using ergon::Pid;
using ergon::Term;
using ergon_test::await;
using ergon_test::contains;

constexpr const char* kCookie = "ergon_test_cookie";
const std::string kA = "a@127.0.0.1";

class Dist : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* src = std::getenv("ERGON_SOURCE_DIR");
    cluster_.start(src != nullptr ? src : ".");
    a_ = cluster_.erl("a", kCookie);
  }
  static void TearDownTestSuite() {
    if (std::getenv("ERGON_DIST_VERBOSE") != nullptr)
      std::fprintf(stderr, "%s", a_.output().c_str());
    a_.kill_now();
    cluster_.stop();
  }

  void SetUp() override { envelopes_ = ergon::mailbox::live_envelopes(); }
  void TearDown() override {
    EXPECT_EQ(ergon::net::open_sockets(), 0) << "sockets left open";
    EXPECT_EQ(ergon::mailbox::live_envelopes(), envelopes_) << "envelopes leaked";
  }

  // Runs `fn` in a runtime of 2 workers as a node named <test>@127.0.0.1.
  template <class F>
  void as_node(F&& fn, std::string cookie = kCookie) {
    ergon::Options o;
    o.workers = 2;
    ergon::Runtime rt(o);
    const std::string name = std::string("t_") +
                             testing::UnitTest::GetInstance()->current_test_info()->name() +
                             "@127.0.0.1";
    rt.run([&] {
      ergon::dist::NodeOptions no;
      no.name = name;
      no.cookie = cookie;
      ergon::dist::start(no);
      fn();
      ergon::dist::stop();
    });
    ergon::Stats s = rt.stats();
    EXPECT_EQ(s.processes_alive, 0u);
  }

  // Sends {Self, Command, Args...} to a's command loop.
  template <class... A>
  static void ask(const std::string& node, const char* command, const A&... args) {
    ergon::dist::send(ergon::dist::Name{"peer", node},
                      std::make_tuple(ergon::self(), Atom(command), args...));
  }
  static Term next_term() { return await<Term>(); }

  // A second ergon node (tests/fixtures/dist_node) named `node`, once it says it is ready;
  // one with no pid (and the failure recorded) if it never does.
  static dist_test::Child ergon_peer(const std::string& node) {
    dist_test::Child peer =
        dist_test::spawn_child({ergon_test::fixture_path("dist_node")},
                               {"ERGON_NODE=" + node, std::string("ERGON_COOKIE=") + kCookie});
    std::string seen;
    if (!peer.wait_for("ready", 30s, &seen)) {
      ADD_FAILURE() << "the ergon peer " << node << " never said ready: " << seen;
      peer.kill_now();
    }
    return peer;
  }

  static dist_test::Cluster cluster_;
  static dist_test::Child a_;
  std::int64_t envelopes_ = 0;
};

dist_test::Cluster Dist::cluster_;
dist_test::Child Dist::a_;

TEST_F(Dist, NodeIsPublishedAndErlangSeesItAsHidden) {
  as_node([] {
    ask(kA, "echo", std::string("hello"));
    const Term t = next_term();
    EXPECT_EQ(t.to_string(), "{echo,<<\"hello\">>}");
    auto echoed = t.as<std::tuple<Atom, std::string>>();
    ASSERT_TRUE(echoed.has_value());
    EXPECT_EQ(std::get<1>(*echoed), "hello");
    ask(kA, "hidden_nodes");
    auto hidden = next_term().as<std::tuple<Atom, std::vector<Atom>>>();
    ASSERT_TRUE(hidden.has_value());
    EXPECT_NE(std::find(std::get<1>(*hidden).begin(), std::get<1>(*hidden).end(),
                        Atom(ergon::dist::node())),
              std::get<1>(*hidden).end());
    const auto up = ergon::dist::nodes();
    EXPECT_NE(std::find(up.begin(), up.end(), kA), up.end());
  });
}

TEST_F(Dist, SendsBothWaysToPidsAndRegisteredNamesKeepOrder) {
  as_node([] {
    const Pid me = ergon::self();
    ergon::register_name("inbox", me);
    // Erlang -> a registered ergon name ({inbox, Node} ! Msg) and -> an ergon pid.
    ask(kA, "send_to", Atom("inbox"), Atom(ergon::dist::node()), Atom("by_name"));
    EXPECT_TRUE(next_term().is_atom("by_name"));
    EXPECT_TRUE(next_term().is_atom("sent"));
    ask(kA, "send_pid", me, std::make_tuple(Atom("by_pid"), 42));
    auto by_pid = next_term().as<std::tuple<Atom, int>>();
    ASSERT_TRUE(by_pid.has_value());
    EXPECT_EQ(std::get<1>(*by_pid), 42);
    EXPECT_TRUE(next_term().is_atom("sent"));
    // ergon -> a remote pid, with ergon::send of a declared type: learn a pid of a first.
    ask(kA, "spawn_echo");
    auto spawned = next_term().as<std::tuple<Atom, Pid>>();
    ASSERT_TRUE(spawned.has_value());
    const Pid remote = std::get<1>(*spawned);
    EXPECT_TRUE(remote.is_remote());
    EXPECT_TRUE(contains(ergon::dist::describe(remote), kA));
    // Order: 500 echoes through a's command loop come back in the order they were sent.
    constexpr int kN = 500;
    for (int i = 0; i < kN; ++i) ask(kA, "echo", i);
    for (int i = 0; i < kN; ++i) {
      auto e = next_term().as<std::tuple<Atom, int>>();
      ASSERT_TRUE(e.has_value());
      ASSERT_EQ(std::get<1>(*e), i);
    }
    ergon::unregister_name("inbox");
  });
}

// A key-value Server that Erlang calls with gen_server:call({kv, Node}, Req).
class ErlKv {
 public:
  using Calls = ergon::Handles<Term>;
  Term handle_call(const Term& req) {
    if (auto put = req.as<std::tuple<Atom, Atom, int>>(); put && std::get<0>(*put).name == "put") {
      map_[std::get<1>(*put).name] = std::get<2>(*put);
      return Term::of(Atom("ok"));
    }
    if (auto get = req.as<std::tuple<Atom, Atom>>(); get && std::get<0>(*get).name == "get") {
      auto it = map_.find(std::get<1>(*get).name);
      if (it == map_.end()) return Term::of(Atom("undefined"));
      return Term::of(it->second);
    }
    if (req.is_atom("crash")) throw std::runtime_error("asked to crash");
    return Term::of(std::make_tuple(Atom("error"), req));
  }

 private:
  std::map<std::string, int> map_;
};

TEST_F(Dist, GenServerCallFromErlangReachesAnErgonServer) {
  as_node([] {
    const Pid kv = ergon::start_server<ErlKv>(ergon::ServerOptions{.name = "kv"});
    const Atom me(ergon::dist::node());
    ask(kA, "call", Atom("kv"), me, std::make_tuple(Atom("put"), Atom("x"), 7));
    EXPECT_EQ(next_term().to_string(), "{call_result,ok}");
    ask(kA, "call", Atom("kv"), me, std::make_tuple(Atom("get"), Atom("x")));
    EXPECT_EQ(next_term().to_string(), "{call_result,7}");
    ask(kA, "call_pid", kv, std::make_tuple(Atom("get"), Atom("y")));
    EXPECT_EQ(next_term().to_string(), "{call_result,undefined}");
    // A call to a name nobody holds: Erlang's caller gets noproc from its monitor.
    ask(kA, "call", Atom("nobody"), me, Atom("hi"));
    const std::string r = next_term().to_string();
    EXPECT_TRUE(contains(r, "noproc")) << r;
    ergon::stop_server(kv);
  });
}

TEST_F(Dist, CallsAnErlangGenServerAndRpc) {
  as_node([] {
    const ergon::dist::Name srv{"erl_srv", kA};
    EXPECT_EQ(ergon::dist::call<int>(srv, std::make_tuple(Atom("add"), 2, 40), 5s), 42);
    EXPECT_EQ(ergon::dist::call(srv, std::make_tuple(Atom("put"), Atom("k"), std::string("v")), 5s)
                  .to_string(),
              "ok");
    EXPECT_EQ(ergon::dist::call<std::string>(srv, std::make_tuple(Atom("get"), Atom("k")), 5s),
              "v");
    // A reply that takes longer than the timeout (it comes later, as a stray term).
    (void)ergon_test::what_of<ergon::CallTimeout>(
        [&] { ergon::dist::call(srv, Atom("slow"), 200ms); });
    // rpc through rex.
    EXPECT_EQ(ergon::dist::rpc(kA, "erlang", "node", {}, 5s).to_string(), "'" + kA + "'");
    EXPECT_EQ(ergon::dist::rpc(kA, "lists", "reverse", {Term::of(std::vector<int>{1, 2, 3})}, 5s)
                  .as<std::vector<int>>(),
              (std::vector<int>{3, 2, 1}));
    // Nobody registered: noproc.
    const std::string none = ergon_test::what_of<ergon::CallError>([&] {
      ergon::dist::call(ergon::dist::Name{"nobody", kA}, Atom("x"), 5s);
    });
    EXPECT_TRUE(contains(none, "noproc")) << none;
    // A server that dies before it replies: CallError with its reason (from MONITOR_P_EXIT).
    const std::string why =
        ergon_test::what_of<ergon::CallError>([&] { ergon::dist::call(srv, Atom("crash"), 5s); });
    EXPECT_TRUE(contains(why, "crashed")) << why;
    // The erl_srv restarts for later tests: it was started unsupervised, so start it again.
    ergon::dist::rpc(
        kA, "gen_server", "start",
        {Term::of(std::make_tuple(Atom("local"), Atom("erl_srv"))), Term::of(Atom("ergon_peer")),
         Term::of(std::vector<int>{}), Term::of(std::vector<int>{})},
        5s);
  });
}

TEST_F(Dist, ErlangLinksAndMonitorsFollowTheExitRules) {
  as_node([] {
    // A process that Erlang links to and monitors, and that ends with the reason it is told.
    auto victim = [] {
      return ergon::spawn([] {
        const Term t = ergon::receive<Term>();
        if (t.is_atom("normal")) return;
        ergon::exit(ergon::ExitReason::user(t.tag().empty() ? "boom" : t.tag()));
      });
    };
    // A linked Erlang process that traps exits sees {'EXIT', Pid, boom}.
    Pid v = victim();
    ask(kA, "link_to", v, true);
    auto linker = next_term();
    EXPECT_EQ(linker.tag(), "linker");
    ergon::send(v, Term::of(std::make_tuple(Atom("boom"))));
    auto seen = next_term();
    EXPECT_EQ(seen.tag(), "exit_seen");
    EXPECT_TRUE(contains(seen.to_string(), "boom")) << seen.to_string();
    EXPECT_EQ(next_term().to_string(), "{linker_down,normal}");
    // One that does not trap dies with the same reason; a normal exit does not kill it.
    v = victim();
    ask(kA, "link_to", v, false);
    EXPECT_EQ(next_term().tag(), "linker");
    ergon::send(v, Term::of(std::make_tuple(Atom("bang"))));
    EXPECT_EQ(next_term().to_string(), "{linker_down,bang}");
    // A monitor from Erlang: DOWN with the reason, and noproc for a process that is gone.
    v = victim();
    ask(kA, "monitor", v);
    EXPECT_TRUE(next_term().is_atom("monitoring"));
    ergon::send(v, Term::of(Atom("normal")));
    EXPECT_EQ(next_term().to_string(), "{down,normal}");
    ask(kA, "monitor", v);
    EXPECT_TRUE(next_term().is_atom("monitoring"));
    EXPECT_EQ(next_term().to_string(), "{down,noproc}");
    // The other way: an Erlang process linked to a trapping ergon process that exits with a
    // reason sends it Exit{remote pid, reason}.
    ergon::trap_exits(true);
    ask(kA, "spawn_echo");
    auto sp = next_term().as<std::tuple<Atom, Pid>>();
    ASSERT_TRUE(sp.has_value());
    const Pid remote = std::get<1>(*sp);
    v = ergon::self();
    ask(kA, "link_to", v, false);  // a's linker links to us; we then tell it to exit
    auto lk = next_term().as<std::tuple<Atom, Pid>>();
    ASSERT_TRUE(lk.has_value());
    ergon::dist::send(std::get<1>(*lk), std::make_tuple(Atom("exit_me"), Atom("gone")));
    const ergon::Exit ex = await<ergon::Exit>();
    EXPECT_EQ(ex.from, std::get<1>(*lk));
    EXPECT_EQ(ex.reason.to_string(), "gone");
    EXPECT_EQ(next_term().to_string(), "{linker_down,gone}");
    ergon::trap_exits(false);
    ergon::dist::send(remote, std::make_tuple(Atom("die"), Atom("normal")));
  });
}

TEST_F(Dist, LosingANodeGivesNodeDownAndNoconnection) {
  dist_test::Child b = cluster_.erl("b", kCookie);
  const std::string kB = "b@127.0.0.1";
  as_node([&] {
    ASSERT_TRUE(ergon::dist::connect(kB));
    ergon::dist::monitor_node(kB);
    // A trapping process linked from b gets an exit signal noconnection when b dies.
    const Pid parent = ergon::self();
    const Pid linked = ergon::spawn([parent] {
      ergon::trap_exits(true);
      ergon::send(parent, 1);
      const ergon::Exit e = await<ergon::Exit>();
      ergon::send(parent, e.reason.to_string());
    });
    EXPECT_EQ(await<int>(), 1);
    ask(kB, "link_to", linked, true);
    EXPECT_EQ(next_term().tag(), "linker");
    ergon::blocking([&] { b.kill_now(); });
    const auto down = await<ergon::dist::NodeDown>();
    EXPECT_EQ(down.node, kB);
    EXPECT_TRUE(contains(down.reason, "connection_closed")) << down.reason;
    EXPECT_EQ(await<std::string>(), "noconnection");
    // A call to the lost node fails with noconnection, and so does monitor_node now.
    const std::string why = ergon_test::what_of<ergon::CallError>([&] {
      ergon::dist::call(ergon::dist::Name{"erl_srv", kB}, Atom("x"), 2s);
    });
    EXPECT_TRUE(contains(why, "noconnection")) << why;
    ergon::dist::monitor_node(kB);
    EXPECT_EQ(await<ergon::dist::NodeDown>().reason, "noconnection");
  });
}

TEST_F(Dist, AWrongCookieIsRefusedAndLoggedBothWays) {
  testing::internal::CaptureStderr();
  as_node(
      [] {
        // This node's cookie differs from a's: a refuses us.
        EXPECT_FALSE(ergon::dist::connect(kA, 3s));
      },
      "not_the_cookie");
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(log, "cannot connect to " + kA)) << log;
  EXPECT_TRUE(contains(log, "cookies differ")) << log;
  // a with a wrong cookie for us: we refuse it and say why. a is asked over a good connection,
  // which it drops first (disconnect_node) and makes again with the good cookie to answer.
  testing::internal::CaptureStderr();
  as_node([] {
    ask(kA, "ping_with_cookie", Atom(ergon::dist::node()), Atom("bad_cookie"));
    EXPECT_EQ(next_term().to_string(), "{pinged,pang}");
  });
  log = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(log, "wrong cookie")) << log;
  EXPECT_TRUE(contains(log, kA)) << log;
}

TEST_F(Dist, TwoErgonNodesTalk) {
  const std::string kPeer = "ergon_peer@127.0.0.1";
  dist_test::Child peer = ergon_peer(kPeer);
  ASSERT_TRUE(peer.pid > 0);
  as_node([&] {
    // A message to a registered name and its answer to our pid.
    ergon::dist::send(ergon::dist::Name{"echo", kPeer},
                      std::make_tuple(ergon::self(), std::string("over")));
    EXPECT_EQ(next_term().to_string(), "{echo,<<\"over\">>}");
    // Calls to its Server, both kinds of reply.
    const ergon::dist::Name kv{"kv", kPeer};
    EXPECT_EQ(
        ergon::dist::call(kv, std::make_tuple(Atom("put"), 1, std::string("one")), 5s).to_string(),
        "ok");
    EXPECT_EQ(ergon::dist::call<std::string>(kv, std::make_tuple(Atom("get"), 1), 5s), "one");
    // Order over many messages: pings answered in order, counted.
    constexpr int kN = 300;
    for (int i = 0; i < kN; ++i)
      ergon::dist::send(ergon::dist::Name{"echo", kPeer}, std::make_tuple(ergon::self(), i));
    for (int i = 0; i < kN; ++i) {
      auto e = next_term().as<std::tuple<Atom, int>>();
      ASSERT_TRUE(e.has_value());
      ASSERT_EQ(std::get<1>(*e), i);
    }
    ergon::dist::monitor_node(kPeer);
    ergon::blocking([&] { peer.kill_now(); });
    EXPECT_EQ(await<ergon::dist::NodeDown>().node, kPeer);
  });
  peer.kill_now();
}

// Six processes on both workers send big and small messages at once while the peer echoes
// each back: the connection's writes are short and wait for room, and each process's echoes
// still come back whole and in its order. 26 MB each way with both nodes writing: before the
// connection served its reads while a write waited (W1..W3, dist/node.cpp), the two nodes
// deadlocked at about 10 MB, each waiting in a write for the other to read.
TEST_F(Dist, ManySendersKeepEachPairsOrderThroughShortWrites) {
  const std::string kPeer = "ergon_peer2@127.0.0.1";
  dist_test::Child peer = ergon_peer(kPeer);
  ASSERT_TRUE(peer.pid > 0);
  as_node([&] {
    constexpr int kSenders = 6;
    const int n = ergon_test::scaled(200, 40);
    const Pid main = ergon::self();
    struct Result {
      int sender;
      std::string error;
    };
    for (int s = 0; s < kSenders; ++s) {
      ergon::spawn([main, s, n, &kPeer] {
        const ergon::dist::Name echo{"echo", kPeer};
        // Every third message is 64 KiB: more than a loopback socket takes at once while
        // the others stream, so some writes are short and the rest waits in the queue.
        auto body = [s](int i) { return std::string(i % 3 == 0 ? 64 * 1024 : 8, char('a' + s)); };
        for (int i = 0; i < n; ++i)
          ergon::dist::send(echo, std::make_tuple(ergon::self(), std::make_tuple(i, body(i))));
        std::string error;
        for (int i = 0; i < n && error.empty(); ++i) {
          auto e = ergon::receive<Term>().as<std::tuple<Atom, std::tuple<int, std::string>>>();
          if (!e) {
            error = "echo " + std::to_string(i) + " did not decode";
          } else if (std::get<0>(std::get<1>(*e)) != i) {
            error = "echo " + std::to_string(i) + " came as " +
                    std::to_string(std::get<0>(std::get<1>(*e)));
          } else if (std::get<1>(std::get<1>(*e)) != body(i)) {
            error = "echo " + std::to_string(i) + " came back changed";
          }
        }
        ergon::send(main, Result{s, error});
      });
    }
    for (int s = 0; s < kSenders; ++s) {
      const Result r = await<Result>();
      EXPECT_EQ(r.error, "") << "sender " << r.sender;
    }
  });
  peer.kill_now();
}

}  // namespace
