// The node's processes: start and stop, the kernel (connect requests), the acceptor, and the
// connection process of each peer (handshake, frames in and out, ticks, control messages).
//
// Processes (all of the runtime that called start, so they end with it):
//   kernel      owns the epmd registration (its socket: closing it unpublishes) and spawns a
//               connection process for each ConnectRequest (N3, node.hpp).
//   acceptor    owns the listening socket; each accepted socket goes to a new connection
//               process, which shakes hands as the accepting side.
//   connection  one per peer: owns its socket, reads it in active-once mode (net::Data
//               messages, so one receive serves the socket, Kicks, the Downs of the monitors it
//               holds for the peer and the tick timer), writes the peer's queue when kicked
//               (N2), and ends the connection on EOF, a tick timeout, a bad frame or a stop
//               (N4). Its writes never block its reads (W1..W3, Connection::loop).
//
// Incoming control messages (erl_dist_protocol), each checked by Term::validate first (a frame
// that fails it, or that is not a pass-through message, closes the connection with the reason
// logged):
//   SEND / REG_SEND  the message reaches the pid or registered name as an ergon::Term; one that
//                    is {'$gen_call', {From, Tag}, Req} arrives as Call<Term> (the reply's
//                    Tag is kept in NodeState::erl_tags until reply() sends {Tag, Value}).
//                    A call to net_kernel's {is_auth, Node} is answered yes here (net_adm:ping).
//   LINK             the connection monitors the local process for the linker: its end sends
//                    EXIT {3, Local, Remote, Reason}; UNLINK / UNLINK_ID remove that (and
//                    UNLINK_ID is acknowledged).
//   EXIT / EXIT2     an exit signal from the remote pid to the local one (Erlang's rules:
//                    normal is ignored unless it traps exits; EXIT2 kill cannot be trapped).
//   MONITOR_P        the connection monitors the local process (by pid or name) and sends
//                    MONITOR_P_EXIT {21, Local, Watcher, Ref, Reason} when it ends;
//                    DEMONITOR_P removes it.
//   MONITOR_P_EXIT   a remote process that dist::call monitored ended: RemoteDown to the caller.
// When the connection ends, the links it stood for get EXIT noconnection... on the remote side
// (Erlang does that itself); locally, processes linked from that node get an exit signal
// noconnection from the remote pid, as Erlang's would.
#include "dist/node.hpp"

#include <cstring>
#include <map>
#include <set>

#include "core/hooks.hpp"
#include "dist/epmd.hpp"
#include "dist/handshake.hpp"
#include "dist/pids.hpp"
#include "ergon/call.hpp"
#include "ergon/dist.hpp"
#include "ergon/link.hpp"
#include "ergon/monitor.hpp"
#include "ergon/net.hpp"
#include "ergon/process.hpp"
#include "ergon/receive.hpp"
#include "ergon/registry.hpp"
#include "otp/link.hpp"

namespace ergon::detail::dist {
namespace {

using namespace std::chrono_literals;

// The stack of the node's processes: the decoders recurse up to Term::kMaxDepth, and a frame's
// handling holds a few terms. 256 KiB: four times the default, committed only as touched.
constexpr std::size_t kStack = 256 * 1024;
// A frame longer than this closes the connection (a lying length would otherwise make the
// reader buffer without end). 256 MiB: far beyond any message Erlang sends unfragmented.
constexpr std::uint32_t kMaxFrame = 256u << 20;
// How long a handshake may take, each side.
constexpr auto kHandshakeTimeout = 5s;

struct KernelInit {
  net::Listener listener;
  net::Stream epmd;
};

Local local_identity() {
  NodeState& s = state();
  std::lock_guard<std::mutex> g(s.mu);
  return Local{s.name, s.opts.cookie, s.creation};
}

ergon::dist::NodeOptions options() {
  NodeState& s = state();
  std::lock_guard<std::mutex> g(s.mu);
  return s.opts;
}

Term control(std::initializer_list<std::function<void(TermWriter&)>> parts) {
  TermWriter w;
  w.tuple_header(parts.size());
  for (auto& p : parts) p(w);
  return Term::from_bytes(w.take());
}

class BadFrame : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One connection, after its handshake. See the top.
class Connection {
 public:
  Connection(net::Stream s, Peer peer, std::shared_ptr<PeerEntry> e)
      : s_(std::move(s)), peer_(std::move(peer)), e_(std::move(e)) {}

