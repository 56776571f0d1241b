// Idle: which workers search for work, which sleep, and how to wake one without losing it.
//
// Design (after Go's proc.go and Tokio's idle.rs)
// ------
// `state_` packs two counts: workers searching for work (stealing) and workers not parked.
// A worker that runs out of local work may search only while fewer than half of the workers
// search, so an under-loaded runtime never spins more than half its cores; the others park on
// a futex at once. An idle runtime therefore costs nothing but the timers it has to serve.
// There is one Idle per pool (worker_pool.hpp): a worker searches, wakes and is woken only
// within its pool.
//
// What other threads touch of a sleeping worker (its futex word, whether it is in `sleepers_`,
// whether it was woken to search) is a Parker, one per worker of the pool, owned by Idle and
// guarded by its lock (the word aside); the worker holds a reference to its own. Rejected:
// those fields in Worker, with Idle a friend reaching into it.
//
// Park, in named steps (worker W):
//   K1 W registers in `sleepers_` and decrements the unparked count (seq_cst RMW).
//   K2 W re-checks every place work can appear: the global queue, every local run queue
//      (seq_cst loads), and blocks its own inbox (try_block). Anything found: cancel, go on.
//   K3 W sleeps on its parker's futex word until it is set, or until its next timer is due.
//   K4 W leaves `sleepers_` if nobody removed it, and learns whether it was woken to search.
// Notify, after pushing work that any worker may take (spawn, yield, overflow):
//   N1 the pusher publishes the work (a seq_cst store or RMW; see run_queue.hpp).
//   N2 it loads `state_` (seq_cst). If some worker searches, or none is parked, it stops:
//      the searcher (or the busy workers) will see the work.
//   N3 otherwise, under the lock, it takes the newest sleeper that is active (not compacted
//      away, worker_pool.hpp), counts it as unparked and searching, and sets and wakes its
//      futex word. With only inactive sleepers it wakes nobody: the work is for the active
//      workers, all awake, and a backlog makes the balancer activate more.
// Wake a particular worker (its inbox got a process; the push reported the worker blocked):
//   A1 under the lock, remove it from `sleepers_` if present; set and wake its futex word.
//
// Why nothing is lost: N1 < N2 and K1 < K2 are store-load pairs on seq_cst operations, so in
// their single total order either the pusher sees the parked count (and wakes someone) or the
// parking worker sees the work (and does not sleep). A searcher that finds work and was the
// last searcher calls notify (Go's "last spinner wakes another"), so a burst of work spreads.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace ergon::detail {

class Worker;
class Reactor;

// A futex word (a Parker's, TickSleep's): 0 = no wake-up pending, 1 = woken.
void futex_wait(std::atomic<std::uint32_t>& word, std::int64_t deadline_ns) noexcept;
void futex_wake(std::atomic<std::uint32_t>& word) noexcept;

// The parking state of one worker: the part of it that other threads touch to put it to sleep
// and wake it. Idle owns one per worker of its pool (attach()); the worker holds a reference.
class Parker {
 public:
  // K3, the owner worker only: sleeps until the word is set or `deadline_ns` passes.
  void wait(std::int64_t deadline_ns) noexcept { futex_wait(word_, deadline_ns); }
  // The owner worker only, after K3: consumes the wake-up.
  void reset() noexcept {
    // relaxed: only the owner resets the word; a waker's store after this is a new wake-up.
    word_.store(0, std::memory_order_relaxed);
  }
  // Any thread: whether a wake-up is pending (the word is set). seq_cst: Z3a of asleep.hpp,
  // the partner of wake()'s seq_cst store.
  bool woken() const noexcept { return word_.load(std::memory_order_seq_cst) != 0; }
  // Any thread: sets the word and wakes the owner (N3, A1, and the scheduler's shutdown):
  // through the reactor's eventfd when the owner blocks in epoll (B2 of reactor.hpp), else
  // through its futex.
  void wake() noexcept;

 private:
  friend class Idle;
  friend class Reactor;

  // Set to 1 by a waker (futex_wake's release store, which pairs with the acquire load in the
  // owner's futex_wait), reset to 0 by the owner (reset()).
  std::atomic<std::uint32_t> word_{0};
  // The reactor whose epoll_wait the owner blocks in (R2 of reactor.hpp), or nullptr. Written
  // by the owner (seq_cst: B1), read by wakers (seq_cst: B2).
  std::atomic<Reactor*> polling_{nullptr};
  bool in_sleepers_ = false;        // guarded by Idle::mu_
  bool woken_searching_ = false;    // guarded by Idle::mu_
  const Worker* worker_ = nullptr;  // the owner; set by Idle::attach before the threads start
};

class Idle {
 public:
  explicit Idle(unsigned workers) noexcept;

  // The parker of the `slot`-th worker of the pool, now owned by `w`. Once per worker, by
  // its constructor, before any thread runs.
  [[nodiscard]] Parker& attach(unsigned slot, const Worker& w) noexcept;

  [[nodiscard]] bool try_begin_search() noexcept;
  // Returns true if the caller was the last searcher.
  [[nodiscard]] bool end_search() noexcept;

  void prepare_park(Parker& p);               // K1
  [[nodiscard]] bool finish_park(Parker& p);  // K4: true if woken as a searcher
  void notify_one();                          // N2..N3
  void unpark(Parker& p);                     // A1
  void unpark_all();

  unsigned searching() const noexcept;
  unsigned unparked() const noexcept;
  unsigned unparked_seq_cst() const noexcept;  // for the watchdog's D1 (watchdog.hpp)

 private:
  bool remove_sleeper(Parker& p);  // requires mu_; true if `p` was a sleeper
  static constexpr std::uint64_t kSearchOne = 1;
  static constexpr std::uint64_t kUnparkedOne = std::uint64_t{1} << 32;

  const unsigned workers_;
  // Low 32 bits: searching workers; high 32 bits: unparked workers. See the protocol above.
  std::atomic<std::uint64_t> state_;
  std::mutex mu_;
  std::vector<Parker> parkers_;    // one per worker of the pool, by slot; never resized
  std::vector<Parker*> sleepers_;  // guarded by mu_
};

}  // namespace ergon::detail
