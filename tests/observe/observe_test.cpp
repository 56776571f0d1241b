// Observability: process_info and processes(), the mailbox length, the top table, and the
// scheduling trace (its JSON checked by a small parser here, so the test needs no tool).
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ergon/ergon.hpp"
#include "test_util.hpp"

namespace {

using ergon_test::await;
using ergon_test::contains;
using ergon_test::patience;

struct Stop {};
struct Ready {
  ergon::Pid pid;
};

// Polls `cond` (a snapshot question about other processes) every millisecond until it holds
// or patience() runs out; true if it held. Other processes' states change on their own
// schedule, so a check of them has to wait for the state it expects.
template <class F>
bool eventually(F&& cond) {
  const auto end = std::chrono::steady_clock::now() + patience();
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    ergon::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

bool has(const std::vector<ergon::Pid>& v, ergon::Pid p) {
  for (ergon::Pid q : v) {
    if (q == p) return true;
  }
  return false;
}

// --- a JSON checker: true when `text` is one valid JSON value (RFC 8259) --------------------
class JsonChecker {
 public:
  explicit JsonChecker(const std::string& text) : s_(text) {}
  bool valid() {
    skip();
    if (!value()) return false;
    skip();
    return i_ == s_.size();
  }

 private:
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool eat(char c) {
    skip();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool literal(const char* w) {
    const std::string word(w);
    if (s_.compare(i_, word.size(), word) != 0) return false;
    i_ += word.size();
    return true;
  }
  bool string() {
    if (!eat('"')) return false;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') {
        if (i_ >= s_.size()) return false;
        const char e = s_[i_++];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k) {
            if (i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_++])))
              return false;
          }
        } else if (std::string("\"\\/bfnrt").find(e) == std::string::npos) {
          return false;
        }
      }
    }
    return false;
  }
  bool number() {
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    std::size_t digits = 0;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_, ++digits;
    if (digits == 0) return false;
    if (digits > 1 && s_[start + (s_[start] == '-' ? 1 : 0)] == '0') return false;
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      std::size_t frac = 0;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_, ++frac;
      if (frac == 0) return false;
    }
    return true;
  }
  bool value() {
    skip();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      if (eat('}')) return true;
      do {
        skip();
        if (!string() || !eat(':') || !value()) return false;
      } while (eat(','));
      return eat('}');
    }
    if (c == '[') {
      ++i_;
      if (eat(']')) return true;
      do {
        if (!value()) return false;
      } while (eat(','));
      return eat(']');
    }
    if (c == '"') return string();
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    return number();
  }

  const std::string& s_;
  std::size_t i_ = 0;
};

TEST(JsonChecker, RejectsBrokenJsonAndAcceptsGood) {
  EXPECT_TRUE(JsonChecker(R"({"a":[1,2.5,-3],"b":"x\"y","c":{"d":true,"e":null}})").valid());
  EXPECT_FALSE(JsonChecker(R"({"a":[1,2,]})").valid());
  EXPECT_FALSE(JsonChecker(R"({"a":1,})").valid());
  EXPECT_FALSE(JsonChecker("{\"a\":\"line\nbreak\"}").valid());
  EXPECT_FALSE(JsonChecker(R"({"a":01})").valid());
}

// --- the mailbox's length ------------------------------------------------------------------

TEST(MailboxLength, CountsTheInboxAndTheCache) {
  ergon::mailbox::Mailbox mb;
  EXPECT_EQ(mb.length(), 0u);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(mb.push(ergon::mailbox::make_message<int>(i)), ergon::mailbox::PushResult::kQueued);
  }
  EXPECT_EQ(mb.length(), 5u);  // all unfetched: the count in the inbox's head word
  ASSERT_TRUE(mb.fetch());
  EXPECT_EQ(mb.length(), 5u);  // all in the cache
  ASSERT_EQ(mb.push(ergon::mailbox::make_message<int>(5)), ergon::mailbox::PushResult::kQueued);
  EXPECT_EQ(mb.length(), 6u);  // both parts
  ergon::mailbox::Envelope* e = mb.head();
  mb.remove(nullptr, e);
  ergon::mailbox::dispose(e);
  EXPECT_EQ(mb.length(), 5u);
  EXPECT_EQ(mb.close_and_clear(), 5u);
  EXPECT_EQ(mb.length(), 0u);
}

