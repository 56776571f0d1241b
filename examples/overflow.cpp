// overflow: a supervised parser that one input drives too deep, ended alone and restarted.
//
// A "parser" process, the one child of a supervisor, measures how deeply parentheses nest, by
// recursive descent: one stack frame per level. main sends it three inputs; the second nests
// 100,000 deep, far past what the parser's 64 KiB stack holds. With
// Options::on_stack_overflow = kEndProcess (set below) only the parser ends, with reason
// stack_overflow: main's monitor sees it, the supervisor restarts the parser, and the third
// input is served. The runtime prints the overflow report (Options::on_crash's default).
//
// What ending a process this way cannot do (docs/api.md, "Stack overflow"): its stack is not
// unwound, so what its frames own leaks. Here that is the message being parsed (its string).
// The default, kAbort, would end the whole program at the second input instead:
//
//   ERGON_STACK_OVERFLOW=abort build/release/examples/overflow
//
//   usage: overflow
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ergon/ergon.hpp>
#include <string>
#include <utility>
#include <vector>

namespace {

struct Parse {
  ergon::Pid from;
  std::string text;
};
struct Parsed {
  int depth;
};

// expr := '(' expr* ')'. Returns how deeply `s` nests from here, one frame per level.
int nesting(const char*& s) {
  ++s;  // '('
  int deepest = 0;
  while (*s == '(') deepest = std::max(deepest, nesting(s));
  if (*s == ')') ++s;
  return deepest + 1;
}

void parser() {
  ergon::register_name("parser", ergon::self());
  for (;;) {
    ergon::receive([](const Parse& p) {
      const char* s = p.text.c_str();
      ergon::send(p.from, Parsed{*s == '(' ? nesting(s) : 0});
    });
  }
}

// The parser now: it registers itself when it starts, so wait for a (re)start to get there.
ergon::Pid current_parser() {
  for (;;) {
    if (ergon::Pid p = ergon::whereis("parser")) return p;
    ergon::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

int main() {
  ergon::Options opts;
  opts.on_stack_overflow = ergon::OnStackOverflow::kEndProcess;  // ERGON_STACK_OVERFLOW overrides
  ergon::Runtime rt(opts);
  rt.run([] {
    ergon::SupervisorSpec spec;
    ergon::ChildSpec child;
    child.id = "parser";
    child.start = parser;
    spec.children.push_back(std::move(child));
    spec.on_event = [](const ergon::SupervisorEvent& e) {
      if (e.kind == ergon::SupervisorEvent::Kind::kRestarted) {
        std::printf("supervisor: restarted %s as %s\n", e.child.c_str(), e.pid.to_string().c_str());
      }
    };
    const ergon::Pid sup = ergon::start_supervisor(spec);
    const std::vector<std::string> inputs = {"(()(()))", std::string(100000, '('), "((()))()"};
    for (const std::string& text : inputs) {
      const ergon::Pid p = current_parser();
      const ergon::Ref ref = ergon::monitor(p);
      ergon::send(p, Parse{ergon::self(), text});
      ergon::receive(
          [&](const Parsed& r) {
            std::printf("%zu characters: nesting %d\n", text.size(), r.depth);
            (void)ergon::demonitor(ref, true);
          },
          ergon::on<ergon::Down>([&](const ergon::Down& d) { return d.ref == ref; },
                                 [&](const ergon::Down& d) {
                                   std::printf("%zu characters: the parser %s ended: %s\n",
                                               text.size(), d.pid.to_string().c_str(),
                                               d.reason.to_string().c_str());
                                 }));
    }
    ergon::supervisor::stop(sup);
  });
  return 0;
}