  void run() {
    {
      std::lock_guard<std::mutex> g(e_->mu);
      if (e_->up) {  // another connection to this peer won
        return;
      }
      e_->up = true;
      e_->conn = ergon::self();
      e_->connecting = false;
      e_->kicked = false;
      for (Pid w : e_->waiters) ergon::send(w, ConnectResult{e_->name, true});
      e_->waiters.clear();
    }
    std::string reason = "connection_closed";
    try {
      loop(reason);
    } catch (const BadFrame& b) {
      reason = std::string("bad frame: ") + b.what();
      log("closed the connection to " + peer_.name + ": " + reason);
    } catch (const net::Error& n) {
      reason = std::string("connection_closed (") + n.what() + ")";
    } catch (...) {
      down("stop");
      throw;
    }
    down(reason);
  }

 private:
  // One receive serves the socket's data, Kicks, Downs, stops and the tick. While bytes wait
  // to be written (W1..W3 below) the loop never blocks in a write: a write that finds the
  // socket full returns when a message comes, the message is served, and the write goes on.
  // Two nodes that both stream to each other would otherwise each wait in a write for the
  // other to read (it did: tests/dist, ManySendersKeepEachPairsOrderThroughShortWrites).
  void loop(std::string& reason) {
    const auto tick = options().tick_interval;
    s_.set_active_once();
    take_queue();
    last_read_ = last_write_ = std::chrono::steady_clock::now();
    // While writing, every message there is served before the next write_some, which wakes
    // only for messages no receive has fetched: a Data left fetched but unserved while both
    // sockets are full would wait for a write that waits for the peer, which waits for us.
    // (The messages cannot flood: one Data per arming, Kicks coalesce.)
    int served = 0;
    for (;;) {
      bool stop = false, none = false;
      if (sent_ < pending_.size() && served == 0) write_pending(tick);
      const bool writing = sent_ < pending_.size();
      ergon::receive(
          [&](net::Data& d) {
            in_ += d.bytes;
            last_read_ = std::chrono::steady_clock::now();
            parse();
            s_.set_active_once();
          },
          [&](net::Closed& c) {
            reason = c.error == 0
                         ? "connection_closed"
                         : "connection_closed (" + std::string(std::strerror(c.error)) + ")";
            stop = true;
          },
          [&](Kick&) { take_queue(); }, [&](Down& d) { on_local_down(d); },
          [&](StopConnection& sc) {
            reason = sc.reason;
            stop = true;
          },
          after(writing ? std::chrono::nanoseconds(0) : tick, [&] { none = true; }));
      if (stop) return;
      served = none ? 0 : served + 1;
      const auto now = std::chrono::steady_clock::now();
      if (now - last_write_ >= tick && sent_ == pending_.size()) {
        {
          std::lock_guard<std::mutex> g(e_->mu);
          e_->out.emplace_back(4, '\0');  // a tick, after whatever waits (N1)
        }
        take_queue();
        last_write_ = now;
      }
      if (now - last_read_ >= 4 * tick) {
        reason = "net_tick_timeout";
        log("no data from " + peer_.name + " for 4 ticks: connection closed (net_tick_timeout)");
        return;
      }
    }
  }

  // W1 (N2): the whole queue moves behind the bytes still to write, in order.
  void take_queue() {
    std::deque<std::string> out;
    {
      std::lock_guard<std::mutex> g(e_->mu);
      out.swap(e_->out);
      e_->kicked = false;
    }
    if (sent_ == pending_.size()) {
      pending_.clear();
      sent_ = 0;
    }
    for (auto& f : out) {
      if (trace_) trace_out(peer_.name, f);
      pending_ += f;
    }
  }

  // W2: writes what the socket takes, up to `tick`, or until a message comes (write_some).
  // W3: once all is written, takes what was appended meanwhile (W1).
  void write_pending(std::chrono::nanoseconds tick) {
    try {
      sent_ += s_.write_some(pending_.data() + sent_, pending_.size() - sent_, tick);
      last_write_ = std::chrono::steady_clock::now();
    } catch (const net::TimeoutError&) {
      return;  // a full socket for a whole tick: the loop's tick checks run, then it waits on
    }
    if (sent_ < pending_.size()) return;
    take_queue();
  }

