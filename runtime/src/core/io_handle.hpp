// IoHandle: the runtime's record of one open socket, its readiness and its owner.
//
// Design
// ------
// A socket is registered with its scheduler's Reactor (reactor.hpp) once, when it is opened,
// edge-triggered for reading and writing (Go's pollDesc, netpoll_epoll.go). Its record holds
// the fd, two readiness slots and the process that owns it. Records live in one table and are
// never freed, only reused (type-stable, like Process records): a poller holding a stale
// pointer from an epoll event, or a stale handle in user code, reads a valid record whose
// `seq` tells it the socket it meant is gone.
//
// Readiness slots (`rg` for reading, `wg` for writing), each 0, kReady or a waiting Process*:
//   IW1 the owner's syscall returned EAGAIN.
//   IW2 it CASes its slot 0 -> p. Finding kReady instead (an edge came since the syscall), it
//       resets the slot to 0 and retries the syscall without waiting.
//   IW3 it moves its inbox to its cache (so that only a new message, not an old one, ends the
//       wait; `or_message` skips that, so a message no receive has fetched yet ends it) and
//       waits (detail::wait: a kill, a message, the deadline or the reactor).
//   IW4 it exchanges the slot to 0. kReady: the reactor woke it, retry the syscall. Still p:
//       woken by something else: a deadline that passed is a timeout; a wait that asked for
//       it (`or_message`, Stream::write_some) returns kMessage, so the process can serve the
//       message that came; anything else is a spurious wake-up, back to IW2. A kill unwinds
//       from IW3, and the guard does IW4.
//   PE1 the poller, for an edge: exchanges the slot to kReady; if it held a process, wakes it
//       through the mailbox's notify (MpscInbox U2), so a wake-up that comes before the
//       process blocks makes its block fail instead of being lost.
// IW2 and PE1 are RMWs on one word, so in its modification order either the poller sees the
// waiter (and wakes it) or the waiter sees kReady (and does not wait). An edge is only raised
// after the data that the EAGAIN missed arrived, so no readiness falls between the two.
//
// Stale events (a socket closed, its fd reused): an event carries the record's address and
// the low 16 bits of its `seq`, which close() increments. The poller drops an event whose tag
// does not match. An event that passed the check just before a close can still set kReady on
// the record's next socket or wake its next waiter: a spurious wake-up, which IW4 tolerates
// (one more syscall that returns EAGAIN). 16 bits: a stale event would have to stay in flight
// across 65,536 reuses of one record.
//
// Ownership (Erlang's controlling process): a socket belongs to the process that opened it,
// in that process's list `Process::io_owned`, guarded by the owner's sig_lock. Only the owner
// may use it; hand_to moves it to another live process under both locks (lock_two). When the
// owner ends, the core closes what is left in its list (close_owned, after Lifecycle::ending
// set `exiting`, so no hand-off can add to the list after it was taken). close() may be called
// by anyone holding the handle (a handle destroyed off its owner, say in a dropped message);
// the CAS on `seq` makes exactly one close win.
//
// Rejected: a reference count per socket (every read and write would pay an RMW); an fd-indexed
// table (a reused fd would need the sequence anyway, and fds are sparse across runtimes).
#pragma once

#include <atomic>
#include <cstdint>

#include "ergon/pid.hpp"

namespace ergon::detail {

struct Process;
class Reactor;

enum class IoDir : std::uint8_t { kRead, kWrite };

// What a wait for readiness ended with.
enum class IoWait : std::uint8_t {
  kReady,     // retry the syscall
  kTimedOut,  // the deadline passed first
  kMessage,   // with or_message: woken by something else, most likely a message (IW4)
};

struct IoHandle {
  static constexpr std::uintptr_t kReady = 1;

  int fd = -1;
  // Bumped (acq_rel CAS) by the close that wins; read (acquire) by the poller's stale-event
  // check and by every use of a handle. Never reset: a record's sockets count on from the last.
  std::atomic<std::uint32_t> seq{0};
  // 0, kReady or a waiting Process* (see IW1..IW4, PE1). RMWs by the owner and the pollers.
  std::atomic<std::uintptr_t> rg{0}, wg{0};
  // The owning process, or nullptr while closed. Written under the owner's sig_lock (open,
  // hand_to, close, close_owned); read by the owner without it (only the owner writes it while
  // it lives) and by close() to find the lock. acquire/release: see close().
  std::atomic<Process*> owner{nullptr};
  IoHandle* owned_prev = nullptr;  // the owner's list, guarded by the owner's sig_lock
  IoHandle* owned_next = nullptr;
  Reactor* reactor = nullptr;     // set while open
  IoHandle* free_next = nullptr;  // the table's free list, guarded by its lock
  // Active mode (net.hpp, Stream::set_active_once): a hook (void (*)(IoHandle*)) that the
  // poller calls instead of waking a reader, 0 when none, or kHookBusy while one runs. The net
  // layer arms it; the core only calls it (a hook, as hooks.hpp's). The poller that CASes it
  // to kHookBusy runs it, so once per arming; the hook stores 0 (or re-arms) when done, and
  // io_close waits out a busy hook before it closes the fd (the hook reads from it).
  // PE2: the poller does PE1 first, then loads this (both seq_cst); the armer stores it, then
  // exchanges `rg` to 0 (both seq_cst): either the poller sees the hook, or the armer sees
  // kReady and reads again itself.
  static constexpr std::uintptr_t kHookBusy = 1;
  std::atomic<std::uintptr_t> on_readable{0};
  // The net layer's tag for what the fd is (net/socket.hpp), set while open; the core does
  // not read it.
  std::uint8_t kind = 0;

  std::atomic<std::uintptr_t>& slot(IoDir d) noexcept { return d == IoDir::kRead ? rg : wg; }
};

// Opens a record for `fd` (non-blocking already), owned by `owner`, registered with `r`.
// Throws SysError (util/sys_errno.hpp) naming `what`, with the errno, if epoll refuses it (the
// fd is not closed then).
IoHandle* io_open(Reactor& r, int fd, Process* owner, std::uint8_t kind, const char* what);
// Closes the socket `h` held at sequence `seq`: deregisters and closes the fd, frees the
// record. Any thread. false: it was closed already (by its owner's end, or another close).
bool io_close(IoHandle* h, std::uint32_t seq) noexcept;
// The owner only: moves `h` to the live process `to`. false: `to` is not alive (or ending).
bool io_hand_to(IoHandle* h, Process* from, Process* to, Pid to_pid) noexcept;
// The end of process `p` (process code, after Lifecycle::ending): closes what it still owns.
void io_close_owned(Process* p) noexcept;
// IW2..IW4 for process `p`, the owner of `h`, whose syscall returned EAGAIN. Throws what
// detail::wait throws (a kill, an interrupt), with the slot cleared.
// `where` names the wait for process_info (a static string).
IoWait io_wait(Process* p, IoHandle* h, IoDir d, std::int64_t deadline_ns, const char* where,
               bool or_message = false);
// Records open now, in every runtime (tests check for leaks with it).
std::int64_t io_open_count() noexcept;

}  // namespace ergon::detail
