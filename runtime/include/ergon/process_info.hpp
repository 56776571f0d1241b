// process_info: what one process is doing, like Erlang's erlang:process_info/1.
//
//   if (auto info = ergon::process_info(pid)) {
//     std::printf("%s waits in %s with %zu messages\n", info->pid.to_string().c_str(),
//                 info->waiting_in, info->message_queue_len);
//   }
//
// A ProcessInfo is a snapshot taken without stopping the process: each field was true at
// some moment during the call, and the generation check ties them all to one process (a
// record reused by a later process is never mixed in). Processes run on while it is taken.
//
// What each field costs the process it describes (docs/design.md, "Observability"):
//   - reductions: added by its worker at the end of each slice (a relaxed load + store);
//   - message_queue_len: the receiver's cache length (a relaxed store per fetch and per
//     removal) plus a count of unfetched messages carried in the inbox's head word by the
//     push's existing CAS: no atomic operation of its own. It can miss a batch that the
//     receiver is moving from the inbox to its cache at that moment, and the unfetched part
//     saturates at 65,535 (a process that never receives shows at least that);
//   - waiting_in: one relaxed store before a process blocks;
//   - the mailbox_* counters: nothing on an unbounded mailbox; a bounded one counts in its
//     slot word and on its slow paths;
//   - stack_used: nothing (derived from the context its last switch saved on its stack).
//
// The calls that list processes walk every record of the process table: use them for
// inspection (a `top` view, a test, a debugger command), not on a hot path. Runtime::stats()
// stays the cheap counter snapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ergon/pid.hpp"
#include "ergon/tenant.hpp"

namespace ergon {

enum class ProcessStatus : std::uint8_t {
  kRunning,   // on a worker right now
  kRunnable,  // ready, waiting in a run queue (or just woken, or just spawned)
  kWaiting,   // blocked: in a receive, a sleep, a nursery's close, ... (see waiting_in)
  kExiting,   // its function has returned or thrown; it is sending its Downs and exit signals
};

// "running", "runnable", "waiting" or "exiting".
const char* to_string(ProcessStatus s) noexcept;

struct ProcessInfo {
  Pid pid;
  std::string registered_name;  // "" when it has none
  ProcessStatus status = ProcessStatus::kRunnable;
  std::uint64_t reductions = 0;       // spent since it was spawned (up to its last slice's end)
  std::size_t message_queue_len = 0;  // messages in its mailbox (see above)
  std::size_t stack_size = 0;         // bytes
  // Bytes of its stack in use when it last switched out (0 before its first switch): the
  // distance from the top of the stack to the frame of the call that blocked or yielded. For
  // the calling process itself, the depth at the call.
  std::size_t stack_used = 0;
  // While status is kWaiting, what it waits in: "receive", "receive (after)" (with a
  // deadline), "sleep", "nursery" (closing one, or awaiting a child), "supervisor call",
  // "supervisor start", "supervisor stop"; nullptr otherwise. A static string.
  const char* waiting_in = nullptr;
  unsigned worker = 0;  // the worker it runs on, or last ran on (or will run on first)
  std::string pool;     // the name of that worker's pool
  std::string tenant;   // the name of its tenant (ergon/tenant.hpp)
  Priority priority = Priority::kNormal;
  std::vector<Pid> links;
  std::vector<Pid> monitors;      // processes it monitors
  std::vector<Pid> monitored_by;  // processes that monitor it
  bool trap_exit = false;
  Pid parent;  // its spawner; Pid{} when spawned from outside the runtime
  // Its bounded mailbox (SpawnOptions::mailbox_capacity; all 0 when unbounded): the capacity,
  // the most slots in use at once, the messages its policy dropped (drop_newest, drop_oldest,
  // a forward with no live fallback) and the senders waiting for a slot now.
  std::uint32_t mailbox_capacity = 0;
  std::uint32_t mailbox_high_water = 0;
  std::uint64_t mailbox_dropped = 0;
  std::uint32_t blocked_senders = 0;
};

// The process `pid` of the caller's runtime, or std::nullopt when `pid` names no live
// process (it has ended, or the pid is stale), as Erlang returns `undefined`. Callable from a
// process; Runtime::process_info does the same from any thread. Throws NotInProcess outside a
// process.
std::optional<ProcessInfo> process_info(Pid pid);

// Every live process of the caller's runtime, in pid index order. Walks the whole process
// table (see above). Throws NotInProcess outside a process; Runtime::processes() elsewhere.
std::vector<ProcessInfo> processes();

}  // namespace ergon