  // The connection's own frames join the queue, behind what other senders appended (N1).
  void send_frame(const Term& ctl, const Term* msg) {
    std::string f = frame(ctl, msg);
    {
      std::lock_guard<std::mutex> g(e_->mu);
      e_->out.push_back(std::move(f));
    }
    take_queue();
  }

  void parse() {
    std::size_t at = 0;
    while (in_.size() - at >= 4) {
      const auto* p = reinterpret_cast<const unsigned char*>(in_.data() + at);
      const std::uint32_t len = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                                (std::uint32_t{p[2]} << 8) | p[3];
      if (len > kMaxFrame) throw BadFrame("a frame of " + std::to_string(len) + " bytes");
      if (in_.size() - at - 4 < len) break;
      if (len > 0) handle(in_.data() + at + 4, len);  // len 0: a tick
      at += 4 + len;
    }
    in_.erase(0, at);
  }

  void handle(const char* f, std::size_t n) {
    if (static_cast<unsigned char>(f[0]) != 112) {
      throw BadFrame("not a pass-through message (tag " +
                     std::to_string(static_cast<unsigned char>(f[0])) +
                     "; this node offers no atom cache)");
    }
    if (n < 2 || static_cast<unsigned char>(f[1]) != 131)
      throw BadFrame("the control message has no version byte");
    std::string why;
    const long clen = Term::validate(f + 2, n - 2, false, &why);
    if (clen < 0) throw BadFrame("control message: " + why);
    const Term ctl = Term::from_bytes(std::string(f + 2, static_cast<std::size_t>(clen)));
    std::optional<Term> msg;
    const std::size_t rest = n - 2 - static_cast<std::size_t>(clen);
    if (rest > 0) {
      const char* m = f + 2 + clen;
      if (static_cast<unsigned char>(m[0]) != 131)
        throw BadFrame("the message has no version byte");
      if (Term::validate(m + 1, rest - 1, true, &why) < 0) throw BadFrame("message: " + why);
      msg = Term::from_bytes(std::string(m + 1, rest - 1));
    }
    if (trace_)
      log("<- " + peer_.name + " " + ctl.to_string() + (msg ? " " + msg->to_string() : ""));
    dispatch(ctl, msg);
  }

  // ERGON_DIST_TRACE=1: every control message in and out on stderr.
  static void trace_out(const std::string& peer, const std::string& f) {
    if (f.size() <= 6) return;  // a tick
    const char* p = f.data() + 6;
    const long clen = Term::validate(p, f.size() - 6, false, nullptr);
    if (clen < 0) return;
    std::string line = "-> " + peer + " " +
                       Term::from_bytes(std::string(p, static_cast<std::size_t>(clen))).to_string();
    if (static_cast<std::size_t>(clen) + 6 < f.size())
      line += " " + Term::from_bytes(f.substr(7 + static_cast<std::size_t>(clen))).to_string();
    log(line);
  }

