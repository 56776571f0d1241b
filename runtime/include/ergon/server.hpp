// Server: a gen_server-style behaviour. A class whose handlers answer calls and casts, run in
// a process of its own.
//
//   struct Get { using Reply = std::optional<std::string>; std::string key; };
//   struct Put { using Reply = bool; std::string key, value; };
//   struct Clear {};
//
//   class Kv {
//    public:
//     using Calls = ergon::Handles<Get, Put>;   // requests answered by handle_call
//     using Casts = ergon::Handles<Clear>;      // messages sent with ergon::cast
//     using Infos = ergon::Handles<ergon::Down>;  // plain messages (optional)
//     explicit Kv(std::size_t limit);           // init: runs in the server process
//     std::optional<std::string> handle_call(const Get& g);
//     bool handle_call(const Put& p);
//     void handle_cast(const Clear&);
//     void handle_info(const ergon::Down& d);
//     void terminate(const ergon::ExitReason& why);   // optional: the server's last act
//   };
//
//   ergon::Pid kv = ergon::start_server_link<Kv>(ergon::ServerOptions{.name = "kv"}, 1000);
//   auto v = ergon::call("kv", Get{"a"}, std::chrono::milliseconds(100));
//   ergon::stop_server(kv);                     // reason normal, 5 s timeout
//   // under a supervisor: {.id = "kv", .start = ergon::serve<Kv>(ServerOptions{.name = "kv"},
//   1000)}
//
// The rules, as gen_server's:
//   - init is S's constructor, run in the new process; start_server and start_server_link
//     return once it has returned (a registered name is taken before it runs). If it throws,
//     they throw Error naming the exception (the failed process is unlinked first, so a
//     failed start does not kill the starter).
//   - handle_call(const Req&) returns the reply (Req::Reply when Req declares it; void for a
//     void call). handle_call(const Req&, const From&) may also return ergon::NoReply: the
//     server answers later with ergon::reply(from, value), from any process.
//   - handle_cast(const Msg&) for each type in Casts; handle_info(const T&) for each type in
//     Infos. A message of any other type is dropped and reported on stderr once per type
//     (it would otherwise stay in the mailbox forever); a handle_info(const AnyMessage&)
//     takes them instead.
//   - An exception out of a handler ends the server with reason "exception: <what>" after
//     terminate(reason); its callers get CallError with that reason at once (their monitor).
//   - stop_server(pid, reason, timeout) asks the server to end with `reason`: terminate runs,
//     the server ends, stop_server returns. Throws CallTimeout if it has not ended in time,
//     CallError(noproc) if there was no server.
//   - With `static constexpr bool kTrapExits = true;` in S, the server traps exits: an Exit
//     message with a reason other than normal (its supervisor's shutdown, a linked process's
//     crash) ends it after terminate(reason), as gen_server does for its parent; Exit listed
//     in Infos goes to handle_info instead.
//
// Design: the handlers are known at compile time (the Handles lists), so the loop is one
// ergon::receive over Call<Req>..., Cast<Msg>..., the Infos, the stop request and a
// catch-all, built once; a call costs the server one receive and one reply, no virtual call
// and no allocation beyond the two envelopes. Rejected: a base class with virtual handlers
// (one type per server; every request would be a variant), and handler registration at run
// time (a map lookup per message, and a wrong handler shape found only when it runs).
#pragma once

#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_set>
#include <utility>

#include "ergon/call.hpp"
#include "ergon/detail/api.hpp"
#include "ergon/errors.hpp"
#include "ergon/link.hpp"
#include "ergon/monitor.hpp"
#include "ergon/options.hpp"
#include "ergon/pid.hpp"
#include "ergon/process.hpp"
#include "ergon/receive.hpp"
#include "ergon/registry.hpp"

