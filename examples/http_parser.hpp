// HttpParser: an incremental HTTP/1.x request parser for examples/http_hello.cpp and
// bench/ergon-net-server (header-only, no dependencies).
//
// Design
// ------
// Bytes go in as they arrive (feed); next() hands out one complete request at a time, so a
// request split across any number of reads waits for its end, and several pipelined requests
// in one read come out one after the other, in order.
//   H1 find the end of the head ("\r\n\r\n"), scanning only the bytes not scanned before (a
//      head split across reads is not rescanned from its start);
//   H2 check the head: a request line "METHOD SP target SP HTTP/1.d" (a token method, a target
//      without spaces or control bytes) and header lines "name: value" (a token name);
//   H3 read Connection (keep-alive: HTTP/1.1's default, HTTP/1.0's only with keep-alive) and
//      Content-Length; Transfer-Encoding is not supported (bad input, as a body we cannot
//      delimit);
//   H4 wait for the body (Content-Length bytes) and skip it; the request is complete.
// Anything malformed, or a head over kMaxHead bytes, is kBad: the server answers 400 and
// closes that connection, and the parser is of no further use.
//
// Rejected: a callback parser in the style of llhttp (more code than the examples need); a
// regular expression (slow, and it cannot say "incomplete" from "bad").
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

namespace http {

class Parser {
 public:
  // 64 KiB: the incomplete head the benchmark contract allows before it closes
  // (../shared/peers/net/README.md); nginx's large_client_header_buffers is 32 KiB.
  static constexpr std::size_t kMaxHead = 64 * 1024;

  enum class Result { kRequest, kNeedMore, kBad };
  struct Request {
    std::string_view method;  // valid until the next feed() or next()
    std::string_view target;
    int minor = 1;  // HTTP/1.<minor>
    bool keep_alive = true;
  };

  void feed(const char* p, std::size_t n) {
    // Drop what was consumed, now and then (not while a body is pending: pending_ views it).
    if (pos_ > 0 && pos_ >= buf_.size() / 2 && body_left_ == 0) {
      buf_.erase(0, pos_);
      scan_ -= pos_;
      pos_ = 0;
    }
    buf_.append(p, n);
  }

  // The next complete request, kNeedMore until one is, or kBad for good.
  Result next(Request& r) {
    if (bad_) return Result::kBad;
    if (body_left_ > 0) {  // H4 of the previous head
      const std::size_t have = buf_.size() - pos_;
      if (have < body_left_) return Result::kNeedMore;
      pos_ += body_left_;
      body_left_ = 0;
      r = pending_;
      scan_ = pos_;
      return Result::kRequest;
    }
    // H1.
    const std::size_t from = scan_ > pos_ + 3 ? scan_ - 3 : pos_;
    const char* base = buf_.data();
    const void* end =
        buf_.size() > from ? ::memmem(base + from, buf_.size() - from, "\r\n\r\n", 4) : nullptr;
    if (end == nullptr) {
      scan_ = buf_.size();
      if (buf_.size() - pos_ > kMaxHead) return fail();
      return Result::kNeedMore;
    }
    const std::size_t head_end = static_cast<std::size_t>(static_cast<const char*>(end) - base) + 4;
    if (head_end - pos_ > kMaxHead) return fail();
    std::string_view head(base + pos_, head_end - pos_ - 2);  // each line ends in \r\n
    Request req;
    std::size_t content_length = 0;
    if (!parse_head(head, req, content_length)) return fail();  // H2, H3
    pos_ = head_end;
    scan_ = pos_;
    if (content_length > 0) {  // H4
      body_left_ = content_length;
      pending_ = req;
      return next(r);
    }
    r = req;
    return Result::kRequest;
  }

  bool bad() const noexcept { return bad_; }
  std::size_t buffered() const noexcept { return buf_.size() - pos_; }

 private:
  Result fail() {
    bad_ = true;
    return Result::kBad;
  }
  static bool is_tchar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
  }
  static bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      char x = a[i], y = b[i];
      if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
      if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
      if (x != y) return false;
    }
    return true;
  }
  static std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  }
  static bool contains_token(std::string_view list, std::string_view token) {
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      if (iequals(trim(list.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    return false;
  }

  // H2 and H3 over `head`: lines ending in "\r\n", the empty line excluded.
  static bool parse_head(std::string_view head, Request& r, std::size_t& content_length) {
    std::size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    // Request line.
    const std::size_t sp1 = line.find(' ');
    if (sp1 == 0 || sp1 == std::string_view::npos) return false;
    r.method = line.substr(0, sp1);
    for (char c : r.method)
      if (!is_tchar(c)) return false;
    const std::size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return false;
    r.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    for (char c : r.target)
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
    const std::string_view version = line.substr(sp2 + 1);
    if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' ||
        version[7] > '9')
      return false;
    r.minor = version[7] - '0';
    r.keep_alive = r.minor >= 1;
    bool have_length = false;
    // Header lines.
    while (eol != std::string_view::npos) {
      head.remove_prefix(eol + 2);
      if (head.empty()) break;
      eol = head.find("\r\n");
      line = head.substr(0, eol);
      const std::size_t colon = line.find(':');
      if (colon == 0 || colon == std::string_view::npos) return false;
      const std::string_view name = line.substr(0, colon);
      for (char c : name)
        if (!is_tchar(c)) return false;
      const std::string_view value = trim(line.substr(colon + 1));
      for (char c : value)
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return false;
      if (iequals(name, "connection")) {
        if (contains_token(value, "close")) r.keep_alive = false;
        if (contains_token(value, "keep-alive")) r.keep_alive = true;
      } else if (iequals(name, "content-length")) {
        if (value.empty() || value.size() > 12 || have_length) return false;
        std::size_t n = 0;
        for (char c : value) {
          if (c < '0' || c > '9') return false;
          n = n * 10 + static_cast<std::size_t>(c - '0');
        }
        content_length = n;
        have_length = true;
      } else if (iequals(name, "transfer-encoding")) {
        return false;  // H3: not supported
      }
    }
    return true;
  }

  std::string buf_;
  std::size_t pos_ = 0;   // the first byte not consumed
  std::size_t scan_ = 0;  // bytes up to here were searched for the end of a head (H1)
  std::size_t body_left_ = 0;
  Request pending_;  // the request whose body H4 waits for (views into buf_ before pos_)
  bool bad_ = false;
};

// The response every request gets in these examples (the benchmark contract's 78 bytes).
inline constexpr std::string_view kHello =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";
inline constexpr std::string_view kBadRequest =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

// Appends to `out` the answer to every complete request `parser` holds: kHello each, kBadRequest
// for a malformed one. Returns true when the connection is to be closed after `out` is written
// (a bad request, or one without keep-alive); false when the parser needs more bytes.
inline bool answer_requests(Parser& parser, std::string& out) {
  Parser::Request r;
  for (Parser::Result res; (res = parser.next(r)) != Parser::Result::kNeedMore;) {
    if (res == Parser::Result::kBad) {
      out += kBadRequest;
      return true;
    }
    out += kHello;
    if (!r.keep_alive) return true;
  }
  return false;
}

}  // namespace http
