// Nurseries: the owner's side of nursery.hpp (open, spawn bookkeeping, cancel, close) and
// the two things a child does for its nursery (report its failure, report its end).
//
// How the owner learns of children's ends. A child's closure is destroyed exactly once, when
// its process ends, whether or not it ever ran; the EndReporter in it arranges the process's
// last act (Process::at_end, after its Downs and exit signals): push the child's ChildSlot on
// the nursery's `ended_` list and notify the owner's mailbox (MpscInbox U2, so
// the wake-up cannot be lost between the owner's look at the list and its block). The owner
// takes the whole list when it looks. No message is sent: the owner's mailbox holds nothing
// of the nursery's, so its own receives never scan past them.
//
// How a failure reaches the owner. The failing child records it (the first one wins, by an
// exchange on failed_), sets the owner's `interrupt` flag and notifies it. (A child whose
// stack overflowed, ended alone, records its failure from its closure's destruction instead:
// its body, which does it for every other failure, never finished.) The owner throws
// Interrupted at its next switch (Process::check_signals); the innermost open nursery
// catches it. If the failure is not its own it cancels its children, waits for them and
// rethrows Interrupted outwards; the nursery whose child failed rethrows the failure.
//
// Lifetimes. The Nursery lives on the owner's stack and close() returns only after every
// child's end was taken, so a child may use its Nursery* until it pushes its slot; after the
// push it touches only the owner's process record (type-stable: a late notify is at worst a
// spurious wake-up) and its own slot (which its closure still owns).
#include "ergon/nursery.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "core/exception_text.hpp"
#include "core/process.hpp"
#include "core/scheduler.hpp"
#include "core/send.hpp"
#include "otp/link.hpp"

namespace ergon {
namespace detail {
namespace {

// Wakes `p` for a flag it reads after its next switch.
void notify_process(Process* p) noexcept {
  Scheduler* s = p->sched.load(std::memory_order_acquire);  // acquire: a published record
  if (s != nullptr && p->mailbox.notify()) wake_unblocked(s, p);
}

}  // namespace

ExitReason reason_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return ExitReason{ExitReason::Kind::kException, x.what()};
  } catch (...) {
    return ExitReason{ExitReason::Kind::kException, foreign_exception_text()};
  }
}

ExitReason current_kill_reason() {
  Process* p = current_process();
  ExitReason r{ExitReason::Kind::kShutdown, ""};
  if (p == nullptr) return r;
  p->sig_lock.lock();
  if (p->has_kill_reason) r = p->kill_reason;
  p->sig_lock.unlock();
  return r;
}

void nursery_child_failed(Nursery* n, ChildSlot& slot, std::exception_ptr error,
                          ExitReason reason) noexcept {
  const Pid self = pid_of(current_process());
  slot.state = ChildSlot::State::kFailed;
  slot.reason = reason;
  slot.error = error;
  // acq_rel: the winner alone writes failure_; the owner reads it after every child's end.
  if (!n->failed_.exchange(true, std::memory_order_acq_rel)) {
    try {
      n->failure_ = error ? error
                          : std::make_exception_ptr(
                                ChildFailed(self, reason,
                                            "ergon::nursery: child process " + self.to_string() +
                                                " ended with reason " + reason.to_string()));
    } catch (...) {  // no memory for the message: the error itself still says what
      n->failure_ = std::current_exception();
    }
  }
  Process* owner = n->owner_;
  // release: pairs with the acq_rel exchange in check_signals and Nursery::close.
  owner->set_interrupt();
  notify_process(owner);
}

// The child's last act (Process::at_end): after its Downs and exit signals, so that when the
// owner's scope ends the child has finished ending too.
void nursery_report_end(void* arg) noexcept {
  ChildSlot* slot = static_cast<ChildSlot*>(arg);  // owned by the nursery until it closes
  Nursery* n = slot->nursery;
  Process* owner = n->owner_;  // read before the push: after it, `n` may be gone
  // relaxed: the CAS re-reads.
  ChildSlot* head = n->ended_.load(std::memory_order_relaxed);
  do {
    slot->next_ended = head;
    // release: publishes the slot (state, value, error) to the owner's acquire exchange.
  } while (!n->ended_.compare_exchange_weak(head, slot, std::memory_order_release,
                                            std::memory_order_relaxed));
  notify_process(owner);
}

void nursery_child_ended(Nursery* n, ChildSlot* slot) noexcept {
  Process* p = current_process();
  // A child that overflowed its stack and was ended alone (Options::on_stack_overflow =
  // kEndProcess, core/stack_guard.hpp) never finished its body, whose catch reports every other
  // failure: its closure's destruction reports this one, before its end reaches the owner.
  if (p->overflowed) [[unlikely]]
    nursery_child_failed(n, *slot, nullptr, ExitReason::stack_overflow());
  p->at_end = &nursery_report_end;
  p->at_end_arg = slot;
}

}  // namespace detail

Nursery::Nursery(detail::Process* owner)
    : owner_(owner),
      owner_pid_(detail::pid_of(owner)),
      outer_(static_cast<Nursery*>(owner->nursery)) {
  owner->nursery = this;
}

