// A seeded stress test of links, monitors and exit signals together: random trees of processes
// ended at random, checked against a model of Erlang's rules that the test computes itself.
//
// One round:
//   1. Build a random tree (depth up to 4, a few hundred nodes). The test process asks a parent
//      to spawn each child, at random either with spawn_link or with spawn and a monitor from
//      the parent; a quarter of the nodes trap exits. Then extra random links and monitors
//      between nodes. The test process monitors every node itself.
//   2. Steps, until every node has ended: pick a live node and, at random, exit(pid, kill),
//      exit(pid, user reason), or tell it to throw, to return, or to call exit(user reason).
//      The model computes who ends and why (an abnormal end ends every linked node that does not
//      trap, with the same reason; a killed node's reason is `killed`, which propagates and is
//      trappable; `normal` ends nobody; a trapping node gets an Exit message instead), and which
//      Down and Exit messages the survivors get. Every node forwards each Down and Exit it
//      receives to the test process, which waits for exactly the expected ones (and its own Downs
//      of the nodes that end) before the next step. A node that ends in the same step may or may
//      not forward a Down it got before it ended: the model allows it, at most once.
//   3. After each step, each live node's monitor counts (detail::monitor_counts) equal the model's:
//      monitors leave no entry on either side once fired or once their watcher ended.
// At the end no message is left over, and the fixture checks that no process, stack or envelope
// leaked. The kills come from the test process, one at a time, so the outcome is deterministic
// given the seed even though the processes run on several workers.
//
// ERGON_SEED replays a run: every round's tree and steps come from it. ERGON_STRESS_VERBOSE=1
// prints what each round exercised.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ergon/ergon.hpp"
#include "test_util.hpp"

namespace {

using ergon::Down;
using ergon::Exit;
using ergon::ExitReason;
using Kind = ExitReason::Kind;

// --- the processes ---------------------------------------------------------------------------

struct SpawnChild {
  bool link;  // spawn_link; else spawn, then monitor the child
  bool trap;  // the child traps exits
};
struct LinkTo {
  ergon::Pid pid;
};
struct MonitorOf {
  ergon::Pid pid;
};
struct Ack {};
struct Up {
  ergon::Pid pid;
};
struct Crash {};
struct Return {};
struct ExitSelf {};
// A Down or an Exit that node `at` received, forwarded to the test process.
struct Seen {
  ergon::Pid at;
  bool down;  // a Down; else an Exit
  ergon::Pid from;
  Kind kind;
};

void node(ergon::Pid main, bool trap) {
  if (trap) ergon::trap_exits(true);
  const ergon::Pid me = ergon::self();
  ergon::send(main, Up{me});
  for (bool done = false; !done;) {
    ergon::receive(
        [&](const SpawnChild& c) {
          const bool t = c.trap;
          if (c.link) {
            (void)ergon::spawn_link([main, t] { node(main, t); });
          } else {
            (void)ergon::monitor(ergon::spawn([main, t] { node(main, t); }));
          }
          ergon::send(main, Ack{});
        },
        [&](const LinkTo& l) {
          ergon::link(l.pid);
          ergon::send(main, Ack{});
        },
        [&](const MonitorOf& m) {
          (void)ergon::monitor(m.pid);
          ergon::send(main, Ack{});
        },
        [&](const Down& d) {
          ergon::send(main, Seen{me, true, d.pid, d.reason.kind});
        },
        [&](const Exit& e) {
          ergon::send(main, Seen{me, false, e.from, e.reason.kind});
        },
        [](const Crash&) { throw std::runtime_error("crash"); },
        [&](const Return&) { done = true; },
        [](const ExitSelf&) { ergon::exit(ExitReason::user("quit")); });
  }
}

// --- the model -------------------------------------------------------------------------------

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kNormal:
      return "normal";
    case Kind::kException:
      return "exception";
    case Kind::kShutdown:
      return "shutdown";
    case Kind::kNoProc:
      return "noproc";
    case Kind::kKill:
      return "kill";
    case Kind::kKilled:
      return "killed";
    case Kind::kUser:
      return "user";
  }
  return "?";
}