TEST(MailboxLength, SaturatesTheUnfetchedCount) {
  ergon::mailbox::Mailbox mb;
  using Inbox = ergon::mailbox::Mailbox::Inbox;
  const std::size_t n = Inbox::kMaxCount + 10;
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(mb.push(ergon::mailbox::make_message<int>(1)), ergon::mailbox::PushResult::kQueued);
  }
  EXPECT_EQ(mb.length(), std::size_t{Inbox::kMaxCount});
  ASSERT_TRUE(mb.fetch());  // the cache count is exact
  EXPECT_EQ(mb.length(), n);
  EXPECT_EQ(mb.close_and_clear(), n);
}

// --- process_info ------------------------------------------------------------------------

class ObserveTest : public ergon_test::RuntimeTest {};

TEST_P(ObserveTest, ProcessInfoDescribesABlockedProcess) {
  const unsigned workers = this->workers();
  run([workers] {
    const ergon::Pid me = ergon::self();
    ergon::SpawnOptions linked;
    linked.link = true;
    const ergon::Pid child = ergon::spawn(
        [me] {
          ergon::register_name("observed", ergon::self());
          ergon::send(me, Ready{ergon::self()});
          (void)ergon::receive<Stop>();  // the ints below stay in its mailbox
        },
        linked);
    (void)await<Ready>();
    const ergon::Ref ref = ergon::monitor(child);
    constexpr std::size_t kMessages = 7;
    for (std::size_t i = 0; i < kMessages; ++i) ergon::send(child, static_cast<int>(i));
    std::optional<ergon::ProcessInfo> info;
    ASSERT_TRUE(eventually([&] {
      info = ergon::process_info(child);
      return info && info->status == ergon::ProcessStatus::kWaiting &&
             info->message_queue_len == kMessages;
    })) << (info ? std::string(to_string(info->status)) + " with " +
                       std::to_string(info->message_queue_len) + " messages"
                 : std::string("no info"));
    EXPECT_EQ(info->pid, child);
    EXPECT_STREQ(info->waiting_in, "receive");
    EXPECT_EQ(info->registered_name, "observed");
    EXPECT_TRUE(has(info->links, me));
    EXPECT_TRUE(has(info->monitored_by, me));
    EXPECT_TRUE(info->monitors.empty());
    EXPECT_FALSE(info->trap_exit);
    EXPECT_EQ(info->parent, me);
    EXPECT_LT(info->worker, workers);
    EXPECT_EQ(info->pool, "default");

    // The caller, seen by itself: running, and the other side of the link and the monitor.
    const auto mine = ergon::process_info(me);
    ASSERT_TRUE(mine.has_value());
    EXPECT_EQ(mine->status, ergon::ProcessStatus::kRunning);
    EXPECT_EQ(mine->waiting_in, nullptr);
    EXPECT_TRUE(has(mine->links, child));
    EXPECT_TRUE(has(mine->monitors, child));
    EXPECT_TRUE(mine->monitored_by.empty());
    EXPECT_EQ(mine->parent, ergon::Pid{});  // the main process is spawned from outside

    ergon::send(child, Stop{});
    (void)await<ergon::Down>();
    (void)ref;
  });
}

TEST_P(ObserveTest, ProcessInfoOfADeadOrStalePidIsNullopt) {
  ergon::Runtime& rt = runtime();
  ergon::Pid dead;
  run([&dead] {
    dead = ergon::spawn([] {});
    const ergon::Ref ref = ergon::monitor(dead);
    (void)await<ergon::Down>();
    (void)ref;
    // Its Down goes out before its record is freed: for that moment it is still exiting.
    const auto last = ergon::process_info(dead);
    if (last) {
      EXPECT_EQ(last->status, ergon::ProcessStatus::kExiting);
    }
    EXPECT_TRUE(eventually([&] { return !ergon::process_info(dead).has_value(); }));
    // The same slot under another generation, and a pid that was never made.
    EXPECT_FALSE(ergon::process_info(ergon::Pid(dead.index(), dead.generation() + 7)));
    EXPECT_FALSE(ergon::process_info(ergon::Pid{}).has_value());
    EXPECT_TRUE(ergon::process_info(ergon::self()).has_value());
  });
  EXPECT_FALSE(rt.process_info(dead).has_value());  // from outside the runtime
}

