// pingpong: two processes send a message back and forth N times and print the round-trip
// rate.   usage: pingpong [round_trips]   (default 1,000,000)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ergon/ergon.hpp>

struct Ping {
  ergon::Pid from;
};
struct Pong {};
struct Stop {};

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 1'000'000;
  ergon::Runtime rt;
  rt.run([n] {
    ergon::Pid ponger = ergon::spawn([] {
      for (bool running = true; running;) {
        ergon::receive([](const Ping& p) { ergon::send(p.from, Pong{}); },
                       [&](Stop) { running = false; });
      }
    });
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) {
      ergon::send(ponger, Ping{ergon::self()});
      ergon::receive<Pong>();
    }
    auto t1 = std::chrono::steady_clock::now();
    ergon::send(ponger, Stop{});
    double ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
    std::printf(
        "pingpong: %ld round trips in %.1f ms: %.1f ns per round trip, %.2f M round trips/s\n", n,
        ns / 1e6, ns / n, n / ns * 1e3);
  });
  return 0;
}
