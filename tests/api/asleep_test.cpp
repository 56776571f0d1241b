// The asleep report of a threaded run (core/asleep.hpp, api/asleep.hpp): a run whose processes
// all wait with nothing inside the runtime that could wake them is reported once per episode,
// naming each process and what it waits in, with honest wording about threads outside; a run
// with a pending timer, a blocking call in flight, a socket with a waiter, or no run() in
// progress is not; the option (and its variable) turns it off; the default goes to stderr.
//
// The grace period is short (kGrace) so that the tests wait little; a report is awaited by
// condition (Reports::wait), and "not reported" is checked after the runtime has stayed idle for
// kQuiet, many grace periods, which no timing of the machine's can shorten into a false pass:
// a report that should not come would come after one grace period.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ergon/ergon.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ergon_test::contains;

constexpr auto kGrace = 50ms;
// How long a test lets an idle runtime be before it says "not reported": 20 grace periods.
constexpr auto kQuiet = 1000ms;

struct Token {};
struct Stop {};

// The reports an on_asleep callback received.
class Reports {
 public:
  std::function<void(const ergon::AsleepReport&)> callback() {
    return [this](const ergon::AsleepReport& r) {
      std::lock_guard<std::mutex> g(mu_);
      all_.push_back(r);
      cv_.notify_all();
    };
  }
  // Waits until `n` reports came (true), or patience() passed (false).
  bool wait(std::size_t n) {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, ergon_test::patience(), [&] { return all_.size() >= n; });
  }
  std::size_t count() {
    std::lock_guard<std::mutex> g(mu_);
    return all_.size();
  }
  ergon::AsleepReport at(std::size_t i) {
    std::lock_guard<std::mutex> g(mu_);
    return all_.at(i);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ergon::AsleepReport> all_;
};

bool has(const std::vector<ergon::Pid>& v, ergon::Pid p) {
  return std::find(v.begin(), v.end(), p) != v.end();
}

class Asleep : public ergon_test::RuntimeTest {
 protected:
  ergon::Options watched() {
    ergon::Options o = options();
    o.asleep_after = std::chrono::duration_cast<std::chrono::milliseconds>(kGrace);
    o.on_asleep = reports.callback();
    return o;
  }
  Reports reports;
};
ERGON_INSTANTIATE_WORKERS(Asleep);

// main and "peer" each wait for the other's Token. The report names both and what they wait
// in, says no outside thread has shown itself, and comes once however long the hang lasts.
// A Token from this thread then wakes the peer (a process runs: a new episode), and the second
// report names main alone and counts the outside send.
TEST_P(Asleep, TwoProcessesWaitingForEachOtherAreReportedOncePerEpisode) {
  ergon::Runtime& rt = runtime(watched());
  std::atomic<std::uint64_t> main_raw{0}, peer_raw{0};
  std::thread runner([&] {
    rt.run([&] {
      main_raw = ergon::self().raw();
      const ergon::Pid peer = ergon::spawn([] {
        ergon::register_name("peer", ergon::self());
        (void)ergon::receive<Token>();  // from main, which never sends it
      });
      peer_raw = peer.raw();
      // A Token from peer, which never sends it; the Stop comes from this thread at the end.
      ergon::receive([](Token&) {}, [](Stop&) {});
    });
  });
  ASSERT_TRUE(reports.wait(1)) << "no asleep report";
  const ergon::Pid main = ergon::Pid::from_raw(main_raw.load());
  const ergon::Pid peer = ergon::Pid::from_raw(peer_raw.load());
  const ergon::AsleepReport r = reports.at(0);
  EXPECT_EQ(r.main, main);
  EXPECT_EQ(r.waiting.size(), 2u);
  EXPECT_TRUE(has(r.waiting, main) && has(r.waiting, peer));
  EXPECT_EQ(r.outside_sends, 0u);
  EXPECT_EQ(r.outside_spawns, 0u);
  EXPECT_TRUE(contains(r.message, main.to_string() + " (main) on worker ")) << r.message;
  EXPECT_TRUE(contains(r.message, peer.to_string() + " \"peer\" on worker ")) << r.message;
  EXPECT_TRUE(contains(r.message, ": waiting in receive")) << r.message;
  EXPECT_TRUE(contains(r.message, "nothing inside the runtime can wake one")) << r.message;
  EXPECT_TRUE(contains(r.message, "No thread outside the runtime has sent")) << r.message;
  EXPECT_TRUE(contains(r.message, "cannot know whether one will")) << r.message;
  EXPECT_TRUE(contains(r.message, "ERGON_DETERMINISTIC=1")) << r.message;
  EXPECT_TRUE(contains(r.message, "ERGON_ASLEEP_AFTER")) << r.message;

  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(reports.count(), 1u) << "reported again while nothing ran";

  ergon::send(peer, Token{});  // the peer ends; main still waits
  ASSERT_TRUE(reports.wait(2)) << "no report of the second episode";
  const ergon::AsleepReport r2 = reports.at(1);
  EXPECT_EQ(r2.waiting, std::vector<ergon::Pid>{main});
  EXPECT_EQ(r2.outside_sends, 1u);
  EXPECT_TRUE(contains(r2.message, "Threads outside the runtime have sent 1 message"))
      << r2.message;
  ergon::send(main, Stop{});
  runner.join();
  EXPECT_EQ(reports.count(), 2u);
}

