// Supervisors: the supervisor process's loop and the calls into it. See supervisor.hpp for
// the rules; this file follows Erlang's supervisor.erl.
//
// The supervisor is an ordinary process that traps exits. Its state (the children in start
// order, the restart times) lives on its own stack and only it touches it. Everything reaches
// it as a message: Exit from a child or from its parent, a Call from supervisor::*. A call is
// answered with a Reply carrying the caller's tag; the caller monitors the supervisor, so a
// supervisor that ends before it answers gives a Down instead (and a clear error).
//
// Shutting a child down (Erlang's shutdown/2): monitor it, unlink it, flush an Exit it may
// have sent already, send it exit(shutdown), wait for its Down up to its shutdown time, then
// kill it and wait again. The monitor, not the link, tells the end: the link is gone, so the
// child's end does not also arrive as an Exit to be mistaken for a crash.
#include "ergon/supervisor.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <optional>
#include <utility>

#include "core/process.hpp"
#include "ergon/ergon.hpp"

namespace ergon {
namespace detail {
namespace {

enum class Op : std::uint8_t { kStartChild, kTerminate, kRestart, kDelete, kWhich, kStop };

struct Call {
  Pid from;
  std::uint64_t tag;
  Op op;
  std::string id;
  ChildSpec spec;  // kStartChild
};

struct Reply {
  std::uint64_t tag;
  std::string error;  // empty: done
  Pid pid;
  std::vector<ChildInfo> children;
};

// The supervisor's answer to start_supervisor.
struct Started {
  std::uint64_t tag;
  std::string error;
};

// Try a restart again (the first try could not spawn).
struct Retry {
  std::string id;
};

// relaxed: only uniqueness matters.
std::atomic<std::uint64_t> g_next_tag{1};

bool abnormal(const ExitReason& r) { return !r.normal() && r.kind != ExitReason::Kind::kShutdown; }

// Empty when `spec` is fine; else what is wrong.
std::string check_child(const ChildSpec& c) {
  if (c.id.empty()) return "a child spec has an empty id";
  if (!c.start) return "child '" + c.id + "' has no start function";
  if (c.shutdown < ChildSpec::kBrutalKill && c.shutdown != ChildSpec::kInfinity) {
    return "child '" + c.id + "' has a negative shutdown time (use ChildSpec::kInfinity)";
  }
  return "";
}

std::string check_spec(const SupervisorSpec& s) {
  if (s.intensity < 0) return "intensity is negative (0 means: never restart)";
  if (s.period.count() <= 0) return "period must be positive";
  for (std::size_t i = 0; i < s.children.size(); ++i) {
    std::string e = check_child(s.children[i]);
    if (!e.empty()) return e;
    for (std::size_t j = 0; j < i; ++j) {
      if (s.children[j].id == s.children[i].id) {
        return "two children have the id '" + s.children[i].id + "'";
      }
    }
  }
  return "";
}

class Supervisor {
 public:
  explicit Supervisor(SupervisorSpec spec)
      : spec_(std::move(spec)), self_(ergon::self()), parent_(current_process()->parent) {
    for (ChildSpec& c : spec_.children) children_.push_back(Child{std::move(c), Pid{}});
    spec_.children.clear();
  }

  // Starts the children in order. On a failure, shuts down the ones started and returns
  // what went wrong.
  std::string start_all() {
    for (Child& c : children_) {
      std::string e = start(c, SupervisorEvent::Kind::kStarted);
      if (!e.empty()) {
        shutdown_all();
        return "failed to start child '" + c.spec.id + "': " + e;
      }
    }
    return "";
  }

  [[noreturn]] void loop() {
    for (;;) {
      receive([this](Exit& e) { on_exit(e); }, [this](Call& c) { on_call(c); },
              [this](Retry& r) { on_retry(r); });
    }
  }

 private:
  struct Child {
    ChildSpec spec;
    Pid pid;
  };

  void report(SupervisorEvent::Kind kind, const std::string& child, Pid pid,
              const ExitReason& reason = {}) {
    if (spec_.on_event) spec_.on_event(SupervisorEvent{kind, self_, child, pid, reason});
  }

