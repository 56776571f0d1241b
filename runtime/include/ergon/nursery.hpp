// Nurseries: structured concurrency. A group of processes that lives and dies as a unit.
//
//   int total = ergon::nursery([](ergon::Nursery& n) {
//     ergon::Child<int> a = n.spawn([] { return count("a"); });
//     ergon::Child<int> b = n.spawn([] { return count("b"); });
//     return a.get() + b.get();          // get() waits for that child
//   });                                   // returns only when every child has ended
//
// The rules (Trio's nurseries, on Erlang-style processes):
//   - nursery(body) runs body(n) in the calling process and returns (body's value) only when
//     every child spawned into n has ended. Children cannot outlive the scope.
//   - If a child fails (an exception escapes it, it calls ergon::exit with a reason that is
//     not normal, or something other than its nursery kills it), the owner is interrupted at
//     its next blocking call, yield or slice end, the other children are cancelled, and once
//     all of them have ended nursery() rethrows the first failure: the child's own exception,
//     or ChildFailed for the other two cases.
//   - If body throws, or the owner is killed (an exit signal, the runtime's end), the children
//     are cancelled, waited for, and the exception goes on.
//   - Cancelling a child sends it a kill exit signal: it ends at its next blocking call,
//     yield or slice end, its stack unwinds and its own nurseries cancel their children.
//     n.cancel() cancels every child; the scope then returns normally.
//   - Nurseries nest, in one process and across processes.
//   - A child is an ordinary process: it can be linked, monitored, registered; its exit
//     reason is what its monitors see (killed when cancelled).
//
// A nursery belongs to the process that opened it: only that process may spawn into it or
// wait on its children. A failure's what() is also the child's exit reason; the uncaught-exception
// report (Options::on_crash) is not made for a nursery child, whose owner gets the exception.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ergon/detail/api.hpp"
#include "ergon/errors.hpp"
#include "ergon/monitor.hpp"
#include "ergon/options.hpp"
#include "ergon/pid.hpp"

namespace ergon {

// A nursery child ended by something other than an exception: ergon::exit with a reason that
// is not normal, or a kill that did not come from its nursery. Also what Child::get throws for
// a child that was cancelled or gave no value.
class ChildFailed : public Error {
 public:
  ChildFailed(Pid pid, ExitReason reason, const std::string& what)
      : Error(what), pid_(pid), reason_(std::move(reason)) {}
  Pid pid() const noexcept { return pid_; }
  const ExitReason& reason() const noexcept { return reason_; }

 private:
  Pid pid_;
  ExitReason reason_;
};

class Nursery;

namespace detail {

// What a nursery child left behind. Written by the child before its end; its closure's
// destruction pushes the slot on the nursery's list of ended children (release), which orders
// those writes before the owner's reads (acquire).
struct ChildSlot {
  enum class State : std::uint8_t { kPending, kDone, kFailed, kCancelled };
  State state = State::kPending;
  ExitReason reason;         // kFailed / kCancelled: the child's exit reason
  std::exception_ptr error;  // kFailed: what the owner rethrows
  Pid pid;                   // set by the owner after the spawn
  // Its nursery: read by the child while it runs, cleared by the owner at the close (after
  // the child's end), after which Child::get does not wait.
  Nursery* nursery = nullptr;
  ChildSlot* next_ended = nullptr;  // link in the nursery's list of ended children
  bool ended = false;               // the owner only: it has taken the child's end
  bool taken = false;               // Child::get has run (it moves the value out)
};

template <class T>
struct ValueSlot : ChildSlot {
  std::optional<T> value;
};
template <>
struct ValueSlot<void> : ChildSlot {};

// Out of line (nursery.cpp).
// The child's end (from its closure's destructor): arranges nursery_report_end(slot) as the
// process's last act, which tells the owner.
void nursery_child_ended(Nursery* n, ChildSlot* slot) noexcept;
void nursery_report_end(void* slot) noexcept;
// The child failed: records the failure (the first one wins) and interrupts the owner.
void nursery_child_failed(Nursery* n, ChildSlot& slot, std::exception_ptr error,
                          ExitReason reason) noexcept;
// The reason of the kill that is ending the calling process (killed, or shutdown).
ExitReason current_kill_reason();
// The exit reason for an exception: "exception: <what()>".
ExitReason reason_of(const std::exception_ptr& e);

// Sends the owner its wake-up when the child's closure is destroyed, which happens exactly
// once per process whether or not the closure ever ran (a child killed before it starts).
// Only the copy in the process's closure storage is armed.
class EndReporter {
 public:
  EndReporter(Nursery* n, ChildSlot* slot) noexcept : n_(n), slot_(slot) {}
  EndReporter(EndReporter&& o) noexcept : n_(o.n_), slot_(o.slot_), armed_(true) {}
  EndReporter(const EndReporter&) = delete;
  EndReporter& operator=(const EndReporter&) = delete;
  ~EndReporter() {
    if (armed_) nursery_child_ended(n_, slot_);
  }

