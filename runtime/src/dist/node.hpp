// The node's shared state: the peers (one entry per node pair, with the queue of frames that go
// to it), the tags of calls that came from Erlang, the encoders of remote_message<T>, and the
// frame builders. node.cpp runs the processes (kernel, acceptor, connections); remote.cpp is
// the Remote hook and the public calls that send.
//
// Design: who owns a connection
// -----------------------------
// N1 Every frame to node X, from any sender on any thread, is appended to X's PeerEntry::out
//    under the entry's mutex. The order of appends is the order on the wire: one connection
//    per node pair, one process (the connection's) writing it, frames taken in order.
// N2 The appender that finds the entry up and not yet kicked sets `kicked` and wakes the
//    connection process with a Kick message; the connection clears `kicked` as it takes the
//    whole queue (under the mutex), so no frame waits without a Kick on its way.
// N3 The appender that finds it down and not connecting sets `connecting` and asks the kernel
//    process (ConnectRequest), which spawns a connection process that connects, shakes hands
//    and becomes the entry's `conn` (N2 then holds). A failed connect drops the queue (as
//    Erlang drops messages to a node it cannot reach) and tells monitor_node's watchers.
// N4 A connection's end (EOF, tick timeout, bad frame, stop, its runtime's end) marks the
//    entry down under its mutex, drops its queue and sends NodeDown to its watchers, then the
//    Exits and Downs of links and monitors that crossed it (noconnection).
// Rejected: frames as messages to the connection process (a sender that finds no connection
// yet would go through the kernel while a later frame goes straight to the new connection:
// two paths, no order); a lock held across the socket write (a slow peer would stall every
// sender); the sender writing its frame itself when the queue is empty (one non-blocking send
// under the mutex, no Kick): measured with ergon-bench dist_pingpong, the round trip did not
// move (76-86 us against 84-88) and one-way messages/s fell from 735,000 to 50,000 ergon to
// ergon, 516,000 to 160,000 to erl, for a syscall per frame instead of one per queue.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ergon/dist.hpp"
#include "ergon/term.hpp"

namespace ergon::detail {
class Worker;
}

namespace ergon::detail::dist {

// Erlang's control message operations (erl_dist_protocol).
enum Op : int {
  kLink = 1,
  kSend = 2,
  kExit = 3,
  kUnlink = 4,
  kRegSend = 6,
  kExit2 = 8,
  kMonitorP = 19,
  kDemonitorP = 20,
  kMonitorPExit = 21,
  kUnlinkId = 35,
  kUnlinkIdAck = 36,
};

// The messages of the node's processes.
struct Kick {};
struct ConnectRequest {
  std::string node;
};
struct StopConnection {
  std::string reason;
};
struct StopKernel {};
struct ConnectResult {
  std::string node;
  bool ok;
};
// A remote process that a dist::call monitored has ended (MONITOR_P_EXIT).
struct RemoteDown {
  Reference ref;
  Term reason;
};

struct PeerEntry {
  explicit PeerEntry(std::string n) : name(std::move(n)) {}
  const std::string name;
  std::mutex mu;
  std::deque<std::string> out;  // guarded by mu: frames, in order (N1)
  Pid conn;                     // guarded by mu: the connection process while up
  bool up = false;              // guarded by mu
  bool kicked = false;          // guarded by mu (N2)
  bool connecting = false;      // guarded by mu (N3)
  std::vector<Pid> watchers;    // guarded by mu: monitor_node
  std::vector<Pid> waiters;     // guarded by mu: connect() callers
};

struct NodeState {
  std::mutex mu;
  bool running = false;           // guarded by mu
  ergon::dist::NodeOptions opts;  // guarded by mu; fixed while running
  std::string name;               // guarded by mu
  std::uint32_t creation = 0;
  Pid kernel;                                               // guarded by mu
  std::map<std::string, std::shared_ptr<PeerEntry>> peers;  // guarded by mu
  // Calls that came from Erlang ({'$gen_call', {From, Tag}, Req}): From::tag -> Tag's bytes,
  // until the one reply (remote.cpp). guarded by mu
  std::unordered_map<std::uint64_t, std::string> erl_tags;
  std::uint64_t next_tag = 1;  // guarded by mu
  std::uint64_t next_ref = 1;  // guarded by mu: references this node makes
  struct Encoder {
    ergon::dist::detail::EncodeFn fn;
    const char* (*name)() noexcept;
  };
  std::unordered_map<const void*, Encoder> encoders;  // guarded by mu
};

NodeState& state();

// The entry of `node`, made if missing; nullptr when no node runs.
std::shared_ptr<PeerEntry> peer(const std::string& node);

// A frame: the 4-byte length, 'p' (pass-through), the control term and the message term.
std::string frame(const Term& control, const Term* message);

// N1-N3: appends `frame` to `node`'s queue. From the Remote hook (`in_hook`: wakes with
// deliver_envelope on `w`) or from process code (wakes with ergon::send). False when no node
// runs or `node` is this node.
bool enqueue(const std::string& node, std::string frame, bool in_hook, Worker* w);

// The reason term of an ExitReason, and back.
Term reason_term(const ExitReason& r);
ExitReason reason_of(const Term& t);

// A new reference of this node.
Reference make_ref();

// stderr, one line, prefixed "ergon::dist: ".
void log(const std::string& line);

// Installs the Remote hook (once per program).
void install_hook();

}  // namespace ergon::detail::dist