TEST_P(ObserveTest, ReductionsGrowWithWork) {
  run([] {
    const ergon::Pid me = ergon::self();
    constexpr std::uint32_t kRounds = 50, kCost = 1000;
    const ergon::Pid worker = ergon::spawn([me] {
      for (int phase = 0; phase < 2; ++phase) {
        for (std::uint32_t i = 0; i < kRounds; ++i) ergon::reduce(kCost);
        ergon::send(me, phase);
        (void)ergon::receive<Stop>();
      }
    });
    EXPECT_EQ(await<int>(), 0);
    std::optional<ergon::ProcessInfo> first;
    ASSERT_TRUE(eventually([&] {
      first = ergon::process_info(worker);
      return first && first->status == ergon::ProcessStatus::kWaiting;
    }));
    EXPECT_GE(first->reductions, std::uint64_t{kRounds} * kCost);
    ergon::send(worker, Stop{});
    EXPECT_EQ(await<int>(), 1);
    std::optional<ergon::ProcessInfo> second;
    ASSERT_TRUE(eventually([&] {
      second = ergon::process_info(worker);
      return second && second->status == ergon::ProcessStatus::kWaiting &&
             second->reductions > first->reductions;
    }));
    EXPECT_GE(second->reductions - first->reductions, std::uint64_t{kRounds} * kCost);
    ergon::send(worker, Stop{});
  });
}

[[gnu::noinline]] void deep_then_wait(int depth, ergon::Pid parent) {
  volatile char pad[1024];
  pad[0] = static_cast<char>(depth);
  if (depth > 0) {
    deep_then_wait(depth - 1, parent);
  } else {
    ergon::send(parent, Ready{ergon::self()});
    (void)ergon::receive<Stop>();
  }
  pad[1] = pad[0];  // keeps the frame (and the recursion) from being optimized away
}

TEST_P(ObserveTest, StackUsedIsWithinTheStack) {
  run([] {
    const ergon::Pid me = ergon::self();
    const ergon::Pid shallow = ergon::spawn([me] {
      ergon::send(me, Ready{ergon::self()});
      (void)ergon::receive<Stop>();
    });
    const ergon::Pid deep = ergon::spawn([me] { deep_then_wait(8, me); });
    (void)await<Ready>();
    (void)await<Ready>();
    std::optional<ergon::ProcessInfo> a, b;
    ASSERT_TRUE(eventually([&] {
      a = ergon::process_info(shallow);
      b = ergon::process_info(deep);
      return a && b && a->status == ergon::ProcessStatus::kWaiting &&
             b->status == ergon::ProcessStatus::kWaiting;
    }));
    EXPECT_GT(a->stack_used, 0u);
    EXPECT_LT(a->stack_used, a->stack_size);
    EXPECT_EQ(a->stack_size, ergon::Options{}.stack_size);
    EXPECT_GT(b->stack_used, a->stack_used + 8 * 1024);  // eight frames of 1 KiB deeper
    EXPECT_LT(b->stack_used, b->stack_size);
    const auto mine = ergon::process_info(ergon::self());
    ASSERT_TRUE(mine.has_value());
    EXPECT_GT(mine->stack_used, 0u);
    EXPECT_LT(mine->stack_used, mine->stack_size);
    ergon::send(shallow, Stop{});
    ergon::send(deep, Stop{});
  });
}

TEST_P(ObserveTest, WaitingInNamesSleepAndReceiveWithADeadline) {
  run([] {
    const ergon::Pid sleeper = ergon::spawn([] { ergon::sleep_for(std::chrono::hours(1)); });
    const ergon::Pid timed =
        ergon::spawn([] { (void)ergon::receive_for<Stop>(std::chrono::hours(1)); });
    std::optional<ergon::ProcessInfo> a, b;
    ASSERT_TRUE(eventually([&] {
      a = ergon::process_info(sleeper);
      b = ergon::process_info(timed);
      return a && b && a->status == ergon::ProcessStatus::kWaiting &&
             b->status == ergon::ProcessStatus::kWaiting;
    }));
    EXPECT_STREQ(a->waiting_in, "sleep");
    EXPECT_STREQ(b->waiting_in, "receive (after)");
    ergon::send(timed, Stop{});
  });
}