enum class Action { kKill, kExitUser, kCrash, kReturn, kExitSelf };
const char* action_name(Action a) {
  switch (a) {
    case Action::kKill:
      return "exit(pid, kill)";
    case Action::kExitUser:
      return "exit(pid, user)";
    case Action::kCrash:
      return "throw";
    case Action::kReturn:
      return "return";
    case Action::kExitSelf:
      return "exit(user)";
  }
  return "?";
}

constexpr int kMain = -1;  // the test process, as the sender of an exit signal

// What the test process expects to receive: {at, down, from, kind}; at == kMain for its own
// Downs.
using Event = std::tuple<int, bool, int, Kind>;

class Round {
 public:
  Round(std::uint64_t seed, int max_nodes) : rng_(seed), max_nodes_(max_nodes) {}

  // Runs the whole round inside the test process. Failures are reported with `trace`.
  void run(const std::string& trace) {
    trace_ = trace;
    main_ = ergon::self();
    build();
    add_extra_edges();
    links_at_start_ = links_.size();
    for (const auto& [wt, n] : monitors_) monitors_at_start_ += static_cast<std::size_t>(n);
    check_counts("after the build");
    int steps = 0;
    const int random_steps = 4 * static_cast<int>(nodes_.size());
    while (alive_count() > 0) {
      const std::vector<int> live = alive_ids();
      const int x = live[rng_() % live.size()];
      Action a = Action::kKill;
      if (steps < random_steps) a = static_cast<Action>(rng_() % 5);
      step(x, a, steps);
      ++steps;
      if (::testing::Test::HasFailure()) return;  // the model no longer matches: stop here
    }
    // Every node has ended, and each one's messages came before its Down: nothing may be left.
    while (std::optional<Seen> s = ergon::receive_for<Seen>(std::chrono::milliseconds(0))) {
      ADD_FAILURE() << trace_ << ": a Seen after the end, at " << describe(s->at);
    }
    while (std::optional<Down> d = ergon::receive_for<Down>(std::chrono::milliseconds(0))) {
      ADD_FAILURE() << trace_ << ": a Down after the end, of " << d->pid.to_string();
    }
    EXPECT_EQ(ergon::detail::monitor_counts(main_).held, 0u) << trace_;
    if (std::getenv("ERGON_STRESS_VERBOSE") != nullptr) {
      std::printf(
          "%s: %zu nodes, %zu links and %zu monitors at the start, %d steps, %d ends "
          "(%d through links), %d Downs and %d Exits to nodes\n",
          trace_.c_str(), nodes_.size(), links_at_start_, monitors_at_start_, steps, ends_,
          cascaded_, downs_to_nodes_, exits_to_nodes_);
    }
  }

 private:
  struct Node {
    ergon::Pid pid;
    bool trap;
    int depth;
    bool alive = true;
    ergon::Ref ref;  // the test process's monitor of it
  };

