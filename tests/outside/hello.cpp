// A program outside the project, built by `scons check` against an installed copy of ergon
// (scons install into build/install-check, then g++ with pkg-config, shared and --static, and
// CMake's ergon::ergon and ergon::ergon_static: tests/outside/CMakeLists.txt). It must compile
// with only the installed headers and libraries and print "outside: ok 10". It calls the
// inline ergon::checkpoint(), whose thread-local must resolve against the installed library.
#include <cstdio>
#include <ergon/ergon.hpp>

int main() {
  ergon::Runtime rt;
  int sum = 0;
  rt.run([&sum] {
    ergon::Pid me = ergon::self();
    for (int i = 1; i <= 4; ++i) {
      ergon::spawn([me, i] {
        for (int k = 0; k < 10000; ++k) ergon::checkpoint();
        ergon::send(me, ergon::blocking([i] { return i; }));
      });
    }
    for (int i = 0; i < 4; ++i) sum += ergon::receive<int>();
  });
  std::printf("outside: %s %d\n", sum == 10 ? "ok" : "wrong", sum);
  return sum == 10 ? 0 : 1;
}
