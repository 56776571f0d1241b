// What a report calls an exception that is not a std::exception (`throw 42`, a user type):
// its demangled type, so that "ended by an uncaught exception" still says which one.
//
// Design: inside a catch (...) handler the C++ ABI still knows the type of the exception in
// flight (abi::__cxa_current_exception_type); its name is demangled with __cxa_demangle.
// Rejected: rethrowing against a list of likely types (int, const char*, std::string): it
// names only the ones listed.
#pragma once

#include <string>

namespace ergon::detail {

// Only inside a catch (...) handler: "an exception of type int (not derived from
// std::exception)". Never throws; without memory for the text, a fixed one.
std::string foreign_exception_text() noexcept;

}  // namespace ergon::detail
