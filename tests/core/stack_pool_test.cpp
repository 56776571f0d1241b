// Stack sizes at spawn (core/stack_pool): SpawnOptions::stack_size is checked against
// ergon::kMaxStackSize before any arithmetic on it, so SIZE_MAX or 64 TiB is a SpawnError that
// names the field, the limit and the spawner, never a wrapped-around 8 KiB stack; small sizes
// are rounded up to ergon::kMinStackSize, and that minimum runs the C library: measured in a
// fresh program by tests/fixtures/stack_floor in every build variant.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "test_util.hpp"

namespace {

using ergon_test::await;
using ergon_test::contains;
using ergon_test::field;
using ergon_test::what_of;

class StackSize : public ergon_test::RuntimeTest {};
ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(StackSize);

// The size of a stack the runtime gives for `requested`, seen through process_info.
std::size_t stack_given(std::size_t requested) {
  const ergon::Pid child =
      ergon::spawn([] { (void)await<int>(); }, ergon::SpawnOptions{.stack_size = requested});
  const std::size_t size = ergon::process_info(child)->stack_size;
  ergon::send(child, 1);
  return size;
}

TEST_P(StackSize, ASizeAboveTheLimitIsASpawnErrorNamingTheFieldTheLimitAndTheSpawner) {
  run([] {
    const std::string me = ergon::self().to_string();
    for (const std::size_t size :
         {SIZE_MAX, SIZE_MAX - 4095, std::size_t{64} << 40, ergon::kMaxStackSize + 1}) {
      SCOPED_TRACE(size);
      const std::string w = what_of<ergon::SpawnError>(
          [&] { ergon::spawn([] {}, ergon::SpawnOptions{.stack_size = size}); });
      EXPECT_TRUE(contains(w, "SpawnOptions::stack_size is " + std::to_string(size))) << w;
      EXPECT_TRUE(contains(w, "1 TiB (ergon::kMaxStackSize")) << w;
      EXPECT_TRUE(contains(w, "from process " + me)) << w;
    }
  });
}

TEST_P(StackSize, ASizeAboveTheLimitFromOutsideTheRuntimeNamesNoProcess) {
  ergon::Runtime& rt = runtime();
  const std::string w = what_of<ergon::SpawnError>(
      [&] { rt.spawn([] {}, ergon::SpawnOptions{.stack_size = SIZE_MAX}); });
  EXPECT_TRUE(contains(w, "from outside the runtime")) << w;
  EXPECT_TRUE(contains(w, "SpawnOptions::stack_size")) << w;
}

TEST_P(StackSize, SmallSizesAreRoundedUpToTheMinimumAndOthersToWholePages) {
  run([] {
    EXPECT_EQ(stack_given(1), ergon::kMinStackSize);
    EXPECT_EQ(stack_given(8192), ergon::kMinStackSize);
    EXPECT_EQ(stack_given(ergon::kMinStackSize - 1), ergon::kMinStackSize);
    EXPECT_EQ(stack_given(ergon::kMinStackSize), ergon::kMinStackSize);
    EXPECT_EQ(stack_given(ergon::kMinStackSize + 1), ergon::kMinStackSize + 4096);
    EXPECT_EQ(stack_given(0), ergon::Options{}.stack_size);
  });
}

// The largest size is a real stack: 1 TiB of address space, reserved, not committed.
TEST_P(StackSize, TheLargestSizeSpawnsAProcessThatRuns) {
  // asan: fiber.cpp unpoisons a fresh stack whole, which writes size / 8 bytes of shadow
  // (128 GiB for this one); tsan keeps application memory in fixed ranges.
  if (ergon_test::sanitized_variant()) {
    GTEST_SKIP() << "a 1 TiB stack does not fit the " << ergon_test::variant() << " build";
  }
  run([] { EXPECT_EQ(stack_given(ergon::kMaxStackSize), ergon::kMaxStackSize); });
}

// --- the minimum runs the C library ---------------------------------------------------------

// kMinStackSize is twice the stack the C library needs (fprintf with %f and %s, snprintf, a
// std::string, a throw and catch), first use in a fresh program. If the library grows deeper,
// this fails: raise kMinStackSize (runtime/include/ergon/options.hpp says where it comes from).
TEST(StackFloor, TheCLibraryNeedsAtMostHalfTheMinimumStack) {
  const std::string fixture = ergon_test::fixture_path("stack_floor");
  ASSERT_EQ(::access(fixture.c_str(), X_OK), 0) << fixture << " is not built";
  int status = -1;
  const std::string out = ergon_test::run_command(fixture + " measure 2>&1", &status);
  ASSERT_EQ(status, 0) << out;
  const std::string depth = field(out, "depth");
  ASSERT_FALSE(depth.empty()) << out;
  // mincore sees whole pages: the depth is over-counted by up to one.
  EXPECT_LE(std::stoull(depth), ergon::kMinStackSize / 2 + 4096)
      << "the C library touched " << depth << " bytes of a process's stack:\n"
      << out;
  EXPECT_GT(std::stoull(depth), 4096u) << "the measurement saw no stack in use:\n" << out;
}

TEST(StackFloor, TheCLibraryRunsOnTheSmallestStack) {
  const std::string fixture = ergon_test::fixture_path("stack_floor");
  ASSERT_EQ(::access(fixture.c_str(), X_OK), 0) << fixture << " is not built";
  int status = -1;
  const std::string out = ergon_test::run_command(fixture + " run 2>&1", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(field(out, "ran"), std::to_string(ergon::kMinStackSize)) << out;
}

}  // namespace
