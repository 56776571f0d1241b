// Worker: the scheduler loop. See worker.hpp for the design.
#include "core/worker.hpp"

#include <sys/epoll.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "core/bounded.hpp"
#include "core/exception_text.hpp"
#include "core/hibernate.hpp"
#include "core/io_handle.hpp"
#include "core/process_table.hpp"
#include "core/scheduler.hpp"
#include "core/stack_guard.hpp"
#include "core/worker_pool.hpp"

namespace ergon::detail {
namespace {

// The pick cadences of next_process(), counted in picks (tick_):
// - kTimerEveryPicks (16, a power of two: a mask): how often a busy worker looks at its timer
//   wheel between the checks it makes whenever it runs out of work. One clock read per 16
//   picks keeps a timeout's lateness at 16 slices at most while a pingpong pick stays free of
//   clock reads (Tokio's event_interval plays this part, 61 ticks there).
// - kPinnedEveryPicks (8, a mask): how often processes moved here on purpose jump the local
//   queue, so a process moving to its own worker in a loop can neither starve it nor wait long.
//   Not tuned by a benchmark.
// - kGlobalEveryPicks (61, a prime): Go's schedule() checks the global run queue first every
//   61st schedtick, so global work cannot starve behind a busy local queue; a prime keeps it
//   from falling into step with the power-of-two cadences above.
constexpr std::uint64_t kTimerEveryPicks = 16;
constexpr std::uint64_t kPinnedEveryPicks = 8;
constexpr std::uint64_t kGlobalEveryPicks = 61;
static_assert((kTimerEveryPicks & (kTimerEveryPicks - 1)) == 0, "a mask");
static_assert((kPinnedEveryPicks & (kPinnedEveryPicks - 1)) == 0, "a mask");

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

void process_entry(Fiber* f) noexcept;

}  // namespace

// noipa: the compiler must not inline this, nor assume from its body that two calls return
// the same value: a process may resume on another worker between them.
[[gnu::noipa]] Worker* current_worker() noexcept {
  Carrier* c = current_carrier();
  return c != nullptr ? c->worker() : nullptr;
}

Worker::Worker(Scheduler& sched, WorkerPool& pool, unsigned id)
    : sched_(sched),
      pool_(pool),
      id_(id),
      observer_(&no_observer()),
      rng_(0x9e3779b97f4a7c15ull * (id + 1)),
      parker_(pool.idle.attach(id - pool.first, *this)) {
  stack_cache_.free.reserve(StackPool::kCacheMax + 1);
  free_records_.reserve(2 * ProcessTable::kBatch + 1);
}

Worker::~Worker() = default;

void Worker::drive_by(Driver* d, Carrier* c, std::uint64_t steal_seed) noexcept {
  driver_ = d;
  rng_ = steal_seed | 1;  // xorshift: never 0
  // relaxed: the workers run on the driving thread only; no other thread reads owner_ (the
  // watchdog does not run in this mode).
  owner_.store(c, std::memory_order_relaxed);
}

std::int64_t Worker::sched_now() const noexcept { return sched_.now(); }

void Worker::trace_slice(Process* p) noexcept {
  observer_->slice(id_, p->pid(), slice_t0_, sched_.now());
}

void Worker::loop(Carrier& c) {
  while (Process* p = find_work()) {
    run(c, p);
    if (c.lost() != nullptr) return;  // not ours any more: touch nothing
  }
}

void Worker::release_caches() noexcept {
  for (char* lo : stack_cache_.free)
    sched_.stacks().release(Stack{lo, sched_.stacks().default_size()}, nullptr);
  stack_cache_.net.store(stack_cache_.net.load(std::memory_order_relaxed) +
                             static_cast<std::int64_t>(stack_cache_.free.size()),
                         std::memory_order_relaxed);
  stack_cache_.free.clear();
  if (!free_records_.empty()) {
    ProcessTable::instance().give(free_records_.data(), free_records_.size());
    free_records_.clear();
  }
}

bool Worker::has_work() const noexcept {
  return runnext_ != nullptr || queue_.size_relaxed() != 0 || !overflow_.empty() ||
         !inbox_.empty() || !pinned_.empty() || timers_.size() != 0 ||
         pool_.classes.size_relaxed() != 0;
}

Process* Worker::take_record() {
  if (free_records_.empty()) ProcessTable::instance().take(free_records_, ProcessTable::kBatch);
  Process* p = free_records_.back();
  free_records_.pop_back();
  return p;
}

void Worker::push_back(Process* p) noexcept {
  if (p->cls() != 0) [[unlikely]] {  // a priority or a tenant: its pool's ClassQueue
    push_classed(p);
    return;
  }
  if (inactive()) [[unlikely]] {
    forward(p);
    return;
  }
  // Behind a non-empty overflow list too, so that the processes keep their order.
  if (!overflow_.empty() || !queue_.push_back(p)) spill(p, false);
}

void Worker::spill(Process* p, bool front) noexcept {
  if (pool_.balances()) {
    // Behind the ring (right behind it for `front`), in order: the owner refills the ring from
    // here (pop_local), and the balancer counts these in the queue's length.
    if (front) {
      overflow_.push_front(p);
    } else {
      overflow_.push(p);
    }
    overflow_len_.store(overflow_len_.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);  // relaxed: see overflow_len_
    return;
  }
  // Move half of the ring to the global queue (Go's runqputslow), and `p` behind it, or back
  // into the freed front.
  Process* batch[RunQueue::kCapacity / 2 + 1];
  std::uint32_t n = queue_.pop_half(batch);
  if (!front) batch[n++] = p;
  pool_.global.push_batch(batch, n);
  if (front && !queue_.push_front(p)) pool_.global.push(p);
  pool_.idle.notify_one();  // global work: any worker of the pool may take it
}

void Worker::push_classed(Process* p) noexcept {
  WorkerPool& pool = *p->pool;
  pool.classes.push(p, sched_.tenants(), sched_.now());
  pool.idle.notify_one();  // pool-wide work: any worker of the pool may take it
}

Process* Worker::pick_classed() noexcept {
  // Default-tenant work this worker reaches without stealing: its ring, overflow and inbox
  // (runnext has gone), and the pool's global queue.
  const bool local = queue_.size_relaxed() != 0 || !overflow_.empty() || !inbox_.empty() ||
                     pool_.global.size_relaxed() != 0;
  // The tenants' shares are the pool's, not this worker's: default-tenant work in another
  // worker's ring competes too, if this worker may steal it.
  bool elsewhere = false;
  if (!local && pool_.steals()) {
    for (unsigned i = pool_.first; i < pool_.first + pool_.size && !elsewhere; ++i)
      elsewhere = i != id_ && sched_.worker(i).queue_.size_relaxed() != 0;
  }
  const std::int64_t now = sched_.now();
  Process* p = pool_.classes.pick(sched_.tenants(), local || elsewhere, default_turns_, now);
  if (p != nullptr || local || !elsewhere) return p;  // nullptr here: take the ring
  // The default tenant's turn, on another worker's ring: steal it, or, if that was taken
  // meanwhile, run the classed work after all.
  if ((p = steal()) != nullptr) return p;
  return pool_.classes.pick(sched_.tenants(), false, default_turns_, now);
}

void Worker::charge_class(Process* p, std::uint64_t spent) noexcept {
  if (TenantRec* t = p->tenant_rec()) {
    t->charge(spent);
    // relaxed: statistic (TenantTable::default_reductions).
    sched_.tenants().charged_elsewhere.fetch_add(spent, std::memory_order_relaxed);
  }
}

void Worker::to_global(Process* p) noexcept {
  pool_.global.push(p);
  pool_.idle.notify_one();  // global work is for any active worker of the pool
}

void Worker::notify() noexcept {
  // Local work is for thieves only; without stealing the balancer moves it.
  if (pool_.steals()) pool_.idle.notify_one();
}

Worker& Worker::forward_target() const noexcept {
  const unsigned active = std::max(1u, pool_.active());
  return sched_.worker(pool_.first + (id_ - pool_.first) % active);
}

void Worker::forward(Process* p) noexcept {
  Worker& to = forward_target();
  if (&to == this) {  // the pool's active count was read stale: keep it
    if (!queue_.push_back(p)) to_global(p);
    return;
  }
  forward_to(to, p);
}

void Worker::forward_to(Worker& to, Process* p) noexcept {
  if (observer_->on()) [[unlikely]]
    observer_->moved(id_, Move::kForward, to.id(), p->pid(), sched_.now());
  count_migrated_out(1);
  to.count_migrated_in(1);
  to.remote_wake(p);
}

void Worker::evacuate() noexcept {
  Worker& to = forward_target();  // read once: the loop below must not feed itself
  if (&to == this) return;
  if (runnext_ != nullptr) {
    Process* p = runnext_;
    runnext_ = nullptr;
    forward_to(to, p);
  }
  while (Process* p = pop_local()) forward_to(to, p);
}

Process* Worker::pop_local() noexcept {
  Process* p = queue_.pop();
  if (!overflow_.empty()) [[unlikely]] {
    // Keep the ring full, where thieves and the balancer can reach the processes. Take each
    // one off the list before it becomes visible in the ring: a thief may take it at once and
    // reuse its link. The room only grows behind our back (thieves take, never add).
    std::uint32_t room = RunQueue::kCapacity - queue_.size_relaxed();
    std::uint32_t moved = 0;
    for (; room > 0; --room) {
      Process* q = overflow_.pop();
      if (q == nullptr) break;
      ++moved;
      if (!queue_.push_back(q)) [[unlikely]]  // cannot happen (see above); stay correct
        to_global(q);
    }
    overflow_len_.store(overflow_len_.load(std::memory_order_relaxed) - moved,
                        std::memory_order_relaxed);  // relaxed: see overflow_len_
    if (p == nullptr) p = queue_.pop();              // the ring had been emptied by thieves
  }
  return p;
}

void Worker::notify_after_search() noexcept {
  // The last searcher stands in for the wake-ups that pushers skipped while it searched (N2):
  // with stealing any queue of the pool may hold such work, without it only the global queue.
  if (pool_.steals() || pool_.global.size_seq_cst() != 0) pool_.idle.notify_one();
}

std::int64_t Worker::parked_ns(std::int64_t now) const noexcept {
  // relaxed: an estimate (see park_since_).
  const std::int64_t since = park_since_.load(std::memory_order_relaxed);
  const std::int64_t done = parked_ns_.load(std::memory_order_relaxed);
  return done + (since != 0 && now > since ? now - since : 0);
}

void Worker::push_spawn(Process* p) noexcept {
  // The newest child takes runnext (it runs as soon as the spawner blocks or yields: a
  // spawn-and-wait costs no queue traffic and no wake-up of another worker). The child it
  // displaces goes to the front of the queue, so a spawn tree is still walked depth-first,
  // and becomes stealable: that is when another worker is woken.
  if (inactive()) [[unlikely]] {
    forward(p);
    return;
  }
  Process* old = runnext_;
  runnext_ = p;
  if (old == nullptr) return;
  if (old->cls() != 0) [[unlikely]] {
    push_classed(old);
    return;
  }
  if (!queue_.push_front(old)) spill(old, true);
  notify();
}

void Worker::queue_displaced(Process* p) noexcept {
  if (inactive()) [[unlikely]] {
    forward(p);
    return;
  }
  push_back(p);
  notify();
}

void Worker::disarm_timer(Process* p) noexcept {
  if (p->timer_linked) timers_.remove(p);
  p->timer_owner = nullptr;
}

void Worker::remote_wake(Process* p) noexcept {
  if (inbox_.push(p) == mailbox::PushResult::kUnblockedReader) pool_.idle.unpark(parker_);
}

void Worker::drain_inbox() noexcept {
  Process* p = inbox_.take_all();
  bool any = false;
  while (p != nullptr) {
    Process* next = p->link;
    p->link = nullptr;
    if (p->timer_owner == this) disarm_timer(p);
    if (p->pinned) {  // moved here on purpose (move_to_worker): not for thieves
      p->pinned = false;
      push_pinned(p);
    } else {
      push_back(p);
      any = true;
    }
    p = next;
  }
  if (any) notify();
}

void Worker::fire_timers(std::int64_t now) noexcept {
  timers_.expire(now, [this](Process* p) {
    // Whoever unblocks the mailbox owns the wake-up. If a sender got there first, it reads
    // timer_owner (still us) and routes the process to our inbox, where drain_inbox clears
    // it; expire() has already unlinked the timer (timer_linked is false).
    if (p->mailbox.try_unblock()) {
      p->timer_owner = nullptr;
      p->timed_out = true;
      push_back(p);
    }
  });
  if (timers_.size() == 0) classed_timers_ = false;
  notify();
}

Process* Worker::find_work() {
  Process* p = next_process();
  // A worker woken to search (Idle::notify_one counted it as searching) that found work
  // anywhere else than search() must stop searching now, or every later notify would see "a
  // searcher exists" and leave the other sleepers parked (Go's resetspinning). The last
  // searcher to stop wakes another, in case there is more work.
  if (p != nullptr && searching_) {
    searching_ = false;
    if (pool_.idle.end_search()) notify_after_search();
  }
  return p;
}

Process* Worker::next_process() {
  for (;;) {
    ++tick_;
    // Every pick while a classed process has a timer here (its priority or tenant is about
    // latency: a probe's sleep among busy processes must not wait for the 16th pick).
    if (timers_.size() != 0 && ((tick_ & (kTimerEveryPicks - 1)) == 0 || classed_timers_))
      fire_timers(sched_.now());
    if (runnext_ != nullptr) {
      Process* p = runnext_;
      runnext_ = nullptr;
      if (driver_ == nullptr || !driver_->skip_runnext()) [[likely]] {
        inherit_ = true;
        return p;
      }
      push_back(p);  // deterministic mode passes runnext over, now and then (seeded)
    }
    inherit_ = false;
    if (inactive()) [[unlikely]] {
      // Compacted away: hand everything on, run only what was moved here on purpose.
      if (searching_) {  // woken to search before it was compacted: not its job any more
        searching_ = false;
        (void)pool_.idle.end_search();
      }
      evacuate();
      // Global work is the active workers' job: wake one if it is asleep. (A pusher that saw
      // this worker searching woke nobody; the seq_cst end of the search orders that push
      // before this load.)
      if (pool_.global.size_seq_cst() != 0) pool_.idle.notify_one();
      if (!inbox_.empty()) drain_inbox();
      if (timers_.size() != 0) fire_timers(sched_.now());
      if (Process* p = pop_pinned()) return p;
      if (stopping_and_done()) return nullptr;
      if (driver_ != nullptr) return nullptr;  // the driver picks another worker instead
      park();
      continue;
    }
    // Processes with a priority or a tenant (class_queue.hpp): max and high before anything,
    // the rest by their tenants' virtual time against the default tenant's ring work.
    if (pool_.classes.size_relaxed() != 0) [[unlikely]] {
      if (Process* p = pick_classed()) return p;
    }
    // Moved processes come first on every 8th pick and otherwise after the local queue: they
    // cannot starve the queue (a process moving to its own worker in a loop), nor wait long.
    if ((tick_ & (kPinnedEveryPicks - 1)) == 0) {
      if (Process* p = pop_pinned()) return p;
    }
    if (tick_ % kGlobalEveryPicks == 0) {
      // R1 (reactor.hpp): a busy worker polls sockets too, so a full queue does not starve IO.
      if (sched_.reactor().active()) [[unlikely]]
        (void)sched_.reactor().poll_now(this);
      if (Process* p = pool_.global.pop()) return p;
    }
    if (!inbox_.empty()) drain_inbox();
    if (Process* p = pop_local()) return p;
    if (Process* p = pop_pinned()) return p;
    if (Process* p = pool_.global.pop()) return p;
    if (timers_.size() != 0) {
      fire_timers(sched_.now());
      if (Process* p = pop_local()) return p;
    }
    // R1 (reactor.hpp): out of local work, poll sockets before taking other workers' work.
    if (sched_.reactor().active()) [[unlikely]] {
      if (sched_.reactor().poll_now(this) != 0) continue;  // the woken are queued: look again
    }
    if (Process* p = search()) return p;
    if (stopping_and_done()) return nullptr;
    if (driver_ != nullptr) return nullptr;  // the driver picks another worker instead
    park();
  }
}

bool Worker::stopping_and_done() noexcept {
  if (!sched_.stopping() || sched_.live() > 0) return false;
  if (searching_) {
    searching_ = false;
    (void)pool_.idle.end_search();
  }
  return true;
}

Process* Worker::search() {
  if (!searching_) {
    if (!pool_.steals() || !pool_.idle.try_begin_search()) return nullptr;
    searching_ = true;
  }
  Process* found = nullptr;
  // Without stealing there is nothing to spin for: one look at the global queue and the inbox.
  // In deterministic mode nothing changes while this thread spins: one round.
  const std::uint32_t rounds =
      pool_.steals() && driver_ == nullptr ? sched_.options().spin_rounds : 1;
  for (std::uint32_t r = 0; r < rounds && found == nullptr; ++r) {
    if (pool_.steals()) found = steal();
    if (found == nullptr) found = pool_.global.pop();
    if (found == nullptr && !inbox_.empty()) {
      drain_inbox();
      found = pop_pinned();
      if (found == nullptr) found = pop_local();
    }
    if (found == nullptr && sched_.stopping()) break;
    if (found == nullptr) cpu_relax();
  }
  searching_ = false;
  bool last = pool_.idle.end_search();
  if (found != nullptr && last) notify_after_search();
  return found;
}

Process* Worker::steal() {
  const unsigned n = pool_.size;
  if (n < 2) return nullptr;
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  unsigned start = static_cast<unsigned>(rng_ % n);
  Process* batch[RunQueue::kCapacity / 2 + 1];
  for (unsigned k = 0; k < n; ++k) {
    Worker& victim = sched_.worker(pool_.first + (start + k) % n);
    if (&victim == this) continue;
    std::uint32_t got = victim.queue_.steal(batch);
    if (got == 0) continue;
    bump(steals_, got);
    if (observer_->on()) [[unlikely]] {
      for (std::uint32_t i = 0; i < got; ++i)
        observer_->moved(id_, Move::kSteal, victim.id(), batch[i]->pid(), sched_.now());
    }
    for (std::uint32_t i = 1; i < got; ++i) push_back(batch[i]);
    return batch[0];
  }
  return nullptr;
}

bool Worker::work_visible() const noexcept {
  if (runnext_ != nullptr || !pinned_.empty() || !inbox_.empty() || sched_.stopping()) return true;
  if (queue_.size_seq_cst() != 0 || !overflow_.empty()) return true;
  // An inactive worker takes no shared work: what it cannot see is an active worker's job.
  if (inactive()) return false;
  if (pool_.global.size_seq_cst() != 0 || pool_.classes.size_seq_cst() != 0) return true;
  if (!pool_.steals()) return false;  // other queues are the balancer's business
  for (unsigned i = pool_.first; i < pool_.first + pool_.size; ++i) {
    if (sched_.worker(i).queue_.size_seq_cst() != 0) return true;
  }
  return false;
}

void Worker::push_pinned(Process* p) noexcept { pinned_.push(p); }

Process* Worker::pop_pinned() noexcept { return pinned_.pop(); }

void Worker::park() {
  std::int64_t deadline = timers_.next_deadline();
  if (deadline != INT64_MAX && deadline <= sched_.now()) return;  // fire first
  pool_.idle.prepare_park(parker_);                               // K1
  // R2 (reactor.hpp): with sockets open, the first worker to park blocks in epoll instead of
  // its futex; what it finds is dispatched after K4, once it is counted awake again.
  epoll_event io_events[Reactor::kBatch];
  int io_ready = 0;
  bool asleep = false;
  if (!work_visible() && inbox_.try_block() == mailbox::BlockResult::kBlocked) {  // K2
    bump(parks_, 1);
    const std::int64_t trace_t0 = observer_->on() ? sched_.now() : 0;  // hooks.hpp
    const std::int64_t t0 = monotonic_ns();
    park_since_.store(t0, std::memory_order_relaxed);  // relaxed: see park_since_
    Reactor& r = sched_.reactor();
    // Z1 (asleep.hpp): the last worker to sleep with no timer sleeps for the grace period.
    const std::int64_t until = sched_.asleep().enter(id_, deadline);
    if (r.active() && r.try_take_poller(this)) {
      io_ready = r.wait_as_poller(parker_, until, io_events);  // K3, in epoll
    } else {
      parker_.wait(until);  // K3
    }
    // Z2..Z4, before the wake-up is consumed: the check reads this worker's word too.
    asleep = sched_.asleep().leave(id_, until, io_ready != 0 || parker_.woken());
    park_since_.store(0, std::memory_order_relaxed);
    bump(parked_ns_, monotonic_ns() - t0);
    if (trace_t0 != 0 && observer_->on()) [[unlikely]]
      observer_->park(id_, trace_t0, sched_.now());
    parker_.reset();             // consume the wake-up (relaxed: see Parker::reset)
    (void)inbox_.try_unblock();  // woken by a notify or a timer: reopen the inbox
    bump(wakeups_, 1);
  }
  searching_ = pool_.idle.finish_park(parker_);  // K4
  sched_.poke_side_threads();                    // D2 (tick_sleep.hpp)
  if (io_ready != 0) (void)sched_.reactor().dispatch(this, io_events, io_ready);
  if (asleep) [[unlikely]]
    sched_.asleep().report(id_);  // Z5, counted awake
}

void Worker::run(Carrier& c, Process* p) {
  const std::int32_t full = static_cast<std::int32_t>(sched_.options().reductions);
  std::int32_t* budget = c.budget();
  store_budget(budget, (inherit_ && slice_left_ > 0) ? slice_left_ : full);
  if (driver_ != nullptr) [[unlikely]]  // DS3: a seeded yield request (deterministic.hpp)
    store_budget(budget, driver_->slice_budget(load_budget(budget)));
  p->home = this;
  p->on_worker.store(id_, std::memory_order_relaxed);  // relaxed: see Process::on_worker
  c.set_current(p);
  if (!p->fiber.started()) {
    if (p->stack.lo == nullptr) [[unlikely]]
      rehydrate(p);  // H4: it hibernated (hibernate.hpp)
    p->fiber.start(p->stack.lo, p->stack.size, &process_entry, p);
  }
  for (;;) {
    bump(runs_, 1);
    slice_part_begin(load_budget(budget));  // reductions and trace (worker.hpp)
    // The fiber that comes back may be another one: processes hand the thread to each other
    // directly (try_direct_switch), and the carrier's current process follows them.
    p = static_cast<Process*>(p->fiber.resume(c.switch_point())->owner());
    if (c.lost() != nullptr) {  // kLost: the worker runs on another carrier now
      c.set_current(nullptr);
      return;
    }
    // What the part of the slice since the last direct switch spent, charged to p.
    slice_part_end(p, load_budget(budget));
    switch (p->reason) {
      case SwitchReason::kLost:  // handled above
        return;
      case SwitchReason::kExit:
        c.set_current(nullptr);
        finish(p);
        return;
      case SwitchReason::kHibernate:
        c.set_current(nullptr);
        slice_left_ = 0;
        hibernate(p);
        return;
      case SwitchReason::kYield:
        c.set_current(nullptr);
        slice_left_ = 0;
        push_back(p);
        notify();
        return;
      case SwitchReason::kMove: {
        c.set_current(nullptr);
        slice_left_ = 0;
        Worker& to = sched_.worker(p->move_target % sched_.worker_count());
        p->pool = &to.pool();  // a move may cross pools
        if (&to == this) {     // already here: still not for thieves
          p->pinned = false;
          push_pinned(p);
        } else {
          to.remote_wake(p);
        }
        return;
      }
      case SwitchReason::kBlock: {
        slice_left_ = load_budget(budget);
        // relaxed: the switch ordered the process's store before this (Process::deadline).
        const std::int64_t deadline = p->deadline.load(std::memory_order_relaxed);
        if (deadline != kNoDeadline) {
          // Even a deadline already due is armed (no clock read here): the wheel files it in
          // its current bucket and the next expire fires it.
          p->timer_owner = this;
          timers_.add(p, deadline);
          if (p->cls() != 0) [[unlikely]]
            classed_timers_ = true;
        }
        c.set_current(nullptr);
        // After a successful block another thread may wake and resume p at once: from here
        // on, p is not ours to touch.
        if (p->mailbox.try_block() == mailbox::BlockResult::kBlocked) return;
        if (p->timer_owner != nullptr) disarm_timer(p);
        if (slice_left_ <= 0) {
          push_back(p);
          notify();
          return;
        }
        c.set_current(p);
        continue;  // a message slipped in: run it again at once
      }
    }
  }
}

void Worker::complete_block(void* arg) noexcept {
  // On the next process's stack, on the same thread; the previous process's context is saved.
  auto* prev = static_cast<Process*>(arg);
  // relaxed: prev wrote it on this thread before the switch (Process::deadline).
  if (prev->deadline.load(std::memory_order_relaxed) != kNoDeadline) [[unlikely]] {
    complete_timed_block(prev);
    return;
  }
  if (prev->mailbox.try_block() == mailbox::BlockResult::kBlocked) return;
  // A message slipped in: it is runnable again, next after the process now running.
  current_worker()->make_runnable(prev, true);
}

// complete_block for a receive with a timeout: its timer is armed before the block, as run()'s
// kBlock arms it, on this worker. Out of line so that the untimed block, pingpong's, pays one
// load and one branch for it.
[[gnu::noinline]] void Worker::complete_timed_block(Process* prev) noexcept {
  Worker* w = current_worker();
  prev->timer_owner = w;
  // relaxed: as in complete_block.
  w->timers_.add(prev, prev->deadline.load(std::memory_order_relaxed));
  if (prev->cls() != 0) [[unlikely]]
    w->classed_timers_ = true;  // see next_process
  if (prev->mailbox.try_block() == mailbox::BlockResult::kBlocked) return;
  w->disarm_timer(prev);
  w->make_runnable(prev, true);
}

void Worker::hibernate(Process* p) noexcept {
  // H3. Off the process's stack now: its pages go back to the kernel (the pool keeps touched
  // pages of an ordinary freed stack for reuse; a hibernated process must cost none), then the
  // stack goes back to the pool.
  p->fiber.destroy();
  (void)::madvise(p->stack.lo, p->stack.size, MADV_DONTNEED);
  sched_.stacks().release(p->stack, &stack_cache_);
  p->stack = Stack{};
  // Messages already waiting (in its cache: H1 fetched) wake it at once, as in Erlang; else it
  // parks, and the next push wakes it. (The worker acts for the process here, MpscInbox C2.)
  if (p->mailbox.head() == nullptr && p->mailbox.try_block() == mailbox::BlockResult::kBlocked) {
    return;
  }
  push_back(p);  // a message slipped in: it continues at once
  notify();
}

void Worker::rehydrate(Process* p) noexcept {
  // H4. The size it was spawned with (Process::stack_bytes, set at spawn).
  try {
    p->stack =
        sched_.stacks().acquire(p->stack_bytes.load(std::memory_order_relaxed), &stack_cache_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ergon: no stack for hibernated process %s to continue on: %s\n",
                 p->pid().to_string().c_str(), e.what());
    std::abort();
  }
  // relaxed: see Process, "Observed".
  p->stack_top.store(reinterpret_cast<std::uintptr_t>(p->stack.lo) + p->stack.size,
                     std::memory_order_relaxed);
  p->waiting_in.store(nullptr, std::memory_order_relaxed);
}

void Worker::finish(Process* p) noexcept {
  // relaxed: see Process::registered.
  if (p->registered.exchange(false, std::memory_order_relaxed)) [[unlikely]] {
    if (Lifecycle* l = sched_.lifecycle()) l->unregister(p->pid());
  }
  if (p->cls() != 0) [[unlikely]] {
    // relaxed: statistic.
    if (TenantRec* t = p->tenant_rec()) t->live.fetch_sub(1, std::memory_order_relaxed);
    p->clear_class();  // a free record has no class (Scheduler::spawn_begin relies on it)
  }
  p->mailbox.close_and_clear();  // later sends fail with kClosed and are counted as dropped
  std::uint32_t g = p->generation.load(std::memory_order_relaxed) + 1;
  if (g == 0) g = 1;
  // release: pairs with the acquire in send_envelope: a sender that sees the new generation
  // also sees the closed mailbox.
  p->generation.store(g, std::memory_order_release);
  // Senders waiting for a slot find the pid dead once woken (bounded.hpp).
  if (p->mailbox.waiting_senders() != 0) [[unlikely]]
    wake_all_senders(p, this);
  p->fiber.destroy();
  sched_.stacks().release(p->stack, &stack_cache_);
  p->stack = Stack{};
  p->reset_signals(0);  // the record is private now
  p->home = nullptr;
  p->deadline.store(kNoDeadline, std::memory_order_relaxed);  // relaxed: the record is private
  // `sched` stays: a late send to this pid from outside the runtime is counted there.
  // release: a sweep that sees kFree does not touch the record further.
  p->state.store(ProcessState::kFree, std::memory_order_release);
  // release: pairs with the acquire in live(): the shutdown that sees this process gone has
  // seen everything it did (its last sends reach the injector, which stops right after).
  live_.store(live_.load(std::memory_order_relaxed) - 1, std::memory_order_release);
  free_records_.push_back(p);
  if (free_records_.size() > 2 * ProcessTable::kBatch) {
    ProcessTable::instance().give(free_records_.data() + ProcessTable::kBatch,
                                  ProcessTable::kBatch);
    free_records_.resize(ProcessTable::kBatch);
  }
}

namespace {

// The end of every process, once its function has ended (or, after an overflow, been
// abandoned), in process code: the closure goes, then its Downs, exit signals and nursery slot,
// and `why` gets the reason's text for the observer. Nothing here may throw, so no reduction
// point may crash it by fault injection. Inlined into both callers: out of line it costs a
// spawn-and-exit 37 instructions (bench/budget.py, spawn_exit), the reason and its text forced
// to memory.
[[gnu::always_inline]] inline void settle_end(Process* p, Scheduler& s, ExitReason& reason,
                                              ExitText& why) noexcept {
  p->stop_injecting_crashes();
  p->closure.destroy(p->closure.target);
  if (p->closure.on_heap) ::operator delete(p->closure.target);
  p->closure.target = nullptr;
  // Process code still: the end's sends work as from any process (hooks.hpp, Lifecycle).
  if (Lifecycle* l = s.lifecycle()) l->ending(p, reason);
  // Its sockets, after `exiting` is set (io_handle.hpp, "Ownership"): none for most processes.
  if (p->io_owned != nullptr) [[unlikely]]
    io_close_owned(p);
  if (s.observer().on()) [[unlikely]]
    s.observer().describe_exit(why, reason);
}

// The last switch, after settle_end (and after its reason is gone: it may own heap memory).
// Inlined as settle_end is.
[[noreturn, gnu::always_inline]] inline void leave_ended(Fiber* f, Process* p, Scheduler& s,
                                                         const ExitText& why) noexcept {
  Worker* w = current_carrier()->enter(p);  // E1/E2: may move p to the carrier of its worker
  if (Observer& o = s.observer(); o.on()) [[unlikely]]
    o.exit(w->id(), p->pid(), why, s.now());
  p->reason = SwitchReason::kExit;
  f->finish();
}

void process_entry(Fiber* f) noexcept {
  Process* p = static_cast<Process*>(f->owner());
  current_carrier()->leave();  // E3: process code from here
  // relaxed: a process's own scheduler was published to it before it first ran.
  Scheduler& s = *p->sched.load(std::memory_order_relaxed);
  // The exit reason, for the observer: its worker reports the exit after `reason` is gone.
  ExitText why = {};
  bool hibernating = false;
  Hibernate next{};  // the callable it continues in, when hibernating
  {                  // a scope: this function never returns, and `reason` may own heap memory
    ExitReason reason;
    // acquire: pairs with the release store of the shutdown sweep.
    if (!p->is_killed()) {
      try {
        p->closure.invoke(p->closure.target);
      } catch (const Hibernate& h) {  // H2: unwound for ergon::hibernate
        hibernating = true;
        next = h;
      } catch (const Shutdown&) {
        reason.kind = ExitReason::Kind::kShutdown;  // ended by the runtime: not a crash
      } catch (const ExitSignal& e) {               // ergon::exit(reason)
        reason = ExitReason{static_cast<ExitReason::Kind>(e.kind), e.what};
      } catch (const Interrupted&) {  // cannot happen: every interrupt has a nursery to reach
        constexpr const char* kWhat = "a nursery interrupt outside any nursery (an ergon bug)";
        s.report_crash(p, kWhat);
        reason = ExitReason{ExitReason::Kind::kException, kWhat};
      } catch (const std::exception& e) {
        s.report_crash(p, e.what());
        reason = ExitReason{ExitReason::Kind::kException, e.what()};
      } catch (...) {
        std::string what = foreign_exception_text();  // names its type
        s.report_crash(p, what);
        reason = ExitReason{ExitReason::Kind::kException, std::move(what)};
      }
    } else {
      reason.kind = ExitReason::Kind::kShutdown;
    }
    if (!hibernating) [[likely]]
      settle_end(p, s, reason, why);
  }
  // Outside every catch and scope: the switch leaves this stack for good.
  if (hibernating) [[unlikely]]
    leave_hibernated(f, p, next);
  leave_ended(f, p, s, why);
}

// The report of an overflow that ends the process alone: "<stack> KiB (...)". Throws only
// bad_alloc.
std::string overflow_text(const StackGuard::Overflow& o) {
  return "overflowed its stack of " + std::to_string(o.stack_size / 1024) +
         " KiB (a frame reached " + std::to_string((o.reach + 1023) / 1024) +
         " KiB below it, into its guard zone) and was ended alone with reason stack_overflow "
         "(Options::on_stack_overflow is end_process): nothing on its stack was destroyed. Give "
         "it a larger stack: SpawnOptions::stack_size for this spawn, or "
         "ergon::Options::stack_size / ERGON_STACK_SIZE for every process (for example " +
         std::to_string(o.suggested / 1024) + "K).";
}

}  // namespace

void overflow_entry(Fiber* f) noexcept {
  Process* p = static_cast<Process*>(f->owner());
  // First, before any switch: what the handler measured, on this thread (stack_guard.hpp).
  const StackGuard::Overflow o = StackGuard::last_overflow();
  // Still process code (E3 held at the fault). Inside ergon::blocking, take a worker back
  // first, as the call's end would have (one blocking_end per nesting level).
  while (current_carrier()->in_blocking()) blocking_end();
  // relaxed: a process's own scheduler was published to it before it first ran.
  Scheduler& s = *p->sched.load(std::memory_order_relaxed);
  try {
    s.report_overflow(p, overflow_text(o));
  } catch (...) {  // no memory for the text: the bare reason still says what
    s.report_overflow(p, "overflowed its stack");
  }
  ExitText why = {};
  {  // a scope, as in process_entry: `reason` is gone before the last switch
    ExitReason reason = ExitReason::stack_overflow();
    settle_end(p, s, reason, why);
  }
  leave_ended(f, p, s, why);
}

}  // namespace ergon::detail
