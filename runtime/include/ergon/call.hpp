// Calls: request/reply with a timeout, as gen_server:call does it (and cast, reply).
//
//   struct Get { using Reply = std::string; std::string key; };   // Reply: what a call returns
//   std::string v = ergon::call(kv, Get{"a"}, std::chrono::milliseconds(100));
//   ergon::cast(kv, Clear{});                                     // fire and forget
//
//   // the server side, by hand (ergon::Server does this for you, server.hpp):
//   ergon::receive([](ergon::Call<Get>& c) { ergon::reply(c.from, lookup(c.request.key)); });
//
// call(target, request, timeout) sends `request` to `target` (a pid or a registered name) and
// waits for its reply. Outcomes:
//   - the reply: call returns it;
//   - nothing within `timeout`: throws CallTimeout (the reply, if it ever comes, is dropped
//     before it reaches the caller's mailbox: it never lands there);
//   - the server ends before it replies: throws CallError with the server's exit reason, as
//     soon as it ends (not at the timeout);
//   - the target names no live process (a dead pid, a name nobody holds): throws CallError
//     with reason noproc;
//   - the target is the caller itself: throws CallError with reason calling_self (it could
//     only time out).
// The reply type R is Req::Reply when the request declares one, else the first template
// argument: ergon::call<int>(pid, Square{3}, 50ms). A void reply is allowed (call returns once
// the server has handled it). The timeout may be ergon::kInfinity (wait as long as the server
// lives).
//
// The wire form, one message pair (so that Erlang's {'$gen_call', {From, Tag}, Request} and
// its reply {Tag, Reply} map onto it one to one):
//   Call<Req>  { From from; Req request; }   caller -> server; From = {pid, tag, reply type}
//   Reply<R>   { std::uint64_t tag; R value; }   replier -> caller, only through reply()
//   Cast<Msg>  { Msg msg; }                  cast's message; no reply
// A Reply is only ever delivered while the caller's call with that tag is waiting for it
// (docs/design.md, "Calls and aliases"): reply() claims the caller's alias first, and a
// caller that gave up has withdrawn it.
//
// call() must run in a process (NotInProcess otherwise); reply() works from any process or
// thread, any number of times (all but the first reply to one call are dropped).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "ergon/detail/api.hpp"
#include "ergon/errors.hpp"
#include "ergon/mailbox/message.hpp"
#include "ergon/monitor.hpp"
#include "ergon/pid.hpp"
#include "ergon/receive.hpp"
#include "ergon/registry.hpp"

namespace ergon {

// A timeout that never expires, for call() and stop_server().
inline constexpr std::chrono::milliseconds kInfinity = std::chrono::milliseconds::max();

// The reply type of a void call (what Reply<void> carries).
struct Unit {
  friend bool operator==(Unit, Unit) noexcept { return true; }
};

namespace detail {
// The name of T, for error messages (GCC and Clang spell it inside __PRETTY_FUNCTION__). Its
// address is also T's reply-type tag: one function per T in a program.
template <class T>
const char* reply_type_name() noexcept {
  return __PRETTY_FUNCTION__;
}
using ReplyTypeFn = const char* (*)() noexcept;
}  // namespace detail

// Who waits for a reply: the caller, the call's tag and the type the caller expects. A server
// that answers later (or from another process) keeps it and calls reply(from, value).
struct From {
  Pid pid;
  std::uint64_t tag = 0;
  detail::ReplyTypeFn reply_type = nullptr;
  explicit operator bool() const noexcept { return tag != 0; }
};

// The request of a call, as the server receives it.
template <class Req>
struct Call {
  From from;
  Req request;
};

// The reply to the call with tag `tag`. Sent only by reply().
template <class R>
struct Reply {
  std::uint64_t tag;
  R value;
};

// The message of a cast.
template <class Msg>
struct Cast {
  Msg msg;
};

// call() gave up: no reply within the timeout. The reply, if it comes later, is dropped.
class CallTimeout : public Error {
 public:
  CallTimeout(const std::string& what, Pid server) : Error(what), server_(server) {}
  Pid server() const noexcept { return server_; }