  void dispatch(const Term& ctl, const std::optional<Term>& msg) {
    TermReader r(ctl);
    std::size_t arity;
    std::int64_t op;
    if (!r.tuple_header(arity) || arity < 1 || !r.integer(op))
      throw BadFrame("the control message is not a tuple starting with an operation: " +
                     ctl.to_string());
    auto need = [&](bool ok) {
      if (!ok) throw BadFrame("a malformed control message " + ctl.to_string());
    };
    switch (op) {
      case kSend: {  // {2, Unused, To}
        Pid to;
        need(arity == 3 && r.skip() && r.pid(to) && msg.has_value());
        deliver(to, *msg);
        break;
      }
      case kRegSend: {  // {6, From, Unused, ToName}
        Pid from;
        std::string name;
        need(arity == 4 && r.pid(from) && r.skip() && r.atom(name) && msg.has_value());
        deliver_named(from, name, *msg);
        break;
      }
      case kLink: {  // {1, From, To}
        Pid from, to;
        need(arity == 3 && r.pid(from) && r.pid(to));
        watch(to, Watch{Watch::kLink, from, Term(), Term()});
        break;
      }
      case kUnlink: {  // {4, From, To}
        Pid from, to;
        need(arity == 3 && r.pid(from) && r.pid(to));
        unwatch_link(to, from);
        break;
      }
      case kUnlinkId: {  // {35, Id, From, To}
        Term id;
        Pid from, to;
        need(arity == 4 && r.raw(id) && r.pid(from) && r.pid(to));
        unwatch_link(to, from);
        send_frame(control({[](TermWriter& w) { w.integer(kUnlinkIdAck); },
                            [&](TermWriter& w) { w.raw(id); }, [&](TermWriter& w) { w.pid(to); },
                            [&](TermWriter& w) { w.pid(from); }}),
                   nullptr);
        break;
      }
      case kUnlinkIdAck:
        break;
      case kExit:     // {3, From, To, Reason}
      case kExit2: {  // {8, From, To, Reason}
        Pid from, to;
        Term reason;
        need(arity == 4 && r.pid(from) && r.pid(to) && r.raw(reason));
        if (to.is_remote()) break;
        if (op == kExit) unwatch_link(to, from);
        ExitReason why = reason_of(reason);
        if (op == kExit2 && reason.is_atom("kill")) why = ExitReason::kill();
        signal_exit(to, from, why, false);
        break;
      }
      case kMonitorP: {  // {19, From, ToProc, Ref}
        Pid from;
        Term to_proc, ref;
        need(arity == 4 && r.pid(from) && r.raw(to_proc) && r.raw(ref));
        Pid to;
        std::string name;
        TermReader tp(to_proc);
        if (!tp.pid(to)) {
          TermReader ta(to_proc);
          need(ta.atom(name));
          to = whereis(name);
        }
        watch(to, Watch{Watch::kMonitor, from, ref, to_proc});
        break;
      }
      case kDemonitorP: {  // {20, From, ToProc, Ref}
        Pid from;
        Term to_proc, ref;
        need(arity == 4 && r.pid(from) && r.raw(to_proc) && r.raw(ref));
        for (auto it = watches_.begin(); it != watches_.end(); ++it) {
          if (it->second.kind == Watch::kMonitor && it->second.ref == ref) {
            (void)demonitor(it->first, true);
            watches_.erase(it);
            break;
          }
        }
        break;
      }
      case kMonitorPExit: {  // {21, FromProc, To, Ref, Reason}
        Term from_proc, reason;
        Pid to;
        Reference ref;
        need(arity == 5 && r.raw(from_proc) && r.pid(to) && r.reference(ref) && r.raw(reason));
        if (!to.is_remote()) ergon::send(to, RemoteDown{ref, reason});
        break;
      }
      default:
        log("ignored a control message from " + peer_.name +
            " this node does not implement: " + ctl.to_string());
    }
  }

  void deliver(Pid to, const Term& msg) {
    if (to.is_remote()) return;  // a pid of this node's earlier run: gone
    if (msg.tag() == "$gen_call") {
      deliver_call(to, msg);
      return;
    }
    ergon::send(to, msg);
  }

  void deliver_named(Pid from, const std::string& name, const Term& msg) {
    if (name == "net_kernel" && msg.tag() == "$gen_call") {  // net_adm:ping's {is_auth, Node}
      auto c = msg.as<std::tuple<Atom, std::tuple<Pid, Term>, Term>>();
      if (c && std::get<2>(*c).tag() == "is_auth") {
        TermWriter w;
        w.tuple_header(2);
        w.raw(std::get<1>(std::get<1>(*c)));
        w.atom("yes");
        const Term reply = Term::from_bytes(w.take());
        send_frame(
            control({[](TermWriter& w) { w.integer(kSend); }, [](TermWriter& w) { w.atom(""); },
                     [&](TermWriter& w) { w.pid(std::get<0>(std::get<1>(*c))); }}),
            &reply);
        return;
      }
    }
    (void)from;
    const Pid to = whereis(name);
    if (!to) return;  // nobody holds the name: dropped, as in Erlang
    deliver(to, msg);
  }

