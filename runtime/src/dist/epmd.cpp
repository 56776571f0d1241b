// epmd's client side. See epmd.hpp; the message formats are erts' epmd protocol
// (ALIVE2_REQ 'x' -> ALIVE2_X_RESP 'v' or ALIVE2_RESP 'y'; PORT_PLEASE2_REQ 'z' -> PORT2_RESP
// 'w'), each request a 2-byte length and a body.
#include "dist/epmd.hpp"

#include <stdexcept>

namespace ergon::detail::dist {
namespace {

void put16(std::string& b, std::uint32_t v) {
  b.push_back(static_cast<char>((v >> 8) & 0xff));
  b.push_back(static_cast<char>(v & 0xff));
}

std::string request(const std::string& body) {
  std::string b;
  put16(b, static_cast<std::uint32_t>(body.size()));
  return b + body;
}

net::Address epmd_address(const std::string& host, std::uint16_t port) {
  try {
    return net::Address::ip(host, port);
  } catch (const net::Error&) {
    auto all = net::Address::resolve(host, port);
    if (all.empty()) throw std::runtime_error("cannot resolve host " + host);
    return all.front();
  }
}

// The highest and lowest distribution versions this node speaks: 6 (OTP 23's handshake) only,
// so that peers send the 'N' send_name.
constexpr std::uint32_t kHighVersion = 6;
constexpr std::uint32_t kLowVersion = 6;

}  // namespace

std::uint32_t epmd_publish(net::Stream& keep, const std::string& alive, std::uint16_t port,
                           std::uint16_t epmd_port) {
  const net::Address at = net::Address::ip("127.0.0.1", epmd_port);
  try {
    keep = net::Stream::connect(at, std::chrono::seconds(5));
  } catch (const net::Error& e) {
    throw std::runtime_error("cannot reach epmd at " + at.to_string() + " (" + e.what() +
                             "); start it with `epmd -daemon` (or set ERL_EPMD_PORT)");
  }
  std::string body = "x";
  put16(body, port);
  body.push_back('H');  // a hidden node
  body.push_back(0);    // TCP/IPv4
  put16(body, kHighVersion);
  put16(body, kLowVersion);
  put16(body, static_cast<std::uint32_t>(alive.size()));
  body += alive;
  put16(body, 0);  // no extra
  keep.write_all(request(body), std::chrono::seconds(5));
  unsigned char r[6];
  if (keep.read_exact(r, 2, std::chrono::seconds(5)) != 2)
    throw std::runtime_error("epmd closed the connection without an answer");
  if ((r[0] != 'v' && r[0] != 'y') || r[1] != 0) {
    throw std::runtime_error("epmd refused the name \"" + alive +
                             "\" (another node holds it; pick another name or stop that node)");
  }
  const std::size_t n = r[0] == 'v' ? 4 : 2;
  if (keep.read_exact(r + 2, n, std::chrono::seconds(5)) != n)
    throw std::runtime_error("epmd's answer was cut short");
  return n == 4 ? (std::uint32_t{r[2]} << 24) | (std::uint32_t{r[3]} << 16) |
                      (std::uint32_t{r[4]} << 8) | r[5]
                : (std::uint32_t{r[2]} << 8) | r[3];
}

std::uint16_t epmd_port_please(const std::string& host, const std::string& alive,
                               std::uint16_t epmd_port, net::Timeout timeout) {
  const net::Address at = epmd_address(host, epmd_port);
  net::Stream s;
  try {
    s = net::Stream::connect(at, timeout);
  } catch (const net::Error& e) {
    throw std::runtime_error("cannot reach epmd at " + at.to_string() + " (" + e.what() + ")");
  }
  s.write_all(request("z" + alive), timeout);
  unsigned char r[4];
  if (s.read_exact(r, 2, timeout) != 2 || r[0] != 'w')
    throw std::runtime_error("epmd at " + at.to_string() + " gave no port answer");
  if (r[1] != 0)
    throw std::runtime_error("epmd at " + at.to_string() + " knows no node \"" + alive + "\"");
  if (s.read_exact(r, 2, timeout) != 2) throw std::runtime_error("epmd's answer was cut short");
  return static_cast<std::uint16_t>((r[0] << 8) | r[1]);
}

}  // namespace ergon::detail::dist