TEST_P(ObserveTest, WaitingInNamesANurseryAndTrapExitShows) {
  run([] {
    const ergon::Pid me = ergon::self();
    const ergon::Pid owner = ergon::spawn([me] {
      (void)ergon::trap_exits(true);
      ergon::nursery([me](ergon::Nursery& n) {
        n.spawn([me] {
          ergon::send(me, Ready{ergon::self()});
          (void)ergon::receive<Stop>();
        });
      });  // the owner waits here for its child
    });
    const ergon::Pid child = await<Ready>().pid;
    std::optional<ergon::ProcessInfo> info;
    ASSERT_TRUE(eventually([&] {
      info = ergon::process_info(owner);
      return info && info->status == ergon::ProcessStatus::kWaiting;
    }));
    EXPECT_STREQ(info->waiting_in, "nursery");
    EXPECT_TRUE(info->trap_exit);
    const auto c = ergon::process_info(child);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->parent, owner);
    ergon::send(child, Stop{});
  });
}

TEST_P(ObserveTest, ProcessesListsEveryLiveProcess) {
  const std::size_t n = ergon_test::scaled<std::size_t>(300, 40);
  ergon::Runtime& rt = runtime();
  run([n, &rt] {
    std::vector<ergon::Pid> children;
    for (std::size_t i = 0; i < n; ++i) {
      children.push_back(ergon::spawn([] { (void)ergon::receive<Stop>(); }));
    }
    const std::vector<ergon::ProcessInfo> all = ergon::processes();
    EXPECT_EQ(all.size(), n + 1);
    std::vector<ergon::Pid> seen;
    for (const auto& p : all) seen.push_back(p.pid);
    EXPECT_TRUE(has(seen, ergon::self()));
    for (ergon::Pid c : children) EXPECT_TRUE(has(seen, c)) << c;
    EXPECT_EQ(rt.processes().size(), n + 1);  // the Runtime call, from here
    for (ergon::Pid c : children) ergon::send(c, Stop{});
  });
  EXPECT_TRUE(rt.processes().empty());  // after run(): nothing is left
}

TEST_P(ObserveTest, TopTableShowsTheHeaviestProcesses) {
  ergon::Runtime& rt = runtime();
  run([&rt] {
    const ergon::Pid me = ergon::self();
    const ergon::Pid heavy = ergon::spawn([me] {
      ergon::register_name("heavy", ergon::self());
      for (int i = 0; i < 200; ++i) ergon::reduce(1000);
      ergon::send(me, Ready{ergon::self()});
      (void)ergon::receive<Stop>();
    });
    const ergon::Pid stuffed = ergon::spawn([] { (void)ergon::receive<Stop>(); });
    for (int i = 0; i < 50; ++i) ergon::send(stuffed, i);
    (void)await<Ready>();
    ASSERT_TRUE(eventually([&] {
      auto h = ergon::process_info(heavy);
      auto s = ergon::process_info(stuffed);
      return h && s && h->status == ergon::ProcessStatus::kWaiting && s->message_queue_len == 50;
    }));
    const std::string table = ergon::top_table(2);
    const std::size_t by_reds = table.find("heaviest by reductions");
    const std::size_t by_len = table.find("heaviest by mailbox length");
    ASSERT_NE(by_reds, std::string::npos) << table;
    ASSERT_NE(by_len, std::string::npos) << table;
    const std::string reds = table.substr(by_reds, by_len - by_reds);
    const std::string lens = table.substr(by_len);
    EXPECT_TRUE(contains(reds, "heavy")) << table;
    EXPECT_TRUE(contains(reds, heavy.to_string())) << table;
    EXPECT_TRUE(contains(lens, stuffed.to_string())) << table;
    EXPECT_TRUE(contains(table, "worker 0") || contains(table, "\n     0 default")) << table;
    EXPECT_EQ(ergon::top_table(rt, 2).find("heaviest by reductions") != std::string::npos, true);

    // The live view, from a process: two tables into a file.
    std::FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    ergon::TopOptions o;
    o.rows = 2;
    o.refreshes = 2;
    o.interval = std::chrono::milliseconds(1);
    o.out = f;
    ergon::top(o);
    std::rewind(f);
    std::string text;
    char buf[4096];
    while (std::size_t got = std::fread(buf, 1, sizeof buf, f)) text.append(buf, got);
    std::fclose(f);
    std::size_t tables = 0;
    for (std::size_t at = text.find("ergon top:"); at != std::string::npos;
         at = text.find("ergon top:", at + 1))
      ++tables;
    EXPECT_EQ(tables, 2u);
    EXPECT_FALSE(contains(text, "\x1b[")) << "a file is not a terminal: no escape codes";
    ergon::send(heavy, Stop{});
    ergon::send(stuffed, Stop{});
  });
}

