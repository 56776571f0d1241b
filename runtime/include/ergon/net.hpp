// ergon::net: TCP, Unix-domain stream and UDP sockets for processes.
//
//   ergon::net::Listener l =
//   ergon::net::Listener::bind(ergon::net::Address::parse("127.0.0.1:8080")); for (;;) {
//     ergon::net::Stream s = l.accept();
//     ergon::Pid h = ergon::spawn([] {
//       auto s = ergon::receive<ergon::net::Stream>();
//       char buf[16384];
//       while (std::size_t n = s.read_some(buf, sizeof buf)) s.write_all(buf, n);  // 0: EOF
//     });
//     s.hand_to(h);                 // the handler owns it now
//     ergon::send(h, std::move(s));
//   }
//
// A call that would block parks only the calling process: its worker runs other processes
// meanwhile, and the runtime's reactor (docs/design.md, "The reactor") wakes it when the
// socket is ready. Every call that can wait takes an optional timeout (std::nullopt: none)
// and throws TimeoutError when it passes. Errors are exceptions (net::Error) whose message
// names the call, the address and the system's text for the errno; EOF is a value (a read
// of 0 bytes), not an error. A kill, a supervisor's shutdown or a nursery's cancellation
// ends a wait at once, as it ends a receive.
//
// Ownership (Erlang's controlling process): a socket belongs to the process that opened or
// accepted it. Only that process may use it (others get Error), and when it ends, the
// socket is closed, whatever became of the handle. hand_to(pid) gives it to another live
// process; the handle itself is a move-only value that may travel in a message. Destroying
// the last handle closes the socket too.
//
// Sockets need a process (NotInProcess otherwise) and a runtime that is not in
// deterministic mode (Error: its simulated network is not written yet).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ergon/errors.hpp"
#include "ergon/pid.hpp"

namespace ergon::detail {
struct IoHandle;
}

namespace ergon::net {

// How long a call may wait; std::nullopt (the default): as long as it takes. Any duration
// converts: `s.read_some(buf, n, std::chrono::milliseconds(100))`. Zero or negative: do not
// wait (the call still makes its system call once).
using Timeout = std::optional<std::chrono::nanoseconds>;

// A failed socket call. what() reads "ergon::net::Stream::connect(127.0.0.1:9): Connection
// refused"; code() is the errno (0 for errors of ergon's own, such as a wrong owner).
class Error : public ergon::Error {
 public:
  Error(const std::string& what, int code) : ergon::Error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// A call's timeout passed before the socket was ready. code() is ETIMEDOUT.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

// A socket address: IPv4, IPv6 or a Unix-domain path. A value type.
class Address {
 public:
  Address() = default;
  // "127.0.0.1:8080", "[::1]:8080" (numeric hosts only; see resolve), or "unix:/path".
  // Throws net::Error naming the text.
  static Address parse(std::string_view text);
  // A numeric IPv4 or IPv6 host and a port.
  static Address ip(std::string_view host, std::uint16_t port);
  // A Unix-domain stream or datagram path (at most 107 bytes).
  static Address unix_path(std::string_view path);
  // Name resolution (getaddrinfo) inside ergon::blocking, so the worker is not held up.
  // Throws net::Error naming the host when nothing resolves.
  static std::vector<Address> resolve(std::string_view host, std::uint16_t port);

  // AF_INET, AF_INET6, AF_UNIX, or 0 for an empty address.
  int family() const noexcept;
  std::uint16_t port() const noexcept;  // 0 for a Unix path
  // "127.0.0.1:8080", "[::1]:8080", "unix:/path", or "" for an empty address.
  std::string to_string() const;
  // The sockaddr and its length, for calls of your own.
  const void* data() const noexcept { return storage_; }
  unsigned size() const noexcept { return len_; }
  // Builds an address from a sockaddr of `len` bytes (at most 128).
  static Address from_raw(const void* sa, unsigned len);

 private:
  alignas(8) unsigned char storage_[128] = {};  // a sockaddr_storage
  unsigned len_ = 0;
};

// What a socket handle has in common: ownership, closing, addresses.
class Socket {
 public:
  Socket() noexcept = default;
  Socket(Socket&& o) noexcept : h_(o.h_), seq_(o.seq_) { o.h_ = nullptr; }
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  // Closes the socket if this handle still names an open one (any thread, any process).
  ~Socket() { close(); }

  // Whether the handle names an open socket (its owner has not ended, nobody closed it).
  bool is_open() const noexcept;
  // Closes it; a second close, or a close of a socket its owner's end closed, does nothing.
  void close() noexcept;
  // The owner only: gives the socket to the live process `to`, which may then use it (send
  // it the handle). Throws Error when `to` is not alive; the caller still owns it then.
  void hand_to(Pid to);
  // The process that owns it, or Pid{} once closed.
  Pid owner() const noexcept;
  Address local_address() const;
  // The fd, for setsockopt and the like. Do not close it, or block on it.
  int native_handle() const;

 protected:
  // The open socket for call `what` ("ergon::net::Stream::read_some") by its owner; throws
  // Error naming why not.
  detail::IoHandle* use(const char* what) const;
  void adopt(detail::IoHandle* h) noexcept;

