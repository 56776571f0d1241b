// dist_pingpong (ergon only; the Erlang figures are measured by erl itself in the same run):
// round trips between nodes on loopback, one process each side, one message in flight.
//   ergon_erl_us    this ergon node <-> an erl node (a's command loop answers {Self, echo, N})
//   ergon_ergon_us  this ergon node <-> a second ergon node (tests/fixtures/dist_node's echo)
//   erl_erl_us      erl node a <-> erl node b, timed by a with timer:tc
// each the median of N round trips (scale * 2000), and messages per second one way, ergon to
// ergon and ergon to erl (N*10 messages, then one call that the receiver answers after them).
// Starts an epmd on a free port and the nodes as child processes, kills them at the end.
//   RESULT dist_pingpong ergon wall_ms=.. ergon_ergon_us=.. erl_erl_us=.. ergon_erl_us=..
//          ergon_ergon_msgs_s=.. ergon_erl_msgs_s=..
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ergon/dist.hpp>
#include <ergon/ergon.hpp>
#include <string>
#include <vector>

#include "../tests/dist/cluster.hpp"
#include "harness.hpp"

namespace bench {
namespace {

using ergon::Atom;
using ergon::Term;

std::string exe_dir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string exe(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  return exe.substr(0, exe.rfind('/'));
}

double median_us(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Term receive_term() {
  auto t = ergon::receive_for<Term>(std::chrono::seconds(30));
  check(t.has_value(), "no answer from a node within 30 s");
  return *t;
}

void dist_pingpong(double s) {
  const std::int64_t n = cnt(2000, s);
  const std::string dir = exe_dir();  // build/<variant>/bench
  const std::string src = dir + "/../../..";
  dist_test::Cluster cluster;
  cluster.start(src);
  dist_test::Child a = cluster.erl("a", "bench_cookie");
  dist_test::Child b = cluster.erl("b", "bench_cookie");
  dist_test::Child peer =
      dist_test::spawn_child({dir + "/../tests/fixtures/dist_node"},
                             {"ERGON_NODE=ergon_peer@127.0.0.1", "ERGON_COOKIE=bench_cookie"});
  std::string seen;
  check(peer.wait_for("ready", std::chrono::seconds(30), &seen),
        "the second ergon node did not start: " + seen);
  const std::string kA = "a@127.0.0.1", kB = "b@127.0.0.1", kPeer = "ergon_peer@127.0.0.1";
  std::string line;
  ergon::Runtime rt;
  rt.run([&] {
    ergon::dist::NodeOptions no;
    no.name = "bench@127.0.0.1";
    no.cookie = "bench_cookie";
    ergon::dist::start(no);
    const ergon::Pid me = ergon::self();
    const clk::time_point t0 = clk::now();
    // ergon <-> erl.
    std::vector<double> ergon_erl;
    for (std::int64_t i = 0; i < n + 100; ++i) {  // the first 100: warm-up (connect, caches)
      const clk::time_point t = clk::now();
      ergon::dist::send(ergon::dist::Name{"peer", kA}, std::make_tuple(me, Atom("echo"), i));
      (void)receive_term();
      if (i >= 100) ergon_erl.push_back(ns_since(t) / 1e3);
    }
    // ergon <-> ergon.
    std::vector<double> ergon_ergon;
    const ergon::dist::Name echo{"echo", kPeer};
    for (std::int64_t i = 0; i < n + 100; ++i) {
      const clk::time_point t = clk::now();
      ergon::dist::send(echo, std::make_tuple(me, Atom("ping")));
      (void)receive_term();
      if (i >= 100) ergon_ergon.push_back(ns_since(t) / 1e3);
    }
    // erl <-> erl, timed by a.
    ergon::dist::send(ergon::dist::Name{"peer", kA},
                      std::make_tuple(me, Atom("erl_pingpong"), Atom(kB), n));
    const Term erl_answer = receive_term();
    auto erl = erl_answer.as<std::tuple<Atom, std::vector<std::int64_t>>>();
    check(erl.has_value(), "erl_pingpong answered " + erl_answer.to_string());
    std::vector<double> erl_erl(std::get<1>(*erl).begin(), std::get<1>(*erl).end());
    // One way: n*10 messages the receiver ignores, then one it answers.
    const std::int64_t m = n * 10;
    clk::time_point t = clk::now();
    for (std::int64_t i = 0; i < m; ++i) ergon::dist::send(echo, Atom("x"));
    ergon::dist::send(echo, std::make_tuple(me, Atom("ping")));
    (void)receive_term();
    const double ergon_ergon_rate = m / (ns_since(t) / 1e9);
    t = clk::now();
    const ergon::dist::Name erl_srv{"erl_srv", kA};
    for (std::int64_t i = 0; i < m; ++i) ergon::dist::send(erl_srv, Atom("x"));
    (void)ergon::dist::call(erl_srv, std::make_tuple(Atom("add"), 1, 2), std::chrono::seconds(30));
    const double ergon_erl_rate = m / (ns_since(t) / 1e9);
    line = fmt_result(
        static_cast<double>(ns_since(t0)),
        kvf("ergon_ergon_us", median_us(ergon_ergon)) + kvf("erl_erl_us", median_us(erl_erl)) +
            kvf("ergon_erl_us", median_us(ergon_erl)) +
            kvf("ergon_ergon_msgs_s", ergon_ergon_rate) + kvf("ergon_erl_msgs_s", ergon_erl_rate));
    ergon::dist::stop();
  });
  peer.kill_now();
  b.kill_now();
  a.kill_now();
  cluster.stop();
  finish(line);
}

const Workload kDist[] = {
    {"dist_pingpong", dist_pingpong,
     "round trips ergon<->erl, ergon<->ergon and erl<->erl on loopback (medians, us), and "
     "messages/s one way"},
};

}  // namespace

std::span<const Workload> dist_workloads() { return kDist; }

}  // namespace bench