TEST_P(ObserveTest, TopRunsFromAThreadOutsideUntilStopped) {
  if (is_deterministic()) GTEST_SKIP() << ergon_test::kNeedsThreads;
  ergon::Runtime& rt = runtime();
  std::atomic<bool> stop{false};
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  std::thread viewer([&] {
    ergon::TopOptions o;
    o.interval = std::chrono::milliseconds(1);
    o.out = f;
    o.stop = &stop;
    ergon::top(rt, o);
  });
  run([] {
    for (int i = 0; i < 20; ++i) ergon::sleep_for(std::chrono::milliseconds(1));
  });
  stop.store(true, std::memory_order_release);
  viewer.join();
  std::rewind(f);
  char buf[64] = {};
  EXPECT_GT(std::fread(buf, 1, sizeof buf - 1, f), 0u);
  EXPECT_TRUE(contains(buf, "ergon top:"));
  std::fclose(f);
}

// --- trace ---------------------------------------------------------------------------------

std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST_P(ObserveTest, TraceIsOffByDefault) {
  ergon::Runtime& rt = runtime();
  EXPECT_FALSE(ergon::trace::enabled(rt));
  run([] {
    EXPECT_FALSE(ergon::trace::enabled());
    const ergon::Pid c = ergon::spawn([] { ergon::yield(); });
    (void)c;
  });
  const ergon::trace::Summary s = ergon::trace::summary(rt);
  EXPECT_FALSE(s.on);
  EXPECT_EQ(s.events, 0u);
  EXPECT_TRUE(JsonChecker(ergon::trace::to_json(rt)).valid());  // an empty trace is valid too
}