 private:
  Nursery* n_;
  ChildSlot* slot_;
  bool armed_ = false;
};

// The closure of a nursery child.
template <class R, class Fn>
struct ChildBody {
  std::shared_ptr<ValueSlot<R>> slot;
  EndReporter reporter;
  Fn fn;

  void operator()() {
    ChildSlot& s = *slot;
    try {
      if constexpr (std::is_void_v<R>) {
        fn();
      } else {
        slot->value.emplace(fn());
      }
      s.state = ChildSlot::State::kDone;
    } catch (const Shutdown&) {  // cancelled by its nursery, killed, or the runtime's end
      s.state = ChildSlot::State::kCancelled;
      s.reason = current_kill_reason();
      throw;
    } catch (const ExitSignal& e) {  // ergon::exit(reason)
      ExitReason r{static_cast<ExitReason::Kind>(e.kind), e.what};
      if (r.normal()) {
        s.state = ChildSlot::State::kDone;
      } else {
        nursery_child_failed(s.nursery, s, nullptr, r);
      }
      throw;
    } catch (...) {
      std::exception_ptr error = std::current_exception();
      ExitReason r = reason_of(error);
      nursery_child_failed(s.nursery, s, error, r);
      // The process ends with the exception's reason, without the uncaught-exception report:
      // the owner gets the exception.
      throw ExitSignal{static_cast<int>(r.kind), std::move(r.what)};
    }
  }
};

}  // namespace detail

// The result of one nursery child.
template <class T>
class Child {
 public:
  Child() = default;
  Pid pid() const noexcept { return slot_ ? slot_->pid : Pid{}; }
  // True once the owner has been told that the child ended (always, after the scope).
  bool done() const noexcept { return slot_ && slot_->ended; }
  // The child's value (T = void: nothing), moved out: call it once (a second call throws
  // Error). Inside the scope it
  // waits for the child (the owner only); after the scope the child has ended. Throws the
  // child's exception if it failed, ChildFailed if it was cancelled or ended without a value.
  T get();

 private:
  friend class Nursery;
  explicit Child(std::shared_ptr<detail::ValueSlot<T>> s) : slot_(std::move(s)) {}
  std::shared_ptr<detail::ValueSlot<T>> slot_;
};

class Nursery {
 public:
  Nursery(const Nursery&) = delete;
  Nursery& operator=(const Nursery&) = delete;

  // Spawns `fn` (no arguments; its return value is the child's value) as a child. Owner only.
  template <class F>
  auto spawn(F&& fn, SpawnOptions opts = {}) {
    using Fn = std::decay_t<F>;
    static_assert(std::is_invocable_v<Fn&>, "Nursery::spawn takes a callable with no arguments");
    using R = std::invoke_result_t<Fn&>;
    check_owner("ergon::Nursery::spawn");
    auto slot = std::make_shared<detail::ValueSlot<R>>();
    slot->nursery = this;
    children_.reserve(children_.size() + 1);  // adopt() must not throw once the child runs
    detail::ChildBody<R, Fn> body{slot, detail::EndReporter(this, slot.get()), std::forward<F>(fn)};
    const Pid pid = detail::spawn_into(nullptr, std::move(body), opts);
    adopt(slot, pid);
    return Child<R>(std::move(slot));
  }

