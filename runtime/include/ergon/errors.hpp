// The errors ergon throws. Every message names what went wrong, the process involved where
// there is one, and the fix.
#pragma once

#include <stdexcept>
#include <string>

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

// Deterministic mode (Options::deterministic): Runtime::run found every process waiting for a
// message with no timer armed, before the main process ended. The message names the seed that
// replays the run and the processes that wait.
class Deadlock : public Error {
 public:
  using Error::Error;
};

}  // namespace ergon
