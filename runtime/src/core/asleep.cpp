// AsleepWatch: the last worker to park checks, once per idle episode, whether every process
// waits with nothing in the runtime that could wake it. See asleep.hpp for the steps (Z1..Z5).
#include "core/asleep.hpp"

#include "core/hooks.hpp"
#include "core/io_handle.hpp"
#include "core/process.hpp"
#include "core/process_table.hpp"
#include "core/scheduler.hpp"

namespace ergon::detail {

AsleepWatch::AsleepWatch(Scheduler& sched, unsigned workers, std::int64_t grace_ns)
    : sched_(sched),
      workers_(workers),
      grace_ns_(grace_ns),
      slots_(std::make_unique<Slot[]>(workers)) {}

std::uint64_t AsleepWatch::runs() const noexcept {
  std::uint64_t n = 0;
  for (unsigned i = 0; i < workers_; ++i) n += sched_.worker(i).processes_run();
  return n;
}

std::int64_t AsleepWatch::enter_slow(unsigned w) noexcept {
  Slot& me = slots_[w];
  // relaxed: only this worker writes its seq.
  const std::uint64_t mine = me.seq.load(std::memory_order_relaxed) + 1;
  me.seq.store(mine, std::memory_order_seq_cst);  // seq_cst: Z1's store (see asleep.hpp)
  std::uint64_t sum = mine;
  for (unsigned i = 0; i < workers_; ++i) {
    if (i == w) continue;
    // seq_cst: Z1's load, the partner of the other worker's Z1 store (and of its Z2 store).
    const std::uint64_t v = slots_[i].seq.load(std::memory_order_seq_cst);
    if ((v & 1) == 0) return INT64_MAX;  // awake, or it has a timer: it parks later
    sum += v;
  }
  // The slice counts, after the seq loads that acquired each worker's counts up to its park.
  const std::uint64_t r = runs();
  // relaxed: see verdict_runs_.
  if (r == verdict_runs_.load(std::memory_order_relaxed)) return INT64_MAX;  // Z4: looked at
  int none = -1;
  // relaxed: the role is all that passes (see detector_).
  if (!detector_.compare_exchange_strong(none, static_cast<int>(w), std::memory_order_relaxed))
    return INT64_MAX;  // another worker checks this episode
  me.detecting = true;
  me.seq_sum = sum;
  me.runs = r;
  const std::int64_t now = monotonic_ns();
  return grace_ns_ > INT64_MAX - now ? INT64_MAX - 1 : now + grace_ns_;
}

bool AsleepWatch::all_asleep(std::uint64_t seq_sum) const noexcept {
  std::uint64_t sum = 0;
  for (unsigned i = 0; i < workers_; ++i) {
    // seq_cst: Z3's load, the partner of the worker's Z2 store (it stores an even seq before
    // it runs anything).
    const std::uint64_t v = slots_[i].seq.load(std::memory_order_seq_cst);
    if ((v & 1) == 0) return false;
    sum += v;
    if (sched_.worker(i).parker().woken()) return false;  // a wake-up on its way
  }
  return sum == seq_sum;
}

std::size_t AsleepWatch::all_waiting() const noexcept {
  std::size_t waiting = 0;
  bool all = true;
  ProcessTable::instance().for_each([&](Process* p) {
    if (!all) return;
    // A cheap look first (acquire: pairs with spawn_commit's release store of the state).
    if (p->state.load(std::memory_order_acquire) != ProcessState::kAlive) return;
    if (p->sched.load(std::memory_order_relaxed) != &sched_) return;
    p->sig_lock.lock();
    // Again under the lock, which a spawn into the record needs too (process_info's PI2).
    // acquire: as above.
    if (p->state.load(std::memory_order_acquire) == ProcessState::kAlive &&
        p->sched.load(std::memory_order_relaxed) == &sched_) {
      if (p->exiting || !p->mailbox.blocked()) {
        all = false;
      } else {
        for (IoHandle* h = p->io_owned; h != nullptr; h = h->owned_next) {
          // acquire: pairs with the owner's and the pollers' RMWs on the slots (IW2, PE1) and
          // with the armer's store of the hook (PE2).
          if (h->rg.load(std::memory_order_acquire) > IoHandle::kReady ||
              h->wg.load(std::memory_order_acquire) > IoHandle::kReady ||
              h->on_readable.load(std::memory_order_acquire) != 0) {
            all = false;  // a socket event can wake it
            break;
          }
        }
        ++waiting;
      }
    }
    p->sig_lock.unlock();
  });
  return all ? waiting : 0;
}

bool AsleepWatch::leave_slow(unsigned w, std::int64_t until, bool woken) noexcept {
  Slot& me = slots_[w];
  bool asleep = false;
  if (me.detecting) {
    me.detecting = false;
    if (!woken && monotonic_ns() >= until && all_asleep(me.seq_sum)) {  // Z3a
      bool held = false;
      try {
        Injector* inj = sched_.injector();
        held = inj != nullptr && inj->next_due() != INT64_MAX;  // Z3b
      } catch (...) {  // the delay line's lock failed: take it as holding something
        held = true;
      }
      const std::size_t n = held ? 0 : all_waiting();             // Z3c
      if (all_asleep(me.seq_sum)) {                               // Z3d
        verdict_runs_.store(me.runs, std::memory_order_relaxed);  // Z4. relaxed: see there
        me.waiting = n;
        asleep = n != 0;
      }
    }
    detector_.store(-1, std::memory_order_relaxed);  // relaxed: see detector_
  }
  // relaxed: only this worker writes its seq.
  const std::uint64_t s = me.seq.load(std::memory_order_relaxed);
  if ((s & 1) != 0) me.seq.store(s + 1, std::memory_order_seq_cst);  // seq_cst: Z2's store
  return asleep;
}

void AsleepWatch::report(unsigned w) noexcept {
  if (hook_ != nullptr) hook_->asleep(slots_[w].waiting);  // Z5
}

}  // namespace ergon::detail
