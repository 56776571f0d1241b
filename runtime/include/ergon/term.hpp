// Terms: C++ values as Erlang terms (the external term format) and back, for messages that
// cross to another node (ergon/dist.hpp).
//
//   struct Point { std::int32_t x, y; };
//   template <> struct ergon::Codec<Point> : ergon::Record<"point", &Point::x, &Point::y> {};
//
//   ergon::Term t = ergon::Term::of(Point{1, 2});        // {point, 1, 2}
//   std::optional<Point> p = t.as<Point>();              // nullopt: it is not one
//   t.to_string();                                       // "{point,1,2}"
//
// The codec trait Codec<T> has two static functions: encode(TermWriter&, const T&) and
// decode(TermReader&, T&) -> bool (false: the term is not a T; the reader then says nothing of
// where it stopped). Provided: every integer width (a value out of T's range does not decode),
// bool (the atoms true and false), float and double, Atom, std::string (a binary; it also
// decodes from an Erlang string or a list of bytes), Binary, std::vector<T> (a list),
// std::tuple and std::pair (tuples), std::map and std::unordered_map (maps), std::optional<T>
// (the atom undefined, or a T), Pid, Reference, Term (any term, kept raw) and user types
// by a Record declaration (a tuple of an atom tag and the listed members) or a Codec of their
// own.
//
// Untrusted input: erl_interface's decoders take no buffer length, so every term that comes
// from the network is walked first by a bounded validator (Term::validate: lengths, nesting
// at most kMaxDepth, known tags only); a term that fails it never reaches a decoder. The
// validator and the decoders are fuzzed (tests/dist/fuzz_term.cpp).
//
// Encoding and decoding are erl_interface's (libei): link -lergon_dist -lei. A Pid encodes as
// a pid of this node (ergon::dist::start must have run; before that, as a pid of the node
// "nonode@nohost"), a remote pid as its own node's.
#pragma once

// The standard check comes before every other include.
// clang-format off
#include "ergon/detail/cxx20.hpp"
// clang-format on

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ergon/errors.hpp"
#include "ergon/pid.hpp"

namespace ergon {

// An Erlang atom. At most 255 characters (UTF-8).
struct Atom {
  std::string name;
  Atom() = default;
  explicit Atom(std::string n) : name(std::move(n)) {}
  explicit Atom(const char* n) : name(n) {}
  friend bool operator==(const Atom&, const Atom&) = default;
  friend auto operator<=>(const Atom&, const Atom&) = default;
};

// Bytes that travel as an Erlang binary (std::string travels as one too; this is for data).
struct Binary {
  std::vector<std::uint8_t> bytes;
  friend bool operator==(const Binary&, const Binary&) = default;
};

// An Erlang reference: the node that made it, its creation and up to five id words.
struct Reference {
  std::string node;
  std::uint32_t creation = 0;
  int len = 0;
  std::array<std::uint32_t, 5> n{};
  friend bool operator==(const Reference& a, const Reference& b) noexcept {
    if (a.node != b.node || a.creation != b.creation || a.len != b.len) return false;
    for (int i = 0; i < a.len; ++i)
      if (a.n[static_cast<std::size_t>(i)] != b.n[static_cast<std::size_t>(i)]) return false;
    return true;
  }
};

// A term that is not what the decoder was asked for, or malformed bytes.
class DecodeError : public Error {
 public:
  using Error::Error;
};

class TermWriter;
class TermReader;

// The codec trait; see the top. Specialise it for a type of your own, or derive from Record.
template <class T, class = void>
struct Codec;

// One encoded term, without the version byte (131) that starts it on the wire. A message
// type: a process receives what came from another node and matched no decodable type as a
// Term (the raw-term catch-all), and sending a Term to a remote pid sends it as it is.
class Term {
 public:
  Term() = default;
  // The bytes of one term, as validate() accepts them; throws DecodeError otherwise.
  static Term from_bytes(std::string bytes);
  // `value` encoded.
  template <class T>
  static Term of(const T& value);

