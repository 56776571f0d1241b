// pools: two pools of workers joined by messages (the micropools idea, in one runtime).
//
// A "front" pool answers cheap requests; now and then a request is expensive, and the front
// process that received it hands it to a worker process in the "back" pool, whose one worker
// does nothing else. The cheap requests never wait behind an expensive one. At the end the
// program prints what each pool did (ergon::Stats).
//
//   usage: pools [requests]   (default 100,000; one in 1,000 is expensive)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ergon/ergon.hpp>
#include <thread>

struct Request {
  std::uint64_t n;
  ergon::Pid reply_to;
};
struct Reply {
  std::uint64_t n;
  bool expensive;
};
struct Stop {};

// The expensive work: a long arithmetic loop that yields at reduction points.
std::uint64_t crunch(std::uint64_t seed) {
  std::uint64_t x = seed;
  for (int i = 0; i < 200'000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    ergon::checkpoint();
  }
  return x;
}

int main(int argc, char** argv) {
  const std::uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100'000;
  const unsigned hw = std::max(2u, std::thread::hardware_concurrency());
  ergon::Options o;
  o.pools = {{"front", hw - 1}, {"back", 1}};  // ERGON_POOLS overrides this
  ergon::Runtime rt(o);
  rt.run([n] {
    const ergon::Pool back = ergon::pool("back");
    // One server in the back pool runs the expensive requests, one after another.
    const ergon::Pid cruncher = ergon::spawn(
        [] {
          for (bool running = true; running;) {
            ergon::receive(
                [](const Request& r) {
                  ergon::send(r.reply_to, Reply{crunch(r.n) | 1, true});
                },
                [&](Stop) { running = false; });
          }
        },
        {.pool = back});
    // The front server answers cheap requests itself and forwards the expensive ones.
    const ergon::Pid front = ergon::spawn([cruncher] {
      for (bool running = true; running;) {
        ergon::receive(
            [cruncher](const Request& r) {
              if (r.n % 1000 == 999) {
                ergon::send(cruncher, r);  // messages cross pools freely
              } else {
                ergon::send(r.reply_to, Reply{r.n, false});
              }
            },
            [&](Stop) { running = false; });
      }
    });
    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t cheap = 0, expensive = 0;
    // At most 64 requests in flight.
    std::uint64_t sent = 0;
    for (; sent < n && sent < 64; ++sent) ergon::send(front, Request{sent, ergon::self()});
    for (std::uint64_t got = 0; got < n; ++got) {
      const Reply r = ergon::receive<Reply>();
      (r.expensive ? expensive : cheap)++;
      if (sent < n) ergon::send(front, Request{sent++, ergon::self()});
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ergon::send(front, Stop{});
    ergon::send(cruncher, Stop{});
    std::printf("%llu cheap and %llu expensive requests in %.3f s\n",
                static_cast<unsigned long long>(cheap), static_cast<unsigned long long>(expensive),
                s);
  });
  const ergon::Stats st = rt.stats();
  for (const ergon::PoolStats& p : st.pools) {
    std::uint64_t runs = 0;
    for (unsigned w = p.first_worker; w < p.first_worker + p.workers; ++w) {
      runs += st.workers[w].processes_run;
    }
    std::printf("pool %-6s %u worker(s), policy %s: %llu process runs\n", p.name.c_str(), p.workers,
                p.policy, static_cast<unsigned long long>(runs));
  }
}
