// echo_server: a TCP echo server, one process per connection.
//
//   build/release/examples/echo_server [port]      (default 7007; 127.0.0.1 only)
//   printf 'hello\n' | nc -q1 127.0.0.1 7007
//
// The acceptor hands every accepted stream to a process of its own (hand_to, then the handle
// in a message), which echoes until EOF. A read or a write that would block parks only that
// process; the runtime's reactor wakes it (docs/design.md, "The reactor"). Runs until killed.
#include <cstdio>
#include <cstdlib>

#include "ergon/ergon.hpp"

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 7007;
  if (port < 0 || port > 65535) {
    std::fprintf(stderr, "usage: echo_server [port]\n");
    return 2;
  }
  ergon::Runtime rt;
  rt.run([port] {
    auto l = ergon::net::Listener::bind(
        ergon::net::Address::ip("127.0.0.1", static_cast<std::uint16_t>(port)));
    std::printf("echo_server: listening on %s\n", l.local_address().to_string().c_str());
    std::fflush(stdout);
    for (;;) {
      ergon::net::Stream s = l.accept();
      const ergon::Pid h = ergon::spawn([] {
        auto c = ergon::receive<ergon::net::Stream>();
        c.set_nodelay(true);
        char buf[16384];
        try {
          while (std::size_t n = c.read_some(buf, sizeof buf)) c.write_all(buf, n);  // 0: EOF
        } catch (const ergon::net::Error& e) {  // a reset peer: this connection only
          std::fprintf(stderr, "echo_server: %s\n", e.what());
        }
      });
      s.hand_to(h);
      ergon::send(h, std::move(s));
    }
  });
}
