// The errors ergon throws. Every message names what went wrong, the process involved where
// there is one, and the fix.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ergon/pid.hpp"

namespace ergon {

// Base of every ergon error.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A call that needs a running process (receive, self, yield, sleep_for, ...) was made from a
// thread that is not running one.
class NotInProcess : public Error {
 public:
  using Error::Error;
};

// spawn could not create a process: the process limit, or no memory / map area for a stack.
class SpawnError : public Error {
 public:
  using Error::Error;
};

// A bad value in ergon::Options or an ERGON_* environment variable.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A send to a full bounded mailbox (SpawnOptions::mailbox_capacity) failed: its policy is
// MailboxPolicy::kFail, a blocked send timed out, a sender that may not block (a worker's
// thread outside a process) met kBlock, or blocking would close a cycle of processes waiting
// on each other's full mailboxes. The message names the receiver, the cause and the fix; the
// message that was being sent is destroyed.
class MailboxFull : public Error {
 public:
  MailboxFull(const std::string& what, Pid receiver) : Error(what), receiver_(receiver) {}
  Pid receiver() const noexcept { return receiver_; }

 private:
  Pid receiver_;
};

// Deterministic mode (Options::deterministic): Runtime::run found every process waiting for a
// message with no timer armed, before the main process ended. The message names the seed that
// replays the run and the processes that wait.
class Deadlock : public Error {
 public:
  using Error::Error;
};

// Runtime::run: the main process was ended by an exit signal (a linked process that crashed,
// a supervisor that gave up, ergon::exit(main, reason)) instead of returning. The message names
// the signal's sender and its reason; sender() and reason_text() give them to a program.
class KilledBySignal : public Error {
 public:
  KilledBySignal(const std::string& what, std::string sender, std::string reason)
      : Error(what), sender_(std::move(sender)), reason_(std::move(reason)) {}
  // The sender's pid ("<0.12.0>") and the exit reason, as text.
  const std::string& sender() const noexcept { return sender_; }
  const std::string& reason_text() const noexcept { return reason_; }

 private:
  std::string sender_, reason_;
};

// Runtime::run: the main process overflowed its stack and, with Options::on_stack_overflow =
// kEndProcess, was ended alone with reason stack_overflow (its stack not unwound) instead of
// returning. The message names it, its stack size and the size to give it.
class StackOverflow : public Error {
 public:
  using Error::Error;
};

// Runtime::run: after the main process ended, some processes did not end by the shutdown's
// deadline (Options::shutdown_timeout): a loop with no reduction point, a call blocked outside
// ergon::blocking, or a catch (...) that swallows the kill. The message names each one (pid,
// registered name, what it does, as process_info tells); refused() gives their pids. They are
// left running, still killed: each ends at its next reduction point if it lets the kill
// through, and ~Runtime waits for them again (docs/api.md, "Shutdown").
class ShutdownTimeout : public Error {
 public:
  ShutdownTimeout(const std::string& what, std::vector<Pid> refused)
      : Error(what), refused_(std::move(refused)) {}
  const std::vector<Pid>& refused() const noexcept { return refused_; }

 private:
  std::vector<Pid> refused_;
};

}  // namespace ergon
