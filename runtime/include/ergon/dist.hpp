// Distribution: this program as an Erlang node. Erlang processes and ergon processes send to
// each other, gen_server calls cross both ways, and two ergon programs talk through the same
// protocol (Erlang's distribution: epmd, cookies, ticks, nodedown).
//
//   ergon::dist::start({.name = "kv@127.0.0.1", .cookie = "secret"});   // in a process
//   ergon::register_name("kv", kv_server);          // {kv, 'kv@127.0.0.1'} ! Msg from Erlang
//   ergon::dist::send({"shell", "a@127.0.0.1"}, ergon::Atom("hello"));
//   ergon::Term r = ergon::dist::rpc("a@127.0.0.1", "erlang", "node", {}, 1s);
//
// Not in <ergon/ergon.hpp>: include <ergon/dist.hpp> and link -lergon_dist -lei (erl_interface,
// Debian's erlang-dev). A program that does not link it pays nothing: the core knows a remote
// pid only by its tag (Pid::is_remote) and hands sends to one to the hook this library installs.
//
// The node is hidden (Erlang's nodes(hidden), not nodes(): it joins no global name mesh),
// publishes its name to epmd (ERL_EPMD_PORT, default 4369) and listens only on the address
// NodeOptions::listen names (127.0.0.1 by default: nothing listens beyond it). A connection
// whose peer fails the cookie challenge is refused and logged (stderr, naming the peer).
//
// Messages: what comes from another node reaches a process as an ergon::Term (the raw term;
// decode it with term.as<T>(), ergon/term.hpp), so a message that matches no type the process
// expects is never lost or misread. What a process sends to a remote pid (ergon::send) is
// encoded by the type's Codec if the type was declared with ergon::dist::remote_message<T>()
// (a Term is always sendable); otherwise it is dropped and logged, naming the type. Messages
// from one process to one remote process arrive in the order they were sent: each node pair
// has one connection, served by one process that writes frames in the order they were queued.
//
// Calls: a gen_server:call({Name, Node}, Req) from Erlang reaches the ergon process
// registered as Name as an ergon::Call<ergon::Term> (a Server lists Term in its Calls and
// answers with a Term, or anything that encodes); ergon::dist::call sends Erlang's
// {'$gen_call', {From, Tag}, Req} to a remote gen_server and waits for its reply.
//
// Node loss: monitor_node(node) sends the caller NodeDown{node, reason} when the connection
// ends (the peer closed it, a tick timeout, a bad frame); processes that wait in dist::call
// get CallError(noconnection).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ergon/call.hpp"
#include "ergon/errors.hpp"
#include "ergon/pid.hpp"
#include "ergon/process.hpp"
#include "ergon/term.hpp"

