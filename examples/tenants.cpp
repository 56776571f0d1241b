// tenants: two tenants share a runtime by weight, and a high-priority probe stays on time
// while both keep every worker busy.
//
//   scons && build/release/examples/tenants
//
// "batch" (weight 100) and "web" (weight 300) each run busy processes for half a second; the
// table at the end shows web with about three times batch's share of the reductions, and the
// probe's worst lateness (its sleeps of 1 ms) near one slice. docs/api.md, "Priorities and
// tenants".
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ergon/ergon.hpp>

int main() {
  ergon::Runtime rt;
  rt.run([&rt] {
    using namespace std::chrono_literals;
    const ergon::Tenant batch = ergon::create_tenant("batch", 100);
    const ergon::Tenant web = ergon::create_tenant("web", 300);
    std::atomic<bool> stop{false};
    for (ergon::Tenant t : {batch, web}) {
      for (unsigned i = 0; i < 4 * rt.workers(); ++i) {
        ergon::spawn(
            [&stop] {
              while (!stop.load(std::memory_order_relaxed)) ergon::reduce(100);
            },
            {.tenant = t});
      }
    }
    const ergon::Pid main = ergon::self();
    ergon::spawn(
        [main] {
          std::chrono::nanoseconds worst{0};
          for (int i = 0; i < 100; ++i) {
            const auto due = std::chrono::steady_clock::now() + 1ms;
            ergon::sleep_for(1ms);
            worst = std::max(worst, std::chrono::steady_clock::now() - due);
          }
          ergon::send(main, worst);
        },
        {.priority = ergon::Priority::kHigh});
    ergon::set_priority(ergon::Priority::kHigh);  // main keeps its turns too
    const auto worst = ergon::receive<std::chrono::nanoseconds>();
    ergon::sleep_for(200ms);
    const ergon::Stats s = rt.stats();
    stop = true;
    std::printf("probe at high priority: worst lateness %.0f us\n", worst.count() / 1000.0);
    double all = 0;
    for (const ergon::TenantStats& t : s.tenants) all += static_cast<double>(t.reductions);
    for (const ergon::TenantStats& t : s.tenants) {
      std::printf("%-8s weight %3u  share %5.1f %%  throttled %7.1f ms\n", t.name.c_str(), t.weight,
                  100.0 * static_cast<double>(t.reductions) / all, t.throttled_ns / 1e6);
    }
  });
}