  // Cancels every child; the scope returns normally once they have ended (unless one failed
  // first). Owner only.
  void cancel();
  // Children that have not ended yet (as far as the owner has been told).
  std::size_t running() const noexcept { return running_; }
  // The process that owns the nursery.
  Pid owner() const noexcept { return owner_pid_; }

  // For nursery() and Child (the runtime's side; not for programs).
  explicit Nursery(detail::Process* owner);
  ~Nursery();
  // Ends the scope: cancels if needed, waits for every child, then rethrows what must be
  // rethrown (`body_error`, a child's failure, the owner's kill).
  void close(std::exception_ptr body_error);
  void await(detail::ChildSlot& slot);

 private:
  friend void detail::nursery_report_end(void*) noexcept;
  friend void detail::nursery_child_failed(Nursery*, detail::ChildSlot&, std::exception_ptr,
                                           ExitReason) noexcept;
  void check_owner(const char* what) const;
  void adopt(std::shared_ptr<detail::ChildSlot> slot, Pid pid) noexcept;
  void collect_ends();  // takes the list of ended children
  void wait_once();     // parks until a child ends (or any other wake-up)

  detail::Process* owner_;
  Pid owner_pid_;
  Nursery* outer_;  // the owner's enclosing nursery
  std::vector<std::shared_ptr<detail::ChildSlot>> children_;

  std::size_t running_ = 0;
  bool cancelled_ = false;
  // Set by the first child that fails (exchange, acq_rel): with it, that child owns
  // `failure_`, which the owner reads only after every child has ended.
  std::atomic<bool> failed_{false};
  std::exception_ptr failure_;
  // Children push their slot here as they end (release CAS); the owner takes the whole list
  // (acquire exchange). A Treiber push with a take-all pop: no ABA.
  std::atomic<detail::ChildSlot*> ended_{nullptr};
};

// Runs body(n) with a fresh nursery `n` in the calling process; see the top. Returns what
// body returns. Throws NotInProcess outside a process.
template <class F>
auto nursery(F&& body) {
  using R = std::invoke_result_t<F&, Nursery&>;
  Nursery n(detail::current_process_or_throw("ergon::nursery"));
  std::exception_ptr error;
  if constexpr (std::is_void_v<R>) {
    try {
      body(n);
    } catch (...) {
      error = std::current_exception();
    }
    n.close(std::move(error));
  } else {
    std::optional<R> result;
    try {
      result.emplace(body(n));
    } catch (...) {
      error = std::current_exception();
    }
    n.close(std::move(error));
    return std::move(*result);
  }
}

template <class T>
T Child<T>::get() {
  if (!slot_) throw Error("ergon::Child::get: an empty Child (default-constructed or moved from)");
  if (slot_->taken) {
    throw Error("ergon::Child::get: called twice for process " + slot_->pid.to_string() +
                "; the first call moved the value out: keep it in a variable");
  }
  slot_->taken = true;
  if (slot_->nursery != nullptr) slot_->nursery->await(*slot_);
  switch (slot_->state) {
    case detail::ChildSlot::State::kDone:
      if constexpr (std::is_void_v<T>) {
        return;
      } else {
        if (slot_->value) return std::move(*slot_->value);
        throw ChildFailed(slot_->pid, ExitReason{},
                          "ergon::Child::get: process " + slot_->pid.to_string() +
                              " ended by ergon::exit(normal) without a value");
      }
    case detail::ChildSlot::State::kFailed:
      if (slot_->error) std::rethrow_exception(slot_->error);
      [[fallthrough]];
    default:
      throw ChildFailed(slot_->pid, slot_->reason,
                        "ergon::Child::get: process " + slot_->pid.to_string() + " ended (" +
                            slot_->reason.to_string() + ") without a value");
  }
}

}  // namespace ergon
