// StackPool: process stacks, mapped in slabs, guarded, committed lazily, and reused.
//
// Design
// ------
// A stack is `size` usable bytes with one guard page just below them (stacks grow down, so an
// overflow runs into the guard and faults; the fault handler in stack_guard.cpp turns that into a
// report naming the process and the size to raise). Stacks of one size are mapped 64 at a time
// in one anonymous MAP_NORESERVE slab: the kernel commits a page only when it is first touched,
// so a process that parks after using a few hundred bytes of stack costs one page.
//
// Guard pages use madvise(MADV_GUARD_INSTALL) (Linux 6.13+) where the kernel has it: guard
// markers live in the page tables and do not split the slab's memory map area, so a million
// stacks stay one area per slab. Older kernels get mprotect(PROT_NONE), which splits areas and
// runs into vm.max_map_count (65530 by default, about 32,000 stacks); the error then says so.
//
// Freed stacks are kept for reuse (first touches of fresh pages cost about 12 us on the VMs we
// run on, a reused stack costs nothing): each worker has a StackCache of default-size stacks,
// used without a lock, which spills to and refills from the shared pool in batches.
//
// Rejected: one mmap per stack (two map areas each with the guard, a syscall per spawn, and
// the kernel's mmap lock on every spawn); growing stacks by copying (Go's way): C++ frames hold
// raw pointers into the stack.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace ergon::detail {

struct Stack {
  char* lo = nullptr;    // lowest usable byte; the guard page is [lo - page, lo)
  std::size_t size = 0;  // usable bytes, a multiple of the page size
};

// A worker's private stash of default-size stacks. Owner worker only, except `net`.
struct StackCache {
  std::vector<char*> free;
  // Stacks handed out minus stacks returned through this cache. Written by the owner only;
  // read by stats() from any thread. relaxed: a statistic.
  std::atomic<std::int64_t> net{0};
};

class StackPool {
 public:
  explicit StackPool(std::size_t default_size);
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // Rounds a requested size up to whole pages (at least 2 pages).
  static std::size_t round_size(std::size_t size) noexcept;

  // A stack of `size` usable bytes (0: the default). `cache` may be null (a thread that is not
  // a worker). Throws SpawnError, naming the limit, when no stack can be mapped.
  Stack acquire(std::size_t size, StackCache* cache);
  void release(Stack s, StackCache* cache) noexcept;

  std::size_t default_size() const noexcept { return default_size_; }
  std::uint64_t mapped() const noexcept { return mapped_.load(std::memory_order_relaxed); }
  // Stacks handed out through the shared pool (not a cache) minus returned there.
  std::int64_t net_shared() const noexcept { return net_shared_.load(std::memory_order_relaxed); }

  // None of the three is tuned by a benchmark. kCacheMax: at most 64 x 64 KiB = 4 MiB of
  // address space (only touched pages resident) per worker. kBatch: half the cache, so a
  // worker near the limit does not take the pool's mutex on every spawn and exit. kSlabStacks:
  // one mmap per 64 fresh stacks, so 63 of them take no mmap lock.
  static constexpr std::size_t kCacheMax = 64;    // per worker, default size
  static constexpr std::size_t kBatch = 32;       // moved between a cache and the pool at once
  static constexpr std::size_t kSlabStacks = 64;  // stacks per mapping (small sizes)

 private:
  void map_slab(std::size_t size, std::vector<char*>& out);  // requires mu_

  const std::size_t default_size_;
  std::mutex mu_;
  std::unordered_map<std::size_t, std::vector<char*>> free_;  // guarded by mu_
  std::vector<std::pair<void*, std::size_t>> slabs_;          // guarded by mu_
  // relaxed: statistics.
  std::atomic<std::uint64_t> mapped_{0};
  std::atomic<std::int64_t> net_shared_{0};
};

}  // namespace ergon::detail