  void deliver_call(Pid to, const Term& msg) {
    auto c = msg.as<std::tuple<Atom, std::tuple<Pid, Term>, Term>>();
    if (!c) {  // not a well-formed call: the raw term, for a catch-all
      ergon::send(to, msg);
      return;
    }
    std::uint64_t key;
    {
      NodeState& s = state();
      std::lock_guard<std::mutex> g(s.mu);
      key = s.next_tag++;
      s.erl_tags.emplace(key, std::get<1>(std::get<1>(*c)).bytes());
    }
    ergon::send(to, Call<Term>{From{std::get<0>(std::get<1>(*c)), key,
                                    &ergon::detail::reply_type_name<Term>},
                               std::move(std::get<2>(*c))});
  }

  // What the connection watches a local process for, on the peer's behalf.
  struct Watch {
    enum Kind { kLink, kMonitor } kind;
    Pid remote;    // the linker, or the watcher
    Term ref;      // kMonitor: the watcher's reference
    Term to_proc;  // kMonitor: as the watcher named the target (a pid or a name)
  };

  void watch(Pid local, Watch w) {
    if (w.kind == Watch::kLink) {
      for (auto& [ref, x] : watches_)
        if (x.kind == Watch::kLink && x.remote == w.remote && ref.target() == local) return;
    }
    const Ref ref = ergon::monitor(local);  // a dead or unknown pid: Down noproc at once
    watches_.emplace(ref, std::move(w));
  }

  void unwatch_link(Pid local, Pid remote) {
    for (auto it = watches_.begin(); it != watches_.end(); ++it) {
      if (it->second.kind == Watch::kLink && it->second.remote == remote &&
          it->first.target() == local) {
        (void)demonitor(it->first, true);
        watches_.erase(it);
        return;
      }
    }
  }

  void on_local_down(const Down& d) {
    auto it = watches_.find(d.ref);
    if (it == watches_.end()) return;
    Watch w = std::move(it->second);
    watches_.erase(it);
    const Term reason = reason_term(d.reason);
    if (w.kind == Watch::kLink) {  // {3, From, To, Reason}
      send_frame(
          control({[](TermWriter& t) { t.integer(kExit); },
                   [&](TermWriter& t) { t.pid(d.ref.target()); },
                   [&](TermWriter& t) { t.pid(w.remote); }, [&](TermWriter& t) { t.raw(reason); }}),
          nullptr);
    } else {  // {21, FromProc, To, Ref, Reason}
      send_frame(
          control({[](TermWriter& t) { t.integer(kMonitorPExit); },
                   [&](TermWriter& t) { t.raw(w.to_proc); },
                   [&](TermWriter& t) { t.pid(w.remote); }, [&](TermWriter& t) { t.raw(w.ref); },
                   [&](TermWriter& t) { t.raw(reason); }}),
          nullptr);
    }
  }

  // N4.
  void down(const std::string& reason) noexcept {
    std::vector<Pid> watchers, waiters;
    {
      std::lock_guard<std::mutex> g(e_->mu);
      if (e_->conn == ergon::self()) {
        e_->up = false;
        e_->conn = Pid{};
        e_->kicked = false;
        e_->out.clear();
        watchers.swap(e_->watchers);
        waiters.swap(e_->waiters);
      }
    }
    s_.close();
    try {
      for (Pid w : watchers) ergon::send(w, ergon::dist::NodeDown{e_->name, reason});
      for (Pid w : waiters) ergon::send(w, ConnectResult{e_->name, false});
      // Local processes linked from the lost node: an exit signal noconnection from the
      // remote end of each link.
      for (auto& [ref, w] : watches_) {
        if (w.kind == Watch::kLink)
          signal_exit(ref.target(), w.remote, ExitReason::user("noconnection"), false);
        (void)demonitor(ref, true);
      }
    } catch (...) {
    }
    watches_.clear();
  }

