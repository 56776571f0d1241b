// Worker::try_direct_switch: a blocking process hands its thread straight to the process in
// runnext, without the worker's loop in between (worker.hpp says when it applies).
//
// Design
// ------
// The switch of every request/reply pair: the caller blocks in receive right after its send
// made the server runnable, so runnext holds the server and the thread goes to it directly.
// Defined inline for its one caller, wait() (core/switches.cpp), so that the blocking receive
// saves its registers once rather than once per nested call (docs/benchmarks.md, issue 15).
// The block itself completes on the next process's stack (Worker::complete_block), after
// the previous process's context is saved: before that, another thread could resume it.
//
// Rejected: defining it in worker.cpp (a call and six saved registers per switch, 16
// instructions per pingpong round trip); inlining it into worker.hpp (it needs the Scheduler's
// options, and worker.hpp sits below scheduler.hpp).
#pragma once

#include "core/scheduler.hpp"
#include "core/worker.hpp"

namespace ergon::detail {

[[gnu::always_inline]] inline bool Worker::try_direct_switch(Carrier& c, Process* p) noexcept {
  Process* next = runnext_;
  if (next == nullptr || !next->fiber.started()) return false;
  if (driver_ != nullptr && driver_->skip_runnext()) return false;  // seeded (deterministic.hpp)
  runnext_ = nullptr;
  std::int32_t* budget = c.budget();
  slice_left_ = load_budget(budget);
  slice_part_end(p, slice_left_);  // reductions and trace (worker.hpp)
  if (slice_left_ <= 0)
    store_budget(budget, static_cast<std::int32_t>(sched_.options().reductions));
  slice_part_begin(load_budget(budget));
  next->home = this;
  next->on_worker.store(id_, std::memory_order_relaxed);  // relaxed: see Process::on_worker
  c.set_current(next);
  bump(runs_, 1);
  p->fiber.switch_to(next->fiber, &Worker::complete_block, p);
  return true;  // p runs again, maybe on another worker: `this` is not p's worker any more
}

}  // namespace ergon::detail
