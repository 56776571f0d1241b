// Stack sizes at spawn (core/stack_pool): SpawnOptions::stack_size is checked against
// ergon::kMaxStackSize before any arithmetic on it, so SIZE_MAX or 64 TiB is a SpawnError that
// names the field, the limit and the spawner, never a wrapped-around 8 KiB stack; small sizes
// are rounded up to ergon::kMinStackSize, and that minimum runs the C library: measured in a
// fresh program by tests/fixtures/stack_floor in every build variant. A stack that cannot be
// mapped is reported with the failed call's errno and the cause that applies (RLIMIT_AS, or
// vm.max_map_count only when the process is at it): death tests, since they use up a limit.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

// --- a stack that cannot be mapped --------------------------------------------------------

// The address space this process maps now (VmSize), in bytes.
std::uint64_t mapped_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  char line[256];
  unsigned long long kib = 0;
  while (f != nullptr && std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmSize: %llu", &kib) == 1) break;
  }
  if (f != nullptr) std::fclose(f);
  return kib * 1024;
}

// In a fresh one-worker runtime's process, runs `before`, then spawns with `size`, prints the
// SpawnError to stderr and ends the program at once (the process may have no map area left
// for an orderly shutdown): exit 0 if the report gives the failed call's errno (ENOMEM),
// contains `cause` and does not contain `not_cause`, else 1. For EXPECT_EXIT.
template <class F>
[[noreturn]] void spawn_and_judge(std::size_t size, F before, const char* cause,
                                  const char* not_cause) {
  ergon::Options o;
  o.workers = 1;
  o.watchdog_tick = std::chrono::microseconds(0);  // no hand-off thread while areas run out
  ergon::Runtime rt(o);
  rt.run([&] {
    // Once first, so that the error path's allocations come from memory already mapped.
    (void)what_of<ergon::SpawnError>(
        [] { ergon::spawn([] {}, ergon::SpawnOptions{.stack_size = SIZE_MAX}); });
    before();
    std::string w = "the spawn succeeded";
    try {
      ergon::spawn([] {}, ergon::SpawnOptions{.stack_size = size});
    } catch (const ergon::SpawnError& e) {
      w = e.what();
    }
    std::fprintf(stderr, "%s\n", w.c_str());
    std::fflush(stderr);
    const bool ok = contains(w, "ergon::spawn (from process ") &&
                    contains(w, "failed with ENOMEM") && contains(w, cause) &&
                    !contains(w, not_cause);
    std::_Exit(ok ? 0 : 1);
  });
  std::_Exit(3);  // not reached: the process ends the program
}

// Lowers RLIMIT_AS to what the process maps now plus 4 GiB.
void limit_address_space() {
  struct rlimit rl;
  ::getrlimit(RLIMIT_AS, &rl);
  rl.rlim_cur = mapped_bytes() + (std::uint64_t{4} << 30);
  if (::setrlimit(RLIMIT_AS, &rl) != 0) std::_Exit(2);
}

