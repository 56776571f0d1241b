// Runtime: owns the workers, the stacks and the processes of one ergon scheduler.
//
//   ergon::Runtime rt;                      // Options::from_env() applied
//   rt.run([] { ... the main process ... });
//
// run() spawns the main process, waits for it to return (or to fail), then ends every
// process still alive (each is unwound: its destructors run) and returns. The runtime can run
// another main process afterwards. The destructor ends the processes still alive and stops
// the workers. A process that refuses to end (no reduction point, or a catch (...) that
// swallows the kill) is waited for up to Options::shutdown_timeout without progress; then
// run() throws ShutdownTimeout naming it, and the destructor reports it to stderr and abandons
// the runtime (its threads and memory stay; docs/api.md, "Shutdown").
#pragma once

#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ergon/detail/api.hpp"
#include "ergon/options.hpp"
#include "ergon/pid.hpp"
#include "ergon/process_info.hpp"
#include "ergon/stats.hpp"

namespace ergon {

class Runtime {
 public:
  // Applies the ERGON_* environment on top of `opts`; throws ConfigError on bad values.
  explicit Runtime(Options opts = Options{});
  // Ends every process and stops the threads. If some process has not ended after
  // Options::shutdown_timeout without progress, prints which (pid, name, what it does) to
  // stderr and returns without destroying the runtime: its threads, memory and those
  // processes stay until the program exits.
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Runs `main_fn` as a process and returns when it has ended and every other process of this
  // runtime has been shut down. An exception that escapes `main_fn` is rethrown here. If some
  // process refuses to end (Options::shutdown_timeout passed with no process ending), throws
  // ShutdownTimeout naming each (after a main that failed: rethrows its exception and prints
  // the report to stderr). Call it from outside the runtime (not from one of its processes).
  template <class F>
  void run(F&& main_fn) {
    if (detail::current_process() != nullptr) {
      throw Error("ergon::Runtime::run was called from inside a process; use ergon::spawn there");
    }
    RunSlot slot(*this);  // throws Error while another thread's run() is in progress
    std::exception_ptr error;
    std::atomic<bool> done{false};
    // Tells run() that the main process has ended, from the destruction of its closure (it
    // lives in the closure, and only the copy there is armed): that comes once per process,
    // even for one whose body never finished because its stack overflowed and it was ended
    // alone (Options::on_stack_overflow), whose stack is never unwound.
    struct Done {
      std::atomic<bool>* flag;
      std::exception_ptr* error;
      Done(std::atomic<bool>& f, std::exception_ptr& e) noexcept : flag(&f), error(&e) {}
      Done(Done&& o) noexcept : flag(o.flag), error(o.error) { o.flag = nullptr; }
      Done(const Done&) = delete;
      Done& operator=(const Done&) = delete;
      ~Done() {
        if (flag == nullptr) return;
        if (std::exception_ptr e = detail::main_overflow_error()) *error = std::move(e);
        flag->store(true, std::memory_order_release);  // release: publishes `error`
        flag->notify_all();
      }
    };
    // faults = false: fault injection neither fails this spawn nor crashes the main process.
    Pid main = spawn(
        [&error, signal = Done{done, error}, fn = std::forward<F>(main_fn)]() mutable {
          try {
            fn();
          } catch (const detail::Shutdown&) {
            // Ended by an exit signal (then run() throws KilledBySignal), or by the shutdown.
            error = detail::main_killed_error();
            throw;
          } catch (...) {
            error = std::current_exception();
          }
        },
        SpawnOptions{.faults = false});
    run_main(main, done, error);  // throws ShutdownTimeout, or Deadlock
    if (error) std::rethrow_exception(error);
  }

  // Spawns a process from any thread, inside or outside the runtime.
  template <class F>
  Pid spawn(F&& fn, SpawnOptions opts = {}) {
    return detail::spawn_into(detail::scheduler_of(*this), std::forward<F>(fn), opts);
  }

  // The pool named `name` (Options::pools; "default" when none are given). Throws Error
  // listing the pools there are otherwise.
  Pool pool(std::string_view name) const;
  // Tenants from outside the runtime (ergon/tenant.hpp has the calls for processes): same
  // rules and errors.
  Tenant create_tenant(std::string_view name, std::uint32_t weight = kDefaultTenantWeight);
  Tenant tenant(std::string_view name) const;
  // Registered names from outside the runtime (ergon/registry.hpp has the calls for
  // processes): same rules and errors.
  void register_name(std::string name, Pid pid);
  Pid whereis(std::string_view name) const;
  const Options& options() const noexcept;
  unsigned workers() const noexcept;
  // A snapshot of the runtime's counters: cheap (no process is visited).
  Stats stats() const;
  // The seed of deterministic mode and fault injection: Options::seed (ERGON_SEED), or the
  // one drawn at start when that was 0.
  std::uint64_t seed() const noexcept;
  // Whether this runtime runs in deterministic mode (Options::deterministic): then run()
  // carries every process on the calling thread, and throws Deadlock when every process
  // waits for a message and no timer is armed.
  bool deterministic() const noexcept;
  // ergon/process_info.hpp, from any thread: one process of this runtime (std::nullopt when
  // `pid` names no live process), or every live process (walks the process table).
  std::optional<ProcessInfo> process_info(Pid pid) const;
  std::vector<ProcessInfo> processes() const;

 private:
  friend detail::Scheduler* detail::scheduler_of(Runtime&) noexcept;
  // Waits for `done`, then ends every process (api/shutdown.hpp, SD1..SD6). `error` is the
  // main process's exception, if any.
  void run_main(Pid main, std::atomic<bool>& done, std::exception_ptr& error);
  // One run() at a time: a second thread's call is an error, not a second main.
  void begin_run();
  void end_run() noexcept;
  struct RunSlot {
    explicit RunSlot(Runtime& rt) : rt_(rt) { rt_.begin_run(); }
    ~RunSlot() { rt_.end_run(); }
    RunSlot(const RunSlot&) = delete;
    RunSlot& operator=(const RunSlot&) = delete;
    Runtime& rt_;
  };
  std::unique_ptr<detail::System> sys_;  // the scheduler and its parts (runtime/src/api)
};

}  // namespace ergon
