// A program outside the project that uses ergon's distribution library, built by `scons
// check` against the installed copy (with pkg-config's ergon-dist and CMake's ergon::dist and
// ergon::dist_static). It encodes a record as an Erlang term and decodes it back, which runs
// erl_interface's encoder and decoder (libei.a) under libergon_dist.a without a network or an
// Erlang node, and prints "outside dist: ok {point,1,2}".
#include <cstdint>
#include <cstdio>
#include <ergon/term.hpp>

struct Point {
  std::int32_t x, y;
};
template <>
struct ergon::Codec<Point> : ergon::Record<"point", &Point::x, &Point::y> {};

int main() {
  ergon::Term t = ergon::Term::of(Point{1, 2});
  std::optional<Point> p = t.as<Point>();
  bool ok = p && p->x == 1 && p->y == 2 && t.to_string() == "{point,1,2}";
  std::printf("outside dist: %s %s\n", ok ? "ok" : "wrong", t.to_string().c_str());
  return ok ? 0 : 1;
}