  const bool trace_ = std::getenv("ERGON_DIST_TRACE") != nullptr;
  net::Stream s_;
  Peer peer_;
  std::shared_ptr<PeerEntry> e_;
  std::string in_;
  std::string pending_;  // W1..W3: bytes to write, in order; pending_[sent_..] not written yet
  std::size_t sent_ = 0;
  std::map<Ref, Watch, bool (*)(const Ref&, const Ref&)> watches_{
      [](const Ref& a, const Ref& b) { return a.id() < b.id(); }};
  std::chrono::steady_clock::time_point last_read_, last_write_;
};

// A failed connect attempt (N3): drops the queue and tells the watchers and waiters, unless
// another connection to the peer is up by now (then this one lost a race, harmlessly).
void connect_failed(const std::shared_ptr<PeerEntry>& e, const std::string& why) {
  std::vector<Pid> watchers, waiters;
  {
    std::lock_guard<std::mutex> g(e->mu);
    if (e->up) return;
    e->connecting = false;
    e->out.clear();
    watchers.swap(e->watchers);
    waiters.swap(e->waiters);
  }
  log("cannot connect to " + e->name + ": " + why);
  for (Pid w : watchers) ergon::send(w, ergon::dist::NodeDown{e->name, "noconnection"});
  for (Pid w : waiters) ergon::send(w, ConnectResult{e->name, false});
}

void outgoing(const std::string& node) {
  std::shared_ptr<PeerEntry> e = peer(node);
  if (!e) return;
  const auto at = node.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == node.size()) {
    connect_failed(e, "the name is not name@host");
    return;
  }
  net::Stream s;
  Peer p;
  try {
    const auto opts = options();
    const std::string host = node.substr(at + 1);
    const std::uint16_t port =
        epmd_port_please(host, node.substr(0, at), opts.epmd_port, kHandshakeTimeout);
    std::vector<net::Address> addrs;
    try {
      addrs.push_back(net::Address::ip(host, port));
    } catch (const net::Error&) {
      addrs = net::Address::resolve(host, port);
    }
    if (addrs.empty()) throw std::runtime_error("cannot resolve " + host);
    s = net::Stream::connect(addrs.front(), kHandshakeTimeout);
    s.set_nodelay(true);
    p = handshake_connect(s, local_identity(), kHandshakeTimeout);
    if (p.name != node) throw std::runtime_error("the peer calls itself " + p.name);
  } catch (const std::exception& x) {
    connect_failed(e, x.what());
    return;
  }
  Connection(std::move(s), std::move(p), e).run();
}

void incoming() {
  net::Stream s = ergon::receive<net::Stream>();
  std::string from;
  try {
    from = s.peer_address().to_string();
  } catch (...) {
  }
  Peer p;
  std::shared_ptr<PeerEntry> e;
  try {
    s.set_nodelay(true);
    p = handshake_accept(s, local_identity(), kHandshakeTimeout, [&](const std::string& name) {
      e = peer(name);
      if (!e) return false;
      std::lock_guard<std::mutex> g(e->mu);
      if (e->up) return false;
      // Both sides connecting at once: the greater name keeps its own attempt (Erlang's rule).
      if (e->connecting && local_node() > name) return false;
      return true;
    });
  } catch (const std::exception& x) {
    log("refused a connection from " + from + (p.name.empty() ? "" : " (" + p.name + ")") + ": " +
        x.what());
    return;
  }
  Connection(std::move(s), std::move(p), e).run();
}

void acceptor() {
  net::Listener l = ergon::receive<net::Listener>();
  SpawnOptions so;
  so.stack_size = kStack;
  for (;;) {
    net::Stream c = l.accept();
    const Pid h = ergon::spawn([] { incoming(); }, so);
    c.hand_to(h);
    ergon::send(h, std::move(c));
  }
}

void kernel() {
  KernelInit init = ergon::receive<KernelInit>();
  SpawnOptions so;
  so.stack_size = kStack;
  const Pid acc = ergon::spawn([] { acceptor(); }, so);
  init.listener.hand_to(acc);
  ergon::send(acc, std::move(init.listener));
  struct Reset {  // the node ends with its kernel, however it ends
    Pid acc;
    ~Reset() {
      std::vector<Pid> conns;
      {
        NodeState& s = state();
        std::lock_guard<std::mutex> g(s.mu);
        s.running = false;
        s.kernel = Pid{};
        for (auto& [n, e] : s.peers) {
          std::lock_guard<std::mutex> g2(e->mu);
          if (e->up) conns.push_back(e->conn);
        }
        s.peers.clear();
        s.erl_tags.clear();
      }
      set_local_node("nonode@nohost", 0);
      try {
        ergon::exit(acc, ExitReason::kill());
        for (Pid c : conns) ergon::send(c, StopConnection{"stop"});
      } catch (...) {
      }
    }
  } reset{acc};
  for (;;) {
    bool stop = false;
    ergon::receive([&](ConnectRequest& r) { ergon::spawn([n = r.node] { outgoing(n); }, so); },
                   [&](StopKernel&) { stop = true; });
    if (stop) return;
  }
}

}  // namespace
}  // namespace ergon::detail::dist

