// Calls: the out-of-line steps of ergon::call and ergon::reply (ergon/call.hpp).
//
// Design
// ------
// A call is gen_server:call's protocol with OTP 24's process aliases. The caller C calls the
// server S; the tag is the id of the monitor C holds on S for the call's duration.
//   C1 C makes a receive marker: the reply and the Down are looked for only after it.
//   C2 C monitors S (monitor.cpp, M1). A dead S answers with Down{noproc} at once.
//   C3 C activates its alias: Process::alias = tag. One call at a time per process (call
//      blocks), so one word is enough.
//   C4 C sends Call<Req>{From{C, tag, reply type}, request} to S.
//   C5 C receives through the marker: Reply<R> with the tag, or the Down of its monitor, or
//      the timeout.
//   C6 Unless it got the Reply, C withdraws the alias: CAS(tag -> 0). If the CAS fails, a
//      reply() claimed the alias first (R1): its Reply is in the mailbox or on its way, and C
//      takes it (a committed reply wins over a Down or a timeout that came at the same time).
//   C7 C takes the monitor off, flushing its Down (demonitor(ref, flush)), unless the Down
//      came: then the monitor has fired already.
// And the replier (S, or any process or thread that holds the From):
//   R1 claims the alias: CAS(C.alias: tag -> 0). Failure: C gave up (C6 won), or another
//      reply to this call came first, or C has ended: the Reply is disposed of, never pushed.
//   R2 pushes the Reply (post_envelope: no crash point, so nothing can stop a claimed Reply
//      between R1 and the push; C may be waiting for it without a timeout, C6).
// So a Reply lands in C's mailbox only while C's call with that tag waits for it, and exactly
// one Reply per call lands, or none: a late reply never reaches the mailbox, unlike
// gen_server before OTP 24, where a late {Tag, Reply} stayed in the caller's queue forever.
//
// Invariants: C.alias is 0 or the tag of the call C waits in. Tags are monitor ids, unique
// for the program's life, so a claim can never succeed against a later call, or against a
// later process in C's record (born resets the alias; a claim that won just before the reset
// pushes to C's old pid, which the generation check drops).
//
// Rejected:
//   - Dropping late replies in the mailbox (a per-process set of dead tags, checked at fetch
//     or at receive): the check would sit on every receive's path, which pays for it even in
//     processes that never call; and the set of dead tags grows with every timeout.
//   - A fresh process (or a proxy) per call, as early Erlang libraries did: a spawn per call
//     (~1,800 instructions, bench/budget.txt) is more than the whole budget of a call.
//   - A tag of its own instead of the monitor id: a second counter RMW per call for nothing.
#include "ergon/call.hpp"

#include <atomic>
#include <cstring>
#include <string>

#include "core/process.hpp"
#include "core/process_table.hpp"
#include "core/send.hpp"
#include "otp/monitor.hpp"

namespace ergon::detail {
namespace {

// "T" out of "... reply_type_name() [with T = T; ...]" (GCC) or "[T = T]" (Clang).
std::string type_name_of(const char* pretty) {
  if (pretty == nullptr) return "?";
  const char* at = std::strstr(pretty, "T = ");
  if (at == nullptr) return pretty;
  at += 4;
  std::size_t n = std::strcspn(at, ";]");
  return std::string(at, n);
}

std::string ms_text(std::int64_t ns) {
  return std::to_string(ns / 1000000) +
         (ns % 1000000 != 0 ? "." + std::to_string(ns % 1000000 / 100000) : "") + " ms";
}

}  // namespace

namespace {
[[gnu::cold, gnu::noinline]] void throw_bad_target(Pid server, const char* what) {
  if (!server) {
    throw CallError(std::string(what) +
                        ": the target is Pid{}, which names no process; pass the "
                        "pid spawn or start_server returned",
                    server, ExitReason{ExitReason::Kind::kNoProc, ""});
  }
  throw CallError(std::string(what) + ": process " + server.to_string() +
                      " called itself; it cannot answer while it waits (answer the request "
                      "directly, or call another process)",
                  server, ExitReason::user("calling_self"));
}
}  // namespace

Ref call_begin(Process* self, Pid server, const char* what, Pid& me) {
  me = self->pid();
  if (!server || server == me) [[unlikely]]
    throw_bad_target(server, what);
  const Ref ref = monitor_as(self, server, std::string());  // C2
  // C3. relaxed: the request's push (release, C4) orders this store before any replier's
  // claim, which can only know the tag from the request (or from a copy made after it).
  self->alias.store(ref.id(), std::memory_order_relaxed);
  return ref;
}

Pid call_resolve(std::string_view name, const char* what) {
  const Pid pid = whereis(name);
  if (!pid) {
    throw CallError(std::string(what) + ": no process is registered as \"" + std::string(name) +
                        "\" (noproc); start the server first, or check with ergon::whereis",
                    Pid{}, ExitReason{ExitReason::Kind::kNoProc, ""});
  }
  return pid;
}

bool call_withdraw(Process* self, std::uint64_t tag) noexcept {
  std::uint64_t expected = tag;
  // C6. relaxed: the alias only arbitrates between this CAS and a replier's (R1); the modification
  // order alone decides which wins, and nothing is read through the word (the Reply itself
  // travels through the mailbox, whose push and fetch order it).
  return self->alias.compare_exchange_strong(expected, 0, std::memory_order_relaxed);
}

void call_end(Process* self, const Ref& ref) { (void)demonitor_as(self, ref, true); }  // C7

void throw_call_down(Pid server, const Down& d, const char* what) {
  if (d.reason.kind == ExitReason::Kind::kNoProc) {
    throw CallError(std::string(what) + ": no process " + server.to_string() +
                        " (noproc: it has ended, or never was)",
                    server, d.reason);
  }
  throw CallError(std::string(what) + ": the server " + server.to_string() + " ended (" +
                      d.reason.to_string() + ") before it replied",
                  server, d.reason);
}

void throw_call_timeout(Pid server, std::int64_t timeout_ns, const char* what) {
  throw CallTimeout(std::string(what) + ": no reply from " + server.to_string() + " within " +
                        ms_text(timeout_ns) +
                        " (the server is alive but busy, or it does not answer this request; a "
                        "reply that comes later is dropped)",
                    server);
}

void send_reply(const From& from, mailbox::Envelope* e) {
  if (from.pid.is_remote()) [[unlikely]] {
    // A caller on another node (a gen_server:call from Erlang, ergon/dist.hpp): its alias lives
    // there, so the Reply goes to the distribution library's Remote hook, which sends {Tag,
    // Value} once and forgets the tag.
    post_envelope(from.pid, e);
    return;
  }
  Process* c = from.pid ? ProcessTable::instance().lookup(from.pid.index()) : nullptr;
  std::uint64_t expected = from.tag;
  // R1. relaxed: see call_withdraw, its partner.
  if (c == nullptr || from.tag == 0 ||
      !c->alias.compare_exchange_strong(expected, 0, std::memory_order_relaxed)) {
    mailbox::dispose(e);  // the call gave up, was answered already, or its caller has ended
    return;
  }
  post_envelope(from.pid, e);  // R2
}

void throw_reply_mismatch(const From& from, const char* sent) {
  if (!from) {
    throw Error(
        "ergon::reply: an empty From (default-constructed); reply to the `from` of the "
        "Call<Req> the server received");
  }
  throw Error("ergon::reply: the caller " + from.pid.to_string() + " expects a reply of type " +
              type_name_of(from.reply_type()) + ", but this reply is a " + type_name_of(sent) +
              "; reply with the type the caller gave ergon::call (Req::Reply)");
}

}  // namespace ergon::detail