  int alive_count() const {
    int n = 0;
    for (const Node& x : nodes_) n += x.alive ? 1 : 0;
    return n;
  }
  std::vector<int> alive_ids() const {
    std::vector<int> v;
    for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
      if (nodes_[i].alive) v.push_back(i);
    }
    return v;
  }
  std::string describe(ergon::Pid p) const {
    auto it = id_.find(p.raw());
    if (it == id_.end()) return p.to_string() + " (not a node)";
    return "node " + std::to_string(it->second) + " " + p.to_string();
  }
  int id_of(ergon::Pid p) const {
    if (p == main_) return kMain;
    auto it = id_.find(p.raw());
    return it == id_.end() ? -2 : it->second;
  }

  // Takes the next Up (a new node), monitors it, and records it.
  int add_node(bool trap, int depth) {
    const Up up = ergon_test::await<Up>();
    Node n{up.pid, trap, depth, true, ergon::Ref{}};
    n.ref = ergon::monitor(up.pid);
    const int id = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
    id_[up.pid.raw()] = id;
    return id;
  }

  void build() {
    const bool root_trap = rng_() % 4 == 0;
    const ergon::Pid main = main_;
    (void)ergon::spawn([main, root_trap] { node(main, root_trap); });
    add_node(root_trap, 0);
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].depth >= 4) continue;
      int fan = static_cast<int>(rng_() % 7);
      if (i == 0) fan = 2 + fan;  // a tree, not a root alone
      for (int c = 0; c < fan && static_cast<int>(nodes_.size()) < max_nodes_; ++c) {
        const bool link = rng_() % 2 == 0;
        const bool trap = rng_() % 4 == 0;
        ergon::send(nodes_[i].pid, SpawnChild{link, trap});
        (void)ergon_test::await<Ack>();  // the parent has spawned (and monitored) it
        const int child = add_node(trap, nodes_[i].depth + 1);
        if (link) {
          links_.insert({static_cast<int>(i), child});
        } else {
          ++monitors_[{static_cast<int>(i), child}];
        }
      }
    }
  }

  void add_extra_edges() {
    const int n = static_cast<int>(nodes_.size());
    for (int k = 0; k < n / 2; ++k) {
      const int a = static_cast<int>(rng_() % n), b = static_cast<int>(rng_() % n);
      if (a == b) continue;
      if (rng_() % 2 == 0) {
        ergon::send(nodes_[a].pid, LinkTo{nodes_[b].pid});
        links_.insert({std::min(a, b), std::max(a, b)});
      } else {
        ergon::send(nodes_[a].pid, MonitorOf{nodes_[b].pid});
        ++monitors_[{a, b}];
      }
      (void)ergon_test::await<Ack>();
    }
  }

  // One step: the action on node x, the model's consequences, and the wait for them.
  void step(int x, Action a, int index) {
    const std::string where = trace_ + ", step " + std::to_string(index) + ": " + action_name(a) +
                              " on " + describe(nodes_[x].pid) + (nodes_[x].trap ? " (traps)" : "");
    std::map<Event, int> expected, optional;
    std::vector<int> dying;
    std::vector<bool> ends(nodes_.size(), false);
    Kind reason = Kind::kNormal;
    switch (a) {
      case Action::kKill:
        reason = Kind::kKilled;
        ergon::exit(nodes_[x].pid, ExitReason::kill());
        break;
      case Action::kExitUser:
        reason = Kind::kUser;
        ergon::exit(nodes_[x].pid, ExitReason::user("bye"));
        break;
      case Action::kCrash:
        reason = Kind::kException;
        ergon::send(nodes_[x].pid, Crash{});
        break;
      case Action::kReturn:
        reason = Kind::kNormal;
        ergon::send(nodes_[x].pid, Return{});
        break;
      case Action::kExitSelf:
        reason = Kind::kUser;
        ergon::send(nodes_[x].pid, ExitSelf{});
        break;
    }
    if (a == Action::kExitUser && nodes_[x].trap) {
      ++expected[{x, false, kMain, Kind::kUser}];  // trapped: an Exit message, no end
    } else {
      ends[x] = true;
      dying.push_back(x);
    }
    // Exit signals through links, breadth first. Every end in one step has the same reason:
    // the first node's (a killed node's reason is `killed`, which is what its links get).
    for (std::size_t i = 0; i < dying.size(); ++i) {
      const int d = dying[i];
      std::vector<int> partners;
      for (auto it = links_.begin(); it != links_.end();) {
        if (it->first == d || it->second == d) {
          partners.push_back(it->first == d ? it->second : it->first);
          it = links_.erase(it);
        } else {
          ++it;
        }
      }
      for (const int p : partners) {
        if (ends[p]) continue;
        if (nodes_[p].trap) {
          ++expected[{p, false, d, reason}];
        } else if (reason != Kind::kNormal) {
          ends[p] = true;
          dying.push_back(p);
        }
      }
    }
    // Downs: to every watcher of a node that ends; one that ends too may or may not report it.
    for (auto it = monitors_.begin(); it != monitors_.end();) {
      const auto [w, t] = it->first;
      if (ends[t]) {
        (ends[w] ? optional : expected)[{w, true, t, reason}] += it->second;
      }
      if (ends[t] || ends[w]) {
        it = monitors_.erase(it);
      } else {
        ++it;
      }
    }
    ends_ += static_cast<int>(dying.size());
    cascaded_ += static_cast<int>(dying.size()) - (ends[x] ? 1 : 0);
    for (const auto& [e, n] : expected) (std::get<1>(e) ? downs_to_nodes_ : exits_to_nodes_) += n;
    for (const int d : dying) {
      ++expected[{kMain, true, d, reason}];
      nodes_[d].alive = false;
    }
    await_events(expected, optional, where);
    check_counts(where);
  }

  void await_events(std::map<Event, int>& expected, std::map<Event, int>& optional,
                    const std::string& where) {
    int left = 0;
    for (const auto& [e, n] : expected) left += n;
    const auto account = [&](const Event& e, const std::string& what) {
      auto it = expected.find(e);
      if (it != expected.end() && it->second > 0) {
        --it->second;
        --left;
        return;
      }
      auto jt = optional.find(e);
      if (jt != optional.end() && jt->second > 0) {
        --jt->second;
        return;
      }
      throw std::runtime_error(where + ": unexpected " + what);
    };
    while (left > 0) {
      const bool got = ergon::receive(
          [&](const Down& d) {
            const int t = id_of(d.pid);
            if (t >= 0 && d.ref != nodes_[t].ref) {
              ADD_FAILURE() << where << ": a Down with a ref that is not the test's";
            }
            account({kMain, true, t, d.reason.kind}, std::string("Down of ") + describe(d.pid) +
                                                         " (" + kind_name(d.reason.kind) +
                                                         ") at the test process");
            return true;
          },
          [&](const Seen& s) {
            account({id_of(s.at), s.down, id_of(s.from), s.kind},
                    std::string(s.down ? "Down" : "Exit") + " from " +
                        (s.from == main_ ? std::string("the test process") : describe(s.from)) +
                        " (" + kind_name(s.kind) + ") at " + describe(s.at));
            return true;
          },
          ergon::after(ergon_test::patience(), [] { return false; }));
      if (!got) {
        std::ostringstream missing;
        for (const auto& [e, n] : expected) {
          if (n <= 0) continue;
          const auto& [at, down, from, kind] = e;
          missing << "\n  " << n << "x " << (down ? "Down" : "Exit") << " at "
                  << (at == kMain ? std::string("the test process") : describe(nodes_[at].pid))
                  << " from "
                  << (from == kMain ? std::string("the test process") : describe(nodes_[from].pid))
                  << " (" << kind_name(kind) << ")";
        }
        throw std::runtime_error(where + ": timed out; still expected:" + missing.str());
      }
    }
  }

  // Each live node's monitors, on it and held by it, as the model has them.
  void check_counts(const std::string& where) {
    std::vector<std::size_t> on(nodes_.size(), 0), held(nodes_.size(), 0);
    for (const auto& [wt, n] : monitors_) {
      on[wt.second] += static_cast<std::size_t>(n);
      held[wt.first] += static_cast<std::size_t>(n);
    }
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i].alive) continue;
      const ergon::detail::MonitorCounts c = ergon::detail::monitor_counts(nodes_[i].pid);
      EXPECT_EQ(c.on, on[i] + 1) << where << ": monitors on " << describe(nodes_[i].pid);
      EXPECT_EQ(c.held, held[i]) << where << ": monitors held by " << describe(nodes_[i].pid);
    }
  }

  std::mt19937_64 rng_;
  int max_nodes_;
  std::string trace_;
  ergon::Pid main_;
  std::vector<Node> nodes_;
  std::unordered_map<std::uint64_t, int> id_;    // pid.raw() -> node
  std::set<std::pair<int, int>> links_;          // {smaller, larger}
  std::map<std::pair<int, int>, int> monitors_;  // {watcher, target} -> how many
  // For ERGON_STRESS_VERBOSE: what the round exercised.
  std::size_t links_at_start_ = 0, monitors_at_start_ = 0;
  int ends_ = 0, cascaded_ = 0, downs_to_nodes_ = 0, exits_to_nodes_ = 0;
};

class TreeStress : public ergon_test::QuietCrashTest {};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(TreeStress);

TEST_P(TreeStress, LinksAndMonitorsFollowErlangsRulesInRandomTrees) {
  const std::uint64_t seed = ergon_test::test_seed();
  RecordProperty("seed", std::to_string(seed));
  const std::string replay = "ERGON_SEED=" + std::to_string(seed) + " replays this run";
  SCOPED_TRACE(replay);
  const int rounds = ergon_test::scaled(40, 5);
  const int max_nodes = ergon_test::scaled(300, 200);
  run([&] {
    std::mt19937_64 seeds(seed);
    for (int r = 0; r < rounds && !HasFailure(); ++r) {
      Round round(seeds(), max_nodes);
      round.run(replay + ", round " + std::to_string(r));
    }
  });
}

}  // namespace
