// The tutorial's second step (docs/tutorial.md, "A request with a timeout"): a process answers
// Get requests by hand (ergon::Call<Get> in, ergon::reply out), and the main process calls it
// with ergon::call and a timeout, meeting the three outcomes: a reply, CallTimeout (the reply
// comes too late, and is dropped) and CallError (nobody holds the name: noproc). It prints
// one line per call and exits with status 0; `scons check` runs it and reads those lines.
// docs/tutorial.md quotes this file (tests/docs/check_snippets.py checks that it does so
// verbatim). The server is written by hand, rather than with ergon::Server, so that this step
// shows only the call; the next step (examples/kv_server.cpp) brings in the server.
//
//   build/release/examples/tutorial_call
#include <chrono>
#include <cstdio>
#include <ergon/ergon.hpp>
#include <map>
#include <optional>
#include <string>

using namespace std::chrono_literals;

struct Get {
  using Reply = std::optional<std::string>;  // what ergon::call returns for a Get
  std::string key;
};

// A server by hand: each request comes as ergon::Call<Get>, and ergon::reply answers it.
void kv_by_hand() {
  std::map<std::string, std::string> data{{"a", "1"}};
  for (;;) {
    ergon::receive([&](ergon::Call<Get>& c) {
      if (c.request.key == "slow") ergon::sleep_for(50ms);  // too slow for a 10 ms timeout
      auto it = data.find(c.request.key);
      ergon::reply(c.from, it == data.end() ? std::nullopt : std::optional(it->second));
    });
  }
}

int main() {
  ergon::Runtime rt;
  rt.run([] {  // when this returns, the runtime ends kv_by_hand too
    ergon::register_name("kv", ergon::spawn(kv_by_hand));

    auto v = ergon::call("kv", Get{"a"}, 100ms);  // a pid or a registered name
    std::printf("get a: %s\n", v.value_or("(none)").c_str());
    try {
      (void)ergon::call("kv", Get{"slow"}, 10ms);
    } catch (const ergon::CallTimeout& e) {
      std::printf("slow: %s\n", e.what());
    }
    try {
      (void)ergon::call("nobody", Get{"a"}, 100ms);
    } catch (const ergon::CallError& e) {
      std::printf("nobody: %s\n", e.what());
    }
  });
}
