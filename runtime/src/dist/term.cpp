// Terms: the bounded validator, and TermWriter / TermReader on erl_interface's encoders and
// decoders. See ergon/term.hpp.
//
// Design
// ------
// ei's ei_decode_* take a buffer and an index but no length: on a truncated or lying term
// they read past the buffer. So nothing from the network reaches them before validate()
// walked it: validate() knows every tag of the external term format that a node sends (OTP
// 25, no atom cache), checks each length against the bytes left, caps nesting at
// Term::kMaxDepth and refuses what ei would copy into a fixed array too small for it (a
// reference of more than 5 words, an atom longer than MAXATOMLEN_UTF8). After that, every
// decoder below works on a term that is whole.
//
// A list that Erlang sends as STRING_EXT (a list of small integers, [1,2,3] included) is read
// element by element like a LIST_EXT: list_header() opens a "string" on the reader, and the
// integer reads that follow take its bytes.
//
// Rejected: decoding with ei_decode_ei_term / ei_skip_term unvalidated (same unbounded reads),
// and a decoder of our own for everything (the issue asks for ei's codec, and ei's encoder
// gives every OTP 25 format: NEW_PID_EXT, NEWER_REFERENCE_EXT, V4 ports).
#include "ergon/term.hpp"

#include <ei.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "dist/pids.hpp"

namespace ergon {
namespace {

constexpr int kVersion = 131;

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
std::uint32_t be16(const unsigned char* p) { return (std::uint32_t{p[0]} << 8) | p[1]; }

// The walk of validate(): one term at `at`, returns the offset after it or -1.
class Walker {
 public:
  Walker(const unsigned char* d, std::size_t n, std::string* why) : d_(d), n_(n), why_(why) {}

