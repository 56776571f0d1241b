// The stack guard against stack clash: a frame larger than the whole stack, in code built
// without -fstack-clash-protection (tests/fixtures/stack_clash.cpp), moves the stack pointer
// past the stack's end in one step. Its first store must fault in the guard zone below the
// stack and be reported as an overflow of the process that made the frame, never land in the
// neighbouring process's stack. The fixture runs as a child program because the report ends
// it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <ostream>
#include <string>

#include "test_util.hpp"

namespace {

using ergon_test::contains;
using ergon_test::field;

struct ClashCase {
  long frame;  // bytes of the local array
  unsigned workers;
  friend void PrintTo(const ClashCase& c, std::ostream* os) {
    *os << c.frame << "-byte frame, " << c.workers << " workers";
  }
};

std::string clash_name(const testing::TestParamInfo<ClashCase>& info) {
  return std::to_string(info.param.frame) + "Bytes" + std::to_string(info.param.workers) +
         "Workers";
}

class StackClash : public testing::TestWithParam<ClashCase> {};
INSTANTIATE_TEST_SUITE_P(Frames, StackClash,
                         testing::Values(ClashCase{70000, 1}, ClashCase{200000, 1},
                                         ClashCase{70000, 2}, ClashCase{200000, 4}),
                         clash_name);

TEST_P(StackClash, AFrameLargerThanTheStackIsReportedAsAnOverflowOfItsProcess) {
  const std::string fixture = ergon_test::fixture_path("stack_clash");
  ASSERT_EQ(::access(fixture.c_str(), X_OK), 0) << fixture << " is not built";
  int status = -1;
  const std::string out =
      ergon_test::run_command(fixture + " " + std::to_string(GetParam().frame) + " " +
                                  std::to_string(GetParam().workers) + " 2>&1",
                              &status);
  const std::string victim = field(out, "victim");
  ASSERT_FALSE(victim.empty()) << out;
  EXPECT_FALSE(contains(out, "survived")) << "the frame jumped over the guard:\n" << out;
  EXPECT_TRUE(contains(out, "ergon: process " + victim + " overflowed its stack of 64 KiB")) << out;
  // Ended by the report's abort: the shell either passes the signal on or exits 128 + 6.
  const bool aborted = (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) ||
                       (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGABRT);
  EXPECT_TRUE(aborted) << "status " << status << "\n" << out;
}

}  // namespace
