// Runtime: the public handle of one System (system.hpp). See ergon/runtime.hpp for the API.
#include "ergon/runtime.hpp"

#include <string>

#include "api/system.hpp"
#include "api/validate.hpp"
#include "ergon/errors.hpp"

namespace ergon {

Runtime::Runtime(Options opts)
    : sys_(std::make_unique<detail::System>(detail::validated(std::move(opts)))) {}

Runtime::~Runtime() = default;

void Runtime::run_main(Pid main, std::atomic<bool>& done) {
  if (detail::current_process() != nullptr) {
    throw Error("ergon::Runtime::run was called from inside a process; spawn instead");
  }
  (void)main;
  if (detail::Deterministic* det = sys_->det.get()) {
    // This thread runs every process (deterministic.hpp).
    if (det->run_until(done) == detail::Deterministic::Outcome::kDeadlock) {
      const std::string waiting = det->describe_waiting(10);
      sys_->sched.kill_all_and_wait();
      throw Deadlock("ergon deterministic run (seed " + std::to_string(det->seed()) +
                     "): deadlock. The main process has not ended, no process can run, and no "
                     "timer is armed: every process waits for a message that nobody will "
                     "send. ERGON_SEED=" +
                     std::to_string(det->seed()) + " replays it. Waiting:" + waiting);
    }
  } else {
    done.wait(false, std::memory_order_acquire);
  }
  sys_->sched.kill_all_and_wait();
}

Pool Runtime::pool(std::string_view name) const {
  return Pool::from_index(sys_->sched.pool_named(name).index);
}

const Options& Runtime::options() const noexcept { return sys_->sched.options(); }
unsigned Runtime::workers() const noexcept { return sys_->sched.worker_count(); }
Stats Runtime::stats() const { return sys_->sched.stats(); }
std::uint64_t Runtime::seed() const noexcept { return sys_->sched.seed(); }
bool Runtime::deterministic() const noexcept { return sys_->det != nullptr; }

}  // namespace ergon
