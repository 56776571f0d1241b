// The calls a process makes about itself and its place (ergon/process.hpp, ergon/pool.hpp):
// yield, reduce, sleeping, which worker and pool it runs on, and moving.
#include <algorithm>
#include <string>

#include "core/in_runtime.hpp"
#include "core/scheduler.hpp"
#include "ergon/ergon.hpp"

namespace ergon {

void yield() {
  detail::Process* p = detail::current_process_or_throw("ergon::yield");
  detail::InRuntime in;
  detail::yield_process(p);
}

unsigned worker_id() {
  detail::current_process_or_throw("ergon::worker_id");
  return detail::current_worker()->id();
}

void move_to_worker(unsigned worker) {
  detail::Process* p = detail::current_process_or_throw("ergon::move_to_worker");
  {
    detail::InRuntime in;
    p->move_target = worker;
    p->pinned = true;  // the target takes it into runnext, where no thief can take it
    p->reason = detail::SwitchReason::kMove;
    p->fiber.suspend();
  }
  p->check_signals();
}

Pool pool(std::string_view name) {
  detail::Process* p = detail::current_process_or_throw("ergon::pool");
  detail::Scheduler* s = p->sched.load(std::memory_order_relaxed);
  return Pool::of_runtime(s->pool_named(name).index, s->id());
}

Pool current_pool() {
  detail::Process* p = detail::current_process_or_throw("ergon::current_pool");
  return Pool::of_runtime(p->pool->index, p->sched.load(std::memory_order_relaxed)->id());
}

std::string pool_name(Pool handle) {
  detail::Process* p = detail::current_process_or_throw("ergon::pool_name");
  return p->sched.load(std::memory_order_relaxed)->pool_of(handle, "ergon::pool_name").name;
}

void move_to(Pool handle) {
  detail::Process* p = detail::current_process_or_throw("ergon::move_to");
  detail::WorkerPool& to =
      p->sched.load(std::memory_order_relaxed)->pool_of(handle, "ergon::move_to");
  if (&to == p->pool) return;
  // Spread movers over the target's active workers by pid.
  move_to_worker(to.first + p->index % std::max(1u, to.active()));
}

void reduce(std::uint32_t n) {
  detail::charge(detail::current_process_or_throw("ergon::reduce"), n);
}

void sleep_until_ns(std::int64_t deadline_ns, const char* what) {
  detail::Process* p = detail::current_process_or_throw(what);
  if (detail::now_ns() >= deadline_ns) return;
  for (;;) {
    p->mailbox.fetch();  // messages stay in the mailbox; the inbox must be empty to block
    if (detail::wait(p, deadline_ns, "sleep")) return;  // its timer fired: no clock read
    if (detail::now_ns() >= deadline_ns) return;
  }
}

}  // namespace ergon