 private:
  Pid server_;
};

// call() failed: the server ended before it replied (reason() is its exit reason), or there was
// no server (noproc), or the caller called itself (reason calling_self).
class CallError : public Error {
 public:
  CallError(const std::string& what, Pid server, ExitReason reason)
      : Error(what), server_(server), reason_(std::move(reason)) {}
  Pid server() const noexcept { return server_; }
  const ExitReason& reason() const noexcept { return reason_; }

 private:
  Pid server_;
  ExitReason reason_;
};

namespace detail {

template <class Req, class = void>
struct DeclaredReply {
  using Type = void;
  static constexpr bool kDeclared = false;
};
template <class Req>
struct DeclaredReply<Req, std::void_t<typename Req::Reply>> {
  using Type = typename Req::Reply;
  static constexpr bool kDeclared = true;
};
// What travels in Reply<>: void becomes Unit.
template <class R>
using ReplyWire = std::conditional_t<std::is_void_v<R>, Unit, R>;

// Out of line (otp/call.cpp); the steps are named in docs/design.md, "Calls and aliases".
// C2+C3: monitors `server` and activates the caller's alias with the monitor's id as the tag.
// Throws CallError for a null pid or the caller itself.
// `me` gets the caller's pid (for the From), which this reads anyway.
Ref call_begin(Process* self, Pid server, const char* what, Pid& me);
// The pid registered as `name`, or throws CallError(noproc) naming it.
Pid call_resolve(std::string_view name, const char* what);
// C6: withdraws the alias. True: no reply can land any more. False: a reply() claimed it
// first, and its Reply is in the mailbox or on its way.
bool call_withdraw(Process* self, std::uint64_t tag) noexcept;
// C7: the monitor off, with its Down if one was sent.
void call_end(Process* self, const Ref& ref);
// The throws of the outcomes, out of line (they build strings).
[[noreturn]] void throw_call_down(Pid server, const Down& d, const char* what);
[[noreturn]] void throw_call_timeout(Pid server, std::int64_t timeout_ns, const char* what);
// R1+R2: delivers `e` (a Reply<>) to from.pid if its call still waits, else drops it.
void send_reply(const From& from, mailbox::Envelope* e);
[[noreturn]] void throw_reply_mismatch(const From& from, const char* sent);

// The call itself, for a resolved pid. See the top and docs/design.md, "Calls and aliases".
// The marker is the mailbox's own (not a Marker object): the caller is known, and a Marker
// would look it up again at each step.
template <class R, class Req>
R call_pid(Pid server, Req&& request, std::int64_t timeout_ns, const char* what) {
  using W = ReplyWire<R>;
  Process* self = current_process_or_throw(what);
  mailbox::Mailbox& mb = mailbox_of(self);
  struct Guard {  // the marker's release; on an exception out of the wait, C6 + C7 too
    Process* self;
    mailbox::Mailbox& mb;
    mailbox::Mailbox::MarkerId marker;
    Ref ref;
    bool armed = false;
    ~Guard() {
      if (armed) {
        (void)call_withdraw(self, ref.id());
        call_end(self, ref);
      }
      mb.release(marker);
    }
  } g{self, mb, mb.mark(), Ref()};  // C1: only what comes after the request is looked at
  Pid me;
  g.ref = call_begin(self, server, what, me);  // C2, C3
  g.armed = true;
  const std::uint64_t tag = g.ref.id();
  send(server, Call<std::decay_t<Req>>{From{me, tag, &reply_type_name<W>},
                                       std::forward<Req>(request)});  // C4
  enum class Got : std::uint8_t { kReply, kDown, kTimeout };
  std::optional<W> value;
  std::optional<Down> down;
  auto on_reply = on<Reply<W>>([tag](const Reply<W>& r) { return r.tag == tag; },
                               [&value](Reply<W>& r) {
                                 value.emplace(std::move(r.value));
                                 return Got::kReply;
                               });
  auto on_down = on<Down>([tag](const Down& d) { return d.ref.id() == tag; },
                          [&down](Down& d) {
                            down.emplace(std::move(d));
                            return Got::kDown;
                          });
  Got got =
      timeout_ns == INT64_MAX  // C5
          ? receive_impl(receive_start(self), g.marker, on_reply, on_down)
          : receive_impl(receive_start(self), g.marker, on_reply, on_down,
                         after(std::chrono::nanoseconds(timeout_ns), [] { return Got::kTimeout; }));
  if (got != Got::kReply && !call_withdraw(self, tag)) {  // C6
    // A reply() claimed the alias before we withdrew it: its Reply is ours, and it lands.
    got = receive_impl(receive_start(self), g.marker, on_reply);
  }
  g.armed = false;
  if (got != Got::kDown) call_end(self, g.ref);  // C7 (a Down means the monitor has fired)
  if (got == Got::kDown) throw_call_down(server, *down, what);
  if (got == Got::kTimeout) throw_call_timeout(server, timeout_ns, what);
  if constexpr (!std::is_void_v<R>) return std::move(*value);
}

template <class R, class Req>
using CallResult = std::conditional_t<std::is_void_v<R>, typename DeclaredReply<Req>::Type, R>;

}  // namespace detail

// Sends `request` to `server` and waits for its reply; see the top. R defaults to Req::Reply
// (void when Req declares none and no R is given).
template <class R = void, class Req, class Rep, class Period>
auto call(Pid server, Req&& request, std::chrono::duration<Rep, Period> timeout)
    -> detail::CallResult<R, std::decay_t<Req>> {
  using Result = detail::CallResult<R, std::decay_t<Req>>;
  static_assert(mailbox::is_message_type_v<std::decay_t<Req>>,
                "ergon::call: the request must be a message type (movable, noexcept destructor)");
  return detail::call_pid<Result>(server, std::forward<Req>(request),
                                  detail::saturating_ns(timeout), "ergon::call");
}

// The same, to the process registered as `name` (resolved once, at the call).
template <class R = void, class Req, class Rep, class Period>
auto call(std::string_view name, Req&& request, std::chrono::duration<Rep, Period> timeout)
    -> detail::CallResult<R, std::decay_t<Req>> {
  using Result = detail::CallResult<R, std::decay_t<Req>>;
  const Pid server = detail::call_resolve(name, "ergon::call");
  return detail::call_pid<Result>(server, std::forward<Req>(request),
                                  detail::saturating_ns(timeout), "ergon::call");
}

// Sends `msg` to `server` as a Cast<Msg>, for its cast handlers. Never fails, as in Erlang: a
// cast to a dead pid, or to a name nobody holds, is dropped (and counted).
template <class Msg>
void cast(Pid server, Msg&& msg) {
  using M = detail::wire_t<Msg>;
  detail::send_envelope(server, mailbox::make_message<Cast<M>>(Cast<M>{M(std::forward<Msg>(msg))}));
}
template <class Msg>
void cast(std::string_view name, Msg&& msg) {
  if (const Pid p = whereis(name)) cast(p, std::forward<Msg>(msg));
}

// Answers the call `from` with `value`. Delivered only while that call still waits (once per
// call; a second reply, or one after the caller gave up, is dropped). Throws Error when `value`
// is not the type the caller expects (naming both), or `from` is empty. Any process or thread.
template <class T>
void reply(const From& from, T&& value) {
  using W = detail::ReplyWire<detail::wire_t<T>>;
  if (from.reply_type != &detail::reply_type_name<W>) {
    detail::throw_reply_mismatch(from, detail::reply_type_name<W>());
  }
  detail::send_reply(
      from, mailbox::make_message<Reply<W>>(Reply<W>{from.tag, W(std::forward<T>(value))}));
}
// Answers a void call.
inline void reply(const From& from) { reply(from, Unit{}); }

}  // namespace ergon
