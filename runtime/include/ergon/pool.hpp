// Pool: a handle to one named pool of workers (Options::pools).
//
//   ergon::Options o;
//   o.pools = {{"cheap", 3}, {"expensive", 1}};
//   ergon::Runtime rt(o);
//   rt.run([] {
//     ergon::spawn(slow_job, {.pool = ergon::pool("expensive")});  // runs on that worker only
//   });
//
// A process runs on the workers of its pool only, until it moves (ergon::move_to); its
// children are born in its pool unless SpawnOptions::pool says otherwise. Messages cross
// pools freely. A default-constructed Pool means "the spawner's pool".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ergon {

class Runtime;

class Pool {
 public:
  Pool() = default;
  // The pool's position in Options::pools (0 for the default pool).
  unsigned index() const noexcept { return index_; }
  // False for a default-constructed Pool ("the spawner's pool").
  bool valid() const noexcept { return index_ != kInherit; }
  friend bool operator==(Pool a, Pool b) noexcept { return a.index_ == b.index_; }

  // The pool at position `i` of Options::pools (Runtime::pool checks the name instead).
  static Pool from_index(unsigned i) noexcept { return Pool(i); }

 private:
  static constexpr unsigned kInherit = UINT32_MAX;
  explicit Pool(unsigned i) noexcept : index_(i) {}
  unsigned index_ = kInherit;
};

// The pool named `name` of the calling process's runtime. Throws Error naming the pools
// there are when no pool has that name, NotInProcess outside a process (use Runtime::pool).
Pool pool(std::string_view name);
// The pool the calling process runs in. Throws NotInProcess outside a process.
Pool current_pool();
// The name of `p` in the calling process's runtime.
std::string pool_name(Pool p);
// Moves the calling process to pool `p`: it suspends here and resumes on one of p's workers,
// and its children are born there from then on. Throws NotInProcess outside a process, Error
// for a pool of another runtime.
void move_to(Pool p);

}  // namespace ergon