Nursery::~Nursery() {
  // close() has run unless constructing the scope failed; children cannot outlive it.
  owner_->nursery = outer_;
}

void Nursery::check_owner(const char* what) const {
  detail::Process* p = detail::current_process();
  if (p == owner_) return;
  throw Error(std::string(what) + ": called from " +
              (p != nullptr ? "process " + detail::pid_of(p).to_string() : "outside any process") +
              ", but the nursery belongs to process " + owner_pid_.to_string() +
              "; only the process that opened a nursery spawns into it and waits on its tasks "
              "(send results to other processes as messages)");
}

void Nursery::adopt(std::shared_ptr<detail::ChildSlot> slot, Pid pid) noexcept {
  slot->pid = pid;
  children_.push_back(std::move(slot));  // reserved by spawn(): cannot throw
  ++running_;
  // A child spawned into a cancelled nursery is cancelled at once.
  if (cancelled_) detail::signal_exit(pid, owner_pid_, ExitReason::kill(), false);
}

void Nursery::cancel() {
  check_owner("ergon::Nursery::cancel");
  cancelled_ = true;
  for (const auto& c : children_) {
    if (!c->ended) detail::signal_exit(c->pid, owner_pid_, ExitReason::kill(), false);
  }
}

void Nursery::collect_ends() {
  // acquire: pairs with the release CAS of nursery_child_ended.
  detail::ChildSlot* s = ended_.exchange(nullptr, std::memory_order_acquire);
  while (s != nullptr) {
    detail::ChildSlot* next = s->next_ended;
    s->ended = true;
    --running_;
    if (s->state == detail::ChildSlot::State::kPending) {  // killed before it ever ran
      s->state = detail::ChildSlot::State::kCancelled;
      s->reason = ExitReason{ExitReason::Kind::kKilled, ""};
    }
    // Killed by something other than this nursery: a failure, as through a link.
    // acq_rel: as in nursery_child_failed (the owner is the writer here).
    if (s->state == detail::ChildSlot::State::kCancelled && !cancelled_ &&
        !failed_.exchange(true, std::memory_order_acq_rel)) {
      failure_ = std::make_exception_ptr(ChildFailed(
          s->pid, s->reason,
          "ergon::nursery: child process " + s->pid.to_string() + " was ended by an exit signal (" +
              s->reason.to_string() + ") that did not come from its nursery"));
    }
    s = next;
  }
}

void Nursery::wait_once() {
  // Whatever is in the inbox goes to the cache first, or the block below would fail at once
  // for a message that is not ours.
  (void)detail::mailbox_of(owner_).fetch();
  // Look again after the fetch: a child's notify that came before the fetch rewrote the
  // inbox's head (U2), so the fetch's acquire made its push on ended_ visible here; one that
  // comes after it makes the block below fail (kNotified) or wakes it.
  // acquire: pairs with the release CAS of nursery_report_end.
  if (ended_.load(std::memory_order_acquire) != nullptr) return;
  (void)detail::wait(owner_, detail::kNoDeadline, "nursery");
}

void Nursery::await(detail::ChildSlot& slot) {
  check_owner("ergon::Child::get");
  for (;;) {
    collect_ends();
    if (slot.ended) return;
    wait_once();  // an interrupt or a kill unwinds the body from here
  }
}

void Nursery::close(std::exception_ptr body_error) {
  detail::Process* p = owner_;
  bool interrupted = false;
  if (body_error) {
    try {
      std::rethrow_exception(body_error);
    } catch (const detail::Interrupted&) {
      interrupted = true;
      body_error = nullptr;
    } catch (...) {
    }
  }
  // Shielded: a kill of the owner must not stop it waiting for its children.
  ++p->shield;
  for (;;) {
    collect_ends();
    // acquire (both): the failure flag and the kill flag, written by other processes.
    if (!cancelled_ &&
        (body_error || interrupted || failed_.load(std::memory_order_acquire) || p->is_killed())) {
      cancel();
    }
    if (running_ == 0) break;
    try {
      wait_once();
    } catch (const detail::Interrupted&) {
      interrupted = true;
    }
  }
  --p->shield;
  p->nursery = outer_;
  for (const auto& c : children_) c->nursery = nullptr;
  // acquire: every child has ended, and its end (acquire in collect_ends) ordered its writes.
  const bool failed = failed_.load(std::memory_order_acquire);
  if (failed || interrupted) {
    // This nursery has taken the interrupt; an enclosing nursery with a failed child of its
    // own must still be interrupted. acq_rel: pairs with the interrupters' release stores.
    (void)p->take_interrupt();
    for (Nursery* o = outer_; o != nullptr; o = o->outer_) {
      if (o->failed_.load(std::memory_order_acquire)) {
        p->set_interrupt();  // release: as above
        break;
      }
    }
  }
  if (body_error) std::rethrow_exception(body_error);  // the body's exception (or its kill)
  // acquire: pairs with the release stores of the kill.
  if (p->is_killed() && p->shield == 0) throw detail::Shutdown{};
  if (failed) std::rethrow_exception(failure_);
  if (interrupted) throw detail::Interrupted{};  // an enclosing nursery's child failed
}

}  // namespace ergon
