// The sending side of the node: the Remote hook the core calls for a send to a remote pid, the
// queue of each peer (N1-N3, node.hpp), and the public calls that send (dist::send, call, rpc,
// monitor_node, connect).
//
// The hook runs inside the sender's entry into the runtime (core/hooks.hpp): it encodes the
// message, appends the frame and wakes the connection or the kernel with deliver_envelope,
// never with ergon::send. A message it cannot encode (a type nobody declared with
// remote_message<T>) is dropped and logged once per type, naming it.
#include <cstdio>
#include <unordered_set>

#include "core/hooks.hpp"
#include "core/send.hpp"
#include "dist/node.hpp"
#include "dist/pids.hpp"
#include "ergon/call.hpp"
#include "ergon/dist.hpp"
#include "ergon/mailbox/message.hpp"
#include "ergon/receive.hpp"
#include "ergon/registry.hpp"

namespace ergon::detail::dist {

NodeState& state() {
  static NodeState* s = new NodeState;  // never destroyed: the hook may run during exit
  return *s;
}

void log(const std::string& line) { std::fprintf(stderr, "ergon::dist: %s\n", line.c_str()); }

std::shared_ptr<PeerEntry> peer(const std::string& node) {
  NodeState& s = state();
  std::lock_guard<std::mutex> g(s.mu);
  if (!s.running || node == s.name) return nullptr;
  auto& e = s.peers[node];
  if (!e) e = std::make_shared<PeerEntry>(node);
  return e;
}

std::string frame(const Term& control, const Term* message) {
  const std::size_t len =
      1 + 1 + control.bytes().size() + (message != nullptr ? 1 + message->bytes().size() : 0);
  std::string f;
  f.reserve(4 + len);
  for (int shift = 24; shift >= 0; shift -= 8)
    f.push_back(static_cast<char>((len >> shift) & 0xff));
  f.push_back(112);  // pass-through
  f.push_back(static_cast<char>(131));
  f += control.bytes();
  if (message != nullptr) {
    f.push_back(static_cast<char>(131));
    f += message->bytes();
  }
  return f;
}

bool enqueue(const std::string& node, std::string f, bool in_hook, Worker* w) {
  std::shared_ptr<PeerEntry> e = peer(node);
  if (!e) return false;
  Pid wake;
  bool connect = false;
  {
    std::lock_guard<std::mutex> g(e->mu);
    if (e->up) {
      e->out.push_back(std::move(f));  // N1
      if (!e->kicked) {                // N2
        e->kicked = true;
        wake = e->conn;
      }
    } else {
      e->out.push_back(std::move(f));
      if (!e->connecting) {  // N3
        e->connecting = true;
        connect = true;
      }
    }
  }
  Pid kernel;
  if (connect) {
    std::lock_guard<std::mutex> g(state().mu);
    kernel = state().kernel;
  }
  try {
    if (wake) {
      if (in_hook) {
        deliver_envelope(wake, mailbox::make_message<Kick>(), w);
      } else {
        ergon::send(wake, Kick{});
      }
    } else if (connect && kernel) {
      if (in_hook) {
        deliver_envelope(kernel, mailbox::make_message<ConnectRequest>(ConnectRequest{node}), w);
      } else {
        ergon::send(kernel, ConnectRequest{node});
      }
    }
  } catch (...) {  // no memory for the wake-up: the frame waits for the next one
  }
  return true;
}

Term reason_term(const ExitReason& r) {
  using K = ExitReason::Kind;
  switch (r.kind) {
    case K::kNormal:
      return Term::of(Atom("normal"));
    case K::kNoProc:
      return Term::of(Atom("noproc"));
    case K::kKill:
      return Term::of(Atom("kill"));
    case K::kKilled:
      return Term::of(Atom("killed"));
    case K::kShutdown:
      return r.what.empty() ? Term::of(Atom("shutdown"))
                            : Term::of(std::make_tuple(Atom("shutdown"), r.what));
    case K::kException:
      return Term::of(std::make_tuple(Atom("exception"), r.what));
    case K::kUser:
      break;
  }
  // A user reason that reads as an atom travels as one (Erlang's reasons mostly are).
  bool atomish = !r.what.empty() && r.what.size() < 256;
  for (char c : r.what)
    atomish = atomish && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  return atomish ? Term::of(Atom(r.what)) : Term::of(r.what);
}

ExitReason reason_of(const Term& t) {
  using K = ExitReason::Kind;
  TermReader rd(t);
  std::string a;
  if (rd.atom(a)) {
    if (a == "normal") return ExitReason{};
    if (a == "noproc") return ExitReason{K::kNoProc, ""};
    if (a == "killed") return ExitReason{K::kKilled, ""};
    if (a == "shutdown") return ExitReason{K::kShutdown, ""};
    return ExitReason::user(a);  // kill through a link too: trappable, as in Erlang
  }
  if (t.tag() == "shutdown") {
    if (auto p = t.as<std::tuple<Atom, std::string>>())
      return ExitReason{K::kShutdown, std::get<1>(*p)};
  }
  return ExitReason::user(t.to_string());
}

Reference make_ref() {
  NodeState& s = state();
  std::lock_guard<std::mutex> g(s.mu);
  Reference r;
  r.node = s.name;
  r.creation = s.creation;
  r.len = 3;
  const std::uint64_t id = s.next_ref++;
  r.n[0] = static_cast<std::uint32_t>(id & 0x3ffff);
  r.n[1] = static_cast<std::uint32_t>(id >> 18);
  r.n[2] = 0x45524731;  // "ERG1": apart from any reference another node makes
  return r;
}

namespace {

// The payload of `e` as a term, or an empty Term (after logging) when it has no encoder.
Term encode_envelope(mailbox::Envelope* e, Pid to, std::string* reply_tag) {
  if (e->holds<Term>()) return mailbox::payload<Term>(e);
  if (e->holds<Reply<Term>>()) {  // the reply to a call from Erlang: {Tag, Value}
    const Reply<Term>& r = mailbox::payload<Reply<Term>>(e);
    NodeState& s = state();
    std::lock_guard<std::mutex> g(s.mu);
    auto it = s.erl_tags.find(r.tag);
    if (it == s.erl_tags.end()) return Term();  // answered already
    *reply_tag = std::move(it->second);
    s.erl_tags.erase(it);
    return r.value;
  }
  NodeState::Encoder enc{nullptr, nullptr};
  {
    NodeState& s = state();
    std::lock_guard<std::mutex> g(s.mu);
    auto it = s.encoders.find(e->type);
    if (it != s.encoders.end()) enc = it->second;
  }
  if (enc.fn == nullptr) {
    static std::mutex mu;
    static std::unordered_set<const void*> logged;
    std::lock_guard<std::mutex> g(mu);
    if (logged.insert(e->type).second) {
      log(std::string("dropped a message to the remote pid ") + ergon::dist::describe(to) +
          ": its type has no term encoding (" + mailbox::pretty_type_name(e) +
          "); declare it once with ergon::dist::remote_message<T>() and a Codec<T>, or send "
          "an ergon::Term");
    }
    return Term();
  }
  TermWriter w;
  enc.fn(w, e);
  return Term::from_bytes(w.take());
}

class Hook final : public Remote {
 public:
  void send(Pid to, mailbox::Envelope* e, Worker* w) noexcept override {
    try {
      std::optional<RemoteProc> r = remote_of(to);
      std::string tag;
      Term msg;
      if (r) msg = encode_envelope(e, to, &tag);
      mailbox::dispose(e);
      if (!r || msg.empty()) return;
      if (!tag.empty()) {  // {Tag, Value}
        std::string bytes = "\x68\x02" + tag + msg.bytes();
        msg = Term::from_bytes(std::move(bytes));
      }
      TermWriter c;  // {SEND, '', To}
      c.tuple_header(3);
      c.integer(kSend);
      c.atom("");
      c.pid(to);
      (void)enqueue(r->node, frame(Term::from_bytes(c.take()), &msg), true, w);
    } catch (...) {  // no memory, or a value its codec could not encode: dropped, as a send
                     // to a node that cannot be reached is
    }
  }
};

}  // namespace

void install_hook() {
  static Hook hook;
  install_remote(&hook);
}

}  // namespace ergon::detail::dist