  const std::string& bytes() const noexcept { return bytes_; }
  bool empty() const noexcept { return bytes_.empty(); }
  // The value, if the term is a T.
  template <class T>
  std::optional<T> as() const;
  // Erlang's printed form ("{point,1,2}"), for logs and errors.
  std::string to_string() const;
  // Whether the term is the atom `name`, a tuple whose first element is it, ... (quick tests
  // for a handler that dispatches by tag).
  bool is_atom(std::string_view name) const;
  // The first element of a tuple when it is an atom ("" otherwise).
  std::string tag() const;

  // Nesting deeper than this (tuples, lists, maps inside each other) is refused: the
  // decoders recurse, on a process stack of 64 KiB by default. Picked to allow any term a
  // protocol message plausibly holds while bounding the stack a decode uses to a few KiB.
  static constexpr int kMaxDepth = 100;
  // Checks that `data` (n bytes) holds exactly one well-formed term with known tags, every
  // length inside the buffer and nesting at most kMaxDepth. Returns the term's length (it may
  // be shorter than n when `whole` is false), or -1 with `why` telling what is wrong.
  static long validate(const char* data, std::size_t n, bool whole, std::string* why);

  friend bool operator==(const Term&, const Term&) = default;
  // By bytes: an order for maps and sets of terms, not Erlang's term order.
  friend auto operator<=>(const Term&, const Term&) = default;

 private:
  std::string bytes_;
};

// Writes terms into a growing buffer (erl_interface's ei_encode_*, each call one term or the
// header of a compound one).
class TermWriter {
 public:
  TermWriter() = default;
  void integer(std::int64_t v);
  void unsigned_integer(std::uint64_t v);
  void floating(double v);
  void atom(std::string_view name);
  void boolean(bool v);
  void binary(const void* data, std::size_t n);
  void tuple_header(std::size_t arity);
  // A list of `n` elements: the header, then the elements, then nil(). n == 0: just nil().
  void list_header(std::size_t n);
  void nil();
  void map_header(std::size_t pairs);
  void pid(Pid p);
  void reference(const Reference& r);
  // An encoded term as it is (Term::bytes()).
  void raw(const Term& t);

  template <class T>
  void write(const T& v) {
    Codec<std::decay_t<T>>::encode(*this, v);
  }
  // The bytes written so far.
  const std::string& bytes() const noexcept { return buf_; }
  std::string take() noexcept { return std::move(buf_); }

 private:
  std::string buf_;
};

// Reads terms from a buffer that Term::validate accepted. Every read returns false (having
// read nothing, or part of a compound term) when the next term is not of that kind.
class TermReader {
 public:
  // `data` must have passed Term::validate; the reader never reads beyond `n`.
  TermReader(const char* data, std::size_t n) : data_(data), n_(n) {}
  explicit TermReader(const Term& t) : TermReader(t.bytes().data(), t.bytes().size()) {}

  bool integer(std::int64_t& v);
  bool unsigned_integer(std::uint64_t& v);
  bool floating(double& v);
  bool atom(std::string& name);
  bool boolean(bool& v);
  // A binary, an Erlang string, or a proper list of integers 0..255.
  bool bytes(std::string& out);
  bool tuple_header(std::size_t& arity);
  // A proper or empty list's length (a string-encoded list counts its characters); after the
  // elements, the reader is past the list's tail.
  bool list_header(std::size_t& n);
  bool map_header(std::size_t& pairs);
  bool pid(Pid& p);
  bool reference(Reference& r);
  // The next term, whole, as raw bytes.
  bool raw(Term& t);
  // Skips the next term.
  bool skip();
  // The kind of the next term: the external format's tag byte (0 at the end).
  int peek() const noexcept;
  bool at_end() const noexcept { return static_cast<std::size_t>(index_) >= n_; }
  // After the elements of a non-empty list: consumes its nil tail (false for an improper
  // list, or a string-encoded list whose elements were not all read).
  bool end_list();

  template <class T>
  bool read(T& v) {
    return Codec<std::decay_t<T>>::decode(*this, v);
  }

