// System: composing one Runtime's parts. See system.hpp.
#include "api/system.hpp"

#include <utility>

namespace ergon::detail {

System::System(Options validated_options)
    : sched(std::move(validated_options)),  // SY1
      tracer(sched.options().workers),      // SY2
      lifecycle(registry),
      watchdog(sched),
      balancer(sched) {
  const Options& o = sched.options();
  // Deterministic mode drives the delay line from its own thread (delay_line.hpp), so it
  // gets no thread there.
  if (o.faults.any())
    faults = std::make_unique<Faults>(sched, o.faults, sched.seed(), !o.deterministic);
  if (o.deterministic)
    det = std::make_unique<Deterministic>(sched, sched.seed(), &balancer, o.simulate);
  Hooks hooks;  // SY3
  hooks.observer = det != nullptr ? det->observer_for(&tracer) : &tracer;
  hooks.driver = det.get();
  hooks.injector = faults.get();
  hooks.lifecycle = &lifecycle;
  hooks.asleep = &asleep;
  // In deterministic mode no side thread runs: the driver ticks the balancer (DS1).
  if (det == nullptr) hooks.side_threads = {&watchdog, &balancer};
  hooks.system = this;
  sched.install(std::move(hooks));
  if (det != nullptr) det->adopt_workers();
  sched.start();  // SY4
}

System::~System() { sched.shutdown(); }

System& system_of_caller(const char* what) {
  // relaxed: a process's own scheduler was published to it before it first ran.
  return system_of(*current_process_or_throw(what)->sched.load(std::memory_order_relaxed));
}

}  // namespace ergon::detail
