// The distribution handshake (Erlang's version 6, OTP 23+), both sides, over an ergon::net
// Stream: every read and write parks the calling process, never its worker.
//
// Protocol (erts' dist_util.erl; each message is a 2-byte length and a body):
//   H1 the connecting side A sends send_name:  'N' Flags(8) Creation(4) NLen(2) Name
//   H2 the accepting side B answers status:   's' "ok" (or "nok" when it has a connection to
//      A, or one being set up that wins: A gives up this one)
//   H3 B sends its challenge:                  'N' Flags(8) Challenge(4) Creation(4) NLen(2) Name
//   H4 A answers challenge_reply:              'r' ChallengeA(4) MD5(Cookie ++ ChallengeB)
//   H5 B checks the digest (wrong: a wrong cookie, refused and logged, the socket closed) and
//      sends challenge_ack:                    'a' MD5(Cookie ++ ChallengeA)
//   H6 A checks it the same way.
// Challenges are printed as unsigned decimal. An accepting side also takes the old 'n'
// send_name (Version(2) Flags(4) Name) of a peer that did not learn our version from epmd.
//
// Flags: the ones OTP 25 requires (extended pids, references, UTF-8 atoms, maps, big
// creation, new floats and fun tags, export and bit binaries, the v6 handshake) plus
// DIST_MONITOR, DIST_MONITOR_NAME, UNLINK_ID and V4_NC, which this node implements, and
// nothing it does not (erts sends MONITOR_P only to a peer with both monitor flags: with
// DIST_MONITOR alone its monitors silently watch the connection only):
// no atom cache, no fragments, no SEND_SENDER, no aliases, no spawn. Not PUBLISHED: a hidden
// node (ergo's and eixx's users met this: a C node that claims PUBLISHED is pulled into
// global's mesh and must answer it).
//
// Rejected: erl_interface's own handshake (ei_connect / ei_accept) with its user-supplied
// socket callbacks pointed at ergon::net. The callbacks can park a process, but ei also keeps
// per-fd state in a process-wide table under a mutex and reports failures through a
// thread-specific erl_errno that a process moved to another worker mid-handshake reads on
// the wrong thread; it talks to epmd through its default blocking sockets whatever the
// callbacks (ei_epmd_connect_tmo passes no context); its flags are fixed; and a wrong cookie
// is an EIO like any other, so it could not be logged as what it is. The handshake is 150
// lines; the term codec is where ei earns its place.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ergon/net.hpp"

namespace ergon::detail::dist {

inline constexpr std::uint64_t kFlagExtendedReferences = 0x4;
inline constexpr std::uint64_t kFlagDistMonitor = 0x8;
inline constexpr std::uint64_t kFlagFunTags = 0x10;
inline constexpr std::uint64_t kFlagDistMonitorName = 0x20;
inline constexpr std::uint64_t kFlagNewFunTags = 0x80;
inline constexpr std::uint64_t kFlagExtendedPidsPorts = 0x100;
inline constexpr std::uint64_t kFlagExportPtrTag = 0x200;
inline constexpr std::uint64_t kFlagBitBinaries = 0x400;
inline constexpr std::uint64_t kFlagNewFloats = 0x800;
inline constexpr std::uint64_t kFlagUtf8Atoms = 0x10000;
inline constexpr std::uint64_t kFlagMapTag = 0x20000;
inline constexpr std::uint64_t kFlagBigCreation = 0x40000;
inline constexpr std::uint64_t kFlagHandshake23 = 0x1000000;
inline constexpr std::uint64_t kFlagUnlinkId = 0x2000000;
inline constexpr std::uint64_t kFlagMandatory25Digest = 0x4000000;
inline constexpr std::uint64_t kFlagV4Nc = std::uint64_t{0x4} << 32;

// What this node offers.
inline constexpr std::uint64_t kOurFlags =
    kFlagExtendedReferences | kFlagDistMonitor | kFlagDistMonitorName | kFlagFunTags |
    kFlagNewFunTags | kFlagExtendedPidsPorts | kFlagExportPtrTag | kFlagBitBinaries |
    kFlagNewFloats | kFlagUtf8Atoms | kFlagMapTag | kFlagBigCreation | kFlagHandshake23 |
    kFlagUnlinkId | kFlagMandatory25Digest | kFlagV4Nc;
// What a peer must offer (OTP 25's mandatory set, as this node relies on each).
inline constexpr std::uint64_t kRequiredFlags =
    kFlagExtendedReferences | kFlagExtendedPidsPorts | kFlagUtf8Atoms | kFlagNewFunTags |
    kFlagBigCreation | kFlagNewFloats | kFlagMapTag | kFlagHandshake23;

// A handshake that failed; what() says why (for the log line).
class HandshakeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Peer {
  std::string name;
  std::uint64_t flags = 0;
  std::uint32_t creation = 0;
};

struct Local {
  std::string name;
  std::string cookie;
  std::uint32_t creation = 0;
};

// H1..H6 as A. Throws HandshakeError (or net::Error).
Peer handshake_connect(net::Stream& s, const Local& me, net::Timeout timeout);
// H2..H5 as B. `accept(peer name)` says whether to go on ("ok") or refuse ("nok").
// Throws HandshakeError (or net::Error).
template <class F>
Peer handshake_accept(net::Stream& s, const Local& me, net::Timeout timeout, F&& accept);

// The two halves of handshake_accept, for the template: H1 received, and H2..H5.
Peer handshake_read_name(net::Stream& s, net::Timeout timeout);
void handshake_finish_accept(net::Stream& s, const Local& me, Peer& peer, bool ok,
                             net::Timeout timeout);

template <class F>
Peer handshake_accept(net::Stream& s, const Local& me, net::Timeout timeout, F&& accept) {
  Peer p = handshake_read_name(s, timeout);
  handshake_finish_accept(s, me, p, accept(p.name), timeout);
  return p;
}

}  // namespace ergon::detail::dist
