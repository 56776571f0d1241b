// Tracing: a record of what ran where, switched on and off at run time, written as a Chrome
// trace (the Trace Event Format, which https://ui.perfetto.dev and chrome://tracing open).
//
//   ergon::trace::start(rt);                  // from a thread outside the runtime
//   ... run the workload ...
//   ergon::trace::stop(rt);
//   ergon::trace::write(rt, "ergon-trace.json");
//
// Inside a process the same calls without the Runtime argument act on the caller's runtime.
//
// What is recorded: every slice of a process on a worker (a complete event on the worker's
// track, named by the process's registered name or its pid), spawns, exits with their reason,
// crashes, migrations (balancer moves, steals, forwards), worker parks (how long each slept),
// and watchdog hand-offs. Timestamps come from the runtime's clock (Scheduler::now()),
// relative to the start of the session.
//
// Cost: while tracing is off each hook is one relaxed load and a predictable branch. While it
// is on, a worker writes into its own preallocated buffer (no atomic RMW, no allocation, no
// lock); threads that are not workers share one buffer under a mutex. Buffers do not wrap:
// when a buffer is full, later events are dropped and counted (Summary::dropped). The buffers
// are allocated and touched by start(): `events_per_worker` * (workers + 1) * 64 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ergon {

class Runtime;

namespace trace {

// Events per worker buffer (and for the shared buffer) when start() is not told: 4 MiB per
// worker, about half a second of a busy pingpong worker's slices.
inline constexpr std::size_t kDefaultEvents = std::size_t{1} << 16;

struct Summary {
  bool on = false;            // a session is recording
  std::uint64_t events = 0;   // events recorded in the current (or last) session
  std::uint64_t dropped = 0;  // events lost because a buffer was full
};

// From any thread, for the runtime `rt`. start() begins a new session (its buffers replace
// the previous session's events; calling start() while on starts afresh); stop() ends it,
// keeping its events for to_json() and write() until the next start(). Throws Error when
// `events_per_worker` is 0.
void start(Runtime& rt, std::size_t events_per_worker = kDefaultEvents);
void stop(Runtime& rt);
bool enabled(Runtime& rt);
Summary summary(Runtime& rt);
// The events of the current or last session, as Chrome trace JSON. Callable while tracing.
std::string to_json(Runtime& rt);
// Writes to_json() into the file `path`; throws Error naming the path when it cannot.
void write(Runtime& rt, const std::string& path);

// The same from inside a process, for the caller's runtime. Throw NotInProcess elsewhere.
void start(std::size_t events_per_worker = kDefaultEvents);
void stop();
bool enabled();
Summary summary();
std::string to_json();
void write(const std::string& path);

}  // namespace trace
}  // namespace ergon
