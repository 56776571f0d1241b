// ergon-net-server: the ergon entry of the network peers (../shared/peers/net/README.md).
//
//   build/release/bench/ergon-net-server <echo|http> <port>
//
// The contract: listen on 127.0.0.1:<port> (SO_REUSEADDR, backlog 4096), print "ready" on
// stdout once the port accepts, nothing else there; SIGTERM or SIGINT exits 0; bad arguments
// exit 2. Workers follow the affinity mask (Options::workers = 0). TCP_NODELAY on every
// accepted socket. echo: read up to 16 KiB, write it all back, until EOF. http: every request
// head answered with the 78-byte hello, all those of one read in one write; an incomplete head
// over 64 KiB or bad input closes (examples/http_parser.hpp).
//
// Design: one listener per worker with SO_REUSEPORT, each with its own acceptor process, as
// the c_epoll reference has one per thread, so accepts spread over the workers without a
// single hot acceptor. One process per connection (what an ergon program would write), handed
// its stream by a message. Signals: blocked in every thread, taken by one plain thread with
// sigwait, which exits the program at once (as Go's os.Exit and Tokio's process::exit do in
// their peers).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "ergon/ergon.hpp"
#include "http_parser.hpp"

namespace {

void serve_echo(ergon::net::Stream& c) {
  char buf[16384];
  while (std::size_t n = c.read_some(buf, sizeof buf)) c.write_all(buf, n);
}

void serve_http(ergon::net::Stream& c) {
  http::Parser parser;
  std::string out;
  char buf[16384];
  http::Parser::Request r;
  for (;;) {
    const std::size_t n = c.read_some(buf, sizeof buf);
    if (n == 0) return;
    parser.feed(buf, n);
    out.clear();
    bool close = false;
    for (;;) {
      const auto res = parser.next(r);
      if (res == http::Parser::Result::kNeedMore) break;
      if (res == http::Parser::Result::kBad) {
        close = true;
        break;
      }
      out += http::kHello;
    }
    if (!out.empty()) c.write_all(out);
    if (close) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: ergon-net-server <echo|http> <port>\n");
    return 2;
  }
  const std::string mode = argv[1];
  char* end = nullptr;
  const long port = std::strtol(argv[2], &end, 10);
  if ((mode != "echo" && mode != "http") || *end != '\0' || port <= 0 || port > 65535) {
    std::fprintf(stderr, "usage: ergon-net-server <echo|http> <port>\n");
    return 2;
  }
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // before any thread starts: all inherit it
  std::thread([sigs] {
    int sig = 0;
    sigwait(&sigs, &sig);
    std::fflush(stdout);
    _exit(0);
  }).detach();

  ergon::Runtime rt;
  const bool http = mode == "http";
  const unsigned workers = static_cast<unsigned>(rt.stats().workers.size());
  rt.run([=] {
    const auto at = ergon::net::Address::ip("127.0.0.1", static_cast<std::uint16_t>(port));
    ergon::net::ListenOptions lo;
    lo.backlog = 4096;
    lo.reuse_port = true;
    const ergon::Pid main = ergon::self();
    for (unsigned i = 0; i < workers; ++i) {
      ergon::spawn([=] {
        auto l = ergon::net::Listener::bind(at, lo);
        ergon::send(main, 1);
        for (;;) {
          ergon::net::Stream s = l.accept();
          const ergon::Pid h = ergon::spawn([http] {
            auto c = ergon::receive<ergon::net::Stream>();
            try {
              c.set_nodelay(true);
              if (http) {
                serve_http(c);
              } else {
                serve_echo(c);
              }
            } catch (const ergon::net::Error&) {  // a reset: this connection only
            }
          });
          s.hand_to(h);
          ergon::send(h, std::move(s));
        }
      });
    }
    for (unsigned i = 0; i < workers; ++i) (void)ergon::receive<int>();
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;) ergon::receive([](int) {});  // the acceptors run until the signal
  });
}
