// The language standard ergon's public headers need: C++20 (concepts, requires-clauses,
// std::type_identity, defaulted comparisons). A compile in an older standard stops here with
// one sentence that names the fix, before the first of the errors the headers give otherwise
// (35 from g++ 12 for ergon/ergon.hpp as C++17; the compiler goes on after an #error).
//
// Why a check in the header: ergon's pkg-config file and CMake package require C++20 but do
// not set it (a consumer's own -std, C++20 or later, stays theirs; -std=c++20 in the .pc's
// Cflags overrode a consumer's -std=c++23 when it came later on the command line). Included
// first by ergon/ergon.hpp, ergon/detail/api.hpp (which the headers with templates include)
// and ergon/term.hpp; the other public headers compile as C++17 (g++ 12, each alone) and do
// not include it.
//
// Rejected: a static_assert (it is reached after the errors above, not before); testing
// feature macros one by one (__cpp_concepts, ...): a list to keep in step with the headers,
// where __cplusplus says what every supported compiler means by -std=c++20.
#pragma once

// One line, so that the compiler prints the whole sentence.
// clang-format off
#if __cplusplus < 202002L
#error "ergon needs C++20 or later: compile with -std=c++20 (or -std=c++23); with CMake, link ergon::ergon, which requires cxx_std_20"
#endif
// clang-format on