namespace ergon::dist {

struct NodeOptions {
  // "name@host"; the host part as other nodes reach it ("127.0.0.1", or a name they resolve).
  // ERGON_NODE. Required.
  std::string name;
  // The shared secret every peer must prove it knows. ERGON_COOKIE. Required: no default is
  // read from ~/.erlang.cookie, so that a node never accepts peers by accident.
  std::string cookie;
  // The address the node listens on, "host:port" (port 0: any free port, which epmd tells
  // peers). Default loopback only. ERGON_DIST_LISTEN.
  std::string listen = "127.0.0.1:0";
  // epmd's port on this host. ERL_EPMD_PORT (Erlang's own variable), default 4369.
  std::uint16_t epmd_port = 4369;
  // Ticks: a tick goes out when nothing was written for tick_interval, and a connection from
  // which nothing came for 4 ticks is dead (nodedown, net_tick_timeout). 15 s: Erlang's
  // default net_ticktime of 60 s, of which it ticks every quarter. ERGON_DIST_TICK (ms).
  std::chrono::milliseconds tick_interval{15000};
  // `base` with the variables above applied. Throws ConfigError naming a bad one.
  static NodeOptions from_env(NodeOptions base);
  static NodeOptions from_env() { return from_env(NodeOptions{}); }
};

// A failed node start, connect or remote call set-up; the message names the cause and the fix.
class DistError : public Error {
 public:
  using Error::Error;
};

// Starts this program's node in the calling process's runtime: publishes it to epmd, listens
// and serves connections with processes of that runtime (they end with it). One node per
// program; a second start throws DistError. Throws DistError when epmd cannot be reached, the
// name is taken, or the options are bad. Returns the node's name.
std::string start(const NodeOptions& opts);
// Stops the node: closes its connections (peers see nodedown) and unpublishes it. Any process.
void stop();
// This node's name ("nonode@nohost" when none runs).
std::string node();
// The nodes connected now.
std::vector<std::string> nodes();
// Connects to `node` unless connected (net_kernel:connect_node). True once connected.
bool connect(const std::string& node, std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Erlang's {Name, Node}: a registered name on a node.
struct Name {
  std::string name;
  std::string node;
};

// Sends `msg` (encoded by its Codec) to `to` (any pid, local or remote).
template <class T>
void send(Pid to, const T& msg) {
  ergon::send(to, Term::of(msg));
}
// Sends `msg` to the process registered as to.name on to.node ({Name, Node} ! Msg). A name
// on this node is looked up here; nobody there: dropped, as in Erlang.
void send_term(const Name& to, Term msg);
template <class T>
void send(const Name& to, const T& msg) {
  send_term(to, Term::of(msg));
}

// Declares that messages of type T may be sent to remote pids with ergon::send: they are
// encoded with Codec<T>. Call once before such sends (any thread); repeating is harmless.
namespace detail {
// Encodes the payload of `envelope` (a mailbox::Envelope holding a T).
using EncodeFn = void (*)(TermWriter&, void* envelope);
void register_remote_message(const void* type_tag, EncodeFn fn, const char* (*name)() noexcept);
}  // namespace detail
template <class T>
void remote_message() {
  detail::register_remote_message(
      mailbox::type_tag<T>(),
      [](TermWriter& w, void* e) {
        Codec<T>::encode(w, mailbox::payload<T>(static_cast<mailbox::Envelope*>(e)));
      },
      &mailbox::pretty_type_name<T>);
}

// What monitor_node delivers when the connection to `node` ends.
struct NodeDown {
  std::string node;
  std::string reason;  // "connection_closed", "net_tick_timeout", "bad frame: ...", "stop"
};
// Erlang's monitor_node(Node, true): the caller gets one NodeDown when the connection ends
// (at once, with reason "noconnection", if it is not up and cannot be made). Repeat calls
// stack. `on = false` removes the caller's monitors of `node`.
void monitor_node(const std::string& node, bool on = true);

// gen_server:call(To, Request, Timeout) to an Erlang (or ergon) process on another node:
// returns the reply term. Throws CallTimeout, or CallError: the server ended (its reason as
// text), noproc (nobody registered there), noconnection (the node is down or was lost).
Term call_term(Pid to, const Term& request, std::chrono::milliseconds timeout);
Term call_term(const Name& to, const Term& request, std::chrono::milliseconds timeout);
template <class R = Term, class To, class Req>
R call(const To& to, const Req& request, std::chrono::milliseconds timeout) {
  Term t = call_term(to, Term::of(request), timeout);
  if constexpr (std::is_same_v<R, Term>) {
    return t;
  } else {
    std::optional<R> r = t.as<R>();
    if (!r)
      throw DecodeError("ergon::dist::call: the reply " + t.to_string() + " is not a " +
                        mailbox::pretty_type_name<R>());
    return std::move(*r);
  }
}

// rpc:call(Node, Module, Function, Args, Timeout) through the node's rex server: the result
// term ({badrpc, Reason} when the call failed there). `args` is the list of arguments.
Term rpc(const std::string& node, std::string_view module, std::string_view function,
         const std::vector<Term>& args, std::chrono::milliseconds timeout);

// "<node.id.serial>" for a remote pid, Pid::to_string() for a local one.
std::string describe(Pid p);

}  // namespace ergon::dist