  long term(std::size_t at, int depth) {
    if (depth > Term::kMaxDepth) return fail("nesting deeper than Term::kMaxDepth");
    if (!have(at, 1)) return fail("truncated: a term's tag is missing");
    const int tag = d_[at++];
    switch (tag) {
      case 97:  // SMALL_INTEGER_EXT
        return skip(at, 1);
      case 98:  // INTEGER_EXT
        return skip(at, 4);
      case 99:  // FLOAT_EXT (old, 31 bytes of text)
        return skip(at, 31);
      case 70:  // NEW_FLOAT_EXT
        return skip(at, 8);
      case 100:  // ATOM_EXT
      case 118:  // ATOM_UTF8_EXT
      case 115:  // SMALL_ATOM_EXT
      case 119:  // SMALL_ATOM_UTF8_EXT
        return atom_body(at, tag);
      case 106:  // NIL_EXT
        return static_cast<long>(at);
      case 107: {  // STRING_EXT
        if (!have(at, 2)) return fail("truncated string length");
        return skip(at + 2, be16(d_ + at));
      }
      case 109: {  // BINARY_EXT
        if (!have(at, 4)) return fail("truncated binary length");
        return skip(at + 4, be32(d_ + at));
      }
      case 77: {  // BIT_BINARY_EXT
        if (!have(at, 5)) return fail("truncated bit binary header");
        const std::uint32_t len = be32(d_ + at);
        const unsigned bits = d_[at + 4];
        if (bits < 1 || bits > 8 || len == 0) return fail("bad bit binary trailing bits");
        return skip(at + 5, len);
      }
      case 110: {  // SMALL_BIG_EXT
        if (!have(at, 2)) return fail("truncated small big");
        return skip(at + 2, d_[at]);
      }
      case 111: {  // LARGE_BIG_EXT
        if (!have(at, 5)) return fail("truncated large big");
        return skip(at + 5, be32(d_ + at));
      }
      case 104: {  // SMALL_TUPLE_EXT
        if (!have(at, 1)) return fail("truncated tuple arity");
        return elements(at + 1, d_[at], depth);
      }
      case 105: {  // LARGE_TUPLE_EXT
        if (!have(at, 4)) return fail("truncated tuple arity");
        return elements(at + 4, be32(d_ + at), depth);
      }
      case 116: {  // MAP_EXT
        if (!have(at, 4)) return fail("truncated map arity");
        const std::uint64_t pairs = be32(d_ + at);
        return elements(at + 4, pairs * 2, depth);
      }
      case 108: {  // LIST_EXT: elements, then the tail
        if (!have(at, 4)) return fail("truncated list length");
        long end = elements(at + 4, be32(d_ + at), depth);
        if (end < 0) return end;
        return term(static_cast<std::size_t>(end), depth + 1);
      }
      case 103:  // PID_EXT
        return node_then(at, 9);
      case 88:  // NEW_PID_EXT
        return node_then(at, 12);
      case 102:  // PORT_EXT
        return node_then(at, 5);
      case 89:  // NEW_PORT_EXT
        return node_then(at, 8);
      case 120:  // V4_PORT_EXT
        return node_then(at, 12);
      case 101:  // REFERENCE_EXT
        return node_then(at, 5);
      case 114:   // NEW_REFERENCE_EXT: Len(2) Node Creation(1) Id(4*Len)
      case 90: {  // NEWER_REFERENCE_EXT: Len(2) Node Creation(4) Id(4*Len)
        if (!have(at, 2)) return fail("truncated reference length");
        const std::uint32_t len = be16(d_ + at);
        if (len < 1 || len > 5) return fail("a reference of more than 5 words (or none)");
        return node_then(at + 2, (tag == 114 ? 1 : 4) + 4 * len);
      }
      case 113: {  // EXPORT_EXT: Module Function Arity
        long end = atom(at);
        if (end >= 0) end = atom(static_cast<std::size_t>(end));
        if (end < 0) return end;
        if (!have(static_cast<std::size_t>(end), 2) || d_[end] != 97)
          return fail("export arity is not a small integer");
        return end + 2;
      }
      case 112: {  // NEW_FUN_EXT: Size(4) Arity(1) Uniq(16) Index(4) NumFree(4) Module
                   // OldIndex OldUniq Pid FreeVars
        if (!have(at, 29)) return fail("truncated fun header");
        const std::uint32_t num_free = be32(d_ + at + 25);
        long end = atom(at + 29);
        for (int i = 0; i < 3 && end >= 0; ++i)
          end = term(static_cast<std::size_t>(end), depth + 1);
        if (end < 0) return end;
        return elements(static_cast<std::size_t>(end), num_free, depth);
      }
      default:
        return fail("unknown or unsupported tag " + std::to_string(tag) +
                    " (atom cache references, old funs and local terms are not accepted)");
    }
  }

 private:
  bool have(std::size_t at, std::uint64_t k) const { return at <= n_ && k <= n_ - at; }
  long skip(std::size_t at, std::uint64_t k) {
    if (!have(at, k)) return fail("truncated: a length runs past the end of the frame");
    return static_cast<long>(at + k);
  }
  long fail(const std::string& why) {
    if (why_ != nullptr && why_->empty()) *why_ = why;
    return -1;
  }
  long elements(std::size_t at, std::uint64_t count, int depth) {
    // Each element takes at least one byte: a count beyond the bytes left is a lie (and would
    // make a decoder reserve that much).
    if (count > n_ - std::min(at, n_)) return fail("more elements than bytes left");
    long end = static_cast<long>(at);
    for (std::uint64_t i = 0; i < count && end >= 0; ++i)
      end = term(static_cast<std::size_t>(end), depth + 1);
    return end;
  }
  long atom_body(std::size_t at, int tag) {
    const bool small = tag == 115 || tag == 119;
    if (!have(at, small ? 1 : 2)) return fail("truncated atom length");
    const std::uint32_t len = small ? d_[at] : be16(d_ + at);
    if (len > MAXATOMLEN_UTF8 - 1) return fail("an atom longer than 255 characters");
    return skip(at + (small ? 1 : 2), len);
  }
  long atom(std::size_t at) {
    if (!have(at, 1)) return fail("truncated: an atom is missing");
    const int tag = d_[at];
    if (tag != 100 && tag != 115 && tag != 118 && tag != 119) return fail("expected an atom");
    return atom_body(at + 1, tag);
  }
  long node_then(std::size_t at, std::uint64_t k) {
    long end = atom(at);
    if (end < 0) return end;
    return skip(static_cast<std::size_t>(end), k);
  }

