// ProcessTable: every Process record of the program, addressed by a Pid's index.
//
// Design
// ------
// Records are allocated in chunks of kChunkSize and never freed ("type-stable", see
// process.hpp), so lookup(index) is two loads and never races with deallocation. The table is
// shared by every Runtime in the program, which makes a Pid meaningful to any thread and lets
// a stale Pid from an earlier runtime be told apart by its generation.
//
// Free records are kept in a global list under a mutex; workers take and return them in
// batches of kBatch through their own caches (worker.hpp), so the mutex is off the per-spawn
// path. A chunk is mapped with mmap on demand, lazily committed by the kernel.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "core/process.hpp"

namespace ergon::detail {

class ProcessTable {
 public:
  // Reasoned sizes, none tuned by a benchmark. A chunk of 4096 records is one 1.6 MiB mmap
  // (416-byte records, docs/benchmarks.md, "memory"); 2^14 chunks (a 128 KiB pointer array)
  // hold 67 M records, 4x the default Options::max_processes; kBatch: a worker takes the free
  // list's mutex once per 64 spawns (or exits).
  static constexpr std::uint32_t kChunkBits = 12;
  static constexpr std::uint32_t kChunkSize = 1u << kChunkBits;  // 4096 records
  static constexpr std::uint32_t kMaxChunks = 1u << 14;          // 67 M records
  static constexpr std::size_t kBatch = 64;

  // The one table of the program: a constant-initialised global, so reaching it is an
  // address, not a call and a guard (every send looks a record up).
  static ProcessTable& instance() noexcept;

  // The record at `index`, or nullptr if no chunk holds it. Any thread.
  Process* lookup(std::uint32_t index) const noexcept {
    std::uint32_t c = index >> kChunkBits;
    if (c >= kMaxChunks) return nullptr;
    // acquire: pairs with the release store in grow(): the chunk's records are constructed.
    Process* chunk = chunks_[c].load(std::memory_order_acquire);
    return chunk == nullptr ? nullptr : chunk + (index & (kChunkSize - 1));
  }

  // Moves up to `n` free records into `out` (at least one, or throws SpawnError).
  void take(std::vector<Process*>& out, std::size_t n);
  void give(Process* const* records, std::size_t n);

  // Calls f(Process*) for every record (for the shutdown sweep).
  template <class F>
  void for_each(F&& f) const {
    std::uint32_t chunks = chunk_count_.load(std::memory_order_acquire);
    for (std::uint32_t c = 0; c < chunks; ++c) {
      Process* chunk = chunks_[c].load(std::memory_order_acquire);
      if (chunk == nullptr) continue;
      for (std::uint32_t i = 0; i < kChunkSize; ++i) f(chunk + i);
    }
  }

 private:
  friend union TableStorage;
  constexpr ProcessTable() = default;
  void grow();  // requires mu_

  std::atomic<Process*> chunks_[kMaxChunks] = {};
  // release/acquire: publishes the chunks below it to for_each().
  std::atomic<std::uint32_t> chunk_count_{0};
  std::mutex mu_;
  std::vector<Process*> free_;  // guarded by mu_
};

// Storage for the table that is never destroyed (records are type-stable for good, and threads
// may send after main returns): a union whose destructor does nothing.
union TableStorage {
  constexpr TableStorage() : table() {}
  ~TableStorage() {}
  ProcessTable table;
};
extern constinit TableStorage g_process_table;

inline ProcessTable& ProcessTable::instance() noexcept { return g_process_table.table; }

}  // namespace ergon::detail
