// sys_errno(): the calling thread's errno, read through a call the compiler cannot see into.
//
// Design
// ------
// glibc declares __errno_location() `const`, so within one function the compiler may compute
// errno's address once and reuse it after any call, including a switch (docs/design.md,
// "thread_local across a switch"). Code that runs on a process stack, retries a syscall after
// waiting, and reads errno again would then read the errno of the worker it ran on before
// the wait. That is how a connect killed while it waited once ended with "Operation now in
// progress" (EINPROGRESS from its first try, on the thread it had left) instead of the kill:
// getpeername's ENOTCONN went to one thread's errno, the check read another's.
//
// Protocol: in runtime/src, code that may run on a process stack reads errno only through
// sys_errno(), right after the failing call. sys_errno is out of line (util/sys_errno.cpp)
// and `noipa`, so every call looks the address up again on the thread it runs on.
//
// Rejected: saving errno into a local right after each syscall (the cached address is the
// problem, not the late read); reading errno through a volatile pointer (the pointer is still
// the cached one).
//
// SysError carries the errno of the call that failed up to a layer that rethrows it as its
// own type (net::Error has a code): reading errno in that layer's catch would read whatever
// building the exception left there.
#pragma once

#include <string>

#include "ergon/errors.hpp"

namespace ergon::detail {

[[gnu::noipa]] int sys_errno() noexcept;

class SysError : public Error {
 public:
  SysError(const std::string& what, int code) : Error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

}  // namespace ergon::detail