// A sender waiting on a full bounded mailbox is named with the mailbox it waits on, as in
// deterministic mode's Deadlock (tests/core/bounded_test.cpp). A process spawned from this
// thread kills main, which ends the run.
TEST_P(Asleep, ASenderWaitingOnAFullMailboxIsNamedWithItsReceiver) {
  ergon::Runtime& rt = runtime(watched());
  std::atomic<std::uint64_t> main_raw{0}, full_raw{0};
  std::thread runner([&] {
    EXPECT_THROW(rt.run([&] {
      main_raw = ergon::self().raw();
      const ergon::Pid full =
          ergon::spawn([] { (void)ergon::receive<Stop>(); },
                       {.mailbox_capacity = 1, .overflow = ergon::MailboxPolicy::kBlock});
      full_raw = full.raw();
      ergon::send(full, 1);
      ergon::send(full, 2);  // waits for a slot that never frees
    }),
                 ergon::KilledBySignal);
  });
  ASSERT_TRUE(reports.wait(1)) << "no asleep report";
  const ergon::AsleepReport r = reports.at(0);
  const ergon::Pid full = ergon::Pid::from_raw(full_raw.load());
  EXPECT_TRUE(contains(r.message, "waiting in send (mailbox full) to " + full.to_string()))
      << r.message;
  const ergon::Pid main = ergon::Pid::from_raw(main_raw.load());
  rt.spawn([main] { ergon::exit(main, ergon::ExitReason::kill()); });
  runner.join();
}

// main waits for a message with a timeout longer than kQuiet: the armed timer can wake it.
TEST_P(Asleep, NothingIsReportedWhileATimerIsArmed) {
  ergon::Runtime& rt = runtime(watched());
  rt.run([] {
    ergon::spawn([] { (void)ergon::receive<Token>(); });  // waits for ever
    EXPECT_FALSE(ergon::receive_for<Token>(kQuiet).has_value());
  });
  EXPECT_EQ(reports.count(), 0u);
}

// main is inside ergon::blocking for kQuiet, every worker parked: its return can wake others.
TEST_P(Asleep, NothingIsReportedWhileABlockingCallIsInFlight) {
  ergon::Runtime& rt = runtime(watched());
  rt.run([] {
    ergon::spawn([] { (void)ergon::receive<Token>(); });
    ergon::blocking([] { std::this_thread::sleep_for(kQuiet); });
  });
  EXPECT_EQ(reports.count(), 0u);
}

// A server waits in read on a loopback connection whose client end main holds while it waits
// for a message from this thread: the network could wake the server, so no report. Then the
// message comes, main writes, the server reads and answers.
TEST_P(Asleep, NothingIsReportedWhileASocketHasAWaiter) {
  ergon::Runtime& rt = runtime(watched());
  const std::int64_t sockets_at_start = ergon::net::open_sockets();
  std::atomic<std::uint64_t> main_raw{0};
  std::atomic<bool> reading{false};
  std::thread runner([&] {
    rt.run([&] {
      main_raw = ergon::self().raw();
      const ergon::Pid main = ergon::self();
      ergon::net::Listener l =
          ergon::net::Listener::bind(ergon::net::Address::parse("127.0.0.1:0"));
      const ergon::net::Address at = l.local_address();
      ergon::Pid server = ergon::spawn([main] {
        ergon::net::Stream s = ergon::receive<ergon::net::Stream>();
        char c = 0;
        ergon::send(main, Token{});
        (void)s.read_exact(&c, 1);  // waits for main's byte
        ergon::send(main, c);
      });
      ergon::net::Stream mine = ergon::net::Stream::connect(at);
      ergon::net::Stream theirs = l.accept();
      theirs.hand_to(server);
      ergon::send(server, std::move(theirs));
      (void)ergon::receive<Token>();
      reading = true;
      (void)ergon::receive<Stop>();  // from this thread, later
      mine.write_all("x");
      EXPECT_EQ(ergon::receive<char>(), 'x');
    });
  });
  while (!reading) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(reports.count(), 0u) << reports.at(0).message;
  ergon::send(ergon::Pid::from_raw(main_raw.load()), Stop{});
  runner.join();
  EXPECT_EQ(reports.count(), 0u);
  EXPECT_EQ(ergon::net::open_sockets(), sockets_at_start) << "sockets left open";
}

