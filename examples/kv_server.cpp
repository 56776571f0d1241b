// The tutorial's last step (docs/tutorial.md): a key-value server run by a supervisor, called
// by clients with timeouts. One request crashes the server: its caller gets CallError at once,
// the supervisor restarts it under the same name, and the clients go on. One request is too
// slow for its timeout: CallTimeout, and its late reply never reaches the caller.
//
//   build/release/examples/kv_server
#include <chrono>
#include <cstdio>
#include <ergon/ergon.hpp>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

// --- the protocol: each request names its reply type --------------------------------------
struct Get {
  using Reply = std::optional<std::string>;
  std::string key;
};
struct Put {
  using Reply = bool;  // true: the key is new
  std::string key, value;
};
struct Slow {  // a request that takes 50 ms
  using Reply = int;
};
struct Crash {  // a request that throws
  using Reply = int;
};
struct Clear {};  // a cast

// --- the server ------------------------------------------------------------------------------
class Kv {
 public:
  using Calls = ergon::Handles<Get, Put, Slow, Crash>;
  using Casts = ergon::Handles<Clear>;

  Kv() { std::printf("kv: started as %s\n", ergon::self().to_string().c_str()); }
  std::optional<std::string> handle_call(const Get& g) {
    auto it = data_.find(g.key);
    return it == data_.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  bool handle_call(const Put& p) { return data_.insert_or_assign(p.key, p.value).second; }
  int handle_call(const Slow&) {
    ergon::sleep_for(50ms);
    return 1;
  }
  int handle_call(const Crash&) { throw std::runtime_error("disk on fire"); }
  void handle_cast(const Clear&) { data_.clear(); }
  void terminate(const ergon::ExitReason& why) {
    std::printf("kv: terminate (%s)\n", why.to_string().c_str());
  }

 private:
  std::map<std::string, std::string> data_;
};

int main() {
  ergon::Options opts;
  opts.on_crash = [](ergon::Pid, const std::string&) {};  // the crash is part of the demo
  ergon::Runtime rt(opts);
  rt.run([] {
    ergon::SupervisorSpec spec;
    spec.intensity = 3;
    spec.children = {{.id = "kv", .start = ergon::serve<Kv>(ergon::ServerOptions{.name = "kv"})}};
    spec.on_event = [](const ergon::SupervisorEvent& e) {
      std::printf("supervisor: %s\n", ergon::to_string(e).c_str());
    };
    const ergon::Pid sup = ergon::start_supervisor(spec);
    while (!ergon::whereis("kv")) ergon::sleep_for(1ms);  // the child registers as it starts

    std::printf("put a: %s\n", ergon::call("kv", Put{"a", "1"}, 100ms) ? "new" : "replaced");
    std::printf("get a: %s\n", ergon::call("kv", Get{"a"}, 100ms).value_or("(none)").c_str());

    try {
      (void)ergon::call("kv", Slow{}, 10ms);
    } catch (const ergon::CallTimeout& e) {
      std::printf("slow: %s\n", e.what());
    }
    try {
      (void)ergon::call("kv", Crash{}, 1s);
    } catch (const ergon::CallError& e) {
      std::printf("crash: %s\n", e.what());
    }
    while (!ergon::whereis("kv")) ergon::sleep_for(1ms);  // restarted, with a fresh state
    std::printf("get a after the restart: %s\n",
                ergon::call("kv", Get{"a"}, 100ms).value_or("(none)").c_str());
    ergon::supervisor::stop(sup);
  });
}
