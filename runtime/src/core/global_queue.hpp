// GlobalQueue: runnable processes that belong to no worker yet: spawns from threads outside
// the runtime, and the overflow of a full local run queue.
//
// A mutex and an intrusive FIFO through Process::link. It is off the hot paths (local queues
// take almost everything), so a lock is the simplest correct choice; `size_` lets workers skip
// the lock when it is empty.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>

#include "core/intrusive_fifo.hpp"
#include "core/process.hpp"

namespace ergon::detail {

class GlobalQueue {
 public:
  void push(Process* p) noexcept {
    std::lock_guard<std::mutex> g(mu_);
    append(p);
  }
  void push_batch(Process* const* ps, std::size_t n) noexcept {
    std::lock_guard<std::mutex> g(mu_);
    for (std::size_t i = 0; i < n; ++i) append(ps[i]);
  }
  Process* pop() noexcept {
    // relaxed: a hint; the lock below orders the real access.
    if (size_.load(std::memory_order_relaxed) == 0) return nullptr;
    std::lock_guard<std::mutex> g(mu_);
    Process* p = fifo_.pop();
    if (p == nullptr) return nullptr;
    // seq_cst: ordered like the store in append() (the parking re-check reads size_).
    size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_seq_cst);
    return p;
  }
  // seq_cst: the parking re-check's side of the store-load pairing (run_queue.hpp).
  std::size_t size_seq_cst() const noexcept { return size_.load(std::memory_order_seq_cst); }
  // relaxed: an advisory length for the balancer.
  std::size_t size_relaxed() const noexcept { return size_.load(std::memory_order_relaxed); }

 private:
  void append(Process* p) noexcept {  // requires mu_
    fifo_.push(p);
    // seq_cst: publishes the push before the pusher looks for sleepers (Idle::notify_one).
    size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
  }

  std::mutex mu_;
  IntrusiveFifo fifo_;                // guarded by mu_
  std::atomic<std::size_t> size_{0};  // written under mu_; read without it as a hint
};

}  // namespace ergon::detail
