// Address: parsing, printing and resolving socket addresses (ergon/net.hpp).
//
// Design
// ------
// An Address is a sockaddr_storage and its length, so any call of the socket API takes it as
// is. parse() accepts numeric hosts only, so it never blocks; resolve() is the one call that
// asks a resolver (getaddrinfo, which may read files and talk to DNS), and runs it inside
// ergon::blocking, so the worker moves on while it waits. Rejected: an asynchronous resolver
// of our own (getaddrinfo_a uses a thread per request anyway, and c-ares is not in the tree).
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <string>

#include "ergon/net.hpp"
#include "ergon/preempt.hpp"
#include "util/sys_errno.hpp"

namespace ergon::net {
using ergon::detail::sys_errno;
namespace {

static_assert(sizeof(sockaddr_storage) <= 128, "Address::storage_ holds a sockaddr_storage");

[[noreturn]] void bad(std::string_view text, const char* why) {
  throw Error("ergon::net::Address::parse(\"" + std::string(text) + "\"): " + why, EINVAL);
}

}  // namespace

Address Address::from_raw(const void* sa, unsigned len) {
  Address a;
  if (len > sizeof a.storage_) throw Error("ergon::net::Address::from_raw: too long", EINVAL);
  std::memcpy(a.storage_, sa, len);
  a.len_ = len;
  return a;
}

Address Address::ip(std::string_view host, std::uint16_t port) {
  const std::string h(host);
  sockaddr_in v4{};
  if (::inet_pton(AF_INET, h.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    return from_raw(&v4, sizeof v4);
  }
  sockaddr_in6 v6{};
  if (::inet_pton(AF_INET6, h.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    return from_raw(&v6, sizeof v6);
  }
  throw Error("ergon::net::Address::ip(\"" + h +
                  "\"): not a numeric IPv4 or IPv6 address (names go through "
                  "ergon::net::Address::resolve)",
              EINVAL);
}

Address Address::unix_path(std::string_view path) {
  sockaddr_un un{};
  if (path.empty() || path.size() >= sizeof un.sun_path) {
    throw Error("ergon::net::Address::unix_path(\"" + std::string(path) + "\"): a path of 1 to " +
                    std::to_string(sizeof un.sun_path - 1) + " bytes is needed",
                ENAMETOOLONG);
  }
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.data(), path.size());
  return from_raw(&un, static_cast<unsigned>(offsetof(sockaddr_un, sun_path) + path.size() + 1));
}

Address Address::parse(std::string_view text) {
  if (text.substr(0, 5) == "unix:") return unix_path(text.substr(5));
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      bad(text, "expected [host]:port");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) bad(text, "expected host:port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned long p = 0;
  if (port.empty() || port.size() > 5) bad(text, "the port is not a number from 0 to 65535");
  for (char c : port) {
    if (c < '0' || c > '9') bad(text, "the port is not a number from 0 to 65535");
    p = p * 10 + static_cast<unsigned long>(c - '0');
  }
  if (p > 65535) bad(text, "the port is not a number from 0 to 65535");
  return ip(host, static_cast<std::uint16_t>(p));
}

std::vector<Address> Address::resolve(std::string_view host, std::uint16_t port) {
  const std::string h(host);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ergon::blocking([&] { return ::getaddrinfo(h.c_str(), nullptr, &hints, &res); });
  if (rc != 0) {
    throw Error("ergon::net::Address::resolve(\"" + h + "\"): " + ::gai_strerror(rc),
                rc == EAI_SYSTEM ? sys_errno() : 0);
  }
  std::vector<Address> out;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    Address x = from_raw(a->ai_addr, a->ai_addrlen);
    if (x.family() == AF_INET) {
      reinterpret_cast<sockaddr_in*>(x.storage_)->sin_port = htons(port);
    } else if (x.family() == AF_INET6) {
      reinterpret_cast<sockaddr_in6*>(x.storage_)->sin6_port = htons(port);
    }
    out.push_back(x);
  }
  ::freeaddrinfo(res);
  if (out.empty()) throw Error("ergon::net::Address::resolve(\"" + h + "\"): no address", 0);
  return out;
}

int Address::family() const noexcept {
  return len_ == 0 ? 0 : reinterpret_cast<const sockaddr*>(storage_)->sa_family;
}

std::uint16_t Address::port() const noexcept {
  switch (family()) {
    case AF_INET:
      return ntohs(reinterpret_cast<const sockaddr_in*>(storage_)->sin_port);
    case AF_INET6:
      return ntohs(reinterpret_cast<const sockaddr_in6*>(storage_)->sin6_port);
    default:
      return 0;
  }
}

std::string Address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  switch (family()) {
    case AF_INET:
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(storage_)->sin_addr, buf,
                  sizeof buf);
      return std::string(buf) + ":" + std::to_string(port());
    case AF_INET6:
      ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(storage_)->sin6_addr, buf,
                  sizeof buf);
      return "[" + std::string(buf) + "]:" + std::to_string(port());
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(storage_);
      const std::size_t n =
          len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
      return "unix:" + std::string(un->sun_path, strnlen(un->sun_path, n));
    }
    default:
      return len_ == 0 ? "" : "(family " + std::to_string(family()) + ")";
  }
}

}  // namespace ergon::net
