// The table of remote pids, and this node's name: how a Pid (one word) names a process of
// another node, and how pids map to Erlang's {Node, Id, Serial, Creation} and back.
//
// Design
// ------
// A remote pid is Pid(kRemoteBit | entry, 0) (ergon/pid.hpp). The entry indexes a table of
// RemoteProc{node, id, serial, creation}, interned: the same Erlang pid always gives the same
// Pid, so remote pids compare, hash and sit in maps like local ones. Entries are never freed
// (a Pid is a plain word that may be kept anywhere, so nothing knows when the last copy goes):
// a program that sees many short-lived remote processes grows the table by ~64 bytes each,
// up to 2^31 entries. Rejected: a generation per entry with reuse (the word has no room left
// for one beside a 31-bit entry and Pid's generation half is the entry's check: we keep that
// at 0 so Pid::generation() of a remote pid is not mistaken for a local one's).
//
// A local pid travels as {this node, index, generation, this node's creation}. A pid that
// names this node with another creation (an earlier run) is interned like a remote one; the
// router drops sends to it (the process it named is gone).
//
// Everything here is any thread, under one mutex (lookups of a Pid from the wire are not on
// any hot path ergon measures locally; the dist_pingpong bench pays them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ergon/pid.hpp"

namespace ergon::detail::dist {

struct RemoteProc {
  std::string node;
  std::uint32_t id = 0;
  std::uint32_t serial = 0;
  std::uint32_t creation = 0;
};

// This node's name ("nonode@nohost" before a node starts) and creation.
void set_local_node(const std::string& name, std::uint32_t creation);
std::string local_node();
std::uint32_t local_creation();

// The Pid for an Erlang pid.
Pid pid_from_parts(const RemoteProc& r);
// The Erlang pid of `p` (local or remote).
RemoteProc parts_of(Pid p);
// The entry of a remote pid; nullopt for a local pid or an unknown entry.
std::optional<RemoteProc> remote_of(Pid p);

}  // namespace ergon::detail::dist
