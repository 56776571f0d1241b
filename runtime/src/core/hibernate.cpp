// Hibernation: H1 and H2 (process code). H3 and H4 are Worker::hibernate and Worker::run. See
// hibernate.hpp for the design.
#include "core/hibernate.hpp"

#include <string>

#include "core/carrier.hpp"
#include "core/process.hpp"
#include "core/worker.hpp"
#include "ergon/errors.hpp"

namespace ergon::detail {

void hibernate_into(void (*invoke)(void*), void (*destroy)(void*), void* target) {
  Process* p = current_process();
  if (p == nullptr) {
    destroy(target);
    ::operator delete(target);
    throw NotInProcess(
        "ergon::hibernate was called outside a process (or inside ergon::blocking). Call it "
        "from a function run by ergon::spawn or ergon::Runtime::run.");
  }
  (void)p->mailbox.fetch();  // H1
  throw Hibernate{invoke, destroy, target};
}

void leave_hibernated(Fiber* f, Process* p, const Hibernate& next) noexcept {
  // H2. The old callable goes (as at a process's end); the next one takes its place.
  p->closure.destroy(p->closure.target);
  if (p->closure.on_heap) ::operator delete(p->closure.target);
  p->closure = Closure{};
  p->closure.invoke = next.invoke;
  p->closure.destroy = next.destroy;
  p->closure.target = next.target;
  p->closure.on_heap = true;
  // For process_info while it sleeps (relaxed: see Process::waiting_in).
  p->waiting_in.store("hibernate", std::memory_order_relaxed);
  p->deadline.store(kNoDeadline, std::memory_order_relaxed);  // relaxed: see Process::deadline
  (void)current_carrier()->enter(p);                          // E1/E2, as a process's end
  p->reason = SwitchReason::kHibernate;
  f->finish();
}

}  // namespace ergon::detail
