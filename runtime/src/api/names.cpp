// Registered names (ergon/registry.hpp, Runtime::register_name/whereis) and the calls that
// resolve one (ergon::monitor(name), sending to a name). The registry is the System's.
#include <string>
#include <string_view>

#include "api/system.hpp"
#include "ergon/ergon.hpp"
#include "otp/monitor.hpp"

namespace ergon {
namespace detail {
namespace {

// Both register_name calls: the trace names slices by it, so a session running now learns it.
void register_in(System& sys, std::string name, Pid pid) {
  const bool traced = sys.tracer.on();
  std::string copy = traced ? name : std::string();
  sys.registry.register_name(std::move(name), pid, &sys.sched);
  if (traced) [[unlikely]]
    sys.tracer.name(pid, copy);
}

}  // namespace

Pid whereis_or_throw(std::string_view name, const char* what) {
  const Pid pid = system_of_caller(what).registry.whereis(name);
  if (!pid) {
    throw Error(std::string(what) + ": no process is registered as \"" + std::string(name) +
                "\"; check with ergon::whereis first, or register_name the receiver");
  }
  return pid;
}

}  // namespace detail

void register_name(std::string name, Pid pid) {
  detail::register_in(detail::system_of_caller("ergon::register_name"), std::move(name), pid);
}

bool unregister_name(std::string_view name) {
  return detail::system_of_caller("ergon::unregister_name").registry.unregister_name(name);
}

Pid whereis(std::string_view name) {
  return detail::system_of_caller("ergon::whereis").registry.whereis(name);
}

void Runtime::register_name(std::string name, Pid pid) {
  detail::register_in(*sys_, std::move(name), pid);
}

Pid Runtime::whereis(std::string_view name) const { return sys_->registry.whereis(name); }

Ref monitor(std::string_view name) {
  detail::Process* self = detail::current_process_or_throw("ergon::monitor");
  const Pid pid = detail::system_of_caller("ergon::monitor").registry.whereis(name);
  return detail::monitor_as(self, pid, std::string(name));
}

}  // namespace ergon
