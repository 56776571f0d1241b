// Active mode, once (ergon/net.hpp, Stream::set_active_once; gen_tcp's {active, once}).
//
// Design
// ------
// Arming stores a hook in the socket's record (IoHandle::on_readable); the poller that sees
// the socket readable takes the hook (CAS to kHookBusy) and runs it on its own thread: one
// non-blocking read of at most 64 KiB, sent to the owner as net::Data, or net::Closed at EOF
// or on an error. So the data reaches the owner as a message, and one receive serves the
// socket, timeouts and ordinary messages.
//
// Arming, in named steps (PE2 of core/io_handle.hpp is the poller's half):
//   AM1 the armer holds the hook (kHookBusy: the owner arming, or the poller running it).
//   AM2 it reads once: on data, EOF or an error it drops the hook (0), then delivers (in that
//       order: an owner that re-arms as soon as the message lands must find the hook free).
//   AM3 EAGAIN: it stores the hook (seq_cst), then exchanges `rg` to 0 (seq_cst). kReady
//       means an edge came between AM2 and AM3 that the poller may have missed the hook for:
//       it takes the hook back (CAS hook -> kHookBusy) and goes to AM2; if the CAS fails, a
//       poller took the hook and delivers.
// Either the poller's PE2 load sees the hook, or AM3's exchange sees its kReady: no edge falls
// between. io_close waits out a hook that runs (kHookBusy), so the read never meets a reused fd.
//
// Rejected: reading into a buffer the owner then reads from (a second copy and a buffer per
// socket while idle); a helper process per socket (a stack per connection for nothing).
#include <unistd.h>

#include <cerrno>
#include <string>

#include "core/process.hpp"
#include "ergon/process.hpp"
#include "net/socket.hpp"
#include "util/sys_errno.hpp"

namespace ergon::net {

using ergon::detail::IoHandle;
using ergon::detail::sys_errno;

namespace {

// 64 KiB: what one read of a loopback socket returns at most in practice; gen_tcp's default
// buffer is smaller (8 KiB recbuf in OTP 25 grows with use). A reasoned bound, not tuned.
constexpr std::size_t kActiveRead = 64 * 1024;

void hook(IoHandle* h);

// AM2's read: what to deliver (data, EOF or an error), or nothing on EAGAIN (false).
struct Delivery {
  Pid to;
  bool closed = false;
  int fd = -1;
  int error = 0;
  std::string bytes;
};
bool read_once(IoHandle* h, Delivery& d) {
  // acquire: see IoHandle::owner; the owner is alive (its end would wait for this hook).
  d.to = ergon::detail::pid_of(h->owner.load(std::memory_order_acquire));
  d.fd = h->fd;
  d.bytes.assign(kActiveRead, '\0');
  for (;;) {
    const ssize_t r = ::read(h->fd, d.bytes.data(), d.bytes.size());
    if (r > 0) {
      d.bytes.resize(static_cast<std::size_t>(r));
      return true;
    }
    if (r == 0) {
      d.closed = true;
      return true;
    }
    const int e = sys_errno();
    if (e == EINTR) continue;
    if (e == EAGAIN) return false;
    d.closed = true;
    d.error = e;
    return true;
  }
}

// AM1..AM3, with the hook held (kHookBusy). AM2 drops the hook before it sends: the owner may
// arm again as soon as the message is in its mailbox, and an arm that found the hook still
// held (kHookBusy) would be a no-op, leaving the socket unwatched for good.
void run_armed(IoHandle* h) noexcept {
  const auto armed = reinterpret_cast<std::uintptr_t>(&hook);
  for (;;) {
    Delivery d;
    bool done;
    try {
      done = read_once(h, d);
    } catch (...) {  // no memory for the buffer: close the stream's data flow as an error
      done = true;
      d.closed = true;
      d.error = ENOMEM;
    }
    if (done) {
      h->on_readable.store(0, std::memory_order_release);  // release: pairs with io_close
      // `h` is not touched from here on (io_close may now go on and reuse it).
      try {
        if (d.closed) {
          ergon::send(d.to, Closed{d.fd, d.error});
        } else {
          ergon::send(d.to, Data{d.fd, std::move(d.bytes)});
        }
      } catch (...) {  // no memory for the message: lost, as a message to a dead pid is
      }
      return;
    }
    h->on_readable.store(armed, std::memory_order_seq_cst);  // AM3, seq_cst: see above
    if (h->rg.exchange(0, std::memory_order_seq_cst) != IoHandle::kReady) return;
    std::uintptr_t expected = armed;
    // acq_rel: against a poller taking the hook (PE2).
    if (!h->on_readable.compare_exchange_strong(
            expected, IoHandle::kHookBusy, std::memory_order_acq_rel, std::memory_order_relaxed))
      return;  // a poller took it and delivers
  }
}

void hook(IoHandle* h) { run_armed(h); }

}  // namespace

void Stream::set_active_once() {
  static constexpr const char* kWhat = "ergon::net::Stream::set_active_once";
  IoHandle* h = use(kWhat);
  std::uintptr_t expected = 0;
  // acq_rel: AM1 for the owner; a hook armed or running already makes this a no-op.
  if (!h->on_readable.compare_exchange_strong(expected, IoHandle::kHookBusy,
                                              std::memory_order_acq_rel, std::memory_order_relaxed))
    return;
  run_armed(h);
}

}  // namespace ergon::net
