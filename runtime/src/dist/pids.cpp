// The table of remote pids. See pids.hpp.
#include "dist/pids.hpp"

#include <map>
#include <mutex>
#include <tuple>
#include <vector>

namespace ergon::detail::dist {
namespace {

struct Table {
  std::mutex mu;
  std::string node = "nonode@nohost";  // guarded by mu
  std::uint32_t creation = 0;          // guarded by mu
  std::vector<RemoteProc> entries;     // guarded by mu; entry i is Pid(kRemoteBit | i)
  std::map<std::tuple<std::string, std::uint32_t, std::uint32_t, std::uint32_t>, std::uint32_t>
      index;  // guarded by mu
};

Table& table() {
  static Table* t = new Table;  // never destroyed: pids may be decoded during exit
  return *t;
}

}  // namespace

void set_local_node(const std::string& name, std::uint32_t creation) {
  Table& t = table();
  std::lock_guard<std::mutex> g(t.mu);
  t.node = name;
  t.creation = creation;
}

std::string local_node() {
  Table& t = table();
  std::lock_guard<std::mutex> g(t.mu);
  return t.node;
}

std::uint32_t local_creation() {
  Table& t = table();
  std::lock_guard<std::mutex> g(t.mu);
  return t.creation;
}

Pid pid_from_parts(const RemoteProc& r) {
  Table& t = table();
  std::lock_guard<std::mutex> g(t.mu);
  if (r.node == t.node && r.creation == t.creation && (r.id & Pid::kRemoteBit) == 0) {
    return Pid(r.id, r.serial);
  }
  auto key = std::make_tuple(r.node, r.id, r.serial, r.creation);
  auto it = t.index.find(key);
  if (it != t.index.end()) return Pid(Pid::kRemoteBit | it->second, 0);
  const auto entry = static_cast<std::uint32_t>(t.entries.size());
  if (entry >= Pid::kRemoteBit) return Pid{};  // 2^31 remote pids seen: none more is named
  t.entries.push_back(r);
  t.index.emplace(std::move(key), entry);
  return Pid(Pid::kRemoteBit | entry, 0);
}

std::optional<RemoteProc> remote_of(Pid p) {
  if (!p.is_remote()) return std::nullopt;
  Table& t = table();
  std::lock_guard<std::mutex> g(t.mu);
  const std::uint32_t entry = p.index() & ~Pid::kRemoteBit;
  if (entry >= t.entries.size()) return std::nullopt;
  return t.entries[entry];
}

RemoteProc parts_of(Pid p) {
  if (auto r = remote_of(p)) return *r;
  Table& t = table();
  std::lock_guard<std::mutex> g(t.mu);
  return RemoteProc{t.node, p.index(), p.generation(), t.creation};
}

}  // namespace ergon::detail::dist
