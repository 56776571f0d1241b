// The observer of a scheduler that has none installed. See hooks.hpp.
#include "core/hooks.hpp"

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

Observer& no_observer() noexcept {
  static NoObserver none;
  return none;
}

}  // namespace ergon::detail
