// Bounded mailboxes: the send's slow path and the receiver's release. See bounded.hpp for the
// design (S1..S5) and ergon/mailbox/mailbox.hpp for the slot word (B1..B3).
#include "core/bounded.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <thread>

#include "core/carrier.hpp"
#include "core/in_runtime.hpp"
#include "core/process.hpp"
#include "core/process_table.hpp"
#include "core/scheduler.hpp"
#include "core/send.hpp"
#include "ergon/errors.hpp"

namespace ergon::detail {
namespace {

// Owns the envelope until it is pushed or handed on; destroys it on every other way out
// (a drop, a MailboxFull, a kill while waiting).
struct Held {
  mailbox::Envelope* e;
  ~Held() {
    if (e != nullptr) mailbox::dispose(e);
  }
  mailbox::Envelope* take() noexcept {
    mailbox::Envelope* t = e;
    e = nullptr;
    return t;
  }
};

// The live record `to` names, or nullptr. acquire: pairs with the release store of the
// generation at a process's end (Worker::finish), as live_target in send.cpp.
Process* live_record(Pid to) noexcept {
  if (!to) return nullptr;
  Process* t = ProcessTable::instance().lookup(to.index());
  if (t == nullptr || t->generation.load(std::memory_order_acquire) != to.generation()) {
    return nullptr;
  }
  return t;
}

Scheduler* sched_of(Process* t) noexcept {
  return t->sched.load(std::memory_order_acquire);  // acquire: as live_target in send.cpp
}

void count_policy_drop(Process* t) noexcept {
  // relaxed: statistics.
  t->mailbox_dropped.fetch_add(1, std::memory_order_relaxed);
  if (Scheduler* s = sched_of(t)) s->bounded_dropped.fetch_add(1, std::memory_order_relaxed);
}

std::string describe(Pid to, Process* t) {
  return to.to_string() + " (capacity " + std::to_string(t->mailbox.capacity()) + ", policy " +
         to_string(t->overflow.load(std::memory_order_relaxed)) + ")";
}

[[noreturn]] void throw_full(Process* t, Pid to, const std::string& what) {
  if (Scheduler* s = sched_of(t)) s->bounded_errors.fetch_add(1, std::memory_order_relaxed);
  throw MailboxFull(what, to);
}

// The cycle of waiting senders that `self`, about to wait on `to`, would close, as
// "<a> -> <b> -> <a>"; empty when there is none. Follows send_blocked_on (seq_cst, see
// Process::send_blocked_on) at most kMaxDepth steps: a longer chain is left to the timeouts
// and the hang report (64: far beyond any pipeline seen in practice; not tuned).
std::string find_cycle(Process* self, Pid to) {
  constexpr int kMaxDepth = 64;
  const Pid me = self->pid();
  std::string path = me.to_string();
  Pid cur = to;
  for (int i = 0; i < kMaxDepth; ++i) {
    Process* q = live_record(cur);
    if (q == nullptr) return "";
    path += " -> " + cur.to_string();
    const Pid next = Pid::from_raw(q->send_blocked_on.load(std::memory_order_seq_cst));
    if (!next) return "";
    if (next == me) return path + " -> " + me.to_string();
    cur = next;
  }
  return "";
}

// An empty list of waiting senders gives its storage back: records are never freed (they are
// type-stable), so storage kept by the record of a process that has ended would outlive it
// (LSan reports it). A wait for a slot is a slow path: the allocation it costs is nothing.
void release_if_empty(std::vector<Process*>& list) noexcept {
  if (list.empty()) std::vector<Process*>().swap(list);
}

// S4 leaves the receiver's list (unless a release took it off) when the wait ends, however
// it ends; a sender that was taken off and leaves by an exception passes the wake-up on.
class WaiterEntry {
 public:
  WaiterEntry(Process* self, Process* r) noexcept : self_(self), r_(r) {}
  ~WaiterEntry() {
    r_->senders_lock.lock();
    auto& list = r_->waiting_senders;
    auto it = std::find(list.begin(), list.end(), self_);
    const bool taken_off = it == list.end();
    if (!taken_off) {
      list.erase(it);
      r_->mailbox.remove_waiter();
    }
    release_if_empty(list);
    r_->senders_lock.unlock();
    self_->send_blocked_on.store(0, std::memory_order_seq_cst);  // seq_cst: see find_cycle
    if (taken_off && std::uncaught_exceptions() > 0) {
      InRuntime in;
      wake_one_sender(r_, in.w, in.p != nullptr);
    }
  }
  WaiterEntry(const WaiterEntry&) = delete;
  WaiterEntry& operator=(const WaiterEntry&) = delete;

