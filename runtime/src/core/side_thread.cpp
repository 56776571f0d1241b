// SideThread: the loop of every thread beside the workers. See side_thread.hpp.
#include "core/side_thread.hpp"

#include "core/scheduler.hpp"

namespace ergon::detail {

SideThread::~SideThread() { stop(); }

void SideThread::stop() noexcept {
  sleep_.stop();
  if (thread_.joinable()) thread_.join();
}

void SideThread::start_thread(const Scheduler& sched, std::int64_t interval_ns) {
  thread_ = std::thread([this, &sched, interval_ns] {
    auto all_parked = [&sched] { return sched.all_parked_seq_cst(); };  // D1's load
    while (sleep_.sleep(monotonic_ns() + interval_ns, all_parked)) {
      std::lock_guard<std::mutex> g(tick_mu_);
      tick(monotonic_ns());
    }
  });
}

}  // namespace ergon::detail
