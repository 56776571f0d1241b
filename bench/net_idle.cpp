// net_idle (ergon only): the idle-connection bars. 10,000 loopback connections, the
// server end of each held by a process blocked in read (no timeout), the client ends held by
// one process blocked in receive. Reports the resident memory per connection (VmRSS after minus
// before, over the connection count: the handler's stack pages, its record, both ends' socket
// records; the kernel's socket buffers are not in VmRSS) and the CPU the whole program uses
// over the next 10 s (cpu_s, cpu_pct of one core). scale multiplies the connection count; the
// fd limit is raised to the hard limit, and the count capped by it.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <ergon/ergon.hpp>
#include <string>
#include <vector>

#include "harness.hpp"

namespace bench {
namespace {

struct Stop {};

void net_idle(double s) {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  ::getrlimit(RLIMIT_NOFILE, &rl);
  const long want = std::lround(10'000 * s);
  const long n = std::min<long>(want, static_cast<long>(rl.rlim_cur - 100) / 2);
  ergon::Runtime rt;
  rt.run([n] {
    using namespace ergon::net;
    const ergon::Pid main = ergon::self();
    Listener l = Listener::bind(Address::parse("127.0.0.1:0"), ListenOptions{.backlog = 4096});
    const Address at = l.local_address();
    const long rss0 = vmrss_kb();
    const clk::time_point t0 = clk::now();
    ergon::Pid client = ergon::spawn([at, n, main] {
      std::vector<Stream> conns;
      conns.reserve(static_cast<std::size_t>(n));
      for (long i = 0; i < n; ++i) conns.push_back(Stream::connect(at));
      ergon::send(main, 1);
      ergon::receive<Stop>();
    });
    for (long i = 0; i < n; ++i) {
      Stream c = l.accept();
      ergon::Pid h = ergon::spawn([main] {
        Stream c = ergon::receive<Stream>();
        char buf[64];
        ergon::send(main, 2);
        (void)c.read_some(buf, sizeof buf);  // blocks: the client never writes
      });
      c.hand_to(h);
      ergon::send(h, std::move(c));
    }
    for (long i = 0; i < n + 1; ++i) (void)ergon::receive<int>();
    const std::int64_t setup_ns = ns_since(t0);
    ergon::sleep_for(std::chrono::milliseconds(200));  // every handler is in read now
    const long rss1 = vmrss_kb();
    const double cpu0 = cpu_seconds();
    const auto w0 = clk::now();
    ergon::sleep_for(std::chrono::seconds(10));
    const double cpu = cpu_seconds() - cpu0;
    const double wall_s = ns_since(w0) / 1e9;
    (void)client;
    finish(fmt_result(static_cast<double>(setup_ns),
                      kvf("bytes_per_conn", double(rss1 - rss0) * 1024 / n) + kvf("cpu_s", cpu) +
                          kvf("cpu_pct", cpu / wall_s * 100) + kvi("connections", n)));
  });
}

const Workload kNetIdle[] = {
    {"net_idle", net_idle,
     "10,000 loopback connections, each in a process blocked in read: bytes and cpu over 10 s"},
};

}  // namespace

std::span<const Workload> net_workloads() { return kNetIdle; }

}  // namespace bench
