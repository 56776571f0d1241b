// The conservation stress (bench/conservation.hpp) at CI size, in every variant and worker
// count, and in deterministic mode: under forced migration, watchdog hand-offs, delayed and
// reordered messages, crashing bystanders and producers that end early or throw, not one
// counted message is lost, duplicated or invented. The full size (10,000,000 messages) is
// `ergon-bench conservation`.
#include "../../bench/conservation.hpp"

#include <gtest/gtest.h>

#include <string>

#include "ergon/ergon.hpp"
#include "test_util.hpp"

namespace {

class Conservation : public ergon_test::RuntimeTest {};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(Conservation);

TEST_P(Conservation, NoMessageIsLostDuplicatedOrInventedWhileEverythingMoves) {
  conservation::Config cfg;
  cfg.messages = is_deterministic() ? 20'000 : ergon_test::scaled<std::uint64_t>(200'000, 20'000);
  cfg.producers = 16;
  cfg.consumers = 4;
  ergon::Runtime& rt = runtime(conservation::options(options()));
  cfg.seed = rt.seed();
  SCOPED_TRACE("replay: ERGON_SEED=" + std::to_string(cfg.seed));
  const conservation::Result r = conservation::run(rt, cfg);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.duplicated, 0u);
  EXPECT_EQ(r.extra, 0u);
  EXPECT_EQ(r.received, r.sent);
  EXPECT_GT(r.sent, cfg.messages / 2) << "most producers run their whole quota";
  const ergon::Stats s = stats();
  EXPECT_GT(s.messages_delayed + s.messages_reordered, 0u) << "the delay line held messages";
  if (!is_deterministic()) {
    std::uint64_t migrated = 0;
    for (const ergon::WorkerStats& w : s.workers) migrated += w.migrations_in;
    if (s.workers.size() > 1) {
      EXPECT_GT(migrated, 0u) << "forced migration moved processes";
    }
  }
  expect_no_leaks();
}

}  // namespace
