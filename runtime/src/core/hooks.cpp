// The observer of a scheduler that has none installed, and the program's Remote. See hooks.hpp.
#include "core/hooks.hpp"

#include <atomic>

namespace ergon::detail {
namespace {

// Never on: the core tests on() before every event, so none of these runs.
class NoObserver final : public Observer {
 public:
  void slice(unsigned, Pid, std::int64_t, std::int64_t) noexcept override {}
  void park(unsigned, std::int64_t, std::int64_t) noexcept override {}
  void moved(unsigned, Move, unsigned, Pid, std::int64_t) noexcept override {}
  void spawn(int, Pid, Pid, std::int64_t) noexcept override {}
  void describe_exit(ExitText& out, const ExitReason&) noexcept override { out[0] = '\0'; }
  void exit(unsigned, Pid, const char*, std::int64_t) noexcept override {}
  void crash(Pid, const std::string&, std::int64_t) noexcept override {}
  void handoff(unsigned, Pid, std::int64_t) noexcept override {}
  void tenants(const TenantTable&, std::int64_t) noexcept override {}
};

}  // namespace

namespace {
// Written by install_remote (the node's start), read by every send to a remote pid.
std::atomic<Remote*> g_remote{nullptr};
}  // namespace

void install_remote(Remote* r) noexcept {
  g_remote.store(r, std::memory_order_release);  // release: pairs with remote_hook's acquire
}

Remote* remote_hook() noexcept {
  return g_remote.load(std::memory_order_acquire);  // acquire: pairs with install_remote
}

Observer& no_observer() noexcept {
  static NoObserver none;
  return none;
}

}  // namespace ergon::detail
