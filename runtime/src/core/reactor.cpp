// Reactor: the epoll set, its pollers and the wake-up of the blocked one. See reactor.hpp
// (R1..R3, B1/B2) and io_handle.hpp (IW1..IW4, PE1).
#include "core/reactor.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/idle.hpp"
#include "core/io_handle.hpp"
#include "core/scheduler.hpp"
#include "ergon/errors.hpp"
#include "util/sys_errno.hpp"

namespace ergon::detail {
namespace {

// An event's tag: the record's address (48 bits on x86-64 and AArch64 Linux, as MpscInbox
// assumes) and the low 16 bits of its seq. 0 is the eventfd.
constexpr int kSeqShift = 48;
constexpr std::uint64_t kPtrMask = (std::uint64_t{1} << kSeqShift) - 1;

std::uint64_t tag_of(IoHandle* h) noexcept {
  // acquire: pairs with the acq_rel CAS of io_close, which retired the previous socket.
  const std::uint64_t seq = h->seq.load(std::memory_order_acquire) & 0xffffu;
  return reinterpret_cast<std::uintptr_t>(h) | (seq << kSeqShift);
}

[[noreturn]] void throw_errno(const char* what, const char* call, int err) {
  throw SysError(std::string(what) + ": " + call + " failed: " + std::strerror(err), err);
}

}  // namespace

Reactor::Reactor(Scheduler& sched, std::int64_t poll_interval_ns) noexcept
    : sched_(sched), poll_interval_ns_(poll_interval_ns) {}

Reactor::~Reactor() {
  // Every socket belongs to a process, and every process has ended: nothing is registered.
  if (int fd = epfd_.load(std::memory_order_relaxed); fd >= 0) ::close(fd);
  if (int fd = evfd_.load(std::memory_order_relaxed); fd >= 0) ::close(fd);
}

void Reactor::ensure_open(const char* what) {
  if (epfd_.load(std::memory_order_acquire) >= 0) return;  // acquire: pairs with the release below
  std::lock_guard<std::mutex> g(mu_);
  if (epfd_.load(std::memory_order_relaxed) >= 0) return;  // relaxed: under mu_
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) throw_errno(what, "epoll_create1", sys_errno());
  const int ev = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (ev < 0) {
    const int err = sys_errno();
    ::close(ep);
    throw_errno(what, "eventfd", err);
  }
  epoll_event e{};
  e.events = EPOLLIN;  // level-triggered: see B1/B2 in reactor.hpp
  e.data.u64 = 0;
  if (::epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) != 0) {
    const int err = sys_errno();
    ::close(ev);
    ::close(ep);
    throw_errno(what, "epoll_ctl(ADD eventfd)", err);
  }
  evfd_.store(ev, std::memory_order_release);  // release: pairs with the acquire in kick()
  epfd_.store(ep,
              std::memory_order_release);  // release: pairs with the acquires above and in polls
}

void Reactor::add(IoHandle* h, const char* what) {
  ensure_open(what);
  epoll_event e{};
  e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  e.data.u64 = tag_of(h);
  // acquire: see ensure_open.
  if (::epoll_ctl(epfd_.load(std::memory_order_acquire), EPOLL_CTL_ADD, h->fd, &e) != 0)
    throw_errno(what, "epoll_ctl(ADD)", sys_errno());
  registered_.fetch_add(1, std::memory_order_relaxed);  // relaxed: see active()
}

void Reactor::remove(IoHandle* h) noexcept {
  epoll_event e{};  // a non-null pointer for kernels before 2.6.9
  // acquire: see ensure_open. An fd that was never added (cannot happen) just fails.
  (void)::epoll_ctl(epfd_.load(std::memory_order_acquire), EPOLL_CTL_DEL, h->fd, &e);
  registered_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: see active()
}