 private:
  const char* data_;
  std::size_t n_;
  int index_ = 0;
  // A list Erlang sent as a string (STRING_EXT) that list_header() opened: its bytes left,
  // which integer reads take one by one.
  std::size_t str_left_ = 0;
  bool in_string_ = false;
};

// --- the provided codecs -------------------------------------------------------------------

template <class T>
struct Codec<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
  static void encode(TermWriter& w, T v) {
    if constexpr (std::is_signed_v<T>) {
      w.integer(static_cast<std::int64_t>(v));
    } else {
      w.unsigned_integer(static_cast<std::uint64_t>(v));
    }
  }
  static bool decode(TermReader& r, T& v) {
    if constexpr (std::is_signed_v<T>) {
      std::int64_t x;
      if (!r.integer(x) || x < std::numeric_limits<T>::min() || x > std::numeric_limits<T>::max())
        return false;
      v = static_cast<T>(x);
    } else {
      std::uint64_t x;
      if (!r.unsigned_integer(x) || x > std::numeric_limits<T>::max()) return false;
      v = static_cast<T>(x);
    }
    return true;
  }
};

template <>
struct Codec<bool> {
  static void encode(TermWriter& w, bool v) { w.boolean(v); }
  static bool decode(TermReader& r, bool& v) { return r.boolean(v); }
};

template <class T>
struct Codec<T, std::enable_if_t<std::is_floating_point_v<T>>> {
  static void encode(TermWriter& w, T v) { w.floating(static_cast<double>(v)); }
  static bool decode(TermReader& r, T& v) {
    double d;
    if (!r.floating(d)) return false;
    v = static_cast<T>(d);
    return true;
  }
};

template <>
struct Codec<Atom> {
  static void encode(TermWriter& w, const Atom& a) { w.atom(a.name); }
  static bool decode(TermReader& r, Atom& a) { return r.atom(a.name); }
};

template <>
struct Codec<std::string> {
  static void encode(TermWriter& w, const std::string& s) { w.binary(s.data(), s.size()); }
  static bool decode(TermReader& r, std::string& s) { return r.bytes(s); }
};

template <>
struct Codec<Binary> {
  static void encode(TermWriter& w, const Binary& b) { w.binary(b.bytes.data(), b.bytes.size()); }
  static bool decode(TermReader& r, Binary& b) {
    std::string s;
    if (!r.bytes(s)) return false;
    b.bytes.assign(s.begin(), s.end());
    return true;
  }
};

template <>
struct Codec<Pid> {
  static void encode(TermWriter& w, Pid p) { w.pid(p); }
  static bool decode(TermReader& r, Pid& p) { return r.pid(p); }
};

template <>
struct Codec<Reference> {
  static void encode(TermWriter& w, const Reference& x) { w.reference(x); }
  static bool decode(TermReader& r, Reference& x) { return r.reference(x); }
};

template <>
struct Codec<Term> {
  static void encode(TermWriter& w, const Term& t) { w.raw(t); }
  static bool decode(TermReader& r, Term& t) { return r.raw(t); }
};

template <class T>
struct Codec<std::optional<T>> {
  static void encode(TermWriter& w, const std::optional<T>& v) {
    if (v) {
      w.write(*v);
    } else {
      w.atom("undefined");
    }
  }
  static bool decode(TermReader& r, std::optional<T>& v) {
    TermReader probe = r;
    std::string a;
    if (probe.atom(a) && a == "undefined") {
      r = probe;
      v.reset();
      return true;
    }
    T x{};
    if (!r.read(x)) return false;
    v = std::move(x);
    return true;
  }
};

template <class T, class A>
struct Codec<std::vector<T, A>, std::enable_if_t<!std::is_same_v<T, std::uint8_t>>> {
  static void encode(TermWriter& w, const std::vector<T, A>& v) {
    if (!v.empty()) {
      w.list_header(v.size());
      for (const T& x : v) w.write(x);
    }
    w.nil();
  }
  static bool decode(TermReader& r, std::vector<T, A>& v) {
    std::size_t n;
    if (!r.list_header(n)) return false;
    v.clear();
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      T x{};
      if (!r.read(x)) return false;
      v.push_back(std::move(x));
    }
    return n == 0 || r.end_list();
  }
};

