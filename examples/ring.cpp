// ring: N processes in a ring pass a token M laps.   usage: ring [processes] [laps]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ergon/ergon.hpp>
#include <vector>

struct Next {
  ergon::Pid pid;
};
struct Token {
  long hops_left;
};

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 10'000;
  const long laps = argc > 2 ? std::atol(argv[2]) : 100;
  ergon::Runtime rt;
  rt.run([n, laps] {
    ergon::Pid main = ergon::self();
    auto t0 = std::chrono::steady_clock::now();
    std::vector<ergon::Pid> ring;
    ring.reserve(n);
    for (long i = 0; i < n; ++i) {
      ring.push_back(ergon::spawn([main, n] {
        ergon::Pid next = ergon::receive<Next>().pid;
        for (;;) {
          Token t = ergon::receive<Token>();
          if (t.hops_left == 0) {
            ergon::send(main, t);
            return;
          }
          ergon::send(next, Token{t.hops_left - 1});
          if (t.hops_left < n) return;  // the token will not come back to us
        }
      }));
    }
    for (long i = 0; i < n; ++i) ergon::send(ring[i], Next{ring[(i + 1) % n]});
    auto t1 = std::chrono::steady_clock::now();
    const long hops = n * laps;
    ergon::send(ring[0], Token{hops});
    ergon::receive<Token>();
    auto t2 = std::chrono::steady_clock::now();
    double create_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    double ns = std::chrono::duration<double, std::nano>(t2 - t1).count();
    std::printf("ring: %ld processes created in %.1f ms; %ld hops in %.1f ms: %.1f ns per hop\n", n,
                create_ms, hops, ns / 1e6, ns / hops);
  });
  return 0;
}