  const unsigned char* d_;
  std::size_t n_;
  std::string* why_;
};

// Grows `buf` for one ei_encode call and runs it: ei encoders with a null buffer only count.
template <class F>
void put(std::string& buf, F&& enc) {
  int size = 0;
  enc(nullptr, &size);
  const std::size_t at = buf.size();
  buf.resize(at + static_cast<std::size_t>(size));
  int index = 0;
  enc(buf.data() + at, &index);
}

}  // namespace

long Term::validate(const char* data, std::size_t n, bool whole, std::string* why) {
  Walker w(reinterpret_cast<const unsigned char*>(data), n, why);
  const long end = w.term(0, 0);
  if (end < 0) return -1;
  if (whole && static_cast<std::size_t>(end) != n) {
    if (why != nullptr) *why = "bytes after the term";
    return -1;
  }
  return end;
}

Term Term::from_bytes(std::string bytes) {
  std::string why;
  if (validate(bytes.data(), bytes.size(), true, &why) < 0)
    throw DecodeError("ergon::Term::from_bytes: not one well-formed term: " + why);
  Term t;
  t.bytes_ = std::move(bytes);
  return t;
}

namespace {

bool plain_atom(const std::string& a) {
  if (a.empty() || !(a[0] >= 'a' && a[0] <= 'z')) return false;
  for (unsigned char c : a)
    if (!(std::isalnum(c) || c == '_' || c == '@')) return false;
  return true;
}

std::string quoted(const std::string& s, char q) {
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == static_cast<unsigned char>(q) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 32 || c == 127) {
      out += "\\" + std::to_string(c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back(q);
  return out;
}

bool printable(const std::string& s) {
  for (unsigned char c : s)
    if (c < 32 || c >= 127) return false;
  return true;
}

// Erlang's printed form of the next term of `r` (a validated term), recursively (the nesting
// is at most Term::kMaxDepth).
void print(TermReader& r, std::string& out) {
  const int tag = r.peek();
  std::int64_t i;
  std::uint64_t u;
  double d;
  std::string s;
  std::size_t n;
  Pid p;
  Reference ref;
  switch (tag) {
    case ERL_SMALL_INTEGER_EXT:
    case ERL_INTEGER_EXT:
    case ERL_SMALL_BIG_EXT:
    case ERL_LARGE_BIG_EXT:
      if (r.integer(i)) {
        out += std::to_string(i);
      } else if (r.unsigned_integer(u)) {
        out += std::to_string(u);
      } else {
        out += "<bignum>";
        (void)r.skip();
      }
      return;
    case ERL_FLOAT_EXT:
    case 70:  // NEW_FLOAT_EXT
      if (r.floating(d)) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", d);
        out += buf;
        if (std::strpbrk(buf, ".eni") == nullptr) out += ".0";
      }
      return;
    case ERL_ATOM_EXT:
    case ERL_SMALL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT:
      if (r.atom(s)) out += plain_atom(s) ? s : quoted(s, '\'');
      return;
    case ERL_BINARY_EXT:
      if (r.bytes(s)) {
        if (printable(s)) {
          out += "<<" + quoted(s, '"') + ">>";
        } else {
          out += "<<";
          for (std::size_t k = 0; k < s.size(); ++k)
            out += (k ? "," : "") + std::to_string(static_cast<unsigned char>(s[k]));
          out += ">>";
        }
      }
      return;
    case ERL_STRING_EXT:
      if (r.bytes(s)) {
        if (printable(s)) {
          out += quoted(s, '"');
        } else {
          out += "[";
          for (std::size_t k = 0; k < s.size(); ++k)
            out += (k ? "," : "") + std::to_string(static_cast<unsigned char>(s[k]));
          out += "]";
        }
      }
      return;
    case ERL_NIL_EXT:
      (void)r.skip();
      out += "[]";
      return;
    case ERL_LIST_EXT:
      if (r.list_header(n)) {
        out += "[";
        for (std::size_t k = 0; k < n; ++k) {
          if (k) out += ",";
          print(r, out);
        }
        if (!r.end_list()) {  // an improper tail
          out += "|";
          print(r, out);
        }
        out += "]";
      }
      return;
    case ERL_SMALL_TUPLE_EXT:
    case ERL_LARGE_TUPLE_EXT:
      if (r.tuple_header(n)) {
        out += "{";
        for (std::size_t k = 0; k < n; ++k) {
          if (k) out += ",";
          print(r, out);
        }
        out += "}";
      }
      return;
    case ERL_MAP_EXT:
      if (r.map_header(n)) {
        out += "#{";
        for (std::size_t k = 0; k < n; ++k) {
          if (k) out += ",";
          print(r, out);
          out += " => ";
          print(r, out);
        }
        out += "}";
      }
      return;
    case ERL_PID_EXT:
    case ERL_NEW_PID_EXT:
      if (r.pid(p)) {
        const detail::dist::RemoteProc rp = detail::dist::parts_of(p);
        out += "<" + rp.node + "." + std::to_string(rp.id) + "." + std::to_string(rp.serial) + ">";
      }
      return;
    case ERL_NEW_REFERENCE_EXT:
    case ERL_NEWER_REFERENCE_EXT:
    case ERL_REFERENCE_EXT:
      if (r.reference(ref)) {
        out += "#Ref<" + ref.node;
        for (int k = ref.len - 1; k >= 0; --k)
          out += "." + std::to_string(ref.n[static_cast<std::size_t>(k)]);
        out += ">";
      }
      return;
    default:  // ports, funs, bit binaries
      out += tag == ERL_NEW_FUN_EXT || tag == ERL_EXPORT_EXT ? "#Fun<>"
                                                             : "#Term<" + std::to_string(tag) + ">";
      (void)r.skip();
      return;
  }
}

}  // namespace

std::string Term::to_string() const {
  if (bytes_.empty()) return "<empty term>";
  TermReader r(*this);
  std::string out;
  print(r, out);
  return out;
}

bool Term::is_atom(std::string_view name) const {
  TermReader r(*this);
  std::string a;
  return r.atom(a) && a == name;
}

std::string Term::tag() const {
  TermReader r(*this);
  std::size_t n;
  std::string a;
  if (r.tuple_header(n) && n > 0 && r.atom(a)) return a;
  return "";
}

// --- TermWriter ------------------------------------------------------------------------------

void TermWriter::integer(std::int64_t v) {
  put(buf_, [v](char* b, int* i) { return ei_encode_longlong(b, i, v); });
}
void TermWriter::unsigned_integer(std::uint64_t v) {
  put(buf_, [v](char* b, int* i) { return ei_encode_ulonglong(b, i, v); });
}
void TermWriter::floating(double v) {
  put(buf_, [v](char* b, int* i) { return ei_encode_double(b, i, v); });
}
void TermWriter::atom(std::string_view name) {
  const int len = static_cast<int>(std::min<std::size_t>(name.size(), 255 * 4));
  put(buf_, [&](char* b, int* i) {
    return ei_encode_atom_len_as(b, i, name.data(), len, ERLANG_UTF8, ERLANG_UTF8);
  });
}
void TermWriter::boolean(bool v) { atom(v ? "true" : "false"); }
void TermWriter::binary(const void* data, std::size_t n) {
  put(buf_, [&](char* b, int* i) { return ei_encode_binary(b, i, data, static_cast<long>(n)); });
}
void TermWriter::tuple_header(std::size_t arity) {
  put(buf_,
      [arity](char* b, int* i) { return ei_encode_tuple_header(b, i, static_cast<long>(arity)); });
}
void TermWriter::list_header(std::size_t n) {
  put(buf_, [n](char* b, int* i) { return ei_encode_list_header(b, i, static_cast<long>(n)); });
}
void TermWriter::nil() {
  put(buf_, [](char* b, int* i) { return ei_encode_empty_list(b, i); });
}
void TermWriter::map_header(std::size_t pairs) {
  put(buf_,
      [pairs](char* b, int* i) { return ei_encode_map_header(b, i, static_cast<int>(pairs)); });
}
void TermWriter::pid(Pid p) {
  const detail::dist::RemoteProc r = detail::dist::parts_of(p);
  erlang_pid e{};
  std::snprintf(e.node, sizeof e.node, "%s", r.node.c_str());
  e.num = r.id;
  e.serial = r.serial;
  e.creation = r.creation;
  put(buf_, [&e](char* b, int* i) { return ei_encode_pid(b, i, &e); });
}
void TermWriter::reference(const Reference& r) {
  erlang_ref e{};
  std::snprintf(e.node, sizeof e.node, "%s", r.node.c_str());
  e.len = r.len < 1 ? 1 : (r.len > 5 ? 5 : r.len);
  for (int k = 0; k < e.len; ++k) e.n[k] = r.n[static_cast<std::size_t>(k)];
  e.creation = r.creation;
  put(buf_, [&e](char* b, int* i) { return ei_encode_ref(b, i, &e); });
}
void TermWriter::raw(const Term& t) { buf_ += t.bytes(); }

// --- TermReader ------------------------------------------------------------------------------
// Every decode runs on a copy of the index and commits it on success, so a failed read
// leaves the reader where it was.

int TermReader::peek() const noexcept {
  if (at_end()) return 0;
  return static_cast<unsigned char>(data_[index_]);
}

bool TermReader::integer(std::int64_t& v) {
  if (str_left_ > 0) {
    v = static_cast<unsigned char>(data_[index_++]);
    --str_left_;
    return true;
  }
  int i = index_;
  long long x;
  if (at_end() || ei_decode_longlong(data_, &i, &x) < 0) return false;
  v = x;
  index_ = i;
  return true;
}

bool TermReader::unsigned_integer(std::uint64_t& v) {
  if (str_left_ > 0) {
    v = static_cast<unsigned char>(data_[index_++]);
    --str_left_;
    return true;
  }
  int i = index_;
  unsigned long long x;
  if (at_end() || ei_decode_ulonglong(data_, &i, &x) < 0) return false;
  v = x;
  index_ = i;
  return true;
}

bool TermReader::floating(double& v) {
  int i = index_;
  if (str_left_ > 0 || at_end() || ei_decode_double(data_, &i, &v) < 0) return false;
  index_ = i;
  return true;
}

bool TermReader::atom(std::string& name) {
  if (str_left_ > 0 || at_end()) return false;
  int i = index_;
  char buf[MAXATOMLEN_UTF8];
  erlang_char_encoding was, res;
  if (ei_decode_atom_as(data_, &i, buf, sizeof buf, ERLANG_UTF8, &was, &res) < 0) return false;
  name.assign(buf);
  index_ = i;
  return true;
}

bool TermReader::boolean(bool& v) {
  TermReader probe = *this;
  std::string a;
  if (!probe.atom(a) || (a != "true" && a != "false")) return false;
  *this = probe;
  v = a == "true";
  return true;
}

bool TermReader::bytes(std::string& out) {
  if (str_left_ > 0 || at_end()) return false;
  int type = 0, size = 0;
  int i = index_;
  if (ei_get_type(data_, &i, &type, &size) < 0) return false;
  if (type == ERL_BINARY_EXT) {
    out.resize(static_cast<std::size_t>(size));
    long len = 0;
    if (ei_decode_binary(data_, &i, out.data(), &len) < 0) return false;
    out.resize(static_cast<std::size_t>(len));
    index_ = i;
    return true;
  }
  if (type == ERL_STRING_EXT || type == ERL_NIL_EXT) {
    out.resize(static_cast<std::size_t>(size) + 1);
    if (ei_decode_string(data_, &i, out.data()) < 0) return false;
    out.resize(static_cast<std::size_t>(size));
    index_ = i;
    return true;
  }
  if (type == ERL_LIST_EXT) {  // a list of bytes that Erlang did not send as a string
    TermReader probe = *this;
    std::size_t n;
    if (!probe.list_header(n)) return false;
    std::string s;
    for (std::size_t k = 0; k < n; ++k) {
      std::uint64_t b;
      if (!probe.unsigned_integer(b) || b > 255) return false;
      s.push_back(static_cast<char>(b));
    }
    if (!probe.end_list()) return false;
    *this = probe;
    out = std::move(s);
    return true;
  }
  return false;
}

bool TermReader::tuple_header(std::size_t& arity) {
  int i = index_;
  int a;
  if (str_left_ > 0 || at_end() || ei_decode_tuple_header(data_, &i, &a) < 0) return false;
  arity = static_cast<std::size_t>(a);
  index_ = i;
  return true;
}

bool TermReader::list_header(std::size_t& n) {
  if (str_left_ > 0 || at_end()) return false;
  const int tag = peek();
  if (tag == ERL_STRING_EXT) {  // [1,2,3] as Erlang sends it: read its bytes one by one
    const auto* p = reinterpret_cast<const unsigned char*>(data_ + index_ + 1);
    n = be16(p);
    index_ += 3;
    str_left_ = n;
    in_string_ = n > 0;
    return true;
  }
  int i = index_;
  int a;
  if (ei_decode_list_header(data_, &i, &a) < 0) return false;
  n = static_cast<std::size_t>(a);
  index_ = i;
  return true;
}

bool TermReader::end_list() {
  if (in_string_) {
    if (str_left_ != 0) return false;
    in_string_ = false;
    return true;
  }
  if (peek() != ERL_NIL_EXT) return false;  // an improper list
  ++index_;
  return true;
}

bool TermReader::map_header(std::size_t& pairs) {
  int i = index_;
  int a;
  if (str_left_ > 0 || at_end() || ei_decode_map_header(data_, &i, &a) < 0) return false;
  pairs = static_cast<std::size_t>(a);
  index_ = i;
  return true;
}

bool TermReader::pid(Pid& p) {
  int i = index_;
  erlang_pid e;
  if (str_left_ > 0 || at_end() || ei_decode_pid(data_, &i, &e) < 0) return false;
  p = detail::dist::pid_from_parts(detail::dist::RemoteProc{e.node, e.num, e.serial, e.creation});
  index_ = i;
  return true;
}

bool TermReader::reference(Reference& r) {
  int i = index_;
  erlang_ref e;
  if (str_left_ > 0 || at_end() || ei_decode_ref(data_, &i, &e) < 0) return false;
  r.node = e.node;
  r.creation = e.creation;
  r.len = e.len;
  for (int k = 0; k < 5; ++k) r.n[static_cast<std::size_t>(k)] = k < e.len ? e.n[k] : 0;
  index_ = i;
  return true;
}

bool TermReader::raw(Term& t) {
  if (str_left_ > 0) {  // an element of a string: as the small integer it is
    TermWriter w;
    w.integer(static_cast<unsigned char>(data_[index_++]));
    --str_left_;
    t = Term::from_bytes(w.take());
    return true;
  }
  const int start = index_;
  if (!skip()) return false;
  t = Term::from_bytes(std::string(data_ + start, static_cast<std::size_t>(index_ - start)));
  return true;
}

bool TermReader::skip() {
  if (str_left_ > 0) {
    ++index_;
    --str_left_;
    return true;
  }
  if (at_end()) return false;
  const long len =
      Term::validate(data_ + index_, n_ - static_cast<std::size_t>(index_), false, nullptr);
  if (len < 0) return false;
  index_ += static_cast<int>(len);
  return true;
}

}  // namespace ergon