TEST_P(ObserveTest, TraceRecordsSlicesOfAKnownProcessAsValidJson) {
  ergon::Runtime& rt = runtime();
  ergon::trace::start(rt);
  EXPECT_TRUE(ergon::trace::enabled(rt));
  run([] {
    const ergon::Pid me = ergon::self();
    const ergon::Pid traced = ergon::spawn([me] {
      ergon::register_name("traced", ergon::self());
      for (int i = 0; i < 10; ++i) ergon::yield();
      ergon::send(me, Stop{});
      throw std::runtime_error("on purpose, for the trace");
    });
    (void)await<Stop>();
    const ergon::Ref ref = ergon::monitor(traced);
    (void)await<ergon::Down>();
    (void)ref;
  });
  ergon::trace::stop(rt);
  EXPECT_FALSE(ergon::trace::enabled(rt));
  const std::string json = ergon::trace::to_json(rt);
  ASSERT_TRUE(JsonChecker(json).valid()) << json.substr(0, 2000);
  // At least the ten yields' slices, named by the registered name, on a worker's track.
  EXPECT_GE(count_of(json, R"({"name":"traced","cat":"process","ph":"X")"), 10u)
      << json.substr(0, 2000);
  EXPECT_GE(count_of(json, R"("name":"spawn")"), 2u);  // main and traced
  EXPECT_TRUE(contains(json, R"("reason":"exception: on purpose)")) << json.substr(0, 2000);
  EXPECT_TRUE(contains(json, R"("name":"crash")"));
  EXPECT_TRUE(contains(json, R"("name":"thread_name")"));
  const ergon::trace::Summary s = ergon::trace::summary(rt);
  EXPECT_GT(s.events, 12u);
  EXPECT_EQ(s.dropped, 0u);

  // write() puts the same text in a file.
  const std::string path = ::testing::TempDir() + "ergon-observe-trace.json";
  ergon::trace::write(rt, path);
  std::FILE* f = std::fopen(path.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string text;
  char buf[4096];
  while (std::size_t got = std::fread(buf, 1, sizeof buf, f)) text.append(buf, got);
  std::fclose(f);
  std::remove(path.c_str());
  EXPECT_TRUE(JsonChecker(text).valid());
  EXPECT_EQ(count_of(text, R"("name":"traced","cat":"process")"),
            count_of(json, R"("name":"traced","cat":"process")"));
}

TEST_P(ObserveTest, TraceStartsStopsAndStartsAgain) {
  ergon::Runtime& rt = runtime();
  run([] {
    ergon::trace::start(256);
    EXPECT_TRUE(ergon::trace::enabled());
    const ergon::Pid me = ergon::self();
    ergon::spawn([me] {
      ergon::register_name("first", ergon::self());
      for (int i = 0; i < 5; ++i) ergon::yield();
      ergon::send(me, 1);
    });
    EXPECT_EQ(await<int>(), 1);
    ergon::trace::stop();
    EXPECT_FALSE(ergon::trace::enabled());
    const std::string one = ergon::trace::to_json();
    EXPECT_TRUE(JsonChecker(one).valid());
    EXPECT_TRUE(contains(one, R"("name":"first","cat":"process")"));

    // While stopped, nothing new is recorded (a hook that was mid-write may add one event).
    const std::uint64_t before = ergon::trace::summary().events;
    for (int i = 0; i < 20; ++i) ergon::yield();
    EXPECT_LE(ergon::trace::summary().events, before + 1);

    ergon::trace::start(256);  // a new session: the first one's events are gone
    ergon::spawn([me] {
      ergon::register_name("second", ergon::self());
      for (int i = 0; i < 5; ++i) ergon::yield();
      ergon::send(me, 2);
    });
    EXPECT_EQ(await<int>(), 2);
    ergon::trace::stop();
    const std::string two = ergon::trace::to_json();
    EXPECT_TRUE(JsonChecker(two).valid());
    EXPECT_TRUE(contains(two, R"("name":"second","cat":"process")"));
    EXPECT_FALSE(contains(two, R"("name":"first","cat":"process")"));
  });
  (void)rt;
}

TEST_P(ObserveTest, TraceRecordsMigrationsAndParks) {
  if (workers() < 2) GTEST_SKIP() << "a migration needs two workers";
  if (is_deterministic()) GTEST_SKIP() << "deterministic mode has no worker threads to park";
  ergon::Options o = options();
  o.force_migration = true;  // the balancer moves a queued process every tick
  runtime(o);
  run([] {
    ergon::trace::start(1 << 12);
    // Shared: the spinners may still look at it after this process has ended.
    auto done = std::make_shared<std::atomic<bool>>(false);
    for (int i = 0; i < 8; ++i) {
      ergon::spawn([done] {
        // relaxed: a stop flag, publishing nothing.
        while (!done->load(std::memory_order_relaxed)) ergon::yield();
      });
    }
    std::string json;
    EXPECT_TRUE(eventually([&] {
      json = ergon::trace::to_json();
      return contains(json, R"("name":"migrate")");
    }));
    done->store(true, std::memory_order_relaxed);  // relaxed: see above
    ergon::trace::stop();
    EXPECT_TRUE(JsonChecker(json).valid());
    EXPECT_TRUE(contains(json, R"("from":)"));
  });
}

TEST_P(ObserveTest, AFullTraceBufferDropsAndCounts) {
  ergon::Runtime& rt = runtime();
  ergon::trace::start(rt, 4);
  run([] {
    for (int i = 0; i < 100; ++i) ergon::yield();
  });
  ergon::trace::stop(rt);
  const ergon::trace::Summary s = ergon::trace::summary(rt);
  EXPECT_LE(s.events, 4u * (workers() + 1));
  EXPECT_GT(s.dropped, 0u);
  EXPECT_TRUE(JsonChecker(ergon::trace::to_json(rt)).valid());
  EXPECT_THROW(ergon::trace::start(rt, 0), ergon::Error);
}

ERGON_INSTANTIATE_WORKERS_AND_DETERMINISTIC(ObserveTest);

}  // namespace