  detail::IoHandle* h_ = nullptr;
  std::uint32_t seq_ = 0;
};

// A connected byte stream: TCP, or a Unix-domain stream socket.
class Stream final : public Socket {
 public:
  Stream() noexcept = default;
  Stream(Stream&&) noexcept = default;
  Stream& operator=(Stream&&) noexcept = default;

  // Connects to `to` (TCP for an IP address, Unix for a path). Throws Error naming `to` on
  // failure, TimeoutError when `timeout` passes first.
  static Stream connect(const Address& to, Timeout timeout = std::nullopt);

  // Reads what is there, at most `n` bytes, waiting for at least one. Returns 0 at EOF (the
  // peer shut down its side or closed), or when `n` is 0.
  std::size_t read_some(void* buf, std::size_t n, Timeout timeout = std::nullopt);
  // Reads exactly `n` bytes unless EOF comes first: returns the bytes read (less than `n`
  // only at EOF). The timeout is for the whole call.
  std::size_t read_exact(void* buf, std::size_t n, Timeout timeout = std::nullopt);
  // Writes all `n` bytes, waiting while the socket's buffer is full (partial writes are
  // continued). The timeout is for the whole call. A peer that reset the connection is an
  // Error (EPIPE / ECONNRESET); no SIGPIPE is raised.
  void write_all(const void* buf, std::size_t n, Timeout timeout = std::nullopt);
  void write_all(std::string_view s, Timeout timeout = std::nullopt) {
    write_all(s.data(), s.size(), timeout);
  }
  // Writes what the socket's buffer takes now, at most `n` bytes, and returns how many. While
  // the buffer is full it waits for room, and returns 0 early when the caller has a message
  // that no receive has looked at yet (or another wake-up comes; messages a receive passed
  // over do not count), so that a process writing a long buffer to a slow peer can serve its
  // messages in between: above all the data of its active-once sockets, since two peers that
  // only write while the other only writes would wait for each other forever. Throws
  // TimeoutError when `timeout` passes first, Error as write_all does.
  std::size_t write_some(const void* buf, std::size_t n, Timeout timeout = std::nullopt);

  enum class How { kRead, kWrite, kBoth };
  // Half-close: kWrite sends a FIN (the peer reads EOF) and keeps reading possible.
  void shutdown(How how = How::kWrite);
  Address peer_address() const;
  // TCP_NODELAY (TCP only).
  void set_nodelay(bool on);

  // Active mode, once (gen_tcp's {active, once}): the next data that arrives (at most 64 KiB)
  // is sent to the owner as a net::Data message, or its end as net::Closed, so that one
  // receive serves the socket, timeouts and other messages together. One message per call;
  // call again to get the next. While armed, read_some and read_exact throw Error.
  void set_active_once();

 private:
  friend class Listener;  // accept() fills a Stream
};

// Delivered by an active-once Stream (set_active_once) to its owner. `socket` is the
// Stream's native_handle(), which tells several apart.
struct Data {
  int socket;
  std::string bytes;
};
struct Closed {
  int socket;
  int error;  // 0: EOF; else the errno of the failed read
};

struct ListenOptions {
  // listen()'s backlog. 1024: what a server benchmark opening 1,000 connections at once
  // needs (the kernel caps it at net.core.somaxconn, 4096 by default).
  int backlog = 1024;
  // SO_REUSEADDR: rebind a port with connections in TIME_WAIT. On by default, as Go does.
  bool reuse_address = true;
  // SO_REUSEPORT: several listeners on one port, the kernel spreading connections.
  bool reuse_port = false;
};

// A listening stream socket (TCP or Unix).
class Listener final : public Socket {
 public:
  Listener() noexcept = default;
  Listener(Listener&&) noexcept = default;
  Listener& operator=(Listener&&) noexcept = default;

  // Binds and listens. Port 0 picks a free port (local_address() tells which). A Unix path
  // must not exist.
  static Listener bind(const Address& at, ListenOptions opts = {});
  // The next connection, owned by the caller.
  Stream accept(Timeout timeout = std::nullopt);
};

// A datagram socket: UDP, or a Unix-domain datagram socket.
class Datagram final : public Socket {
 public:
  Datagram() noexcept = default;
  Datagram(Datagram&&) noexcept = default;
  Datagram& operator=(Datagram&&) noexcept = default;

  // Bound to `at` (port 0: any free port).
  static Datagram bind(const Address& at);
  // Sends one datagram; waits while the socket's buffer is full.
  void send_to(const void* buf, std::size_t n, const Address& to, Timeout timeout = std::nullopt);
  // Receives one datagram into `buf` (a longer one is truncated); `from` gets the sender.
  std::size_t receive_from(void* buf, std::size_t n, Address* from = nullptr,
                           Timeout timeout = std::nullopt);
};

// The names users of other runtimes look for.
using TcpStream = Stream;
using TcpListener = Listener;
using UnixStream = Stream;
using UnixListener = Listener;
using UdpSocket = Datagram;

// For tests: sockets open now in every runtime of the program.
std::int64_t open_sockets() noexcept;

}  // namespace ergon::net
