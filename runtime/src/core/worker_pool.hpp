// WorkerPool: one named pool of workers (ergon::Pool) and the state its workers share.
//
// Design
// ------
// The workers of a runtime are split into pools of consecutive indices: [first, first+size).
// Each pool has its own policy, global queue and idle protocol (idle.hpp), so a worker only
// ever steals from, wakes, or takes global work of its own pool: a process spawned into a
// pool runs on that pool's workers until it moves (kMove). Messages cross pools freely; a
// woken process goes to the waker's worker only when the waker is in its pool (scheduler.hpp,
// W2), else to its own worker's inbox (W3).
//
// Compaction (balancer.hpp) keeps the workers [first, first+active) in play. The others are
// inactive: they take no global work, do not steal, are never picked by notify_one, and hand
// every process that becomes runnable on them to an active worker (Worker::forward).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "core/class_queue.hpp"
#include "core/global_queue.hpp"
#include "core/idle.hpp"
#include "ergon/options.hpp"

namespace ergon::detail {

class WorkerPool {
 public:
  WorkerPool(unsigned index, std::string name, unsigned first, unsigned size, Policy policy)
      : index(index),
        name(std::move(name)),
        first(first),
        size(size),
        policy(policy),
        idle(size),
        active_(size) {}

  const unsigned index;
  const std::string name;
  const unsigned first, size;
  const Policy policy;
  Idle idle;
  GlobalQueue global;
  ClassQueue classes;  // its processes with a priority or tenant (class_queue.hpp)

  // Idle workers steal from each other (Policy::kSteal, kBalanceSteal).
  bool steals() const noexcept { return policy != Policy::kBalance; }
  // The balancer migrates and compacts (Policy::kBalance, kBalanceSteal).
  bool balances() const noexcept { return policy != Policy::kSteal; }

  // Workers in play. Written by the balancer only; relaxed: a worker that reads a stale value
  // forwards a process to a worker that forwards it again, nothing is lost.
  unsigned active() const noexcept { return active_.load(std::memory_order_relaxed); }
  void set_active(unsigned n) noexcept { active_.store(n, std::memory_order_relaxed); }

  // Statistics, written by the balancer only. relaxed: counters.
  std::atomic<std::uint64_t> balance_rounds{0}, expansions{0}, contractions{0};

 private:
  std::atomic<unsigned> active_;
};

}  // namespace ergon::detail
