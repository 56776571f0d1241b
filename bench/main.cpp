// ergon-bench: ergon's side of the compass comparison (../shared/peers, WORKLOADS.md).
//
//   ergon-bench <workload> [scale]
//
// Prints one line, `RESULT <workload> ergon wall_ms=<float> <metric>=<value> ...`, with the same
// metrics as the peers, or `ERROR <workload> ergon <reason>` with exit status 2 when a
// correctness check fails. scale (default 1.0) multiplies the counts exactly as in the peers
// (README "what scale changes"); for the s_* workloads it only shortens the timed phase.
//
// Workloads: the 12 compass workloads plus hog_latency_checkpoint and blocking_latency_wrapped
// (compass.cpp), the 7 smolscale workloads s_* (smolsuite.cpp), and the ergon-only
// mpsc_compare (mpsc_compare.cpp), idle_blocked (idle.cpp), checkpoint_cost (checkpoint.cpp),
// the four bimodal_* (bimodal.cpp), spread (spread.cpp), conservation, soak and send_blocked
// (ops.cpp, for the instruction budget), net_idle (net_idle.cpp), dist_pingpong
// (dist_pingpong.cpp), and tenants_noisy, tenants_share and priority_low (tenants.cpp).
// Runs with ergon's default Options (one worker per hardware thread; ERGON_* overrides apply).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "harness.hpp"

namespace bench {

std::span<const std::span<const Workload>> all_workloads() {
  static const std::span<const Workload> tables[] = {
      compass_workloads(),    smolsuite_workloads(), mpsc_workloads(),   idle_workloads(),
      checkpoint_workloads(), bimodal_workloads(),   spread_workloads(), conservation_workloads(),
      soak_workloads(),       ops_workloads(),       net_workloads(),    dist_workloads(),
      tenants_workloads()};
  return tables;
}

}  // namespace bench

namespace {

void usage() {
  std::fprintf(stderr, "usage: ergon-bench <workload> [scale]\n\nworkloads:\n");
  for (auto table : bench::all_workloads()) {
    for (const bench::Workload& w : table) std::fprintf(stderr, "  %-24s %s\n", w.name, w.what);
  }
  std::fflush(stderr);
}

const bench::Workload* find(const std::string& name) {
  for (auto table : bench::all_workloads()) {
    for (const bench::Workload& w : table) {
      if (name == w.name) return &w;
    }
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    usage();
    return 2;
  }
  bench::g_workload = argv[1];
  const bench::Workload* w = find(bench::g_workload);
  if (w == nullptr) {
    std::fprintf(stderr, "ergon-bench: unknown workload '%s'\n\n", argv[1]);
    usage();
    return 2;
  }
  double scale = 1.0;
  if (argc == 3) {
    char* end = nullptr;
    scale = std::strtod(argv[2], &end);
    if (end == argv[2] || *end != '\0' || !(scale > 0))
      bench::fail(std::string("bad scale ") + argv[2]);
  }
  try {
    w->run(scale);  // prints and _exits
  } catch (const std::exception& e) {
    bench::fail(std::string("exception: ") + e.what());
  }
  bench::fail("the workload ended without a result");
}