namespace ergon {

// The message types a server handles, in its Calls, Casts and Infos lists.
template <class... T>
struct Handles {};

// What a handle_call(const Req&, const From&) returns when it will reply later.
struct NoReply {};

struct ServerOptions {
  std::string name;      // registered before init runs; empty: none
  SpawnOptions spawn{};  // start_server / start_server_link only (`link` is set by the latter)
  // How long start_server waits for init; kInfinity: as long as it takes.
  std::chrono::milliseconds init_timeout = kInfinity;
};

namespace detail {

struct ServerStop {
  ExitReason reason;
};
struct ServerStarted {
  Pid pid;
};
struct ServerInitFailed {
  Pid pid;
  std::string what;
};

template <class S, class = void>
struct CallsOf {
  using Type = Handles<>;
};
template <class S>
struct CallsOf<S, std::void_t<typename S::Calls>> {
  using Type = typename S::Calls;
};
template <class S, class = void>
struct CastsOf {
  using Type = Handles<>;
};
template <class S>
struct CastsOf<S, std::void_t<typename S::Casts>> {
  using Type = typename S::Casts;
};
template <class S, class = void>
struct InfosOf {
  using Type = Handles<>;
};
template <class S>
struct InfosOf<S, std::void_t<typename S::Infos>> {
  using Type = typename S::Infos;
};
template <class S, class = void>
struct TrapsExits : std::false_type {};
template <class S>
struct TrapsExits<S, std::void_t<decltype(S::kTrapExits)>>
    : std::bool_constant<static_cast<bool>(S::kTrapExits)> {};

template <class T, class... L>
inline constexpr bool kListed = (std::is_same_v<T, L> || ...);
template <class T, class List>
struct InList;
template <class T, class... L>
struct InList<T, Handles<L...>> : std::bool_constant<kListed<T, L...>> {};

// Reports, once per type and server, a message no handler of the server matches.
void report_unhandled(Pid server, const std::string& type);
// Out of line: the start's wait and its errors.
Pid await_server_start(Pid pid, Ref ref, std::int64_t timeout_ns, const char* what);
std::string exception_text(const std::exception_ptr& e);
ExitReason reason_of(const std::exception_ptr& e);  // nursery.cpp

// The handler of Call<Req> for S.
template <class S, class Req>
auto call_handler(S& s) {
  return [&s](Call<Req>& c) {
    if constexpr (requires { s.handle_call(std::as_const(c.request), std::as_const(c.from)); }) {
      using R = decltype(s.handle_call(std::as_const(c.request), std::as_const(c.from)));
      if constexpr (std::is_same_v<R, NoReply>) {
        (void)s.handle_call(std::as_const(c.request), std::as_const(c.from));
      } else if constexpr (std::is_void_v<R>) {
        s.handle_call(std::as_const(c.request), std::as_const(c.from));
        reply(c.from);
      } else if constexpr (DeclaredReply<Req>::kDeclared) {
        reply(c.from, typename DeclaredReply<Req>::Type(
                          s.handle_call(std::as_const(c.request), std::as_const(c.from))));
      } else {
        reply(c.from, s.handle_call(std::as_const(c.request), std::as_const(c.from)));
      }
    } else if constexpr (requires { s.handle_call(std::as_const(c.request)); }) {
      using R = decltype(s.handle_call(std::as_const(c.request)));
      static_assert(!std::is_same_v<R, NoReply>,
                    "ergon::Server: a handle_call that returns ergon::NoReply must take the "
                    "From too: handle_call(const Req&, const ergon::From&), to reply later");
      if constexpr (std::is_void_v<R>) {
        static_assert(
            !DeclaredReply<Req>::kDeclared || std::is_void_v<typename DeclaredReply<Req>::Type>,
            "ergon::Server: handle_call returns void, but the request declares a "
            "Reply type; return the reply (or remove Req::Reply)");
        s.handle_call(std::as_const(c.request));
        reply(c.from);
      } else if constexpr (DeclaredReply<Req>::kDeclared) {
        static_assert(std::is_constructible_v<typename DeclaredReply<Req>::Type, R>,
                      "ergon::Server: handle_call's return type does not convert to the "
                      "request's Reply type");
        reply(c.from, typename DeclaredReply<Req>::Type(s.handle_call(std::as_const(c.request))));
      } else {
        reply(c.from, s.handle_call(std::as_const(c.request)));
      }
    } else {
      static_assert(kBadHandler<Req>,
                    "ergon::Server: a type listed in Calls has no handle_call: write "
                    "`R handle_call(const Req&)` (or `R handle_call(const Req&, const "
                    "ergon::From&)`, which may return ergon::NoReply and reply later)");
    }
  };
}

template <class S, class Msg>
auto cast_handler(S& s) {
  static_assert(
      requires(const Msg& m) { s.handle_cast(m); },
      "ergon::Server: a type listed in Casts has no handle_cast: write "
      "`void handle_cast(const Msg&)`");
  return [&s](Cast<Msg>& c) { s.handle_cast(std::as_const(c.msg)); };
}

template <class S, class T>
auto info_handler(S& s) {
  static_assert(
      requires(const T& m) { s.handle_info(m); },
      "ergon::Server: a type listed in Infos has no handle_info: write "
      "`void handle_info(const T&)`");
  return [&s](T& m) { s.handle_info(std::as_const(m)); };
}

template <class S>
void server_terminate(S& s, const ExitReason& reason) {
  if constexpr (requires { s.terminate(reason); }) s.terminate(reason);
}

// Ends the calling process with `reason` (normal: returns, so the process returns).
void end_server(const ExitReason& reason);

template <class S, class... Req, class... Msg, class... Info>
void server_loop(S& s, Handles<Req...>, Handles<Msg...>, Handles<Info...>) {
  bool running = true;
  ExitReason stop_reason;
  auto on_stop = [&](ServerStop& st) {
    stop_reason = std::move(st.reason);
    running = false;
  };
  auto on_exit = [&](Exit& e) {
    if (!e.reason.normal()) {
      stop_reason = e.reason;
      running = false;
    }
  };
  const Pid me = self();
  auto on_other = [&s, me](AnyMessage& m) {
    if constexpr (requires { s.handle_info(std::as_const(m)); }) {
      s.handle_info(std::as_const(m));
    } else {
      report_unhandled(me, m.type_name());
    }
  };
  auto handlers = std::make_tuple(call_handler<S, Req>(s)..., cast_handler<S, Msg>(s)...,
                                  info_handler<S, Info>(s)..., on_stop);
  try {
    while (running) {
      if constexpr (TrapsExits<S>::value && !kListed<Exit, Info...>) {
        std::apply([&](auto&... h) { receive(h..., on_exit, on_any(on_other)); }, handlers);
      } else {
        std::apply([&](auto&... h) { receive(h..., on_any(on_other)); }, handlers);
      }
    }
  } catch (const std::exception&) {
    // gen_server's crash: terminate sees the reason, then the exception ends the process.
    server_terminate(s, reason_of(std::current_exception()));
    throw;
  }
  server_terminate(s, stop_reason);
  end_server(stop_reason);
}

// The body of a server process: name, init, the start's answer, the loop.
template <class S, class... A>
void run_server(const ServerOptions& opts, Pid starter, A&... args) {
  if constexpr (TrapsExits<S>::value) (void)trap_exits(true);
  std::optional<S> state;
  try {
    if (!opts.name.empty()) register_name(opts.name, self());
    state.emplace(args...);  // init
  } catch (const std::exception&) {
    if (!starter) throw;  // under a supervisor: the child fails as any child does
    const std::string what = exception_text(std::current_exception());
    unlink(starter);  // a failed start is an answer, not a crash of the starter
    send(starter, ServerInitFailed{self(), what});
    throw;
  }
  if (starter) send(starter, ServerStarted{self()});
  server_loop(*state, typename CallsOf<S>::Type{}, typename CastsOf<S>::Type{},
              typename InfosOf<S>::Type{});
}

template <class S, class... A>
Pid start_server_with(ServerOptions opts, bool link, const char* what, A&&... args) {
  static_assert(std::is_constructible_v<S, std::decay_t<A>&...>,
                "ergon::start_server<S>(args...): S must be constructible from the arguments "
                "(its constructor is the server's init)");
  const Pid starter = self();
  SpawnOptions so = opts.spawn;
  so.link = link;
  const std::int64_t timeout = saturating_ns(opts.init_timeout);
  const Pid pid =
      spawn([opts = std::move(opts), starter,
             ... args = std::forward<A>(args)]() mutable { run_server<S>(opts, starter, args...); },
            so);
  return await_server_start(pid, monitor(pid), timeout, what);
}

}  // namespace detail

// Spawns a server running S (constructed from `args` in the new process) and returns once its
// init has returned. Throws Error if init throws (naming the exception) or does not return
// within opts.init_timeout; NotInProcess outside a process.
template <class S, class... A>
Pid start_server(ServerOptions opts, A&&... args) {
  return detail::start_server_with<S>(std::move(opts), false, "ergon::start_server",
                                      std::forward<A>(args)...);
}
template <class S>
Pid start_server() {
  return start_server<S>(ServerOptions{});
}
// The same, linked to the caller (the usual way, as gen_server:start_link).
template <class S, class... A>
Pid start_server_link(ServerOptions opts, A&&... args) {
  return detail::start_server_with<S>(std::move(opts), true, "ergon::start_server_link",
                                      std::forward<A>(args)...);
}
template <class S>
Pid start_server_link() {
  return start_server_link<S>(ServerOptions{});
}

// A ChildSpec::start that runs a server S in the child process (a supervisor's child): the
// arguments are copied into it and given to each start's init.
template <class S, class... A>
auto serve(ServerOptions opts, A&&... args) {
  return [opts = std::move(opts), ... args = std::forward<A>(args)]() mutable {
    detail::run_server<S>(opts, Pid{}, args...);
  };
}
template <class S>
auto serve() {
  return serve<S>(ServerOptions{});
}

// Asks the server `server` to end with `reason` (its terminate runs first) and waits for its
// end. Throws CallTimeout if it has not ended within `timeout` (it is left running),
// CallError(noproc) if there is no such process, CallError with the reason it ended with if
// that is not `reason` (terminate threw). NotInProcess outside a process.
void stop_server(Pid server, ExitReason reason = ExitReason::normal_exit(),
                 std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

}  // namespace ergon