namespace ergon::dist {

using namespace ergon::detail::dist;

namespace detail {
void register_remote_message(const void* type_tag, EncodeFn fn, const char* (*name)() noexcept) {
  NodeState& s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.encoders[type_tag] = NodeState::Encoder{fn, name};
}
}  // namespace detail

std::string node() { return local_node(); }

std::string describe(Pid p) {
  if (auto r = remote_of(p)) {
    return "<" + r->node + "." + std::to_string(r->id) + "." + std::to_string(r->serial) + ">";
  }
  return p.to_string();
}

std::vector<std::string> nodes() {
  std::vector<std::shared_ptr<PeerEntry>> all;
  {
    NodeState& s = state();
    std::lock_guard<std::mutex> g(s.mu);
    for (auto& [n, e] : s.peers) all.push_back(e);
  }
  std::vector<std::string> out;
  for (auto& e : all) {
    std::lock_guard<std::mutex> g(e->mu);
    if (e->up) out.push_back(e->name);
  }
  return out;
}

void send_term(const Name& to, Term msg) {
  if (to.node == local_node()) {
    if (Pid p = whereis(to.name)) ergon::send(p, std::move(msg));
    return;
  }
  TermWriter c;  // {REG_SEND, From, '', ToName}
  c.tuple_header(4);
  c.integer(kRegSend);
  ergon::detail::Process* self = ergon::detail::current_process();
  c.pid(self != nullptr ? ergon::detail::pid_of(self) : Pid{});
  c.atom("");
  c.atom(to.name);
  (void)enqueue(to.node, frame(Term::from_bytes(c.take()), &msg), false, nullptr);
}

}  // namespace ergon::dist

