// The net layer's internals shared by its files: the checks every call makes, deadlines, and
// the errors (ergon/net.hpp is the API; core/io_handle.hpp the record and the readiness wait).
//
// Design
// ------
// Every socket call follows one shape: check the handle and the caller (Socket::use), make the
// system call, and on EAGAIN wait for readiness (io_wait, IW1..IW4) and make it again. A
// successful call costs the caller one reduction (detail::charge), so a process reading a fast
// socket in a loop still yields its worker. Errors name the call, the address and strerror.
#pragma once

#include <cstdint>
#include <string>

#include "core/io_handle.hpp"
#include "ergon/net.hpp"

namespace ergon::detail {
struct Process;
}

namespace ergon::net::detail_net {

// IoHandle::kind, for the address an error names.
enum Kind : std::uint8_t { kStream = 1, kListener = 2, kDatagram = 3 };

// The calling process, for a call that opens a socket: throws NotInProcess outside one, and
// Error in deterministic mode (the simulated network is not written yet).
ergon::detail::Process* opener(const char* what);
// The deadline a Timeout gives, on the runtime's clock (kNoDeadline for none).
std::int64_t deadline_of(const Timeout& t) noexcept;
// Registers `fd` (non-blocking already) for the calling process `p`; closes it on failure.
ergon::detail::IoHandle* open_fd(ergon::detail::Process* p, int fd, Kind kind, const char* what,
                                 const std::string& addr);
// A socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC, or Error.
int new_socket(int family, int type, const char* what, const std::string& addr);
// Waits for `d` readiness (IW1..IW4) or throws TimeoutError.
void wait_ready(ergon::detail::Process* p, ergon::detail::IoHandle* h, ergon::detail::IoDir d,
                std::int64_t deadline, const char* what, const std::string& addr,
                const char* where);
// "what(addr): strerror(err)" as net::Error.
[[noreturn]] void fail(const char* what, const std::string& addr, int err);
// The address an error about `h` names: the peer for a stream, else the local address.
std::string describe(const ergon::detail::IoHandle* h);
// Charges the reduction of a successful call.
void charged(ergon::detail::Process* p);

}  // namespace ergon::net::detail_net