namespace detail {
template <class Tuple, std::size_t... I>
void encode_elements(TermWriter& w, const Tuple& t, std::index_sequence<I...>) {
  (w.write(std::get<I>(t)), ...);
}
template <class Tuple, std::size_t... I>
bool decode_elements(TermReader& r, Tuple& t, std::index_sequence<I...>) {
  return (r.read(std::get<I>(t)) && ...);
}
}  // namespace detail

template <class... E>
struct Codec<std::tuple<E...>> {
  static void encode(TermWriter& w, const std::tuple<E...>& t) {
    w.tuple_header(sizeof...(E));
    detail::encode_elements(w, t, std::index_sequence_for<E...>{});
  }
  static bool decode(TermReader& r, std::tuple<E...>& t) {
    std::size_t n;
    return r.tuple_header(n) && n == sizeof...(E) &&
           detail::decode_elements(r, t, std::index_sequence_for<E...>{});
  }
};

template <class A, class B>
struct Codec<std::pair<A, B>> {
  static void encode(TermWriter& w, const std::pair<A, B>& p) {
    w.tuple_header(2);
    w.write(p.first);
    w.write(p.second);
  }
  static bool decode(TermReader& r, std::pair<A, B>& p) {
    std::size_t n;
    return r.tuple_header(n) && n == 2 && r.read(p.first) && r.read(p.second);
  }
};

namespace detail {
template <class M>
struct MapCodec {
  static void encode(TermWriter& w, const M& m) {
    w.map_header(m.size());
    for (const auto& [k, v] : m) {
      w.write(k);
      w.write(v);
    }
  }
  static bool decode(TermReader& r, M& m) {
    std::size_t n;
    if (!r.map_header(n)) return false;
    m.clear();
    for (std::size_t i = 0; i < n; ++i) {
      typename M::key_type k{};
      typename M::mapped_type v{};
      if (!r.read(k) || !r.read(v)) return false;
      m.emplace(std::move(k), std::move(v));
    }
    return true;
  }
};
}  // namespace detail

template <class K, class V, class C, class A>
struct Codec<std::map<K, V, C, A>> : detail::MapCodec<std::map<K, V, C, A>> {};
template <class K, class V, class H, class E, class A>
struct Codec<std::unordered_map<K, V, H, E, A>>
    : detail::MapCodec<std::unordered_map<K, V, H, E, A>> {};

// A string literal as a template argument (Record's tag).
template <std::size_t N>
struct FixedString {
  char text[N]{};
  constexpr FixedString(const char (&s)[N]) {
    for (std::size_t i = 0; i < N; ++i) text[i] = s[i];
  }
  constexpr std::string_view view() const { return std::string_view(text, N - 1); }
};

namespace detail {
template <class M>
struct MemberOf;
template <class C, class F>
struct MemberOf<F C::*> {
  using Class = C;
  using Field = F;
};
}  // namespace detail

// A user type as the tuple {Tag, Member1, Member2, ...}, the way Erlang records travel:
//   template <> struct ergon::Codec<Point> : ergon::Record<"point", &Point::x, &Point::y> {};
// The type must be default-constructible; each member needs a Codec of its own.
template <FixedString Tag, auto First, auto... Rest>
struct Record {
  using Class = typename detail::MemberOf<decltype(First)>::Class;
  static void encode(TermWriter& w, const Class& v) {
    w.tuple_header(2 + sizeof...(Rest));
    w.atom(Tag.view());
    w.write(v.*First);
    (w.write(v.*Rest), ...);
  }
  static bool decode(TermReader& r, Class& v) {
    std::size_t n;
    std::string tag;
    return r.tuple_header(n) && n == 2 + sizeof...(Rest) && r.atom(tag) && tag == Tag.view() &&
           r.read(v.*First) && (r.read(v.*Rest) && ...);
  }
};

// --- Term's templates ----------------------------------------------------------------------

template <class T>
Term Term::of(const T& value) {
  TermWriter w;
  w.write(value);
  Term t;
  t.bytes_ = w.take();
  return t;
}

template <class T>
std::optional<T> Term::as() const {
  if (bytes_.empty()) return std::nullopt;
  TermReader r(*this);
  T v{};
  if (!r.read(v) || !r.at_end()) return std::nullopt;
  return v;
}

}  // namespace ergon
