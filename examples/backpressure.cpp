// backpressure: a fast producer floods a slow consumer through a bounded mailbox. With the
// block policy the producer waits for room (its worker runs the consumer meanwhile), so the
// mailbox never holds more than its capacity; with drop_newest the overflow is dropped and
// counted, and sent = received + dropped.   usage: backpressure [messages]   (default 100,000)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ergon/ergon.hpp>

struct Done {};

// Floods a consumer spawned with `policy` and prints what arrived and what the mailbox saw.
static void flood(long n, ergon::MailboxPolicy policy) {
  const ergon::Pid main = ergon::self();
  const ergon::Pid consumer = ergon::spawn(
      [main] {
        long received = 0;
        for (bool running = true; running;) {
          ergon::receive([&](long) { ++received; }, [&](Done) { running = false; });
          if (received % 100 == 0) ergon::yield();  // a slow consumer
        }
        const ergon::ProcessInfo info = *ergon::process_info(ergon::self());
        std::printf("  received %ld, dropped %llu, high-water mark %u of %u\n", received,
                    static_cast<unsigned long long>(info.mailbox_dropped), info.mailbox_high_water,
                    info.mailbox_capacity);
        ergon::send(main, Done{});
      },
      {.mailbox_capacity = 64, .overflow = policy});
  for (long i = 0; i < n; ++i) ergon::send(consumer, i);
  // Done is an ordinary message too: with drop_newest, send it until one gets in.
  ergon::send(consumer, Done{});
  while (!ergon::receive_for<Done>(std::chrono::milliseconds(1))) ergon::send(consumer, Done{});
}

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 100'000;
  ergon::Runtime rt;
  rt.run([n] {
    for (ergon::MailboxPolicy p :
         {ergon::MailboxPolicy::kBlock, ergon::MailboxPolicy::kDropNewest}) {
      std::printf("%s, %ld messages:\n", ergon::to_string(p), n);
      flood(n, p);
    }
  });
  const ergon::Stats s = rt.stats();
  std::printf("Stats: mailbox_dropped %llu, sends_blocked %llu\n",
              static_cast<unsigned long long>(s.mailbox_dropped),
              static_cast<unsigned long long>(s.sends_blocked));
  return 0;
}
