// top: a live table of what a runtime's processes do, and a trace of a moment of it.
//
// The program starts:
//   - "busy-N": processes that compute in slices (reduce) and never wait: they lead the
//     "heaviest by reductions" list;
//   - "sink": a process that receives only Flush messages, so the numbers a "producer" sends
//     it pile up in its mailbox: it leads the "heaviest by mailbox length" list;
//   - "viewer": a process that runs ergon::top, refreshing the table every interval (it
//     sleeps with ergon::sleep_for in between, so it holds no worker).
// Halfway through it records a scheduling trace for 50 ms and writes it to top-trace.json
// (open it in https://ui.perfetto.dev). At the end it prints process_info of the sink.
//
//   usage: top [refreshes] [interval ms]     (default 5 tables, 400 ms apart)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ergon/ergon.hpp>
#include <string>

namespace {

struct Flush {};
struct Stop {};

void busy(int n) {
  ergon::register_name("busy-" + std::to_string(n), ergon::self());
  volatile double x = 0;
  for (;;) {
    for (int i = 0; i < 200; ++i) x = x + i * 0.5;
    ergon::reduce(10 * static_cast<std::uint32_t>(n));  // a higher n is charged more
  }
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned refreshes = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 5;
  const int interval_ms = argc > 2 ? std::atoi(argv[2]) : 400;
  ergon::Options opts;
  opts.workers = 2;
  ergon::Runtime rt(opts);
  rt.run([refreshes, interval_ms] {
    ergon::register_name("main", ergon::self());
    for (int n = 1; n <= 3; ++n) ergon::spawn([n] { busy(n); });
    const ergon::Pid sink = ergon::spawn([] {
      ergon::register_name("sink", ergon::self());
      for (;;) (void)ergon::receive<Flush>();  // the ints stay in the mailbox
    });
    ergon::spawn([sink] {
      ergon::register_name("producer", ergon::self());
      for (int i = 0;; ++i) {
        ergon::send(sink, i);
        ergon::sleep_for(std::chrono::microseconds(200));
      }
    });
    const ergon::Pid me = ergon::self();
    ergon::spawn([me, refreshes, interval_ms] {
      ergon::register_name("viewer", ergon::self());
      ergon::TopOptions o;
      o.rows = 5;
      o.refreshes = refreshes;
      o.interval = std::chrono::milliseconds(interval_ms);
      ergon::top(o);
      ergon::send(me, Stop{});
    });

    // A trace of 50 ms in the middle of the run.
    ergon::sleep_for(std::chrono::milliseconds(interval_ms * refreshes / 2));
    ergon::trace::start();
    ergon::sleep_for(std::chrono::milliseconds(50));
    ergon::trace::stop();
    ergon::trace::write("top-trace.json");
    const ergon::trace::Summary t = ergon::trace::summary();
    std::printf("\n[trace: %llu events (%llu dropped) in top-trace.json]\n",
                static_cast<unsigned long long>(t.events),
                static_cast<unsigned long long>(t.dropped));

    (void)ergon::receive<Stop>();  // the viewer is done
    if (auto info = ergon::process_info(sink)) {
      std::printf("\nsink %s: %s in %s, %zu messages, %llu reductions, %zu of %zu stack bytes\n\n",
                  info->pid.to_string().c_str(), ergon::to_string(info->status),
                  info->waiting_in != nullptr ? info->waiting_in : "-", info->message_queue_len,
                  static_cast<unsigned long long>(info->reductions), info->stack_used,
                  info->stack_size);
    }
  });  // run() ends every process still alive
}