int Reactor::handle(Worker* w, const epoll_event* events, int n) noexcept {
  int woken = 0;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t tag = events[i].data.u64;
    if (tag == 0) continue;  // the eventfd: only the role holder drains it (B1/B2)
    auto* h = reinterpret_cast<IoHandle*>(tag & kPtrMask);
    // acquire: pairs with io_close's CAS. A mismatch: the socket is gone (stale event).
    if ((h->seq.load(std::memory_order_acquire) & 0xffffu) != (tag >> kSeqShift)) continue;
    const std::uint32_t ev = events[i].events;
    const bool readable = (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    const bool writable = (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
    for (int d = 0; d < 2; ++d) {
      if (!(d == 0 ? readable : writable)) continue;
      // PE1. seq_cst: pairs with the waiter's CAS (IW2) and exchange (IW4) on the same slot,
      // and is PE2's first half (io_handle.hpp, IoHandle::on_readable).
      const std::uintptr_t old = h->slot(d == 0 ? IoDir::kRead : IoDir::kWrite)
                                     .exchange(IoHandle::kReady, std::memory_order_seq_cst);
      if (d == 0) {
        // PE2. seq_cst: the load side of the pair with the armer's store and exchange.
        std::uintptr_t hook = h->on_readable.load(std::memory_order_seq_cst);
        // acq_rel: exactly one of the pollers and the armer takes the hook; pairs with the
        // release that armed it.
        if (hook > IoHandle::kHookBusy && h->on_readable.compare_exchange_strong(
                                              hook, IoHandle::kHookBusy, std::memory_order_acq_rel,
                                              std::memory_order_relaxed)) [[unlikely]] {
          reinterpret_cast<void (*)(IoHandle*)>(hook)(h);
        }
      }
      if (old <= IoHandle::kReady) continue;
      auto* p = reinterpret_cast<Process*>(old);
      // U2: a wake-up that cannot be lost; true if we own the blocked process's wake-up. A
      // record reused since is woken spuriously at worst (process.hpp: type-stable).
      if (p->mailbox.notify()) {
        sched_.wake_from(w, false, p);
        ++woken;
      }
    }
  }
  if (woken != 0) wakeups_.fetch_add(static_cast<std::uint64_t>(woken), std::memory_order_relaxed);
  return woken;
}

int Reactor::poll_now(Worker* w) noexcept {
  epoll_event events[kBatch];
  // acquire: see ensure_open (active() was true, so the set exists).
  const int n = ::epoll_wait(epfd_.load(std::memory_order_acquire), events, kBatch, 0);
  last_poll_ns_.store(monotonic_ns(), std::memory_order_relaxed);  // relaxed: see last_poll_ns_
  polls_.fetch_add(1, std::memory_order_relaxed);                  // relaxed: statistic
  return n > 0 ? handle(w, events, n) : 0;
}

void Reactor::poll_if_stale(std::int64_t now) noexcept {
  if (!active()) return;
  // relaxed: a hint; while a worker blocks in epoll the kernel wakes it for every event.
  if (poller_.load(std::memory_order_relaxed) != nullptr) return;
  if (now - last_poll_ns_.load(std::memory_order_relaxed) < poll_interval_ns_) return;
  stale_polls_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  (void)poll_now(nullptr);  // R3: wakes go to the processes' own workers (W3)
}

bool Reactor::try_take_poller(Worker* w) noexcept {
  Worker* expected = nullptr;
  // acq_rel: the role's eventfd reads follow the previous holder's (release in wait_as_poller).
  return poller_.compare_exchange_strong(expected, w, std::memory_order_acq_rel,
                                         std::memory_order_relaxed);
}

int Reactor::wait_as_poller(Parker& parker, std::int64_t deadline_ns,
                            epoll_event* events) noexcept {
  int n = 0;
  // seq_cst: B1, the store side of the store-load pair with B2 (Parker::wake).
  parker.polling_.store(this, std::memory_order_seq_cst);
  if (parker.word_.load(std::memory_order_seq_cst) == 0) {  // seq_cst: B1's load
    timespec ts{};
    const timespec* timeout = nullptr;
    if (deadline_ns != INT64_MAX) {
      const std::int64_t rel = deadline_ns - monotonic_ns();
      const std::int64_t r = rel > 0 ? rel : 0;
      ts.tv_sec = static_cast<time_t>(r / 1'000'000'000);
      ts.tv_nsec = static_cast<long>(r % 1'000'000'000);
      timeout = &ts;
    }
    // acquire: see ensure_open.
    n = ::epoll_pwait2(epfd_.load(std::memory_order_acquire), events, kBatch, timeout, nullptr);
    if (n < 0) n = 0;  // EINTR: a spurious wake-up, the worker looks again
  }
  // relaxed: nothing is published by clearing it; a waker that still sees it kicks, and the
  // leftover kick is a spurious wake-up of the next blocking poll.
  parker.polling_.store(nullptr, std::memory_order_relaxed);
  // Drain the eventfd if it fired (only the role holder reads it), and drop its events.
  int kept = 0;
  for (int i = 0; i < n; ++i) {
    if (events[i].data.u64 == 0) {
      std::uint64_t v;
      // acquire: see ensure_open.
      (void)!::read(evfd_.load(std::memory_order_acquire), &v, sizeof v);
    } else {
      events[kept++] = events[i];
    }
  }
  last_poll_ns_.store(monotonic_ns(), std::memory_order_relaxed);  // relaxed: see last_poll_ns_
  polls_.fetch_add(1, std::memory_order_relaxed);                  // relaxed: statistic
  poller_.store(nullptr, std::memory_order_release);  // release: pairs with try_take_poller
  return kept;
}

int Reactor::dispatch(Worker* w, const epoll_event* events, int n) noexcept {
  return handle(w, events, n);
}

void Reactor::kick() noexcept {
  const std::uint64_t one = 1;
  // acquire: pairs with the release in ensure_open (a parker only polls once it exists).
  (void)!::write(evfd_.load(std::memory_order_acquire), &one, sizeof one);
}

}  // namespace ergon::detail
