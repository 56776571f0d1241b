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
  friend bool operator==(Pool a, Pool b) noexcept {
    return a.index_ == b.index_ && a.runtime_ == b.runtime_;
  }

  // The pool at position `i` of Options::pools of whichever runtime it is used with
  // (Runtime::pool and ergon::pool check the name instead, and give a handle of their runtime).
  static Pool from_index(unsigned i) noexcept { return Pool(i, 0); }
  // The handle of pool `i` of the runtime with id `runtime` (its handles refuse other runtimes).
  static Pool of_runtime(unsigned i, std::uint32_t runtime) noexcept { return Pool(i, runtime); }
  // The id of the runtime the handle comes from; 0 for from_index (any runtime).
  std::uint32_t runtime() const noexcept { return runtime_; }

 private:
  static constexpr unsigned kInherit = UINT32_MAX;
  Pool(unsigned i, std::uint32_t runtime) noexcept : index_(i), runtime_(runtime) {}
  unsigned index_ = kInherit;
  std::uint32_t runtime_ = 0;
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
