// http_hello: a minimal HTTP/1.1 keep-alive server, one process per connection.
//
//   build/release/examples/http_hello [port]       (default 8080; 127.0.0.1 only)
//   curl -s http://127.0.0.1:8080/   # Hello, world!
//
// Each connection's process feeds what it reads to an incremental parser
// (examples/http_parser.hpp): a request split across reads waits for its end, pipelined
// requests are answered in order, all those of one read in one write. Bad input gets a 400
// and the connection closes; so does "Connection: close" after its answer. An idle
// connection waits up to 60 s for its next request (a read timeout), then closes.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ergon/ergon.hpp"
#include "http_parser.hpp"

namespace {

void serve(ergon::net::Stream& c) {
  http::Parser parser;
  std::string out;
  char buf[16384];
  for (;;) {
    const std::size_t n = c.read_some(buf, sizeof buf, std::chrono::seconds(60));
    if (n == 0) return;  // EOF
    parser.feed(buf, n);
    out.clear();
    const bool close = http::answer_requests(parser, out);
    if (!out.empty()) c.write_all(out);
    if (close) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  if (port < 0 || port > 65535) {
    std::fprintf(stderr, "usage: http_hello [port]\n");
    return 2;
  }
  ergon::Runtime rt;
  rt.run([port] {
    auto l = ergon::net::Listener::bind(
        ergon::net::Address::ip("127.0.0.1", static_cast<std::uint16_t>(port)));
    std::printf("http_hello: listening on http://%s/\n", l.local_address().to_string().c_str());
    std::fflush(stdout);
    for (;;) {
      ergon::net::Stream s = l.accept();
      const ergon::Pid h = ergon::spawn([] {
        auto c = ergon::receive<ergon::net::Stream>();
        c.set_nodelay(true);
        try {
          serve(c);
        } catch (const ergon::net::Error&) {  // a reset, a timeout: this connection only
        }
      });
      s.hand_to(h);
      ergon::send(h, std::move(s));
    }
  });
}