namespace ergon::dist {

using namespace ergon::detail::dist;

NodeOptions NodeOptions::from_env(NodeOptions base) {
  if (const char* v = std::getenv("ERGON_NODE"); v != nullptr && *v != '\0') base.name = v;
  if (const char* v = std::getenv("ERGON_COOKIE"); v != nullptr && *v != '\0') base.cookie = v;
  if (const char* v = std::getenv("ERGON_DIST_LISTEN"); v != nullptr && *v != '\0') base.listen = v;
  if (const char* v = std::getenv("ERL_EPMD_PORT"); v != nullptr && *v != '\0') {
    char* end = nullptr;
    const long p = std::strtol(v, &end, 10);
    if (*end != '\0' || p <= 0 || p > 65535)
      throw ConfigError(std::string("ERL_EPMD_PORT=") + v + " is not a port (1..65535)");
    base.epmd_port = static_cast<std::uint16_t>(p);
  }
  if (const char* v = std::getenv("ERGON_DIST_TICK"); v != nullptr && *v != '\0') {
    char* end = nullptr;
    const long ms = std::strtol(v, &end, 10);
    if (*end != '\0' || ms < 10)
      throw ConfigError(std::string("ERGON_DIST_TICK=") + v + " is not a tick in ms (at least 10)");
    base.tick_interval = std::chrono::milliseconds(ms);
  }
  return base;
}

std::string start(const NodeOptions& given) {
  const NodeOptions o = NodeOptions::from_env(given);
  const auto at = o.name.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == o.name.size())
    throw DistError("ergon::dist::start: the node name \"" + o.name +
                    "\" is not name@host (set NodeOptions::name or ERGON_NODE)");
  if (o.cookie.empty())
    throw DistError(
        "ergon::dist::start: no cookie (set NodeOptions::cookie or ERGON_COOKIE; "
        "every node of the cluster needs the same one)");
  {
    NodeState& s = state();
    std::lock_guard<std::mutex> g(s.mu);
    if (s.running)
      throw DistError("ergon::dist::start: this program already runs the node " + s.name +
                      " (one node per program)");
  }
  net::Listener l;
  try {
    l = net::Listener::bind(net::Address::parse(o.listen));
  } catch (const net::Error& e) {
    throw DistError(std::string("ergon::dist::start: cannot listen on ") + o.listen + ": " +
                    e.what() + " (set NodeOptions::listen or ERGON_DIST_LISTEN)");
  }
  net::Stream epmd;
  std::uint32_t creation = 0;
  // A name just released by a node that stopped may still be registered for a moment (epmd
  // sees the close a little later): retry for up to a second.
  for (int attempt = 0;; ++attempt) {
    try {
      creation = epmd_publish(epmd, o.name.substr(0, at), l.local_address().port(), o.epmd_port);
      break;
    } catch (const std::exception& e) {
      if (attempt >= 20 || std::string(e.what()).find("refused the name") == std::string::npos)
        throw DistError(std::string("ergon::dist::start: ") + e.what());
      ergon::sleep_for(50ms);
    }
  }
  install_hook();
  SpawnOptions so;
  so.stack_size = kStack;
  const Pid k = ergon::spawn([] { kernel(); }, so);
  {
    NodeState& s = state();
    std::lock_guard<std::mutex> g(s.mu);
    s.running = true;
    s.opts = o;
    s.name = o.name;
    s.creation = creation;
    s.kernel = k;
    s.peers.clear();
  }
  set_local_node(o.name, creation);
  l.hand_to(k);
  epmd.hand_to(k);
  ergon::send(k, KernelInit{std::move(l), std::move(epmd)});
  return o.name;
}

void stop() {
  Pid k;
  {
    NodeState& s = state();
    std::lock_guard<std::mutex> g(s.mu);
    k = s.kernel;
  }
  if (!k) return;
  const Ref r = ergon::monitor(k);
  ergon::send(k, StopKernel{});
  ergon::receive(on<Down>([&r](const Down& d) { return d.ref == r; }, [](const Down&) {}));
}

}  // namespace ergon::dist
