// An ergon node that an Erlang shell calls: a key-value ergon::Server registered as `kv`,
// answering gen_server:call({kv, 'kv@127.0.0.1'}, Request) for {put, Key, Value}, {get, Key}
// and keys. Build: scons; then, in two terminals (any cookie, the same on both):
//
//   ERGON_COOKIE=secret build/release/examples/erlang_node kv@127.0.0.1
//   erl -name shell@127.0.0.1 -setcookie secret -hidden
//     1> gen_server:call({kv, 'kv@127.0.0.1'}, {put, colour, <<"blue">>}).
//     ok
//     2> gen_server:call({kv, 'kv@127.0.0.1'}, {get, colour}).
//     <<"blue">>
//     3> gen_server:call({kv, 'kv@127.0.0.1'}, keys).
//     [colour]
//
// The node runs until it is killed (Ctrl-C). epmd must run (erl starts one; or `epmd -daemon`).
#include <cstdio>
#include <map>
#include <string>

#include "ergon/dist.hpp"
#include "ergon/ergon.hpp"

namespace {

class Kv {
 public:
  using Calls = ergon::Handles<ergon::Term>;  // Erlang's calls arrive as raw terms

  ergon::Term handle_call(const ergon::Term& req) {
    using ergon::Atom;
    using ergon::Term;
    if (auto put = req.as<std::tuple<Atom, Term, Term>>(); put && std::get<0>(*put).name == "put") {
      map_[std::get<1>(*put)] = std::get<2>(*put);
      return Term::of(Atom("ok"));
    }
    if (auto get = req.as<std::tuple<Atom, Term>>(); get && std::get<0>(*get).name == "get") {
      auto it = map_.find(std::get<1>(*get));
      return it == map_.end() ? Term::of(Atom("undefined")) : it->second;
    }
    if (req.is_atom("keys")) {
      std::vector<Term> keys;
      for (const auto& [k, v] : map_) keys.push_back(k);
      return Term::of(keys);
    }
    return Term::of(std::make_tuple(Atom("error"), Atom("bad_request"), req));
  }

 private:
  std::map<ergon::Term, ergon::Term> map_;  // keys by their encoding
};

}  // namespace

int main(int argc, char** argv) {
  ergon::dist::NodeOptions opts;
  opts.name = argc > 1 ? argv[1] : "kv@127.0.0.1";
  opts = ergon::dist::NodeOptions::from_env(opts);  // ERGON_COOKIE, ERGON_NODE, ERL_EPMD_PORT
  ergon::Runtime rt;
  rt.run([&] {
    const std::string name = ergon::dist::start(opts);
    ergon::start_server<Kv>(ergon::ServerOptions{.name = "kv"});
    std::printf("node %s serves {kv, '%s'}; Ctrl-C ends it\n", name.c_str(), name.c_str());
    std::fflush(stdout);
    ergon::receive<int>();  // forever
  });
}
