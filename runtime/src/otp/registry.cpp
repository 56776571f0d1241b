// Registry: see registry.hpp.
#include "otp/registry.hpp"

#include <mutex>

#include "core/process.hpp"
#include "core/process_table.hpp"
#include "ergon/errors.hpp"

namespace ergon::detail {

bool alive(Pid pid) noexcept {
  if (!pid) return false;
  Process* p = ProcessTable::instance().lookup(pid.index());
  // acquire: pairs with the release store of the generation when a process ends.
  return p != nullptr && p->generation.load(std::memory_order_acquire) == pid.generation() &&
         p->state.load(std::memory_order_acquire) == ProcessState::kAlive;
}

void Registry::register_name(std::string name, Pid pid, const void* owner) {
  if (name.empty()) throw Error("ergon::register_name: the name is empty");
  Process* p = pid ? ProcessTable::instance().lookup(pid.index()) : nullptr;
  // relaxed: sched is published with the record; a wrong answer only changes the error.
  if (!alive(pid) || p->sched.load(std::memory_order_relaxed) != owner) {
    throw Error("ergon::register_name(\"" + name + "\", " + pid.to_string() +
                "): that pid names no live process of this runtime; register a process that "
                "is running (self() from inside it, or the pid spawn returned)");
  }
  std::lock_guard<CountedMutex> g(mu_);
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    if (alive(it->second)) {
      throw Error("ergon::register_name: \"" + name + "\" is already registered by " +
                  it->second.to_string() + "; unregister_name it first, or pick another name");
    }
    erase_locked(it);
  }
  if (auto it = by_pid_.find(pid.raw()); it != by_pid_.end()) {
    throw Error("ergon::register_name: " + pid.to_string() + " is already registered as \"" +
                it->second + "\"; a process has one name (unregister_name it first)");
  }
  by_name_.emplace(name, pid);
  by_pid_.emplace(pid.raw(), std::move(name));
  // relaxed: a hint for Worker::finish; a missed release is cleaned up by lookups.
  p->registered.store(true, std::memory_order_relaxed);
}

bool Registry::unregister_name(std::string_view name) {
  std::lock_guard<CountedMutex> g(mu_);
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) return false;
  erase_locked(it);
  return true;
}

Pid Registry::whereis(std::string_view name) {
  std::lock_guard<CountedMutex> g(mu_);
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) return Pid{};
  if (!alive(it->second)) {  // its process ended before it could release the name
    erase_locked(it);
    return Pid{};
  }
  return it->second;
}

void Registry::release(Pid pid) noexcept {
  std::lock_guard<CountedMutex> g(mu_);
  auto it = by_pid_.find(pid.raw());
  if (it == by_pid_.end()) return;
  by_name_.erase(it->second);
  by_pid_.erase(it);
}

std::string Registry::name_of(Pid pid) {
  std::lock_guard<CountedMutex> g(mu_);
  auto it = by_pid_.find(pid.raw());
  return it == by_pid_.end() ? std::string() : it->second;
}

std::vector<std::pair<Pid, std::string>> Registry::snapshot() {
  std::lock_guard<CountedMutex> g(mu_);
  std::vector<std::pair<Pid, std::string>> v;
  v.reserve(by_name_.size());
  for (const auto& [name, pid] : by_name_) v.emplace_back(pid, name);
  return v;
}

void Registry::erase_locked(std::unordered_map<std::string, Pid>::iterator it) noexcept {
  by_pid_.erase(it->second.raw());
  by_name_.erase(it);
}

}  // namespace ergon::detail
