// Registry: names for processes (ergon::register_name, whereis, send by name).
//
// Design
// ------
// One registry per scheduler: two maps under one mutex, name -> pid and pid -> name (a
// process has at most one name, a name at most one process, as in Erlang). Registering, looking
// up and unregistering are rare next to sends, so a lock is the simple correct choice; sending
// by name costs one lookup under it. The mutex is a CountedMutex (util/held_locks.hpp): a
// process that overflows its stack while it holds it is not abandoned (core/stack_guard.hpp).
//
// A name is released when its process ends: Worker::finish calls release() for a process whose
// `registered` flag is set. A register_name that races with the end of its process can still
// leave an entry behind; every lookup checks that the holder is alive (its record's generation
// still matches the pid) and drops a dead holder's entry, so such an entry is never seen.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ergon/pid.hpp"
#include "util/held_locks.hpp"

namespace ergon::detail {

class Registry {
 public:
  // Throws Error when `name` is empty or held by a live process, when `pid` is not a live
  // process of `owner`'s runtime, or when it already has a name.
  void register_name(std::string name, Pid pid, const void* owner);
  bool unregister_name(std::string_view name);
  Pid whereis(std::string_view name);  // Pid{} when nobody holds it
  void release(Pid pid) noexcept;      // its process ended
  // For process_info and traces (any thread): the name `pid` holds ("" if none), and every
  // (pid, name) registered now. Dead holders may appear; callers check liveness themselves.
  std::string name_of(Pid pid);
  std::vector<std::pair<Pid, std::string>> snapshot();

 private:
  void erase_locked(std::unordered_map<std::string, Pid>::iterator it) noexcept;

  CountedMutex mu_;
  std::unordered_map<std::string, Pid> by_name_;           // guarded by mu_
  std::unordered_map<std::uint64_t, std::string> by_pid_;  // guarded by mu_
};

// Whether `pid` names a live process (its record's generation still matches).
bool alive(Pid pid) noexcept;

}  // namespace ergon::detail