 private:
  Process* self_;
  Process* r_;
};

enum class Waited : std::uint8_t { kRetry, kTimedOut };

// S4. `self` is the calling process.
Waited wait_as_process(Process* self, Pid to, Process* t, std::int64_t deadline) {
  // seq_cst: see Process::send_blocked_on.
  self->send_blocked_on.store(to.raw(), std::memory_order_seq_cst);
  if (std::string cycle = find_cycle(self, to); !cycle.empty()) {
    self->send_blocked_on.store(0, std::memory_order_seq_cst);
    throw_full(t, to,
               "ergon::send from " + self->pid().to_string() + " to " + describe(to, t) +
                   ": the mailbox is full and waiting for a slot would deadlock: every process "
                   "in the cycle " +
                   cycle +
                   " waits to send into the next one's full mailbox. Break the cycle: give one "
                   "of them a larger SpawnOptions::mailbox_capacity, a send_timeout, or a "
                   "policy that does not block (drop_newest, drop_oldest, fail, forward).");
  }
  t->senders_lock.lock();
  const bool waiting = t->mailbox.add_waiter() == mailbox::Mailbox::Wait::kWaiting;  // B2
  if (waiting) t->waiting_senders.push_back(self);
  t->senders_lock.unlock();
  if (!waiting) {
    self->send_blocked_on.store(0, std::memory_order_seq_cst);
    return Waited::kRetry;
  }
  if (Scheduler* s = sched_of(t)) s->bounded_blocked.fetch_add(1, std::memory_order_relaxed);
  WaiterEntry entry(self, t);
  // The inbox must be empty for the wait to park (MpscInbox C2): what came stays, in order.
  (void)self->mailbox.fetch();
  return wait(self, deadline, "send (mailbox full)") ? Waited::kTimedOut : Waited::kRetry;
}

// S5: a thread outside the runtime. The deadline is by the steady clock.
Waited wait_as_thread(std::int64_t deadline, std::chrono::microseconds& nap) {
  if (deadline != kNoDeadline && monotonic_ns() >= deadline) return Waited::kTimedOut;
  std::this_thread::sleep_for(nap);
  // 20 us doubling to 1 ms: a reasoned bound between latency and a polling thread's CPU,
  // not tuned by a benchmark.
  nap = std::min(nap * 2, std::chrono::microseconds(1000));
  return Waited::kRetry;
}

}  // namespace

void send_bounded(Pid to, mailbox::Envelope* raw) {
  Held held{raw};
  Process* self = current_process();
  Carrier* c = current_carrier();
  const bool worker_thread = self == nullptr && c != nullptr && !c->in_blocking();
  std::int64_t deadline = -1;  // computed at the first wait
  std::chrono::microseconds nap(20);
  bool timed_out = false;
  for (;;) {
    Process* t = live_record(to);  // S1
    if (t == nullptr || t->mailbox.capacity() == 0 || sched_of(t) == nullptr) {
      send_unbounded(to, held.take());  // drops and counts a dead pid, or just sends
      break;
    }
    mailbox::Mailbox& mb = t->mailbox;
    const MailboxPolicy policy = t->overflow.load(std::memory_order_relaxed);
    if (policy == MailboxPolicy::kDropOldest) {  // queued anyway; the receiver trims
      mb.force_reserve();
      push_counted(to, held.take(), t);
      break;
    }
    if (mb.try_reserve() == mailbox::Mailbox::Reserve::kReserved) {  // S2
      push_counted(to, held.take(), t);
      break;
    }
    // S3: full.
    if (policy == MailboxPolicy::kDropNewest) {
      count_policy_drop(t);
      break;  // `held` destroys it
    }
    if (policy == MailboxPolicy::kForward) {
      const Pid fb = Pid::from_raw(t->fallback.load(std::memory_order_relaxed));
      if ((held.e->flags & mailbox::kForwarded) != 0 || !fb || fb == to) {
        count_policy_drop(t);
        break;
      }
      held.e->flags |= mailbox::kForwarded;
      if (Scheduler* s = sched_of(t)) s->bounded_forwarded.fetch_add(1, std::memory_order_relaxed);
      to = fb;
      continue;
    }
    if (policy == MailboxPolicy::kFail) {
      throw_full(t, to,
                 "ergon::send to " + describe(to, t) +
                     ": the mailbox is full and its policy is fail. Let the receiver keep up "
                     "(more receivers, less work per message), raise "
                     "SpawnOptions::mailbox_capacity, or choose MailboxPolicy::kBlock, "
                     "kDropNewest, kDropOldest or kForward.");
    }
    // kBlock.
    if (timed_out) {
      throw_full(t, to,
                 "ergon::send to " + describe(to, t) +
                     ": no slot freed within the send_timeout of " +
                     std::to_string(t->send_timeout_ns.load(std::memory_order_relaxed) / 1000000) +
                     " ms. The receiver does not keep up: give it less work per message, raise "
                     "SpawnOptions::mailbox_capacity or send_timeout (0 waits forever), or "
                     "choose a dropping policy.");
    }
    if (worker_thread) {
      throw_full(t, to,
                 "ergon::send to " + describe(to, t) +
                     ": the mailbox is full, and the sender is a worker's thread outside any "
                     "process, which must never block. Send from a process (which waits without "
                     "blocking its worker) or from a thread of your own, or choose a policy that "
                     "does not block.");
    }
    if (deadline < 0) {
      const std::int64_t timeout = t->send_timeout_ns.load(std::memory_order_relaxed);
      const std::int64_t now = self != nullptr ? now_ns() : monotonic_ns();
      deadline = timeout > 0 ? deadline_after(now, timeout) : kNoDeadline;
    }
    const Waited w =
        self != nullptr ? wait_as_process(self, to, t, deadline) : wait_as_thread(deadline, nap);
    timed_out = w == Waited::kTimedOut;
  }
  if (self != nullptr) charge(self, 1);  // a send is a reduction point, dropped or not
}

bool release_counted(mailbox::Mailbox* receiver, mailbox::Envelope* e, bool trim) noexcept {
  Process* p = Process::of_mailbox(receiver);
  e->flags &= ~static_cast<std::uint32_t>(mailbox::kCounted);
  mailbox::Mailbox& mb = p->mailbox;
  // Over capacity with `e` still counted: `e` is the oldest the scan found, so it goes first.
  const bool overfull = trim &&
                        p->overflow.load(std::memory_order_relaxed) == MailboxPolicy::kDropOldest &&
                        mb.slots_used() > mb.capacity();
  if (mb.release_slot() == mailbox::Mailbox::Release::kSenderWaits) {  // B3
    InRuntime in;
    wake_one_sender(p, in.w, in.p != nullptr);
  }
  if (!overfull) return false;
  mailbox::dispose(e);
  const std::size_t n = 1 + mb.trim_oldest();
  // relaxed: statistics.
  p->mailbox_dropped.fetch_add(n, std::memory_order_relaxed);
  if (Scheduler* s = sched_of(p)) s->bounded_dropped.fetch_add(n, std::memory_order_relaxed);
  return true;
}

void wake_one_sender(Process* r, Worker* w, bool by_process) noexcept {
  r->senders_lock.lock();
  Process* q = nullptr;
  if (!r->waiting_senders.empty()) {
    q = r->waiting_senders.front();
    r->waiting_senders.erase(r->waiting_senders.begin());
    release_if_empty(r->waiting_senders);
    r->mailbox.remove_waiter();
    // It no longer waits: a cycle search must not see it (a false deadlock) while it retries.
    q->send_blocked_on.store(0, std::memory_order_seq_cst);  // seq_cst: see find_cycle
  }
  r->senders_lock.unlock();
  // U2: a wake-up that is not lost if q has not parked yet. q may have left its wait since
  // (a kill): records are type-stable, and a spurious wake-up is harmless (process.hpp).
  if (q != nullptr && q->mailbox.notify()) {
    if (Scheduler* s = sched_of(q)) s->wake_from(w, by_process, q);
  }
}

void wake_all_senders(Process* r, Worker* w) noexcept {
  while (r->mailbox.waiting_senders() != 0) wake_one_sender(r, w, false);
}

}  // namespace ergon::detail
