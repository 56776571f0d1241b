// Monitors: be told when another process ends, and why (Erlang's monitor/2).
//
//   ergon::Ref r = ergon::monitor(worker);
//   ergon::receive([&](const ergon::Down& d) {   // d.ref == r, d.pid == worker
//     if (!d.reason.normal()) log(d.reason.to_string());
//   });
//
// monitor(pid) makes the runtime send the caller one Down message when `pid` ends, with the
// reason. Monitoring a process that has ended already, or a pid that names none, sends Down
// with reason noproc at once. Monitors stack: each call is its own, with its own Ref and its
// own Down. monitor(name) monitors the process registered as `name` at the call, and its
// Downs carry the name. demonitor(ref) cancels one; with flush it also removes its Down if that was
// sent already. Down travels like any message: after everything the ended process sent before it
// ended. As in Erlang, a process that ends first drops the monitors it holds:
// its targets forget it at once, not when they end.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "ergon/pid.hpp"

namespace ergon {

// Why a process ended.
struct ExitReason {
  enum class Kind : std::uint8_t {
    kNormal,     // its function returned
    kException,  // an exception escaped it; `what` has its what()
    kShutdown,   // the runtime ended it (Runtime::run returning, or the runtime's end), or a
                 // supervisor did; `what` may add a detail (Erlang's {shutdown, Detail})
    kNoProc,     // (in Down and Exit only) the pid named no live process
    kKill,       // (ergon::exit(pid, ...) only) an exit signal that cannot be trapped
    kKilled,     // it was ended by a kill signal
    kUser,       // ergon::exit with a reason of the program's own; `what` holds it
  };
  Kind kind = Kind::kNormal;
  std::string what;

  bool normal() const noexcept { return kind == Kind::kNormal; }
  // "normal", "exception: <what>", "shutdown" (or "shutdown: <what>"), "noproc", "kill",
  // "killed" or "<what>".
  std::string to_string() const;

  static ExitReason normal_exit() { return ExitReason{}; }
  static ExitReason kill() { return ExitReason{Kind::kKill, ""}; }
  static ExitReason user(std::string what) { return ExitReason{Kind::kUser, std::move(what)}; }
  // The reason of a process that overflowed its stack and was ended alone
  // (Options::on_stack_overflow = kEndProcess): kUser with what "stack_overflow", the way
  // Erlang names a reason (an atom), so to_string() gives "stack_overflow", and supervisors and
  // nurseries treat it as the abnormal end it is without a Kind of its own to handle.
  static ExitReason stack_overflow() { return user("stack_overflow"); }
  bool is_stack_overflow() const noexcept {
    return kind == Kind::kUser && what == "stack_overflow";
  }
};

// "normal", "exception", "shutdown", "noproc", "kill", "killed", "user".
const char* to_string(ExitReason::Kind k) noexcept;
inline std::ostream& operator<<(std::ostream& os, ExitReason::Kind k) { return os << to_string(k); }
inline std::string to_string(const ExitReason& r) { return r.to_string(); }
inline std::ostream& operator<<(std::ostream& os, const ExitReason& r) {
  return os << r.to_string();
}

// The name of one monitor (or, later, of one request): unique within the program.
class Ref {
 public:
  Ref() = default;
  std::uint64_t id() const noexcept { return id_; }
  Pid target() const noexcept { return target_; }  // the monitored pid
  explicit operator bool() const noexcept { return id_ != 0; }
  friend bool operator==(const Ref& a, const Ref& b) noexcept { return a.id_ == b.id_; }
  friend bool operator!=(const Ref& a, const Ref& b) noexcept { return a.id_ != b.id_; }
  std::string to_string() const;  // "#Ref<N>"

  // For the runtime.
  static Ref make(std::uint64_t id, Pid target) noexcept {
    Ref r;
    r.id_ = id;
    r.target_ = target;
    return r;
  }

 private:
  std::uint64_t id_ = 0;
  Pid target_;
};

// The message a monitor delivers.
struct Down {
  Ref ref;
  Pid pid;  // the process that ended; Pid{} when a monitor by name found nobody
  ExitReason reason;
  std::string name;  // the registered name a monitor by name was made with; empty otherwise
};

// Starts monitoring `pid` for the calling process. Throws NotInProcess outside a process.
Ref monitor(Pid pid);
// Starts monitoring the process registered as `name` now (Erlang's monitor(process, Name)).
// The name is resolved once, here: the monitor then follows that process, not the name. Every
// Down of this monitor carries `name`; if nobody holds the name, Down{noproc} with pid Pid{}
// arrives at once. ref.target() is the process found (Pid{} if none). Throws NotInProcess
// outside a process.
Ref monitor(std::string_view name);
// Cancels the monitor `ref` of the calling process. Returns true if it was active: then no
// Down of it ever comes. With `flush`, also removes its Down from the caller's mailbox if it
// was sent (waiting, if the target is sending it right now, until it is there). A ref the
// caller does not hold (cancelled, fired, or another process's) cancels nothing. Throws
// NotInProcess outside a process.
bool demonitor(const Ref& ref, bool flush = false);

}  // namespace ergon

namespace ergon {
inline std::string to_string(const Ref& r) { return r.to_string(); }
inline std::ostream& operator<<(std::ostream& os, const Ref& r) { return os << r.to_string(); }
inline std::string to_string(Pid p) { return p.to_string(); }
}  // namespace ergon

template <>
struct std::hash<ergon::Ref> {
  std::size_t operator()(const ergon::Ref& r) const noexcept {
    return std::hash<std::uint64_t>{}(r.id());
  }
};
