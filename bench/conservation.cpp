// ergon-bench conservation: the conservation stress (conservation.hpp) at full size, 10,000,000
// counted messages at scale 1. Prints the counts; an ERROR line (exit status 2) if a message
// was lost, duplicated or invented.
#include "conservation.hpp"

#include <chrono>
#include <span>
#include <string>

#include "harness.hpp"

namespace bench {
namespace {

void run_conservation(double scale) {
  conservation::Config cfg;
  cfg.messages = static_cast<std::uint64_t>(cnt(10'000'000, scale));
  ergon::Runtime rt(conservation::options(ergon::Options{}));
  cfg.seed = rt.seed();
  const clk::time_point t0 = clk::now();
  const conservation::Result r = conservation::run(rt, cfg);
  const double wall = static_cast<double>(ns_since(t0));
  const ergon::Stats st = rt.stats();
  std::uint64_t migrations = 0;
  for (const ergon::WorkerStats& w : st.workers) migrations += w.migrations_in;
  const std::string counts = kvi("sent", static_cast<long long>(r.sent)) +
                             kvi("received", static_cast<long long>(r.received)) +
                             kvi("lost", static_cast<long long>(r.lost)) +
                             kvi("duplicated", static_cast<long long>(r.duplicated)) +
                             kvi("extra", static_cast<long long>(r.extra)) +
                             kvi("migrations", static_cast<long long>(migrations)) +
                             kvi("handoffs", static_cast<long long>(st.handoffs)) +
                             kvi("delayed", static_cast<long long>(st.messages_delayed)) +
                             kvi("reordered", static_cast<long long>(st.messages_reordered)) +
                             kvs("seed", std::to_string(cfg.seed));
  if (!r.error.empty()) fail("the run failed: " + r.error + counts);
  check(r.ok(), "messages lost, duplicated or invented:" + counts +
                    " (replay: ERGON_SEED=" + std::to_string(cfg.seed) + ")");
  finish(fmt_result(wall, counts));
}

const Workload kConservation[] = {
    {"conservation", run_conservation,
     "10M counted messages under forced migration, hand-offs, faults and exits: none lost"},
};

}  // namespace

std::span<const Workload> conservation_workloads() { return kConservation; }

}  // namespace bench
