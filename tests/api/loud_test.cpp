// Tests of issue 17's "no silent failures": a string literal arrives as a std::string, a
// second Child::get is an error, and pids, refs, exit reasons and the supervisor's enums
// print with to_string and operator<<.
#include <sstream>
#include <string>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon_test::await;
using ergon_test::contains;
using ergon_test::what_of;

class Loud : public ergon_test::RuntimeTest {};
ERGON_INSTANTIATE_WORKERS(Loud);

TEST_P(Loud, AStringLiteralIsSentAsAStdString) {
  run([] {
    ergon::send(ergon::self(), "hello");
    EXPECT_EQ(await<std::string>(), "hello");
    const char* p = "by pointer";
    ergon::send(ergon::self(), p);
    EXPECT_EQ(await<std::string>(), "by pointer");
  });
}

TEST_P(Loud, ChildGetTwiceIsAnError) {
  run([] {
    ergon::nursery([](ergon::Nursery& n) {
      ergon::Child<std::string> c = n.spawn([] { return std::string("value"); });
      EXPECT_EQ(c.get(), "value");
      const std::string w = what_of<ergon::Error>([&c] { (void)c.get(); });
      EXPECT_TRUE(contains(w, "called twice")) << w;
    });
  });
}

template <class T>
std::string streamed(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

TEST(LoudPrinting, PidsRefsReasonsAndEnumsPrint) {
  const ergon::Pid p(3, 1);
  EXPECT_EQ(streamed(p), "<0.3.1>");
  EXPECT_EQ(ergon::to_string(p), "<0.3.1>");
  const ergon::Ref r = ergon::Ref::make(7, p);
  EXPECT_EQ(streamed(r), "#Ref<7>");
  EXPECT_EQ(ergon::to_string(r), "#Ref<7>");
  const ergon::ExitReason why{ergon::ExitReason::Kind::kException, "boom"};
  EXPECT_EQ(streamed(why), "exception: boom");
  EXPECT_EQ(ergon::to_string(why), "exception: boom");
  EXPECT_EQ(streamed(ergon::ExitReason::Kind::kNoProc), "noproc");
  EXPECT_EQ(streamed(ergon::SupervisorEvent::Kind::kGaveUp), "gave_up");
  EXPECT_EQ(streamed(ergon::Strategy::kRestForOne), "rest_for_one");
  EXPECT_EQ(streamed(ergon::Restart::kTransient), "transient");
  EXPECT_EQ(streamed(ergon::ChildType::kSupervisor), "supervisor");
  const ergon::SupervisorEvent e{ergon::SupervisorEvent::Kind::kExited, p, "db", p, why};
  EXPECT_EQ(streamed(e), "exited db <0.3.1> (exception: boom)");
}

}  // namespace
