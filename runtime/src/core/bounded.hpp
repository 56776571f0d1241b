// Bounded mailboxes: what a send does when the receiver has a capacity
// (SpawnOptions::mailbox_capacity), and what the receiver does when it takes a counted message.
// docs/design.md, "Bounded mailboxes", has the whole protocol; the slot word's steps (B1..B3)
// are in ergon/mailbox/mailbox.hpp.
//
// Design
// ------
// The unbounded send path (send.cpp) pays one load and branch on the receiver's capacity, a
// field beside the inbox head that the push touches anyway; a non-zero capacity takes it here,
// out of line, after the send has left the runtime (so a blocking sender can wait).
//   S1 look the receiver up (a dead or stale pid goes back to the ordinary path, which drops
//      and counts it);
//   S2 reserve a slot (B1) and push the envelope marked kCounted (push_counted, send.cpp);
//   S3 when full, apply the policy: drop the new message, throw MailboxFull, forward it once
//      to the fallback (back to S1 with the fallback), queue it anyway for drop_oldest (the
//      receiver trims), or wait for a slot:
//   S4 wait (kBlock, a process): record whom it waits on (send_blocked_on) and look for a
//      cycle of senders waiting on each other (the send that closes one throws MailboxFull
//      naming it); join the receiver's waiting senders under its senders_lock with add_waiter
//      (B2); park in detail::wait with the send's deadline; on waking leave the list (unless a
//      release took it off) and go back to S1. A waiter taken off the list that leaves by an
//      exception passes the wake-up on, so a freed slot never waits for nobody.
//   S5 wait (kBlock, no process): a thread outside the runtime polls the slot word, sleeping
//      from 20 us up to 1 ms between looks, until the deadline; a worker's own thread outside
//      a process never blocks (MailboxFull).
// The receiver, taking a kCounted envelope (took_counted): gives the slot back (B3), wakes one
// waiting sender when the release says there is one, and, for drop_oldest, trims its mailbox
// down to the capacity. A process's end closes its mailbox (its counted envelopes give their
// slots back) and wakes every waiting sender (wake_all_senders), which then finds the pid dead.
//
// Rejected: boost::lockfree::queue<Envelope*, capacity<N>> as the bounded mailbox. It is the
// right shape for a bounded MPMC queue, but a mailbox needs what it does not give: the
// receiver's wait (MpscInbox's kBlocked tag, told to the pusher that must wake it), selective
// receive over a private cache, and one order between a sender's ordinary messages and its
// exit signal, which a second queue beside the inbox would break. The slot count is one word
// beside the inbox instead; the messages stay in the one queue. Rejected too: the sender
// removing the oldest message itself (the cache is the receiver's, unsynchronised); a
// semaphore per mailbox (a blocked OS thread per waiting sender: a worker must never block).
#pragma once

#include "ergon/mailbox/message.hpp"
#include "ergon/pid.hpp"

namespace ergon::detail {

struct Process;
class Worker;

// S1..S5 for a user message to a bounded mailbox; called by send_envelope outside the
// runtime. Throws MailboxFull (the envelope is destroyed), or what the wait throws.
void send_bounded(Pid to, mailbox::Envelope* e);

// B3 on the receiver's side, release_counted, is declared in ergon/detail/api.hpp (receive
// calls it).

// Wakes one sender waiting for a slot of `r`, if any; from inside the runtime (`w`: the
// caller's worker or nullptr, `by_process` as for Scheduler::wake_from).
void wake_one_sender(Process* r, Worker* w, bool by_process) noexcept;

// At the end of `r` (Worker::finish, after the generation changed): wakes every sender
// waiting for a slot, which then finds `r` gone.
void wake_all_senders(Process* r, Worker* w) noexcept;

}  // namespace ergon::detail
