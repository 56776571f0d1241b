// Server: the out-of-line parts of ergon::Server (ergon/server.hpp): the start's wait, the
// stop, the end, and the report of a message no handler matches.
//
// Design
// ------
// Start (gen_server:start_link's handshake, proc_lib's init_ack):
//   S1 the starter spawns the server (linked for start_server_link) and monitors it;
//   S2 the server registers its name, runs init (S's constructor) and sends ServerStarted,
//      or, if init threw, unlinks the starter, sends ServerInitFailed and ends with the
//      exception;
//   S3 the starter waits for one of those, or the monitor's Down (the server was killed
//      before it could answer), or the init timeout (it kills the server, as gen_server does).
// Stop (gen_server:stop): a monitor, a ServerStop{reason} message, and the wait for the Down.
// The server handles ServerStop like any message, after the ones before it, so a stop never
// overtakes a request that was sent earlier by the same process.
// Rejected: stopping with an exit signal (a server that does not trap exits would end without
// terminate, and one that does would see the stop mixed with its links' signals).
#include "ergon/server.hpp"

#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_set>

#include "ergon/ergon.hpp"

namespace ergon::detail {

std::string exception_text(const std::exception_ptr& e) { return reason_of(e).what; }

void report_unhandled(Pid server, const std::string& type) {
  // Once per server and type: the first time tells the program; a flood would hide it.
  static std::mutex mu;
  static std::unordered_set<std::string> told;
  const std::string key = server.to_string() + " " + type;
  {
    std::lock_guard<std::mutex> g(mu);
    if (!told.insert(key).second) return;
  }
  std::fprintf(stderr,
               "ergon: server %s dropped a message of type %s: no handle_call, handle_cast or "
               "handle_info of it takes that type (messages match by exact type: list the type "
               "in Calls, Casts or Infos, send a Call/Cast through ergon::call/cast, or add a "
               "handle_info(const ergon::AnyMessage&)). Reported once per type.\n",
               server.to_string().c_str(), type.c_str());
}

Pid await_server_start(Pid pid, Ref ref, std::int64_t timeout_ns, const char* what) {
  enum class Got { kStarted, kFailed, kDown, kTimeout };
  std::string failure;
  ExitReason down;
  auto started = on<ServerStarted>([pid](const ServerStarted& m) { return m.pid == pid; },
                                   [](const ServerStarted&) { return Got::kStarted; });
  auto failed = on<ServerInitFailed>([pid](const ServerInitFailed& m) { return m.pid == pid; },
                                     [&failure](ServerInitFailed& m) {
                                       failure = std::move(m.what);
                                       return Got::kFailed;
                                     });
  auto on_down = on<Down>([&ref](const Down& d) { return d.ref == ref; },
                          [&down](Down& d) {
                            down = std::move(d.reason);
                            return Got::kDown;
                          });
  const Got got =
      timeout_ns == INT64_MAX
          ? receive(started, failed, on_down)
          : receive(started, failed, on_down,
                    after(std::chrono::nanoseconds(timeout_ns), [] { return Got::kTimeout; }));
  switch (got) {
    case Got::kStarted:
      (void)demonitor(ref, true);
      return pid;
    case Got::kFailed:
      (void)demonitor(ref, true);
      throw Error(std::string(what) + ": the init of server " + pid.to_string() +
                  " threw: " + failure);
    case Got::kDown:
      throw Error(std::string(what) + ": server " + pid.to_string() + " ended (" +
                  down.to_string() + ") before its init returned");
    case Got::kTimeout:
      break;
  }
  (void)demonitor(ref, true);
  exit(pid, ExitReason::kill());
  throw Error(std::string(what) + ": the init of server " + pid.to_string() +
              " did not return within ServerOptions::init_timeout; it was killed");
}

void end_server(const ExitReason& reason) {
  if (!reason.normal()) exit(reason);
}

}  // namespace ergon::detail

namespace ergon {

void stop_server(Pid server, ExitReason reason, std::chrono::milliseconds timeout) {
  (void)detail::current_process_or_throw("ergon::stop_server");
  const Ref ref = monitor(server);
  const ExitReason wanted = reason;
  send(server, detail::ServerStop{std::move(reason)});
  std::optional<Down> d =
      timeout == kInfinity
          ? std::optional<Down>(receive(on<Down>([&ref](const Down& x) { return x.ref == ref; },
                                                 [](Down& x) { return std::move(x); })))
          : receive(on<Down>([&ref](const Down& x) { return x.ref == ref; },
                             [](Down& x) { return std::optional<Down>(std::move(x)); }),
                    after(timeout, [] { return std::optional<Down>(); }));
  if (!d) {
    (void)demonitor(ref, true);
    throw CallTimeout("ergon::stop_server: server " + server.to_string() + " did not end within " +
                          std::to_string(timeout.count()) +
                          " ms (a handler or terminate is "
                          "still running)",
                      server);
  }
  if (d->reason.kind == ExitReason::Kind::kNoProc) {
    throw CallError("ergon::stop_server: no process " + server.to_string() + " (noproc)", server,
                    d->reason);
  }
  if (d->reason.kind != wanted.kind || d->reason.what != wanted.what) {
    throw CallError("ergon::stop_server: server " + server.to_string() + " ended (" +
                        d->reason.to_string() + "), not (" + wanted.to_string() + ")",
                    server, d->reason);
  }
}

}  // namespace ergon