// Uses up this process's memory map areas: pages alternately readable and not split one
// mapping into an area each until the kernel refuses; then plain mappings take the one more
// area that a new mmap may still get.
void use_up_map_areas() {
  const long page = ::sysconf(_SC_PAGESIZE);
  const std::size_t pages = 2 * 1024 * 1024;  // 8 GiB of address space, none committed
  char* r = static_cast<char*>(
      ::mmap(nullptr, pages * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  if (r == MAP_FAILED) std::_Exit(2);
  for (std::size_t i = 1; i < pages; i += 2) {
    if (::mprotect(r + i * page, page, PROT_READ) != 0) break;
  }
  for (int i = 0; i < 64; ++i) {
    const int prot = (i & 1) != 0 ? PROT_READ : PROT_NONE;
    if (::mmap(nullptr, page, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) break;
  }
}

// A stack larger than RLIMIT_AS allows is blamed on RLIMIT_AS, with the errno of the failed
// mmap, and not on vm.max_map_count, which is nowhere near.
TEST(StackMapDeathTest, AnAddressSpaceLimitIsNamedAsTheCauseNotTheMapCount) {
  testing::FLAGS_gtest_death_test_style = "threadsafe";
  EXPECT_EXIT(
      spawn_and_judge(std::size_t{256} << 30, limit_address_space, "RLIMIT_AS", "max_map_count"),
      testing::ExitedWithCode(0), "address-space limit RLIMIT_AS \\(ulimit -v\\) of");
}

// With the map areas used up to vm.max_map_count, the report names that limit and the count.
TEST(StackMapDeathTest, AProcessAtTheMapAreaLimitIsToldSo) {
  if (ergon_test::sanitized_variant()) {
    GTEST_SKIP() << "the " << ergon_test::variant()
                 << " runtime maps memory for its own bookkeeping, and there is none left";
  }
  testing::FLAGS_gtest_death_test_style = "threadsafe";
  EXPECT_EXIT(spawn_and_judge(128 * 1024, use_up_map_areas, "vm.max_map_count", "RLIMIT_AS"),
              testing::ExitedWithCode(0),
              "has [0-9]+ memory map areas, at the kernel's limit \\(vm.max_map_count = ");
}

// --- resident stack pages ----------------------------------------------------------------

// Stats::stacks_resident_bytes counts the pages processes touched, and a stack kept in the
// pool keeps them for its next process (the soak's RSS, docs/benchmarks.md): 48 KiB touched by
// a process of a size no other test uses, on a fresh slab, are counted while it lives and
// still after it ends.
TEST_P(StackSize, ResidentStackBytesCountTouchedPagesAndKeepThemInThePool) {
  ergon::Runtime& rt = runtime();
  run([&] {
    const std::uint64_t before = rt.stats().stacks_resident_bytes;
    constexpr std::size_t kTouched = 48 * 1024;
    const ergon::Pid child = ergon::spawn(
        [] {
          volatile char buf[kTouched];
          for (std::size_t i = 0; i < kTouched; i += 512) buf[i] = static_cast<char>(i);
          (void)await<int>();
          EXPECT_EQ(buf[512], static_cast<char>(512));
        },
        ergon::SpawnOptions{.stack_size = 200 * 1024});
    const ergon::Ref r = ergon::monitor(child);
    // It has touched its buffer once it waits: a yield until it is in receive.
    while (ergon::process_info(child)->status != ergon::ProcessStatus::kWaiting) ergon::yield();
    const std::uint64_t alive = rt.stats().stacks_resident_bytes;
    EXPECT_GE(alive, before + kTouched) << "before " << before << ", alive " << alive;
    ergon::send(child, 1);
    ergon::receive(ergon::on<ergon::Down>([&](const ergon::Down& d) { return d.ref == r; },
                                          [](const ergon::Down&) {}));
    const std::uint64_t after = rt.stats().stacks_resident_bytes;
    EXPECT_GE(after, before + kTouched) << "pooled stacks keep their pages: after " << after;
  });
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

namespace {

// The VmFlags line of the /proc/self/smaps entry that holds `addr` ("" if none).
std::string vm_flags_of(std::uintptr_t addr) {
  std::FILE* f = std::fopen("/proc/self/smaps", "r");
  if (f == nullptr) return "";
  char line[512];
  bool inside = false;
  std::string flags;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
        std::strchr(line, '-') < std::strchr(line, ' ')) {
      inside = addr >= lo && addr < hi;
    } else if (inside && std::strncmp(line, "VmFlags:", 8) == 0) {
      flags = line;
      break;
    }
  }
  std::fclose(f);
  return flags;
}

TEST_P(StackSize, StacksAreMappedWithoutTransparentHugePages) {
  if (std::FILE* f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r")) {
    std::fclose(f);
  } else {
    GTEST_SKIP() << "this kernel has no transparent huge pages";
  }
  run([] {
    int local = 0;
    const std::string flags = vm_flags_of(reinterpret_cast<std::uintptr_t>(&local));
    EXPECT_NE(flags.find(" nh"), std::string::npos) << "MADV_NOHUGEPAGE on the slab: " << flags;
  });
}

}  // namespace
