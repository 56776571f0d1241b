#include <gtest/gtest.h>

#include <ergon/ergon.hpp>

TEST(Smoke, RunsAMainProcess) {
  ergon::Runtime rt;
  int x = 0;
  rt.run([&] { x = 1; });
  EXPECT_EQ(x, 1);
}
