// The send path: from send_envelope (ergon/detail/api.hpp) to a message in the receiver's
// mailbox and, if it was blocked, its wake-up. docs/design.md, "From send to a handler", names
// the steps; send.cpp implements steps 2-4.
//
// Design
// ------
// A send looks the pid's record up in the process table, checks its generation (a stale or
// dead pid drops the message and counts it), pushes the envelope (MpscInbox, lock-free) and,
// when the push reports the receiver blocked, wakes it (Scheduler::wake, W1..W3). Fault
// injection adds one branch, on the scheduler's injector pointer (hooks.hpp). A send from a
// process charges it one reduction.
//
// The functions below are the send path's other entrances, for the runtime's own parts.
#pragma once

#include <type_traits>
#include <utility>

#include "ergon/mailbox/message.hpp"
#include "ergon/pid.hpp"

namespace ergon::detail {

class Scheduler;
class Worker;
struct Process;

// send_envelope for the runtime's own messages (Downs, Exit messages): the same path, fault
// injection's delay line included (so a Down still comes after the messages its sender sent
// before), but never a crash point, so it may run where nothing may throw.
void post_envelope(Pid to, mailbox::Envelope* e);
template <class T>
void post(Pid to, T&& msg) {
  post_envelope(to, mailbox::make_message<std::decay_t<T>>(std::forward<T>(msg)));
}
// Steps 2-4 only, for a message the delay line held (testing/delay_line.hpp): the record, the
// generation, the push and the wake-up. `w`: the caller's worker or nullptr (a drop's count).
void deliver_envelope(Pid to, mailbox::Envelope* e, Worker* w) noexcept;
// The send path without the capacity check: for a bounded path that found the receiver dead
// or unbounded after all (bounded.cpp), and messages that must not be held back.
void send_unbounded(Pid to, mailbox::Envelope* e);
// Pushes `e` into `target`'s mailbox (whose pid is `to`) after its sender reserved a slot
// (B1): marks it kCounted; a push that fails gives the slot back and counts the drop.
void push_counted(Pid to, mailbox::Envelope* e, Process* target) noexcept;
// Wakes `p` after the caller won its wake-up (p->mailbox.try_unblock()), from process code or
// from any thread: enters the runtime first, as a send does.
void wake_unblocked(Scheduler* s, Process* p) noexcept;

}  // namespace ergon::detail
