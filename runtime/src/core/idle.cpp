// Idle: the park / notify protocol. See idle.hpp for the steps (K1..K4, N1..N3, A1).
#include "core/idle.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/reactor.hpp"
#include "core/worker.hpp"

namespace ergon::detail {

Idle::Idle(unsigned workers) noexcept
    : workers_(workers), state_(std::uint64_t{workers} * kUnparkedOne), parkers_(workers) {
  sleepers_.reserve(workers);
}

Parker& Idle::attach(unsigned slot, const Worker& w) noexcept {
  Parker& p = parkers_[slot];
  p.worker_ = &w;
  return p;
}

unsigned Idle::searching() const noexcept {
  return static_cast<unsigned>(state_.load(std::memory_order_relaxed) & 0xffffffffu);
}
unsigned Idle::unparked() const noexcept {
  return static_cast<unsigned>(state_.load(std::memory_order_relaxed) >> 32);
}

unsigned Idle::unparked_seq_cst() const noexcept {
  // seq_cst: D1 of the watchdog's sleep (watchdog.hpp).
  return static_cast<unsigned>(state_.load(std::memory_order_seq_cst) >> 32);
}

bool Idle::try_begin_search() noexcept {
  // relaxed: the CAS re-validates; searching is a throttle, not a correctness condition.
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t searching = s & 0xffffffffu;
    // At most half of the workers search (one, when there are one or two workers).
    if (searching >= std::max(1u, workers_ / 2)) return false;
    // seq_cst: searchers are part of N2's decision ("someone searches, it will see the work").
    if (state_.compare_exchange_weak(s, s + kSearchOne, std::memory_order_seq_cst,
                                     std::memory_order_relaxed)) {
      return true;
    }
  }
}

bool Idle::end_search() noexcept {
  // seq_cst: as above; a pusher that saw us searching relies on our next look.
  std::uint64_t prev = state_.fetch_sub(kSearchOne, std::memory_order_seq_cst);
  return (prev & 0xffffffffu) == 1;
}

void Idle::prepare_park(Parker& p) {
  std::lock_guard<std::mutex> g(mu_);
  sleepers_.push_back(&p);
  p.in_sleepers_ = true;
  p.woken_searching_ = false;
  // seq_cst: K1, the store side of the store-load pair with N1/N2 (see idle.hpp).
  state_.fetch_sub(kUnparkedOne, std::memory_order_seq_cst);
}

bool Idle::remove_sleeper(Parker& p) {
  if (!p.in_sleepers_) return false;
  sleepers_.erase(std::find(sleepers_.begin(), sleepers_.end(), &p));
  p.in_sleepers_ = false;
  // seq_cst: the worker is back; pushers may skip waking others.
  state_.fetch_add(kUnparkedOne, std::memory_order_seq_cst);
  return true;
}

bool Idle::finish_park(Parker& p) {
  std::lock_guard<std::mutex> g(mu_);
  if (remove_sleeper(p)) return false;
  bool searching = p.woken_searching_;
  p.woken_searching_ = false;
  return searching;
}

void Idle::notify_one() {
  // seq_cst: N2, the load side of the store-load pair (see idle.hpp).
  std::uint64_t s = state_.load(std::memory_order_seq_cst);
  if ((s & 0xffffffffu) != 0 || (s >> 32) == workers_) return;
  Parker* p = nullptr;
  {
    std::lock_guard<std::mutex> g(mu_);
    // Re-check under the lock: another notifier may have woken a searcher already.
    s = state_.load(std::memory_order_seq_cst);
    if ((s & 0xffffffffu) != 0) return;
    // The newest sleeper that is in play: a worker compacted away takes no shared work.
    auto it = std::find_if(sleepers_.rbegin(), sleepers_.rend(),
                           [](const Parker* x) { return !x->worker_->inactive(); });
    if (it == sleepers_.rend()) return;
    p = *it;
    sleepers_.erase(std::next(it).base());
    p->in_sleepers_ = false;
    p->woken_searching_ = true;
    // seq_cst: N3, counts it unparked and searching before it runs.
    state_.fetch_add(kUnparkedOne + kSearchOne, std::memory_order_seq_cst);
  }
  p->wake();
}

void Idle::unpark(Parker& p) {
  {
    std::lock_guard<std::mutex> g(mu_);
    (void)remove_sleeper(p);
  }
  p.wake();
}

void Idle::unpark_all() {
  std::vector<Parker*> all;
  {
    std::lock_guard<std::mutex> g(mu_);
    all.swap(sleepers_);
    for (Parker* p : all) {
      p->in_sleepers_ = false;
      state_.fetch_add(kUnparkedOne, std::memory_order_seq_cst);  // seq_cst: as above
    }
  }
  for (Parker* p : all) p->wake();
}

void Parker::wake() noexcept {
  // seq_cst: B2 (reactor.hpp), the store side of the pair with the parker's B1 load; also the
  // release that futex_wait's acquire pairs with (what the waker published).
  word_.store(1, std::memory_order_seq_cst);
  if (Reactor* r = polling_.load(std::memory_order_seq_cst)) {  // seq_cst: B2's load
    r->kick();
    return;
  }
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word_), FUTEX_WAKE_PRIVATE, 1, nullptr,
            nullptr, 0);
}

void futex_wait(std::atomic<std::uint32_t>& word, std::int64_t deadline_ns) noexcept {
  // acquire: pairs with the release store in futex_wake (what the waker published).
  if (word.load(std::memory_order_acquire) != 0) return;
  if (deadline_ns == INT64_MAX) {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, 0, nullptr,
              nullptr, 0);
    return;
  }
  timespec ts;
  ts.tv_sec = static_cast<time_t>(deadline_ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(deadline_ns % 1'000'000'000);
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline: no clock read here.
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_BITSET_PRIVATE, 0, &ts,
            nullptr, FUTEX_BITSET_MATCH_ANY);
}

void futex_wake(std::atomic<std::uint32_t>& word) noexcept {
  // release: publishes the waker's writes (e.g. the sleeper's removal) to the woken worker.
  word.store(1, std::memory_order_release);
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr,
            nullptr, 0);
}

}  // namespace ergon::detail
