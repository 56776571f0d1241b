// Socket, Stream and Listener (ergon/net.hpp): the calls, each a system call retried after a
// readiness wait. See net/socket.hpp for the shape every call has, and core/io_handle.hpp for
// the wait (IW1..IW4), ownership and closing.
#include "net/socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/process.hpp"
#include "core/process_table.hpp"
#include "core/scheduler.hpp"
#include "ergon/detail/api.hpp"
#include "util/sys_errno.hpp"

namespace ergon::net {

using ergon::detail::IoDir;
using ergon::detail::IoHandle;
using ergon::detail::IoWait;
using ergon::detail::Process;
using ergon::detail::sys_errno;

namespace detail_net {

Process* opener(const char* what) {
  Process* p = ergon::detail::current_process_or_throw(what);
  // relaxed: a process's own scheduler was published to it before it first ran.
  if (p->sched.load(std::memory_order_relaxed)->driver() != nullptr) {
    throw Error(std::string(what) +
                    ": sockets are not available in deterministic mode yet (its simulated "
                    "network is not written); run this test without Options::deterministic",
                ENOTSUP);
  }
  return p;
}

std::int64_t deadline_of(const Timeout& t) noexcept {
  if (!t) return ergon::detail::kNoDeadline;
  return ergon::detail::deadline_after(ergon::detail::now_ns(), ergon::detail::saturating_ns(*t));
}

void fail(const char* what, const std::string& addr, int err) {
  throw Error(std::string(what) + "(" + addr + "): " + std::strerror(err), err);
}

IoHandle* open_fd(Process* p, int fd, Kind kind, const char* what, const std::string& addr) {
  try {
    // relaxed: as in opener().
    return ergon::detail::io_open(p->sched.load(std::memory_order_relaxed)->reactor(), fd, p, kind,
                                  what);
  } catch (const ergon::detail::SysError& e) {  // the reactor refused it (epoll, eventfd)
    ::close(fd);
    throw Error(std::string(e.what()) + " (" + addr + ")", e.code());
  }
}

int new_socket(int family, int type, const char* what, const std::string& addr) {
  const int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(what, addr, sys_errno());
  return fd;
}

void wait_ready(Process* p, IoHandle* h, IoDir d, std::int64_t deadline, const char* what,
                const std::string& addr, const char* where) {
  if (ergon::detail::io_wait(p, h, d, deadline, where) == IoWait::kTimedOut)
    throw TimeoutError(std::string(what) + "(" + addr + "): timed out", ETIMEDOUT);
}

std::string describe(const IoHandle* h) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (h->kind == kStream && ::getpeername(h->fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    return Address::from_raw(&ss, len).to_string();
  len = sizeof ss;
  if (::getsockname(h->fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    return Address::from_raw(&ss, len).to_string();
  return "fd " + std::to_string(h->fd);
}

void charged(Process* p) { ergon::detail::charge(p, 1); }

}  // namespace detail_net

using namespace detail_net;

namespace {
// The loop of read_some and write_some: `io` (the syscall) until it returns a count, again on
// EINTR, a failure naming `what` on any error but EAGAIN, on which `wait` waits (false: give up
// waiting, return 0).
template <class Io, class Wait>
std::size_t retry_some(Process* p, IoHandle* h, const char* what, Io io, Wait wait) {
  for (;;) {
    const ssize_t r = io();
    if (r >= 0) {
      charged(p);
      return static_cast<std::size_t>(r);
    }
    const int e = sys_errno();
    if (e == EINTR) continue;
    if (e != EAGAIN) fail(what, describe(h), e);
    if (!wait()) {
      charged(p);
      return 0;
    }
  }
}
}  // namespace

// --- Socket ---------------------------------------------------------------------------------

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    h_ = o.h_;
    seq_ = o.seq_;
    o.h_ = nullptr;
  }
  return *this;
}

bool Socket::is_open() const noexcept {
  // acquire: pairs with io_close's CAS.
  return h_ != nullptr && h_->seq.load(std::memory_order_acquire) == seq_;
}

void Socket::close() noexcept {
  if (h_ == nullptr) return;
  (void)ergon::detail::io_close(h_, seq_);
  h_ = nullptr;
}

void Socket::adopt(IoHandle* h) noexcept {
  h_ = h;
  seq_ = h->seq.load(std::memory_order_relaxed);  // relaxed: the opener's own record
}

IoHandle* Socket::use(const char* what) const {
  if (!is_open()) {
    throw Error(std::string(what) +
                    ": the socket is closed (closed by a call, or by the end of the process "
                    "that owned it)",
                EBADF);
  }
  Process* p = ergon::detail::current_process_or_throw(what);
  // relaxed: the owner is the only writer while it lives; anyone else reads "not mine".
  Process* o = h_->owner.load(std::memory_order_relaxed);
  if (o != p) {
    throw Error(std::string(what) + "(" + describe(h_) + "): the calling process " +
                    ergon::detail::pid_of(p).to_string() + " does not own the socket; its owner " +
                    (o != nullptr ? ergon::detail::pid_of(o).to_string() : std::string("(none)")) +
                    " gives it away with hand_to(pid)",
                EPERM);
  }
  return h_;
}

Pid Socket::owner() const noexcept {
  if (!is_open()) return Pid{};
  Process* o = h_->owner.load(std::memory_order_acquire);  // acquire: see IoHandle::owner
  return o != nullptr ? ergon::detail::pid_of(o) : Pid{};
}

void Socket::hand_to(Pid to) {
  static constexpr const char* kWhat = "ergon::net::Socket::hand_to";
  IoHandle* h = use(kWhat);
  Process* p = ergon::detail::current_process();
  Process* t = to ? ergon::detail::ProcessTable::instance().lookup(to.index()) : nullptr;
  if (t == nullptr || !ergon::detail::io_hand_to(h, p, t, to)) {
    throw Error(std::string(kWhat) + "(" + describe(h) + "): " + to.to_string() +
                    " is not a live process; the caller still owns the socket",
                ESRCH);
  }
}

Address Socket::local_address() const {
  IoHandle* h = use("ergon::net::Socket::local_address");
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(h->fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    fail("ergon::net::Socket::local_address", "fd " + std::to_string(h->fd), sys_errno());
  return Address::from_raw(&ss, len);
}

int Socket::native_handle() const { return is_open() ? h_->fd : -1; }

// --- Stream ---------------------------------------------------------------------------------

Stream Stream::connect(const Address& to, Timeout timeout) {
  static constexpr const char* kWhat = "ergon::net::Stream::connect";
  Process* p = opener(kWhat);
  const std::string addr = to.to_string();
  const std::int64_t deadline = deadline_of(timeout);
  const int fd = new_socket(to.family(), SOCK_STREAM, kWhat, addr);
  Stream s;
  s.adopt(open_fd(p, fd, kStream, kWhat, addr));  // from here `s` closes it on any throw
  const int rc = ::connect(fd, static_cast<const sockaddr*>(to.data()), to.size());
  if (rc == 0) {
    charged(p);
    return s;
  }
  // EINTR: the handshake goes on in the kernel, as with EINPROGRESS.
  if (const int e = sys_errno(); e != EINPROGRESS && e != EINTR) fail(kWhat, addr, e);
  for (;;) {
    wait_ready(p, s.h_, IoDir::kWrite, deadline, kWhat, addr, "net connect");
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = sys_errno();
    // Still connecting: SO_ERROR can report a soft error (sk_err_soft) such as EINPROGRESS
    // while the kernel retransmits a SYN the listener's full queue dropped. Seen once under
    // ASAN with 4 workers (tests/net, the kill in connect).
    if (err == EINPROGRESS || err == EALREADY || err == EAGAIN || err == EINTR) err = 0;
    if (err != 0) fail(kWhat, addr, err);
    // A spurious readiness (io_handle.hpp, "Stale events") while the handshake still runs:
    // not connected yet, wait again.
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &sl) == 0) break;
    if (const int e = sys_errno(); e != ENOTCONN) fail(kWhat, addr, e);
  }
  charged(p);
  return s;
}

std::size_t Stream::read_some(void* buf, std::size_t n, Timeout timeout) {
  static constexpr const char* kWhat = "ergon::net::Stream::read_some";
  IoHandle* h = use(kWhat);
  // relaxed: only the owner arms active mode, and it is the caller.
  if (h->on_readable.load(std::memory_order_relaxed) != 0)
    throw Error(std::string(kWhat) + "(" + describe(h) + "): the socket is in active mode", EBUSY);
  if (n == 0) return 0;
  Process* p = ergon::detail::current_process();
  const std::int64_t deadline = deadline_of(timeout);
  return retry_some(
      p, h, kWhat, [&] { return ::read(h->fd, buf, n); },
      [&] {
        wait_ready(p, h, IoDir::kRead, deadline, kWhat, describe(h), "net read");
        return true;
      });
}

std::size_t Stream::read_exact(void* buf, std::size_t n, Timeout timeout) {
  std::size_t got = 0;
  const std::int64_t deadline = deadline_of(timeout);
  while (got < n) {
    Timeout left = std::nullopt;
    if (timeout) left = std::chrono::nanoseconds(deadline - ergon::detail::now_ns());
    const std::size_t r = read_some(static_cast<char*>(buf) + got, n - got, left);
    if (r == 0) break;  // EOF
    got += r;
  }
  return got;
}

void Stream::write_all(const void* buf, std::size_t n, Timeout timeout) {
  static constexpr const char* kWhat = "ergon::net::Stream::write_all";
  IoHandle* h = use(kWhat);
  Process* p = ergon::detail::current_process();
  const std::int64_t deadline = deadline_of(timeout);
  std::size_t done = 0;
  while (done < n) {
    // MSG_NOSIGNAL: a reset peer is EPIPE here, not a SIGPIPE that ends the program.
    const ssize_t r = ::send(h->fd, static_cast<const char*>(buf) + done, n - done, MSG_NOSIGNAL);
    if (r >= 0) {
      done += static_cast<std::size_t>(r);
      continue;
    }
    const int e = sys_errno();
    if (e == EINTR) continue;
    if (e != EAGAIN) fail(kWhat, describe(h), e);
    wait_ready(p, h, IoDir::kWrite, deadline, kWhat, describe(h), "net write");
  }
  charged(p);
}

std::size_t Stream::write_some(const void* buf, std::size_t n, Timeout timeout) {
  static constexpr const char* kWhat = "ergon::net::Stream::write_some";
  IoHandle* h = use(kWhat);
  Process* p = ergon::detail::current_process();
  const std::int64_t deadline = deadline_of(timeout);
  if (n == 0) return 0;
  // MSG_NOSIGNAL: as write_all. The wait is IW1..IW4 (core/io_handle.hpp), ending early for a
  // message (kMessage): 0 then.
  return retry_some(
      p, h, kWhat, [&] { return ::send(h->fd, buf, n, MSG_NOSIGNAL); },
      [&] {
        const IoWait w = ergon::detail::io_wait(p, h, IoDir::kWrite, deadline, "net write", true);
        if (w == IoWait::kTimedOut)
          throw TimeoutError(std::string(kWhat) + "(" + describe(h) + "): timed out", ETIMEDOUT);
        return w != IoWait::kMessage;
      });
}

void Stream::shutdown(How how) {
  static constexpr const char* kWhat = "ergon::net::Stream::shutdown";
  IoHandle* h = use(kWhat);
  const int mode = how == How::kRead ? SHUT_RD : how == How::kWrite ? SHUT_WR : SHUT_RDWR;
  if (::shutdown(h->fd, mode) != 0) fail(kWhat, describe(h), sys_errno());
}

Address Stream::peer_address() const {
  static constexpr const char* kWhat = "ergon::net::Stream::peer_address";
  IoHandle* h = use(kWhat);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(h->fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    fail(kWhat, "fd " + std::to_string(h->fd), sys_errno());
  return Address::from_raw(&ss, len);
}

void Stream::set_nodelay(bool on) {
  static constexpr const char* kWhat = "ergon::net::Stream::set_nodelay";
  IoHandle* h = use(kWhat);
  const int v = on ? 1 : 0;
  if (::setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0)
    fail(kWhat, describe(h), sys_errno());
}

// --- Listener -------------------------------------------------------------------------------

Listener Listener::bind(const Address& at, ListenOptions opts) {
  static constexpr const char* kWhat = "ergon::net::Listener::bind";
  Process* p = opener(kWhat);
  const std::string addr = at.to_string();
  const int fd = new_socket(at.family(), SOCK_STREAM, kWhat, addr);
  Listener l;
  l.adopt(open_fd(p, fd, kListener, kWhat, addr));
  const int one = 1;
  if (at.family() != AF_UNIX) {
    if (opts.reuse_address && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
      fail(kWhat, addr, sys_errno());
    if (opts.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      fail(kWhat, addr, sys_errno());
  }
  if (::bind(fd, static_cast<const sockaddr*>(at.data()), at.size()) != 0)
    fail(kWhat, addr, sys_errno());
  if (::listen(fd, opts.backlog) != 0) fail(kWhat, addr, sys_errno());
  return l;
}

namespace {

// Runnable processes queued in `p`'s pool (advisory: relaxed counts, any thread).
std::size_t queued_in_pool(Process* p) {
  const ergon::detail::WorkerPool* pool = p->pool;
  // relaxed: a process's own scheduler was published to it before it first ran.
  ergon::detail::Scheduler& s = *p->sched.load(std::memory_order_relaxed);
  std::size_t n = pool->global.size_relaxed();
  for (unsigned i = pool->first; i < pool->first + pool->size; ++i) n += s.worker(i).queue_length();
  return n;
}

// Admission (Options::accept_overload): waits while the pool is overloaded, 1 ms at a time (one
// balancer tick: picked out of thin air, not tuned), or throws at the deadline.
void admit(Process* p, std::int64_t deadline, const char* what, IoHandle* h) {
  // relaxed: as above.
  ergon::detail::Scheduler& s = *p->sched.load(std::memory_order_relaxed);
  const std::size_t limit = s.options().accept_overload;
  if (limit == 0) return;
  while (queued_in_pool(p) > limit) {
    s.reactor().count_deferred_accept();
    const std::int64_t now = ergon::detail::now_ns();
    if (now >= deadline)
      throw TimeoutError(std::string(what) + "(" + describe(h) + "): timed out", ETIMEDOUT);
    ergon::detail::mailbox_of(p).fetch();  // only a new message ends the wait early (IW3)
    (void)ergon::detail::wait(p, std::min(deadline, now + 1'000'000), "net accept (overloaded)");
  }
}

}  // namespace

Stream Listener::accept(Timeout timeout) {
  static constexpr const char* kWhat = "ergon::net::Listener::accept";
  IoHandle* h = use(kWhat);
  Process* p = ergon::detail::current_process();
  const std::int64_t deadline = deadline_of(timeout);
  for (;;) {
    admit(p, deadline, kWhat, h);
    const int fd = ::accept4(h->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      Stream s;
      s.adopt(open_fd(p, fd, kStream, kWhat, describe(h)));
      charged(p);
      return s;
    }
    const int e = sys_errno();
    if (e == EINTR || e == ECONNABORTED) continue;
    if (e != EAGAIN) fail(kWhat, describe(h), e);
    wait_ready(p, h, IoDir::kRead, deadline, kWhat, describe(h), "net accept");
  }
}

std::int64_t open_sockets() noexcept { return ergon::detail::io_open_count(); }

}  // namespace ergon::net
