// The incremental HTTP/1.1 parser of examples/http_hello and bench/ergon-net-server
// (examples/http_parser.hpp), alone and behind a real socket: split reads, pipelining,
// keep-alive and close, bodies, and bad input (a 400, then the connection closes).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "../../examples/http_parser.hpp"
#include "ergon/ergon.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using Result = http::Parser::Result;

// Feeds `text` in pieces of `piece` bytes; returns the targets of the requests it parsed,
// and "BAD" at a bad one.
std::vector<std::string> parse_in_pieces(const std::string& text, std::size_t piece) {
  http::Parser p;
  std::vector<std::string> out;
  for (std::size_t at = 0; at < text.size(); at += piece) {
    p.feed(text.data() + at, std::min(piece, text.size() - at));
    http::Parser::Request r;
    for (;;) {
      const Result res = p.next(r);
      if (res == Result::kNeedMore) break;
      if (res == Result::kBad) {
        out.push_back("BAD");
        return out;
      }
      out.push_back(std::string(r.target) + (r.keep_alive ? "" : " close"));
    }
  }
  return out;
}

TEST(HttpParser, SplitAndPipelinedRequestsComeOutWholeAndInOrder) {
  const std::string three =
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
      "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n";
  const std::vector<std::string> want = {"/a", "/b", "/c close"};
  for (std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7},
                            std::size_t{40}, three.size()}) {
    EXPECT_EQ(parse_in_pieces(three, piece), want) << "in pieces of " << piece;
  }
}

TEST(HttpParser, Http10ClosesUnlessItAsksForKeepAlive) {
  EXPECT_EQ(parse_in_pieces("GET / HTTP/1.0\r\n\r\n", 100), std::vector<std::string>{"/ close"});
  EXPECT_EQ(parse_in_pieces("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 100),
            std::vector<std::string>{"/"});
}

TEST(HttpParser, BadInputIsBadAndStaysBad) {
  for (const char* bad :
       {"GARBAGE\r\n\r\n", "GET /\r\n\r\n", "GET / HTTP/2.0\r\n\r\n",
        "GET / HTTP/1.1\r\nNo colon here\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
        "GET /a b HTTP/1.1\r\n\r\n"}) {
    EXPECT_EQ(parse_in_pieces(bad, 3), std::vector<std::string>{"BAD"}) << bad;
  }
  // A head that never ends is bad once it passes kMaxHead.
  http::Parser p;
  const std::string junk(http::Parser::kMaxHead + 10, 'a');
  p.feed(junk.data(), junk.size());
  http::Parser::Request r;
  EXPECT_EQ(p.next(r), Result::kBad);
  EXPECT_EQ(p.next(r), Result::kBad);
}

class Http : public ergon_test::RuntimeTest {};
ERGON_INSTANTIATE_WORKERS(Http);

// A server as examples/http_hello serves, on one connection.
void serve(ergon::net::Stream& c) {
  http::Parser parser;
  std::string out;
  char buf[4096];
  while (std::size_t n = c.read_some(buf, sizeof buf)) {
    parser.feed(buf, n);
    out.clear();
    const bool close = http::answer_requests(parser, out);
    if (!out.empty()) c.write_all(out);
    if (close) return;
  }
}

// Everything the peer sends until it closes.
std::string read_to_eof(ergon::net::Stream& c) {
  std::string all;
  char buf[4096];
  while (std::size_t n = c.read_some(buf, sizeof buf, 10s)) all.append(buf, n);
  return all;
}

std::size_t count(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_P(Http, KeepAlivePipeliningSplitReadsAndBadInputOverASocket) {
  run([] {
    const ergon::Pid me = ergon::self();
    ergon::Pid server = ergon::spawn([me] {
      auto l = ergon::net::Listener::bind(ergon::net::Address::parse("127.0.0.1:0"));
      ergon::send(me, l.local_address());
      for (;;) {
        ergon::net::Stream s = l.accept();
        const ergon::Pid h = ergon::spawn([] {
          auto c = ergon::receive<ergon::net::Stream>();
          serve(c);
        });
        s.hand_to(h);
        ergon::send(h, std::move(s));
      }
    });
    const auto at = ergon_test::await<ergon::net::Address>();
    {  // keep-alive: 20 requests one after the other on one connection
      auto c = ergon::net::Stream::connect(at);
      for (int i = 0; i < 20; ++i) {
        c.write_all("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        std::string resp(http::kHello.size(), '\0');
        ASSERT_EQ(c.read_exact(resp.data(), resp.size(), 10s), resp.size());
        EXPECT_EQ(resp, http::kHello);
      }
    }
    {  // 10 pipelined in one write, then one split in 5 pieces with pauses, then a close
      auto c = ergon::net::Stream::connect(at);
      std::string ten;
      for (int i = 0; i < 10; ++i) ten += "GET /p HTTP/1.1\r\nHost: t\r\n\r\n";
      c.write_all(ten);
      const std::string split = "GET /s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
      for (std::size_t at_byte = 0; at_byte < split.size(); at_byte += 11) {
        c.write_all(split.substr(at_byte, 11));
        ergon::sleep_for(5ms);
      }
      const std::string all = read_to_eof(c);  // the server closes after the last
      EXPECT_EQ(count(all, "Hello, world!"), 11u);
      EXPECT_EQ(all.size(), 11 * http::kHello.size());
    }
    {  // bad input: a 400 and the close, nothing else
      auto c = ergon::net::Stream::connect(at);
      c.write_all("GET / HTTP/1.1\r\n\r\nNOT HTTP AT ALL\r\n\r\nGET / HTTP/1.1\r\n\r\n");
      const std::string all = read_to_eof(c);
      EXPECT_EQ(all, std::string(http::kHello) + std::string(http::kBadRequest));
    }
    ergon::exit(server, ergon::ExitReason::kill());
  });
}

}  // namespace