// main waits for a message this thread sends only after the report: the runtime cannot know
// it will, so it reports, with the wording that says so, and the run then ends as usual.
TEST_P(Asleep, AWaitForALaterOutsideSendIsReportedWithWhatTheRuntimeCannotKnow) {
  ergon::Runtime& rt = runtime(watched());
  std::atomic<std::uint64_t> main_raw{0};
  std::atomic<int> got{0};
  std::thread runner([&] {
    rt.run([&] {
      main_raw = ergon::self().raw();
      got = ergon::receive<int>();
    });
  });
  ASSERT_TRUE(reports.wait(1)) << "no asleep report";
  const ergon::AsleepReport r = reports.at(0);
  EXPECT_TRUE(contains(r.message,
                       "only such a thread, or a process of another Runtime, can "
                       "still wake them, and the runtime cannot know whether one "
                       "will"))
      << r.message;
  EXPECT_TRUE(contains(r.message, "the runtime keeps waiting")) << r.message;
  ergon::send(ergon::Pid::from_raw(main_raw.load()), 7);
  runner.join();
  EXPECT_EQ(got.load(), 7);
  EXPECT_EQ(reports.count(), 1u);
}

// Processes spawned with Runtime::spawn, no run() in progress: the thread that holds the
// Runtime is free to send, so nothing is reported.
TEST_P(Asleep, NothingIsReportedWithoutARunInProgress) {
  ergon::Runtime& rt = runtime(watched());
  const ergon::Pid a = rt.spawn([] { (void)ergon::receive<Token>(); });
  rt.spawn([a] { (void)ergon::receive<Token>(); });
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(reports.count(), 0u);
  rt.run([] {});  // its end ends them
}

// asleep_after = 0 turns the report off, and so does ERGON_ASLEEP_AFTER=0ms over a program's
// setting.
TEST_P(Asleep, TheOptionAndItsVariableTurnItOff) {
  for (const bool by_env : {false, true}) {
    SCOPED_TRACE(by_env ? "ERGON_ASLEEP_AFTER=0ms" : "Options::asleep_after = 0");
    ergon::Options o = watched();
    std::optional<ergon_test::EnvGuard> env;
    if (by_env) {
      env.emplace("ERGON_ASLEEP_AFTER", "0ms");
    } else {
      o.asleep_after = 0ms;
    }
    ergon::Runtime& rt = runtime(o);
    EXPECT_EQ(rt.options().asleep_after, 0ms);
    std::atomic<std::uint64_t> main_raw{0};
    std::thread runner([&] {
      rt.run([&] {
        main_raw = ergon::self().raw();
        ergon::spawn([] { (void)ergon::receive<Token>(); });
        (void)ergon::receive<Stop>();
      });
    });
    while (main_raw == 0) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(reports.count(), 0u);
    ergon::send(ergon::Pid::from_raw(main_raw.load()), Stop{});
    runner.join();
  }
}

// ERGON_ASLEEP_AFTER's parse errors name the variable; a negative option is a ConfigError
// naming the field and the variable.
TEST_P(Asleep, BadValuesAreConfigErrorsNamingTheVariable) {
  for (const char* value : {"", "1", "abc", "5m", "-1ms", "1us"}) {
    ergon_test::EnvGuard env("ERGON_ASLEEP_AFTER", value);
    const std::string w =
        ergon_test::what_of<ergon::ConfigError>([&] { ergon::Runtime rt(options()); });
    EXPECT_TRUE(contains(w, "ERGON_ASLEEP_AFTER")) << value << ": " << w;
  }
  ergon::Options o = options();
  o.asleep_after = -1ms;
  const std::string w = ergon_test::what_of<ergon::ConfigError>([&] { ergon::Runtime rt(o); });
  EXPECT_TRUE(contains(w, "asleep_after")) << w;
  EXPECT_TRUE(contains(w, "ERGON_ASLEEP_AFTER")) << w;
}

// Without on_asleep the report is one write to stderr. Read through a pipe in place of fd 2
// until it shows, then the run is ended.
TEST_P(Asleep, TheDefaultReportGoesToStderr) {
  ergon::Options o = watched();
  o.on_asleep = nullptr;
  ergon::Runtime& rt = runtime(o);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ::dup2(fds[1], 2);
  std::atomic<std::uint64_t> main_raw{0};
  std::thread runner([&] {
    rt.run([&] {
      main_raw = ergon::self().raw();
      (void)ergon::receive<Stop>();
    });
  });
  std::string text;
  const auto give_up = std::chrono::steady_clock::now() + ergon_test::patience();
  while (!contains(text, "ERGON_ASLEEP_AFTER") && std::chrono::steady_clock::now() < give_up) {
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      text.append(buf, static_cast<std::size_t>(n));
    } else {
      std::this_thread::sleep_for(5ms);
    }
  }
  ::dup2(saved, 2);
  ::close(saved);
  ::close(fds[0]);
  ::close(fds[1]);
  while (main_raw == 0) std::this_thread::sleep_for(1ms);
  ergon::send(ergon::Pid::from_raw(main_raw.load()), Stop{});
  runner.join();
  EXPECT_TRUE(contains(text, "ergon: every process of this runtime has waited for 50 ms")) << text;
  EXPECT_TRUE(contains(text, ergon::Pid::from_raw(main_raw.load()).to_string() + " (main)"))
      << text;
}

}  // namespace
