// The distribution handshake. See handshake.hpp for the protocol (H1..H6).
#include "dist/handshake.hpp"

#include <random>
#include <string_view>

#include "dist/md5.hpp"

namespace ergon::detail::dist {
namespace {

void put16(std::string& b, std::uint32_t v) {
  b.push_back(static_cast<char>((v >> 8) & 0xff));
  b.push_back(static_cast<char>(v & 0xff));
}
void put32(std::string& b, std::uint32_t v) {
  put16(b, v >> 16);
  put16(b, v & 0xffff);
}
void put64(std::string& b, std::uint64_t v) {
  put32(b, static_cast<std::uint32_t>(v >> 32));
  put32(b, static_cast<std::uint32_t>(v));
}
std::uint32_t get16(std::string_view b, std::size_t at) {
  return (std::uint32_t{static_cast<unsigned char>(b[at])} << 8) |
         static_cast<unsigned char>(b[at + 1]);
}
std::uint32_t get32(std::string_view b, std::size_t at) {
  return (get16(b, at) << 16) | get16(b, at + 2);
}
std::uint64_t get64(std::string_view b, std::size_t at) {
  return (std::uint64_t{get32(b, at)} << 32) | get32(b, at + 4);
}

void write_msg(net::Stream& s, const std::string& body, net::Timeout t) {
  std::string b;
  put16(b, static_cast<std::uint32_t>(body.size()));
  b += body;
  s.write_all(b, t);
}

std::string read_msg(net::Stream& s, net::Timeout t, const char* what) {
  unsigned char len[2];
  if (s.read_exact(len, 2, t) != 2)
    throw HandshakeError(std::string("the peer closed the connection before ") + what);
  const std::size_t n = (std::size_t{len[0]} << 8) | len[1];
  if (n == 0) throw HandshakeError(std::string("an empty handshake message for ") + what);
  std::string body(n, '\0');
  if (s.read_exact(body.data(), n, t) != n)
    throw HandshakeError(std::string("the peer closed the connection during ") + what);
  return body;
}

// Out of line: the thread_local must not be addressed across a caller's switch (design.md).
[[gnu::noinline]] std::uint32_t new_challenge() {
  static thread_local std::mt19937 rng{std::random_device{}()};
  return static_cast<std::uint32_t>(rng());
}

std::string digest(const std::string& cookie, std::uint32_t challenge) {
  const auto d = md5(cookie + std::to_string(challenge));
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

void check_flags(const Peer& p) {
  if ((p.flags & kRequiredFlags) != kRequiredFlags) {
    throw HandshakeError("the peer " + p.name +
                         " lacks flags OTP 25 requires (it is older than OTP 23, or not a "
                         "full implementation): flags 0x" +
                         [&] {
                           char buf[32];
                           std::snprintf(buf, sizeof buf, "%llx",
                                         static_cast<unsigned long long>(p.flags));
                           return std::string(buf);
                         }());
  }
}

// 'N' Flags(8) [Challenge(4)] Creation(4) NLen(2) Name
Peer parse_new_name(std::string_view b, bool with_challenge, std::uint32_t* challenge) {
  const std::size_t head = 1 + 8 + (with_challenge ? 4 : 0) + 4 + 2;
  if (b.size() < head) throw HandshakeError("a truncated 'N' handshake message");
  Peer p;
  p.flags = get64(b, 1);
  std::size_t at = 9;
  if (with_challenge) {
    *challenge = get32(b, at);
    at += 4;
  }
  p.creation = get32(b, at);
  const std::size_t nlen = get16(b, at + 4);
  if (b.size() != head + nlen) throw HandshakeError("a bad name length in an 'N' message");
  p.name = std::string(b.substr(head, nlen));
  return p;
}

}  // namespace

Peer handshake_connect(net::Stream& s, const Local& me, net::Timeout t) {
  std::string name_msg = "N";  // H1
  put64(name_msg, kOurFlags);
  put32(name_msg, me.creation);
  put16(name_msg, static_cast<std::uint32_t>(me.name.size()));
  name_msg += me.name;
  write_msg(s, name_msg, t);

  const std::string status = read_msg(s, t, "its status");  // H2
  if (status.size() < 2 || status[0] != 's') throw HandshakeError("no status message");
  const std::string st = status.substr(1);
  if (st != "ok" && st != "ok_simultaneous") {
    throw HandshakeError(
        "the peer refused the connection with status \"" + st + "\"" +
        (st == "not_allowed" ? " (it does not allow this node)" : "") +
        (st == "nok" ? " (it has a connection to this node, or is making one)" : ""));
  }

  const std::string ch = read_msg(s, t, "its challenge");  // H3
  if (ch[0] != 'N') throw HandshakeError("the peer's challenge is not a version 6 one ('N')");
  std::uint32_t their = 0;
  Peer p = parse_new_name(ch, true, &their);
  check_flags(p);

  const std::uint32_t mine = new_challenge();  // H4
  std::string reply = "r";
  put32(reply, mine);
  reply += digest(me.cookie, their);
  write_msg(s, reply, t);

  std::string ack;  // H6
  try {
    ack = read_msg(s, t, "its challenge ack");
  } catch (const HandshakeError&) {
    throw HandshakeError("the peer " + p.name +
                         " closed the connection after our challenge reply: the cookies "
                         "differ (set the same cookie on both nodes)");
  }
  if (ack.size() != 17 || ack[0] != 'a') throw HandshakeError("a bad challenge ack");
  if (ack.substr(1) != digest(me.cookie, mine)) {
    throw HandshakeError("the peer " + p.name +
                         " answered our challenge with a wrong digest: the cookies differ");
  }
  return p;
}

Peer handshake_read_name(net::Stream& s, net::Timeout t) {
  const std::string m = read_msg(s, t, "its name");  // H1
  Peer p;
  if (m[0] == 'N') {
    p = parse_new_name(m, false, nullptr);
  } else if (m[0] == 'n' && m.size() >= 7) {  // old send_name: Version(2) Flags(4) Name
    p.flags = get32(m, 3);
    p.name = m.substr(7);
  } else {
    throw HandshakeError("the first message is not a send_name ('N' or 'n')");
  }
  check_flags(p);
  return p;
}

void handshake_finish_accept(net::Stream& s, const Local& me, Peer& p, bool ok, net::Timeout t) {
  write_msg(s, ok ? "sok" : "snok", t);  // H2
  if (!ok) throw HandshakeError("refused " + p.name + ": a connection to it is up or being made");

  const std::uint32_t mine = new_challenge();  // H3
  std::string ch = "N";
  put64(ch, kOurFlags);
  put32(ch, mine);
  put32(ch, me.creation);
  put16(ch, static_cast<std::uint32_t>(me.name.size()));
  ch += me.name;
  write_msg(s, ch, t);

  const std::string r = read_msg(s, t, "its challenge reply");  // H4
  if (r.size() != 21 || r[0] != 'r') throw HandshakeError("a bad challenge reply");
  if (r.substr(5) != digest(me.cookie, mine)) {  // H5
    throw HandshakeError("wrong cookie: " + p.name +
                         " answered the challenge with a digest of another cookie; refused");
  }
  const std::uint32_t their = get32(r, 1);
  write_msg(s, "a" + digest(me.cookie, their), t);
}

}  // namespace ergon::detail::dist
