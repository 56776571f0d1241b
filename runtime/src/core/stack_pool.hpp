// StackPool: process stacks, mapped in slabs, guarded, committed lazily, and reused.
//
// Design
// ------
// A stack is `size` usable bytes with a guard zone of kGuardZone (256 KiB) just below them.
// Stacks grow down, so an overflow runs into the zone and faults; the fault handler in
// stack_guard.cpp turns a fault anywhere in the zone into a report naming the process and the
// size to raise. Stacks of one size are mapped 64 at a time in one anonymous MAP_NORESERVE
// slab, each slot a zone and its stack: the kernel commits a page only when it is first
// touched, so a process that parks after using a few hundred bytes of stack costs one page.
//
// Why a zone and not a page (stack clash): a frame larger than the guard moves the stack
// pointer past it in one step, and its first store lands in the stack below, another
// process's, silently. Code built with -fstack-clash-protection probes a large frame page by
// page from the top, so it always touches the guard first; ergon is built so, and ergon.pc
// passes the flag to its users, but a consumer's code may not be (Debian's gcc has it off). The
// zone therefore holds the largest frame that unprobed code can be expected to make, whatever
// the flags: 256 KiB is 4x glibc's own cap on a stack allocation (__MAX_ALLOCA_CUTOFF, 64 KiB;
// larger buffers go to malloc), 3x the frame HotSpot assumes native code makes without probing
// (StackShadowPages, 20 pages), and 4x the whole default stack, so a frame that jumps it could
// not have fitted in any default stack anyway. A larger frame still jumps the zone; only
// -fstack-clash-protection closes that.
//
// What a zone costs: address space (256 KiB per stack: a million stacks take about 300 GiB of
// the 128 TiB a process has), and page tables, because the touched pages of neighbouring
// stacks are farther apart: measured (VmPTE in /proc/self/status after mapping 16,384 slots,
// installing their zones and touching the top two pages of each stack), 641 bytes of page
// tables per stack with the zone against 136 with one guard page (one 4 KiB table per 2 MiB of
// address space that has a touched page; the guard markers themselves add nothing), +11% on
// the 4,504 resident bytes of a blocked process (`ergon-bench memory`, docs/benchmarks.md). It
// costs no memory map areas with MADV_GUARD_INSTALL, and two per stack with the mprotect
// fallback, the same as a single guard page.
//
// Guard zones use madvise(MADV_GUARD_INSTALL) (Linux 6.13+) where the kernel has it: guard
// markers live in the page tables and do not split the slab's memory map area, so a million
// stacks stay one area per slab. Older kernels get mprotect(PROT_NONE), which splits areas and
// runs into vm.max_map_count (65530 by default, about 32,000 stacks). When a mapping fails,
// the SpawnError gives the call and its errno, and blames the cause that fits what the process
// holds then (read on the error path only): the map-area limit only when /proc/self/maps is
// within a slab's worth of it, RLIMIT_AS only when the mapping would pass it, otherwise
// exhausted address space or memory.
//
// Freed stacks are kept for reuse (first touches of fresh pages cost about 12 us on the VMs we
// run on, a reused stack costs nothing): each worker has a StackCache of default-size stacks,
// used without a lock, which spills to and refills from the shared pool in batches.
//
// Rejected: one mmap per stack (two map areas each with the guard, a syscall per spawn, and
// the kernel's mmap lock on every spawn); growing stacks by copying (Go's way): C++ frames hold
// raw pointers into the stack; a 1 MiB zone (the kernel's stack_guard_gap below a main
// thread's stack, against the same attack): 2,180 bytes of page tables per parked stack
// (measured as above), +45% on the 4,504 resident bytes of a blocked process, for frames 16x
// the default stack; a single guard page: stack clash, above.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace ergon::detail {

struct Stack {
  char* lo = nullptr;    // lowest usable byte; the guard zone is [lo - kGuardZone, lo)
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

  // Rounds a requested size up to whole pages and to at least kMinStackSize. Requires
  // size <= kMaxStackSize (the caller checks it: Scheduler::spawn_begin, validated()), which
  // keeps the rounding from wrapping around.
  static std::size_t round_size(std::size_t size) noexcept;

  // A stack of `size` usable bytes (0: the default; at most kMaxStackSize). `cache` may be
  // null (a thread that is not a worker). Throws SpawnError, naming the cause, when no stack
  // can be mapped.
  Stack acquire(std::size_t size, StackCache* cache);
  void release(Stack s, StackCache* cache) noexcept;

  std::size_t default_size() const noexcept { return default_size_; }
  std::uint64_t mapped() const noexcept { return mapped_.load(std::memory_order_relaxed); }
  // Stacks handed out through the shared pool (not a cache) minus returned there.
  std::int64_t net_shared() const noexcept { return net_shared_.load(std::memory_order_relaxed); }
  // Resident bytes of every slab (mincore), guard zones included (they never are). Any
  // thread; takes mu_, so a spawn that maps a slab waits for it. For stats(), not hot paths.
  std::uint64_t resident_bytes() const;

  // Bytes of guard below every stack, a multiple of the page size: the largest frame that
  // code built without -fstack-clash-protection may make and still be caught (the design
  // comment above says where 256 KiB comes from and what it costs). stack_guard.cpp reports a
  // fault anywhere in it as an overflow.
  static constexpr std::size_t kGuardZone = 256 * 1024;

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
  mutable std::mutex mu_;
  std::unordered_map<std::size_t, std::vector<char*>> free_;  // guarded by mu_
  std::vector<std::pair<void*, std::size_t>> slabs_;          // guarded by mu_
  // relaxed: statistics.
  std::atomic<std::uint64_t> mapped_{0};
  std::atomic<std::int64_t> net_shared_{0};
};

}  // namespace ergon::detail