  // Spawns the child linked to us; "" or the error.
  std::string start(Child& c, SupervisorEvent::Kind kind) {
    SpawnOptions o = c.spec.spawn;
    o.link = true;
    try {
      c.pid = spawn(c.spec.start, o);
    } catch (const Error& e) {
      c.pid = Pid{};
      return e.what();
    }
    report(kind, c.spec.id, c.pid);
    return "";
  }

  Child* find(Pid pid) {
    for (Child& c : children_) {
      if (c.pid == pid) return &c;
    }
    return nullptr;
  }
  std::size_t index_of(std::string_view id) const {
    for (std::size_t i = 0; i < children_.size(); ++i) {
      if (children_[i].spec.id == id) return i;
    }
    return children_.size();
  }
  // Removes children_[i] from the list: a temporary child that ended, or a deleted one.
  void forget(std::size_t i) {
    children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  // What a call by id asks of its child: to exist (terminate_child), or also to be stopped
  // (restart_child and delete_child refuse a running child).
  enum class Need : std::uint8_t { kPresent, kStopped };

  // The index of the child `id` that a call acts on, or nullopt with the refusal in `error`.
  std::optional<std::size_t> child_for_call(const std::string& id, Need need,
                                            std::string& error) const {
    const std::size_t i = index_of(id);
    if (i == children_.size()) {
      error = "no child '" + id + "'";
      return std::nullopt;
    }
    if (need == Need::kStopped && children_[i].pid) {
      error = "child '" + id + "' is running (" + children_[i].pid.to_string() +
              "); terminate_child it first";
      return std::nullopt;
    }
    return i;
  }

  // Erlang's shutdown/2; see the top.
  void shutdown(Child& c) {
    if (!c.pid) return;
    const Pid pid = c.pid;
    const Ref ref = monitor(pid);
    unlink(pid);
    (void)receive(on<Exit>([pid](const Exit& e) { return e.from == pid; }, [](const Exit&) {}),
                  after(std::chrono::milliseconds(0), [] {}));
    auto down_of = [&ref](std::optional<std::chrono::milliseconds> within) {
      auto match = [&ref](const Down& d) { return d.ref == ref; };
      if (!within)
        return std::optional<Down>(
            receive(on<Down>(match, [](Down& d) { return std::optional<Down>(std::move(d)); })));
      return receive(on<Down>(match, [](Down& d) { return std::optional<Down>(std::move(d)); }),
                     after(*within, [] { return std::optional<Down>(); }));
    };
    std::optional<Down> d;
    if (c.spec.shutdown == ChildSpec::kBrutalKill) {
      exit(pid, ExitReason::kill());
    } else {
      exit(pid, ExitReason{ExitReason::Kind::kShutdown, ""});
      if (c.spec.shutdown != ChildSpec::kInfinity) {
        d = down_of(c.spec.shutdown);
        if (!d) exit(pid, ExitReason::kill());  // it did not stop in time
      }
    }
    if (!d) d = down_of(std::nullopt);
    c.pid = Pid{};
    report(SupervisorEvent::Kind::kTerminated, c.spec.id, pid, d->reason);
  }

  // Children [from, end) in reverse start order.
  void shutdown_from(std::size_t from) {
    for (std::size_t i = children_.size(); i-- > from;) shutdown(children_[i]);
  }
  void shutdown_all() { shutdown_from(0); }

  // Erlang's add_restart: false when this restart is one too many.
  bool add_restart() {
    // The runtime's clock (logical in deterministic mode), in nanoseconds.
    const std::int64_t now = now_ns();
    restarts_.push_back(now);
    const std::int64_t period = saturating_ns(spec_.period);  // now - period cannot overflow
    while (!restarts_.empty() && restarts_.front() < now - period) restarts_.pop_front();
    return static_cast<long>(restarts_.size()) <= spec_.intensity;
  }

  [[noreturn]] void give_up() {
    report(SupervisorEvent::Kind::kGaveUp, "", Pid{},
           ExitReason{ExitReason::Kind::kShutdown, "reached_max_restart_intensity"});
    shutdown_all();
    exit(ExitReason{ExitReason::Kind::kShutdown, "reached_max_restart_intensity"});
  }

  // Starts `c` again; if it cannot be spawned now, tries again later (a message to self, as
  // Erlang's try_again_restart), which counts as another restart.
  void start_again(Child& c) {
    if (!start(c, SupervisorEvent::Kind::kRestarted).empty()) send(self_, Retry{c.spec.id});
  }

  // Restarts children_[i], which has ended, and its siblings as the strategy says. Counts one
  // restart. The siblings that were running are shut down (reverse start order) and started
  // again (start order); temporary ones are shut down and forgotten.
  void restart(std::size_t i) {
    if (!add_restart()) give_up();
    if (spec_.strategy == Strategy::kOneForOne) {
      start_again(children_[i]);
      return;
    }
    const std::size_t from = spec_.strategy == Strategy::kOneForAll ? 0 : i + 1;
    std::vector<std::string> again;
    for (std::size_t j = std::min(from, i); j < children_.size(); ++j) {
      const Child& c = children_[j];
      if (j == i || (c.pid && c.spec.restart != Restart::kTemporary)) again.push_back(c.spec.id);
    }
    shutdown_from(from);
    for (std::size_t j = children_.size(); j-- > from;) {  // every temporary here was running
      if (children_[j].spec.restart == Restart::kTemporary) forget(j);
    }
    for (const std::string& id : again) start_again(children_[index_of(id)]);
  }

  void on_exit(const Exit& e) {
    Child* c = find(e.from);
    if (c == nullptr) {
      if (parent_ && e.from == parent_) {  // our parent stops us
        shutdown_all();
        exit(e.reason);
      }
      return;  // from a process we do not supervise: ignored, as in Erlang
    }
    report(SupervisorEvent::Kind::kExited, c->spec.id, c->pid, e.reason);
    c->pid = Pid{};
    const Restart r = c->spec.restart;
    const bool again = r == Restart::kPermanent || (r == Restart::kTransient && abnormal(e.reason));
    const std::size_t i = static_cast<std::size_t>(c - children_.data());
    if (!again) {
      if (r == Restart::kTemporary) forget(i);
      return;
    }
    restart(i);
  }

  void on_retry(const Retry& r) {
    const std::size_t i = index_of(r.id);
    if (i == children_.size() || children_[i].pid) return;  // deleted, or running again
    restart(i);
  }

  void on_call(Call& c) {
    Reply rep{c.tag, "", Pid{}, {}};
    switch (c.op) {
      case Op::kStartChild: {
        std::string e = check_child(c.spec);
        if (!e.empty()) {
          rep.error = e;
        } else if (const std::size_t j = index_of(c.spec.id); j < children_.size()) {
          const Child& old = children_[j];
          rep.error = old.pid
                          ? "child '" + c.spec.id + "' is already started as " + old.pid.to_string()
                          : "child '" + c.spec.id +
                                "' is already present (stopped); restart_child or "
                                "delete_child it first";
        } else {
          children_.push_back(Child{std::move(c.spec), Pid{}});
          rep.error = start(children_.back(), SupervisorEvent::Kind::kStarted);
          rep.pid = children_.back().pid;
          if (!rep.error.empty()) children_.pop_back();
        }
        break;
      }
      case Op::kTerminate:
        if (const auto i = child_for_call(c.id, Need::kPresent, rep.error)) {
          shutdown(children_[*i]);
          if (children_[*i].spec.restart == Restart::kTemporary) forget(*i);
        }
        break;
      case Op::kRestart:
        if (const auto i = child_for_call(c.id, Need::kStopped, rep.error)) {
          rep.error = start(children_[*i], SupervisorEvent::Kind::kRestarted);
          rep.pid = children_[*i].pid;
        }
        break;
      case Op::kDelete:
        if (const auto i = child_for_call(c.id, Need::kStopped, rep.error)) forget(*i);
        break;
      case Op::kWhich:
        for (const Child& ch : children_) {
          rep.children.push_back(ChildInfo{ch.spec.id, ch.pid, ch.spec.type, ch.spec.restart});
        }
        break;
      case Op::kStop:
        shutdown_all();
        exit(ExitReason::normal_exit());  // the caller waits for our Down
    }
    send(c.from, std::move(rep));
  }

  SupervisorSpec spec_;
  Pid self_;
  Pid parent_;
  std::vector<Child> children_;
  std::deque<std::int64_t> restarts_;  // now_ns() of each restart in the period
};

[[noreturn]] void run_supervisor(SupervisorSpec spec, Pid ack_to, std::uint64_t ack_tag) {
  // Fault injection crashes the processes a supervisor watches, not the supervisor: its code
  // is the runtime's, and a test of a supervision tree wants its restarts, not its death.
  current_process_or_throw("ergon::supervise")->stop_injecting_crashes();
  (void)trap_exits(true);
  Supervisor s(std::move(spec));
  std::string error = s.start_all();
  if (ack_to) {
    if (!error.empty()) unlink(ack_to);  // the caller gets the error, not an exit signal
    send(ack_to, Started{ack_tag, error});
  }
  if (!error.empty()) exit(ExitReason{ExitReason::Kind::kShutdown, error});
  s.loop();
}

// Sends `call` to `sup` and waits for its reply (or its end).
Reply call(Pid sup, Call c, const char* what) {
  if (sup == ergon::self()) {
    throw Error(std::string(what) + ": a supervisor cannot call itself (" + sup.to_string() + ")");
  }
  Marker m;
  const Ref ref = monitor(sup);
  c.from = ergon::self();
  c.tag = ref.id();
  send(sup, std::move(c));
  std::optional<Reply> rep;
  std::optional<ExitReason> down;
  WaitLabel label(current_process(), "supervisor call");  // for process_info
  m.receive(on<Reply>([&ref](const Reply& r) { return r.tag == ref.id(); },
                      [&rep](Reply& r) { rep = std::move(r); }),
            on<Down>([&ref](const Down& d) { return d.ref == ref; },
                     [&down](Down& d) { down = std::move(d.reason); }));
  if (!down) (void)demonitor(ref, true);
  if (down) {
    throw Error(std::string(what) + ": supervisor " + sup.to_string() + " is not running (" +
                down->to_string() + ")");
  }
  if (!rep->error.empty()) {
    throw Error(std::string(what) + ": supervisor " + sup.to_string() + ": " + rep->error);
  }
  return std::move(*rep);
}

}  // namespace
}  // namespace detail

ChildSpec supervisor_child(std::string id, SupervisorSpec spec, Restart restart) {
  ChildSpec c;
  c.id = std::move(id);
  c.start = [spec = std::move(spec)] { supervise(spec); };
  c.restart = restart;
  c.shutdown = ChildSpec::kInfinity;
  c.type = ChildType::kSupervisor;
  return c;
}

Pid start_supervisor(SupervisorSpec spec, SpawnOptions opts) {
  (void)detail::current_process_or_throw("ergon::start_supervisor");
  std::string e = detail::check_spec(spec);
  if (!e.empty()) throw Error("ergon::start_supervisor: " + e);
  const std::uint64_t tag = detail::g_next_tag.fetch_add(1, std::memory_order_relaxed);
  const Pid me = self();
  Marker m;
  opts.link = true;
  const Pid sup = spawn([spec = std::move(spec), me,
                         tag]() mutable { detail::run_supervisor(std::move(spec), me, tag); },
                        opts);
  const Ref ref = monitor(sup);
  std::optional<std::string> error;
  std::optional<ExitReason> down;
  detail::WaitLabel label(detail::current_process(), "supervisor start");  // process_info
  m.receive(on<detail::Started>([tag](const detail::Started& s) { return s.tag == tag; },
                                [&error](detail::Started& s) { error = std::move(s.error); }),
            on<Down>([&ref](const Down& d) { return d.ref == ref; },
                     [&down](Down& d) { down = std::move(d.reason); }));
  if (!down) (void)demonitor(ref, true);
  if (down) {
    throw Error("ergon::start_supervisor: supervisor " + sup.to_string() +
                " ended before it started its children (" + down->to_string() + ")");
  }
  if (!error->empty()) throw Error("ergon::start_supervisor: " + *error);
  return sup;
}

void supervise(SupervisorSpec spec) {
  (void)detail::current_process_or_throw("ergon::supervise");
  std::string e = detail::check_spec(spec);
  if (!e.empty()) throw Error("ergon::supervise: " + e);
  detail::run_supervisor(std::move(spec), Pid{}, 0);
}

namespace supervisor {

using detail::Call;
using detail::Op;

Pid start_child(Pid sup, ChildSpec spec) {
  return detail::call(sup, Call{{}, 0, Op::kStartChild, "", std::move(spec)},
                      "ergon::supervisor::start_child")
      .pid;
}

void terminate_child(Pid sup, std::string_view id) {
  (void)detail::call(sup, Call{{}, 0, Op::kTerminate, std::string(id), {}},
                     "ergon::supervisor::terminate_child");
}

Pid restart_child(Pid sup, std::string_view id) {
  return detail::call(sup, Call{{}, 0, Op::kRestart, std::string(id), {}},
                      "ergon::supervisor::restart_child")
      .pid;
}

void delete_child(Pid sup, std::string_view id) {
  (void)detail::call(sup, Call{{}, 0, Op::kDelete, std::string(id), {}},
                     "ergon::supervisor::delete_child");
}

std::vector<ChildInfo> which_children(Pid sup) {
  return detail::call(sup, Call{{}, 0, Op::kWhich, "", {}}, "ergon::supervisor::which_children")
      .children;
}

void stop(Pid sup) {
  const char* what = "ergon::supervisor::stop";
  if (sup == self()) throw Error(std::string(what) + ": a supervisor cannot stop itself this way");
  const Ref ref = monitor(sup);
  send(sup, Call{self(), 0, Op::kStop, "", {}});
  detail::WaitLabel label(detail::current_process(), "supervisor stop");  // process_info
  const Down d = receive(on<Down>([&ref](const Down& x) { return x.ref == ref; },
                                  [](Down& x) { return std::move(x); }));
  if (d.reason.kind == ExitReason::Kind::kNoProc) {
    throw Error(std::string(what) + ": supervisor " + sup.to_string() + " is not running");
  }
}

}  // namespace supervisor
const char* to_string(Strategy s) noexcept {
  switch (s) {
    case Strategy::kOneForOne:
      return "one_for_one";
    case Strategy::kOneForAll:
      return "one_for_all";
    case Strategy::kRestForOne:
      return "rest_for_one";
  }
  return "?";
}

const char* to_string(Restart r) noexcept {
  switch (r) {
    case Restart::kPermanent:
      return "permanent";
    case Restart::kTransient:
      return "transient";
    case Restart::kTemporary:
      return "temporary";
  }
  return "?";
}

const char* to_string(ChildType t) noexcept {
  return t == ChildType::kWorker ? "worker" : "supervisor";
}

const char* to_string(SupervisorEvent::Kind k) noexcept {
  switch (k) {
    case SupervisorEvent::Kind::kStarted:
      return "started";
    case SupervisorEvent::Kind::kExited:
      return "exited";
    case SupervisorEvent::Kind::kRestarted:
      return "restarted";
    case SupervisorEvent::Kind::kTerminated:
      return "terminated";
    case SupervisorEvent::Kind::kGaveUp:
      return "gave_up";
  }
  return "?";
}

std::string to_string(const SupervisorEvent& e) {
  std::string out = to_string(e.kind);
  if (!e.child.empty()) out += " " + e.child;
  if (e.pid) out += " " + e.pid.to_string();
  if (e.kind == SupervisorEvent::Kind::kExited || e.kind == SupervisorEvent::Kind::kTerminated) {
    out += " (" + e.reason.to_string() + ")";
  }
  return out;
}

}  // namespace ergon
