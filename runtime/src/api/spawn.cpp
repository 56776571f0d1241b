// The spawn entry points behind ergon::spawn and Runtime::spawn (ergon/detail/api.hpp), and
// the small accessors the public templates use.
#include "api/system.hpp"
#include "core/in_runtime.hpp"
#include "ergon/ergon.hpp"

namespace ergon::detail {

Scheduler* scheduler_of(Runtime& rt) noexcept { return &rt.sys_->sched; }
mailbox::Mailbox& mailbox_of(Process* p) noexcept { return p->mailbox; }
std::uint32_t generation_of(Process* p) noexcept { return p->pid().generation(); }
Pid pid_of(Process* p) noexcept { return p->pid(); }

Process* spawn_begin(Scheduler* sched, const SpawnOptions& opts, Closure** closure) {
  InRuntime in;
  if (sched == nullptr) {
    Process* self = current_process_or_throw("ergon::spawn");
    sched = self->sched.load(std::memory_order_relaxed);
  }
  return sched->spawn_begin(opts, closure);
}

Pid spawn_commit(Process* p) {
  InRuntime in;
  // The record is not published yet, so nobody else reads sched: relaxed is enough.
  return p->sched.load(std::memory_order_relaxed)->spawn_commit(p);
}

void spawn_abort(Process* p) noexcept {
  InRuntime in;
  Scheduler* s = p->sched.load(std::memory_order_relaxed);
  if (s != nullptr) s->spawn_abort(p);
}

}  // namespace ergon::detail
