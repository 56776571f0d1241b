// Runtime: the public handle of one System (system.hpp). See ergon/runtime.hpp for the API.
#include "ergon/runtime.hpp"

#include <cstdio>
#include <optional>
#include <string>

#include "api/shutdown.hpp"
#include "api/system.hpp"
#include "api/validate.hpp"
#include "core/process.hpp"
#include "ergon/errors.hpp"
#include "observe/process_info.hpp"

namespace ergon {

Runtime::Runtime(Options opts)
    : sys_(std::make_unique<detail::System>(detail::validated(std::move(opts)))) {}

Runtime::~Runtime() {
  if (sys_ == nullptr) return;
  // SD1..SD5, then SD7 if some process refuses to end: the System cannot be destroyed under
  // it (api/shutdown.hpp).
  std::optional<detail::Refusers> refusers = detail::end_all_processes(*sys_);
  if (!refusers) return;  // sys_'s destructor stops the threads (SD4)
  try {
    const std::string line =
        detail::stall_report(
            "ergon::Runtime::~Runtime", *sys_, *refusers,
            "The runtime is abandoned: it is not destroyed, so its threads, its memory and these "
            "processes stay until the program exits (ergon cannot stop a thread that never "
            "reaches a reduction point); the destructor returns.") +
        "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  } catch (...) {  // no memory for the report: abandon all the same
  }
  detail::abandon(std::move(sys_));
}

void Runtime::begin_run() {
  // acq_rel: the run before this one (on another thread, maybe) has ended.
  if (sys_->running.exchange(true, std::memory_order_acq_rel)) {
    throw Error(
        "ergon::Runtime::run: this runtime is already running a main process, called from "
        "another thread. A Runtime runs one main at a time: wait until that run() returns, or "
        "start more processes with Runtime::spawn from this thread.");
  }
}

void Runtime::end_run() noexcept {
  sys_->running.store(false, std::memory_order_release);  // release: pairs with begin_run
}

namespace detail {

std::exception_ptr main_killed_error() noexcept {
  Process* p = current_process();
  if (p == nullptr) return nullptr;
  p->sig_lock.lock();
  const bool by_signal = p->has_kill_reason;
  const ExitReason reason = by_signal ? p->kill_reason : ExitReason{};
  const Pid sender = p->kill_sender;
  p->sig_lock.unlock();
  if (!by_signal) return nullptr;
  try {
    const std::string why = reason.to_string();
    throw KilledBySignal(
        "ergon::Runtime::run: the main process " + p->pid().to_string() +
            " was ended by an exit signal from " + sender.to_string() + " with reason " + why +
            " (it was linked to that process, or that process called ergon::exit on it). To "
            "survive it, call ergon::trap_exits(true) in main and receive ergon::Exit messages.",
        sender.to_string(), why);
  } catch (...) {
    return std::current_exception();
  }
}

std::exception_ptr main_overflow_error() noexcept {
  Process* p = current_process();
  if (p == nullptr || !p->overflowed) return nullptr;
  try {
    // The main process has the runtime's default stack (run() spawns it without a size).
    const std::size_t kib = p->stack.size / 1024;
    throw StackOverflow(
        "ergon::Runtime::run: the main process " + p->pid().to_string() +
        " overflowed its stack of " + std::to_string(kib) +
        " KiB and was ended alone with reason stack_overflow (Options::on_stack_overflow is "
        "end_process): nothing on its stack was destroyed. Give it a larger stack: "
        "ergon::Options::stack_size / ERGON_STACK_SIZE (for example " +
        std::to_string(4 * kib) +
        "K), or run the deep work in a process spawned with "
        "SpawnOptions::stack_size.");
  } catch (...) {
    return std::current_exception();
  }
}

}  // namespace detail

void Runtime::run_main(Pid main, std::atomic<bool>& done, std::exception_ptr& error) {
  if (detail::current_process() != nullptr) {
    throw Error("ergon::Runtime::run was called from inside a process; spawn instead");
  }
  // relaxed: advisory figures of the asleep report (System::run_*).
  sys_->run_main.store(main.raw(), std::memory_order_relaxed);
  sys_->run_outside_sent.store(sys_->sched.external_sent.load(std::memory_order_relaxed),
                               std::memory_order_relaxed);
  sys_->run_outside_spawned.store(sys_->sched.external_spawned.load(std::memory_order_relaxed),
                                  std::memory_order_relaxed);
  static constexpr const char* kLeftRunning =
      "They are left running, still killed; ~Runtime waits for them again, then abandons "
      "them.";
  if (detail::Deterministic* det = sys_->det.get()) {
    // This thread runs every process (deterministic.hpp).
    if (det->run_until(done) == detail::Deterministic::Outcome::kDeadlock) {
      const std::string waiting =
          detail::waiting_lines(*sys_, detail::processes(sys_->sched, sys_->registry), main);
      std::string also;
      if (auto refusers = detail::end_all_processes(*sys_)) {
        also = "\n" + detail::stall_report("After the deadlock", *sys_, *refusers, kLeftRunning);
      }
      throw Deadlock("ergon deterministic run (seed " + std::to_string(det->seed()) +
                     "): deadlock. The main process has not ended, no process can run, and no "
                     "timer is armed: every process waits for a message that nobody will "
                     "send. ERGON_SEED=" +
                     std::to_string(det->seed()) + " replays it. Waiting:" + waiting + also);
    }
  } else {
    done.wait(false, std::memory_order_acquire);
  }
  std::optional<detail::Refusers> refusers = detail::end_all_processes(*sys_);  // SD1..SD5
  if (!refusers) return;
  // SD6.
  if (error) {
    const std::string line =
        detail::stall_report("ergon::Runtime::run", *sys_, *refusers,
                             "They are left running, still killed. run() throws the main "
                             "process's exception instead of ShutdownTimeout.") +
        "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    return;
  }
  // The message first: the pids move into the exception.
  std::string what = detail::stall_report("ergon::Runtime::run", *sys_, *refusers, kLeftRunning);
  throw ShutdownTimeout(what, std::move(refusers->pids));
}

Pool Runtime::pool(std::string_view name) const {
  return Pool::of_runtime(sys_->sched.pool_named(name).index, sys_->sched.id());
}

const Options& Runtime::options() const noexcept { return sys_->sched.options(); }
unsigned Runtime::workers() const noexcept { return sys_->sched.worker_count(); }
Stats Runtime::stats() const { return sys_->sched.stats(); }
std::uint64_t Runtime::seed() const noexcept { return sys_->sched.seed(); }
bool Runtime::deterministic() const noexcept { return sys_->det != nullptr; }

}  // namespace ergon
