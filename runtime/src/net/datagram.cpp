// Datagram (ergon/net.hpp): UDP and Unix datagram sockets, the same call shape as streams
// (net/socket.hpp): the system call, and on EAGAIN a readiness wait (core/io_handle.hpp).
#include <sys/socket.h>

#include <cerrno>

#include "ergon/detail/api.hpp"
#include "net/socket.hpp"
#include "util/sys_errno.hpp"

namespace ergon::net {

using ergon::detail::IoDir;
using ergon::detail::IoHandle;
using ergon::detail::Process;
using ergon::detail::sys_errno;
using namespace detail_net;

Datagram Datagram::bind(const Address& at) {
  static constexpr const char* kWhat = "ergon::net::Datagram::bind";
  Process* p = opener(kWhat);
  const std::string addr = at.to_string();
  const int fd = new_socket(at.family(), SOCK_DGRAM, kWhat, addr);
  Datagram d;
  d.adopt(open_fd(p, fd, kDatagram, kWhat, addr));
  if (::bind(fd, static_cast<const sockaddr*>(at.data()), at.size()) != 0)
    fail(kWhat, addr, sys_errno());
  return d;
}

void Datagram::send_to(const void* buf, std::size_t n, const Address& to, Timeout timeout) {
  static constexpr const char* kWhat = "ergon::net::Datagram::send_to";
  IoHandle* h = use(kWhat);
  Process* p = ergon::detail::current_process();
  const std::int64_t deadline = deadline_of(timeout);
  for (;;) {
    const ssize_t r =
        ::sendto(h->fd, buf, n, MSG_NOSIGNAL, static_cast<const sockaddr*>(to.data()), to.size());
    if (r >= 0) {
      charged(p);
      return;
    }
    const int e = sys_errno();
    if (e == EINTR) continue;
    if (e != EAGAIN) fail(kWhat, to.to_string(), e);
    wait_ready(p, h, IoDir::kWrite, deadline, kWhat, to.to_string(), "net write");
  }
}

std::size_t Datagram::receive_from(void* buf, std::size_t n, Address* from, Timeout timeout) {
  static constexpr const char* kWhat = "ergon::net::Datagram::receive_from";
  IoHandle* h = use(kWhat);
  Process* p = ergon::detail::current_process();
  const std::int64_t deadline = deadline_of(timeout);
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const ssize_t r = ::recvfrom(h->fd, buf, n, 0, reinterpret_cast<sockaddr*>(&ss), &len);
    if (r >= 0) {
      if (from != nullptr) *from = Address::from_raw(&ss, len);
      charged(p);
      return static_cast<std::size_t>(r);
    }
    const int e = sys_errno();
    if (e == EINTR) continue;
    if (e != EAGAIN) fail(kWhat, describe(h), e);
    wait_ready(p, h, IoDir::kRead, deadline, kWhat, describe(h), "net read");
  }
}

}  // namespace ergon::net
