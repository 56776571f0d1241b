// libFuzzer target: the term decoder of ergon/term.hpp on arbitrary bytes, the way a frame
// from a hostile peer reaches it (runtime/src/dist/node.cpp validates, then decodes).
//
// Built by the SConscript with clang++ -fsanitize=fuzzer,address (release variant only) and
// run by `scons check` for a bounded time over the seed corpus in tests/fuzz/corpus/ (terms
// that erl's term_to_binary wrote, without the version byte); any crash, leak or sanitizer
// report fails the check. Invariant checked: what validate() accepts decodes (or is refused
// by a decoder) without reading past the buffer, and prints; what it refuses is never decoded.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "ergon/term.hpp"

namespace {

template <class T>
void try_as(const ergon::Term& t) {
  (void)t.as<T>();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const char* p = reinterpret_cast<const char*>(data);
  std::string why;
  if (ergon::Term::validate(p, size, true, &why) < 0) return 0;
  const ergon::Term t = ergon::Term::from_bytes(std::string(p, size));
  (void)t.to_string();
  (void)t.tag();
  try_as<std::int64_t>(t);
  try_as<std::uint8_t>(t);
  try_as<double>(t);
  try_as<bool>(t);
  try_as<ergon::Atom>(t);
  try_as<std::string>(t);
  try_as<ergon::Binary>(t);
  try_as<ergon::Pid>(t);
  try_as<ergon::Reference>(t);
  try_as<std::vector<int>>(t);
  try_as<std::vector<ergon::Term>>(t);
  try_as<std::vector<std::string>>(t);
  try_as<std::tuple<ergon::Atom, ergon::Term, ergon::Term>>(t);
  try_as<std::tuple<ergon::Atom, std::tuple<ergon::Pid, ergon::Term>, ergon::Term>>(t);
  try_as<std::map<ergon::Term, ergon::Term>>(t);
  try_as<std::map<std::string, std::vector<std::int32_t>>>(t);
  try_as<std::optional<std::int16_t>>(t);
  // Walk it generically: every element skipped, raw-read and re-validated.
  ergon::TermReader r(t);
  std::size_t n = 0;
  if (r.tuple_header(n) || r.list_header(n) || r.map_header(n)) {
    for (std::size_t i = 0; i < n && !r.at_end(); ++i) {
      ergon::Term e;
      if (!r.raw(e)) break;
      (void)e.to_string();
    }
  }
  return 0;
}
