// supervisor: a supervision tree whose workers crash at random and are restarted.
//
//   top (one_for_one, at most 20 restarts a second)
//   +-- shard-a (rest_for_one, at most 10 restarts a second)
//   |   +-- a1, a2, a3   workers
//   +-- shard-b (one_for_all, at most 10 restarts a second)
//       +-- b1, b2, b3   workers
//
// A worker does "work" (sleeps a few milliseconds at a time) and now and then throws. Its
// shard restarts it (and, by the shard's strategy, some of its siblings); a shard that sees
// too many crashes in a second gives up, and the top supervisor restarts the whole shard.
// Every restart is printed as it happens. After the given time, main stops the top
// supervisor, which shuts the tree down in order, and the program prints a summary.
//
//   usage: supervisor [seconds] [seed]     (default 2 s, a random seed)
//
// Fault injection tests the same tree with crashes the workers did not ask for, at any of their
// reduction points (docs/api.md, "Fault injection"); the supervisors themselves are immune:
//
//   ERGON_FAULT_CRASH=0.0005 ERGON_SEED=42 build/release/examples/supervisor 2
//
// Each injected crash is reported with the seed that replays it (ERGON_SEED).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ergon/ergon.hpp>
#include <random>
#include <stdexcept>
#include <string>

namespace {

std::atomic<std::uint64_t> g_crashes{0}, g_worker_restarts{0}, g_shard_restarts{0};

// A worker: works in small steps; each step fails with probability 1/40 (about one crash
// every 200 ms).
ergon::ChildSpec worker(std::string id, std::uint64_t seed) {
  ergon::ChildSpec c;
  c.id = id;
  c.shutdown = std::chrono::milliseconds(100);
  c.start = [id, seed] {
    std::mt19937_64 rng(seed ^ ergon::self().raw());
    for (;;) {
      ergon::sleep_for(std::chrono::milliseconds(1 + rng() % 9));
      if (rng() % 40 == 0) throw std::runtime_error(id + ": simulated fault");
    }
  };
  return c;
}

void print_event(const char* level, const ergon::SupervisorEvent& e) {
  using Kind = ergon::SupervisorEvent::Kind;
  switch (e.kind) {
    case Kind::kExited:
      if (!e.reason.normal()) {
        std::printf("%-8s %-8s %s ended: %s\n", level, e.child.c_str(), e.pid.to_string().c_str(),
                    e.reason.to_string().c_str());
      }
      break;
    case Kind::kRestarted:
      std::printf("%-8s %-8s restarted as %s\n", level, e.child.c_str(), e.pid.to_string().c_str());
      (std::string(level) == "top" ? g_shard_restarts : g_worker_restarts).fetch_add(1);
      break;
    case Kind::kGaveUp:
      std::printf("%-8s too many restarts: %s\n", level, e.reason.to_string().c_str());
      break;
    default:
      break;
  }
}

ergon::SupervisorSpec shard(const char* name, char prefix, ergon::Strategy strategy,
                            std::uint64_t seed) {
  ergon::SupervisorSpec s;
  s.strategy = strategy;
  s.intensity = 10;
  s.period = std::chrono::seconds(1);
  for (int i = 1; i <= 3; ++i) {
    s.children.push_back(worker(std::string(1, prefix) + std::to_string(i), seed + i));
  }
  s.on_event = [name](const ergon::SupervisorEvent& e) { print_event(name, e); };
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  const std::uint64_t seed =
      argc > 2 ? std::strtoull(argv[2], nullptr, 10) : std::random_device{}();
  std::printf("supervisor: %.1f s, seed %llu\n", seconds, static_cast<unsigned long long>(seed));

  ergon::Options opts;
  opts.on_crash = [](ergon::Pid, const std::string&) { g_crashes.fetch_add(1); };  // counted
  ergon::Runtime rt(opts);
  rt.run([&] {
    ergon::SupervisorSpec top;
    top.strategy = ergon::Strategy::kOneForOne;
    top.intensity = 20;
    top.period = std::chrono::seconds(1);
    top.children = {
        ergon::supervisor_child("shard-a",
                                shard("shard-a", 'a', ergon::Strategy::kRestForOne, seed)),
        ergon::supervisor_child("shard-b",
                                shard("shard-b", 'b', ergon::Strategy::kOneForAll, seed * 31)),
    };
    top.on_event = [](const ergon::SupervisorEvent& e) { print_event("top", e); };
    (void)ergon::trap_exits(true);  // if the top gives up, we hear of it instead of ending
    const ergon::Pid sup = ergon::start_supervisor(top);
    ergon::sleep_for(std::chrono::duration<double>(seconds));
    std::printf("stopping the tree:\n");
    for (const ergon::ChildInfo& c : ergon::supervisor::which_children(sup)) {
      std::printf("  %-8s %s\n", c.id.c_str(), c.pid.to_string().c_str());
    }
    try {
      ergon::supervisor::stop(sup);
    } catch (const ergon::Error& e) {  // the top supervisor gave up before the end
      std::printf("%s\n", e.what());
    }
  });
  const ergon::Stats st = rt.stats();
  std::printf("crashes %llu, worker restarts %llu, shard restarts %llu, processes left %llu\n",
              static_cast<unsigned long long>(g_crashes.load()),
              static_cast<unsigned long long>(g_worker_restarts.load()),
              static_cast<unsigned long long>(g_shard_restarts.load()),
              static_cast<unsigned long long>(st.processes_alive));
  return st.processes_alive == 0 ? 0 : 1;
}