namespace ergon::dist {

using namespace ergon::detail::dist;

namespace {

std::string node_of(Pid p) {
  if (auto r = remote_of(p)) return r->node;
  return local_node();
}

// Connects unless up; registers the caller as a waiter when it must wait.
bool ensure_connected(const std::string& node, std::chrono::milliseconds timeout) {
  std::shared_ptr<PeerEntry> e = peer(node);
  if (!e) return node == local_node() && node != "nonode@nohost";
  const Pid me = ergon::self();
  bool ask = false;
  {
    std::lock_guard<std::mutex> g(e->mu);
    if (e->up) return true;
    e->waiters.push_back(me);
    if (!e->connecting) {
      e->connecting = true;
      ask = true;
    }
  }
  if (ask) {
    Pid kernel;
    {
      std::lock_guard<std::mutex> g(state().mu);
      kernel = state().kernel;
    }
    ergon::send(kernel, ConnectRequest{node});
  }
  const bool ok =
      ergon::receive(on<ConnectResult>([&](const ConnectResult& r) { return r.node == node; },
                                       [](const ConnectResult& r) { return r.ok; }),
                     after(timeout, [] { return false; }));
  if (!ok) {
    std::lock_guard<std::mutex> g(e->mu);
    std::erase(e->waiters, me);
  }
  return ok;
}

Term gen_call_body(Pid self, const Reference& ref, const Term& request) {
  TermWriter m;  // {'$gen_call', {Self, Ref}, Request}
  m.tuple_header(3);
  m.atom("$gen_call");
  m.tuple_header(2);
  m.pid(self);
  m.reference(ref);
  m.raw(request);
  return Term::from_bytes(m.take());
}

// The call itself: `to_proc` is the pid or the name's atom, `send_ctl` the SEND or REG_SEND
// control.
Term call_via(const std::string& node, const Term& to_proc, const Term& send_ctl,
              const Term& request, std::chrono::milliseconds timeout, const std::string& what) {
  const Pid self = ergon::self();
  if (!ensure_connected(node, timeout)) {
    throw CallError("ergon::dist::call: cannot connect to " + node + " (noconnection)", Pid{},
                    ExitReason::user("noconnection"));
  }
  monitor_node(node, true);
  struct Off {
    std::string node;
    ~Off() {
      try {
        monitor_node(node, false);
      } catch (...) {
      }
    }
  } off{node};
  const Reference ref = make_ref();
  TermWriter mon;  // {MONITOR_P, Self, ToProc, Ref}
  mon.tuple_header(4);
  mon.integer(kMonitorP);
  mon.pid(self);
  mon.raw(to_proc);
  mon.reference(ref);
  (void)enqueue(node, frame(Term::from_bytes(mon.take()), nullptr), false, nullptr);
  const Term body = gen_call_body(self, ref, request);
  (void)enqueue(node, frame(send_ctl, &body), false, nullptr);

  enum class Got { kReply, kDown, kNodeDown, kTimeout };
  Term value;
  Term down_reason;
  auto is_reply = [&ref](const Term& t) {
    TermReader r(t);
    std::size_t n;
    Reference got;
    return r.tuple_header(n) && n == 2 && r.reference(got) && got == ref;
  };
  const Got got =
      ergon::receive(on<Term>(is_reply,
                              [&](Term& t) {
                                TermReader r(t);
                                std::size_t n;
                                Reference skip;
                                (void)r.tuple_header(n);
                                (void)r.reference(skip);
                                (void)r.raw(value);
                                return Got::kReply;
                              }),
                     on<RemoteDown>([&ref](const RemoteDown& d) { return d.ref == ref; },
                                    [&](RemoteDown& d) {
                                      down_reason = d.reason;
                                      return Got::kDown;
                                    }),
                     on<NodeDown>([&node](const NodeDown& d) { return d.node == node; },
                                  [](const NodeDown&) { return Got::kNodeDown; }),
                     after(timeout, [] { return Got::kTimeout; }));
  if (got != Got::kDown) {
    TermWriter dm;  // {DEMONITOR_P, Self, ToProc, Ref}
    dm.tuple_header(4);
    dm.integer(kDemonitorP);
    dm.pid(self);
    dm.raw(to_proc);
    dm.reference(ref);
    (void)enqueue(node, frame(Term::from_bytes(dm.take()), nullptr), false, nullptr);
  }
  switch (got) {
    case Got::kReply:
      return value;
    case Got::kDown: {
      ExitReason r = reason_of(down_reason);
      throw CallError(
          "ergon::dist::call: " + what + " ended (" + r.to_string() + ") before it replied", Pid{},
          r);
    }
    case Got::kNodeDown:
      throw CallError("ergon::dist::call: the connection to " + node + " was lost before " + what +
                          " replied (noconnection)",
                      Pid{}, ExitReason::user("noconnection"));
    case Got::kTimeout:
      break;
  }
  throw CallTimeout("ergon::dist::call: no reply from " + what + " within " +
                        std::to_string(timeout.count()) + " ms",
                    Pid{});
}

}  // namespace

bool connect(const std::string& node, std::chrono::milliseconds timeout) {
  return ensure_connected(node, timeout);
}

Term call_term(Pid to, const Term& request, std::chrono::milliseconds timeout) {
  if (!to.is_remote()) {
    throw DistError("ergon::dist::call: " + to.to_string() +
                    " is a local process; call it with ergon::call");
  }
  TermWriter c;  // {SEND, '', To}
  c.tuple_header(3);
  c.integer(kSend);
  c.atom("");
  c.pid(to);
  return call_via(node_of(to), Term::of(to), Term::from_bytes(c.take()), request, timeout,
                  describe(to));
}

Term call_term(const Name& to, const Term& request, std::chrono::milliseconds timeout) {
  TermWriter c;  // {REG_SEND, Self, '', Name}
  c.tuple_header(4);
  c.integer(kRegSend);
  c.pid(ergon::self());
  c.atom("");
  c.atom(to.name);
  return call_via(to.node, Term::of(Atom(to.name)), Term::from_bytes(c.take()), request, timeout,
                  "{" + to.name + ", " + to.node + "}");
}

Term rpc(const std::string& node, std::string_view module, std::string_view function,
         const std::vector<Term>& args, std::chrono::milliseconds timeout) {
  TermWriter w;  // {call, M, F, Args, user}: rex's request (user: its group leader, no I/O)
  w.tuple_header(5);
  w.atom("call");
  w.atom(module);
  w.atom(function);
  w.write(args);
  w.atom("user");
  return call_term(Name{"rex", node}, Term::from_bytes(w.take()), timeout);
}

void monitor_node(const std::string& node, bool on) {
  const Pid me = ergon::self();
  std::shared_ptr<PeerEntry> e = peer(node);
  if (!e) {
    if (on) ergon::send(me, NodeDown{node, "noconnection"});
    return;
  }
  bool ask = false;
  {
    std::lock_guard<std::mutex> g(e->mu);
    if (!on) {
      std::erase(e->watchers, me);
      return;
    }
    e->watchers.push_back(me);
    if (!e->up && !e->connecting) {
      e->connecting = true;
      ask = true;
    }
  }
  if (ask) {
    Pid kernel;
    {
      std::lock_guard<std::mutex> g(state().mu);
      kernel = state().kernel;
    }
    ergon::send(kernel, ConnectRequest{node});
  }
}

}  // namespace ergon::dist
