// Pid: the name of a process.
//
// A Pid is one 64-bit word: the process's slot index in the process table (low 32 bits) and
// the slot's generation (high 32 bits). A slot's generation changes every time a process in it
// ends, so a stale Pid never reaches the newer process that reuses the slot: a send to it is
// dropped and counted, as a send to a dead process is in Erlang. Pids are cheap to copy, hash
// and compare, and they stay valid (as names) after the runtime that made them is gone.
//
// A pid of a process on another Erlang node (ergon/dist.hpp) has bit 31 of its index set
// (kRemoteBit: the process table holds 2^26 records, far below it); the rest of the index
// numbers an entry of the distribution library's table of remote pids, which holds the
// node, id, serial and creation. A send to it goes over that node's connection.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

namespace ergon {

class Pid {
 public:
  constexpr Pid() noexcept = default;
  constexpr Pid(std::uint32_t index, std::uint32_t generation) noexcept
      : raw_((static_cast<std::uint64_t>(generation) << 32) | index) {}

  constexpr std::uint32_t index() const noexcept { return static_cast<std::uint32_t>(raw_); }
  constexpr std::uint32_t generation() const noexcept {
    return static_cast<std::uint32_t>(raw_ >> 32);
  }
  constexpr std::uint64_t raw() const noexcept { return raw_; }
  // The index bit that marks a pid of another node (see the top).
  static constexpr std::uint32_t kRemoteBit = 1u << 31;
  constexpr bool is_remote() const noexcept { return (index() & kRemoteBit) != 0; }
  static constexpr Pid from_raw(std::uint64_t raw) noexcept {
    Pid p;
    p.raw_ = raw;
    return p;
  }
  // The default-constructed Pid names no process.
  constexpr explicit operator bool() const noexcept { return raw_ != 0; }

  friend constexpr bool operator==(Pid a, Pid b) noexcept { return a.raw_ == b.raw_; }
  friend constexpr bool operator!=(Pid a, Pid b) noexcept { return a.raw_ != b.raw_; }
  friend constexpr bool operator<(Pid a, Pid b) noexcept { return a.raw_ < b.raw_; }

  // Erlang's notation: <0.INDEX.GENERATION>; a remote pid shows as <R.ENTRY.0> (its node is
  // in the distribution library's table: ergon::dist::describe).
  std::string to_string() const {
    if (is_remote()) return "<R." + std::to_string(index() & ~kRemoteBit) + ".0>";
    return "<0." + std::to_string(index()) + "." + std::to_string(generation()) + ">";
  }
  friend std::ostream& operator<<(std::ostream& os, Pid p) { return os << p.to_string(); }

 private:
  std::uint64_t raw_ = 0;
};

}  // namespace ergon

template <>
struct std::hash<ergon::Pid> {
  std::size_t operator()(ergon::Pid p) const noexcept {
    return std::hash<std::uint64_t>{}(p.raw());
  }
};
