// IoHandle: the record table, ownership and the readiness wait. See io_handle.hpp.
#include "core/io_handle.hpp"

#include <sched.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <vector>

#include "core/process.hpp"
#include "core/reactor.hpp"
#include "ergon/detail/api.hpp"

namespace ergon::detail {
namespace {

// The table: records in chunks that are never freed (type-stable), a free list under a lock.
// Opening and closing a socket is a few system calls already; one uncontended lock beside them
// is noise (Go's pollCache has the same lock).
class IoTable {
 public:
  static IoTable& instance() {
    static IoTable* t = new IoTable();  // never destroyed: records outlive every runtime
    return *t;
  }
  IoHandle* take() {
    std::lock_guard<std::mutex> g(mu_);
    if (free_ == nullptr) grow();
    IoHandle* h = free_;
    free_ = h->free_next;
    h->free_next = nullptr;
    ++open_;
    return h;
  }
  void give(IoHandle* h) noexcept {
    std::lock_guard<std::mutex> g(mu_);
    h->free_next = free_;
    free_ = h;
    --open_;
  }
  std::int64_t open() noexcept {
    std::lock_guard<std::mutex> g(mu_);
    return open_;
  }

 private:
  // 256 records (about 20 KiB) per chunk: a reasoned size, not tuned.
  static constexpr std::size_t kChunk = 256;
  void grow() {
    chunks_.push_back(std::make_unique<IoHandle[]>(kChunk));
    IoHandle* c = chunks_.back().get();
    for (std::size_t i = kChunk; i-- > 0;) {
      c[i].free_next = free_;
      free_ = &c[i];
    }
  }
  std::mutex mu_;
  IoHandle* free_ = nullptr;                         // guarded by mu_
  std::vector<std::unique_ptr<IoHandle[]>> chunks_;  // guarded by mu_
  std::int64_t open_ = 0;                            // guarded by mu_
};

// The owner's list, under its sig_lock.
void link_owned(Process* o, IoHandle* h) noexcept {
  h->owned_prev = nullptr;
  h->owned_next = o->io_owned;
  if (o->io_owned != nullptr) o->io_owned->owned_prev = h;
  o->io_owned = h;
}
void unlink_owned(Process* o, IoHandle* h) noexcept {
  if (h->owned_prev != nullptr) {
    h->owned_prev->owned_next = h->owned_next;
  } else {
    o->io_owned = h->owned_next;
  }
  if (h->owned_next != nullptr) h->owned_next->owned_prev = h->owned_prev;
  h->owned_prev = h->owned_next = nullptr;
}

// Clears a slot that still holds the waiter when the wait unwinds (IW4 on the kill path).
struct SlotGuard {
  std::atomic<std::uintptr_t>* slot;
  ~SlotGuard() {
    // acq_rel: as IW4. Dropping a kReady here loses nothing: every use starts with the syscall.
    if (slot != nullptr) slot->exchange(0, std::memory_order_acq_rel);
  }
};

}  // namespace

IoHandle* io_open(Reactor& r, int fd, Process* owner, std::uint8_t kind, const char* what) {
  IoHandle* h = IoTable::instance().take();
  h->fd = fd;
  h->kind = kind;
  h->reactor = &r;
  h->rg.store(0, std::memory_order_relaxed);  // relaxed: the record is private until added
  h->wg.store(0, std::memory_order_relaxed);
  try {
    r.add(h, what);
  } catch (...) {
    h->fd = -1;
    h->reactor = nullptr;
    IoTable::instance().give(h);
    throw;
  }
  owner->sig_lock.lock();
  link_owned(owner, h);
  h->owner.store(owner, std::memory_order_release);  // release: pairs with io_close's acquire
  owner->sig_lock.unlock();
  return h;
}

bool io_close(IoHandle* h, std::uint32_t seq) noexcept {
  // acq_rel: the one close that wins retires the socket; pairs with the acquire loads of the
  // pollers' stale-event check and of every use of a handle.
  if (!h->seq.compare_exchange_strong(seq, seq + 1, std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
    return false;
  }
  for (;;) {  // off the owner's list; the owner changes only under its lock, so re-check there
    // acquire: pairs with the release stores in io_open / io_hand_to (the owner is a record).
    Process* o = h->owner.load(std::memory_order_acquire);
    if (o == nullptr) break;  // its owner's end took it off already (io_close_owned)
    o->sig_lock.lock();
    const bool still = h->owner.load(std::memory_order_relaxed) == o;  // relaxed: under the lock
    if (still) {
      unlink_owned(o, h);
      h->owner.store(nullptr, std::memory_order_relaxed);  // relaxed: under the lock
    }
    o->sig_lock.unlock();
    if (still) break;
  }
  // An active-mode hook running on a poller reads from the fd: wait it out, then disarm.
  for (std::uintptr_t v = h->on_readable.load(std::memory_order_acquire);;) {
    if (v == IoHandle::kHookBusy) {
      sched_yield();  // a hook is one non-blocking read and a send
      v = h->on_readable.load(std::memory_order_acquire);  // acquire: pairs with its release
      continue;
    }
    // acq_rel: against a poller taking the hook at the same moment.
    if (h->on_readable.compare_exchange_weak(v, 0, std::memory_order_acq_rel,
                                             std::memory_order_acquire))
      break;
  }
  h->reactor->remove(h);
  ::close(h->fd);
  h->fd = -1;
  h->reactor = nullptr;
  // relaxed: a poller that passed the seq check before the CAS may still set kReady here; the
  // record's next socket then sees one spurious readiness (io_handle.hpp, "Stale events").
  h->rg.store(0, std::memory_order_relaxed);
  h->wg.store(0, std::memory_order_relaxed);
  IoTable::instance().give(h);
  return true;
}

bool io_hand_to(IoHandle* h, Process* from, Process* to, Pid to_pid) noexcept {
  if (from == to) return true;
  lock_two(from, to);
  // alive_locked: `to` is the live process of `to_pid` and not ending, so its end will see
  // the socket in its list (it takes the list after setting `exiting`, under this lock).
  const bool ok = alive_locked(to, to_pid) &&
                  h->owner.load(std::memory_order_relaxed) == from;  // relaxed: under the lock
  if (ok) {
    unlink_owned(from, h);
    link_owned(to, h);
    h->owner.store(to, std::memory_order_release);  // release: pairs with io_close's acquire
  }
  unlock_two(from, to);
  return ok;
}

void io_close_owned(Process* p) noexcept {
  // In batches off the list under the lock, each with the seq it had there; closed outside it
  // (a close takes the lock of its owner, which is p). A record closed and reused meanwhile
  // fails its CAS in io_close and is left alone.
  for (;;) {
    IoHandle* batch[16];
    std::uint32_t seqs[16];
    int n = 0;
    p->sig_lock.lock();
    while (p->io_owned != nullptr && n < 16) {
      IoHandle* h = p->io_owned;
      unlink_owned(p, h);
      h->owner.store(nullptr, std::memory_order_relaxed);  // relaxed: under the lock
      seqs[n] = h->seq.load(std::memory_order_relaxed);    // relaxed: the CAS re-checks
      batch[n++] = h;
    }
    p->sig_lock.unlock();
    if (n == 0) return;
    for (int i = 0; i < n; ++i) (void)io_close(batch[i], seqs[i]);
  }
}

IoWait io_wait(Process* p, IoHandle* h, IoDir d, std::int64_t deadline_ns, const char* where,
               bool or_message) {
  std::atomic<std::uintptr_t>& s = h->slot(d);
  const auto self = reinterpret_cast<std::uintptr_t>(p);
  for (;;) {
    std::uintptr_t expected = 0;
    // IW2. acq_rel: pairs with the poller's exchange (PE1).
    if (!s.compare_exchange_strong(expected, self, std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
      s.exchange(0, std::memory_order_acq_rel);  // kReady: consume it, retry the syscall
      return IoWait::kReady;
    }
    bool timed_out;
    {
      SlotGuard guard{&s};
      // IW3: only a message that arrives from now on ends the wait; with or_message, also one
      // that arrived since the process's last receive (still in the inbox).
      if (!or_message) mailbox_of(p).fetch();
      timed_out = wait(p, deadline_ns, where);
      guard.slot = nullptr;
    }
    // IW4. acq_rel: as IW2.
    if (s.exchange(0, std::memory_order_acq_rel) == IoHandle::kReady) return IoWait::kReady;
    if (timed_out) return IoWait::kTimedOut;
    if (deadline_ns != kNoDeadline && now_ns() >= deadline_ns) return IoWait::kTimedOut;
    if (or_message) return IoWait::kMessage;
  }
}

std::int64_t io_open_count() noexcept { return IoTable::instance().open(); }

}  // namespace ergon::detail
