// StackPool: see stack_pool.hpp for the design.
#include "core/stack_pool.hpp"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "ergon/errors.hpp"
#include "ergon/options.hpp"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace ergon::detail {
namespace {

constexpr std::size_t kPage = 4096;

// 0: not probed yet, 1: MADV_GUARD_INSTALL works, 2: fall back to mprotect.
std::atomic<int> g_guard_mode{0};

// --- why a mapping failed ----------------------------------------------------------------
// Read on the error path only, so that the report blames the cause that fits what the process
// holds now: the map-area limit only when the process is near it, RLIMIT_AS only when this
// mapping would pass it, else the address space or memory in general.

// A whole number from a /proc file; -1 when it cannot be read.
long long read_number(const char* path) {
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  long long v = -1;
  if (std::fscanf(f, "%lld", &v) != 1) v = -1;
  std::fclose(f);
  return v;
}

// The memory map areas this process has: the lines of /proc/self/maps; -1 when unknown.
long long count_map_areas() {
  std::FILE* f = std::fopen("/proc/self/maps", "r");
  if (f == nullptr) return -1;
  long long lines = 0;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) lines += std::count(buf, buf + n, '\n');
  std::fclose(f);
  return lines;
}

// The address space this process maps (VmSize), in bytes; 0 when unknown.
std::uint64_t mapped_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  unsigned long long kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmSize: %llu", &kib) == 1) break;
  }
  std::fclose(f);
  return kib * 1024;
}

// "128 KiB", "24 MiB", "4.1 GiB": the largest unit of which there is at least one, with a
// decimal when the size is not a whole number of it.
std::string human(std::uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  std::uint64_t unit = 1;
  while (u < 4 && bytes >= unit * 1024) {
    unit *= 1024;
    ++u;
  }
  char buf[48];
  if (bytes % unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu %s", static_cast<unsigned long long>(bytes / unit),
                  units[u]);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", static_cast<double>(bytes) / unit, units[u]);
  }
  return buf;
}

// The fix that always applies: `verb` is "lower" or "Lower".
std::string lower_stacks(const char* verb) {
  return std::string(verb) +
         " the stack size (ergon::Options::stack_size / ERGON_STACK_SIZE, or "
         "SpawnOptions::stack_size)";
}

// Throws the SpawnError for a failed `call` on `len` bytes while mapping a stack of `size`.
// The message has the call, its errno, and the cause. StackPool callers prefix "ergon::spawn"
// and the spawner (Scheduler::spawn_begin).
[[noreturn]] void throw_map_error(const char* call, int err, std::size_t size, std::size_t len) {
  const char* name = ::strerrorname_np(err);
  std::string msg = "cannot map a stack of " + human(size) + " for a new process: " + call +
                    " of " + human(len) + " failed with " +
                    (name != nullptr ? name : "errno " + std::to_string(err)) + " (" +
                    std::strerror(err) + "). ";
  const long long areas = count_map_areas();
  const long long max_areas = read_number("/proc/sys/vm/max_map_count");
  // Near the limit: within what one slab can take (a mapping, and two areas per stack when
  // mprotect splits it for the guards).
  const long long slab_areas = 2 * static_cast<long long>(StackPool::kSlabStacks) + 1;
  struct rlimit as {};
  const bool as_limited = ::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY;
  const std::uint64_t mapped = mapped_bytes();
  if (areas >= 0 && max_areas > 0 && areas + slab_areas >= max_areas) {
    msg += "This process has " + std::to_string(areas) +
           " memory map areas, at the kernel's limit (vm.max_map_count = " +
           std::to_string(max_areas) +
           "). Raise it with `sysctl -w vm.max_map_count=4194304` (as root), or end some "
           "processes.";
  } else if (err == ENOMEM && as_limited && mapped + len > as.rlim_cur) {
    msg += "The process's address-space limit RLIMIT_AS (ulimit -v) of " + human(as.rlim_cur) +
           " is reached: it maps " + human(mapped) + " and this needs " + human(len) +
           " more. Raise the limit (ulimit -v, setrlimit), " + lower_stacks("lower") +
           ", or end some processes.";
  } else if (err == ENOMEM) {
    msg += "The address space or the kernel's memory is exhausted (the process maps " +
           human(mapped) + "; " + std::to_string(areas) + " of " + std::to_string(max_areas) +
           " memory map areas";
    if (as_limited) msg += "; RLIMIT_AS " + human(as.rlim_cur);
    if (read_number("/proc/sys/vm/overcommit_memory") == 2) {
      msg +=
          "; vm.overcommit_memory = 2 ignores MAP_NORESERVE and charges every stack's whole "
          "size against CommitLimit in /proc/meminfo";
    }
    msg += "). " + lower_stacks("Lower") + ", or end some processes.";
  } else {
    msg += "The kernel refused the call for a reason other than memory; " + lower_stacks("lower") +
           ", or end some processes, and report it if it persists.";
  }
  throw SpawnError(msg);
}

// Makes [guard, guard + StackPool::kGuardZone) fault on every access.
void install_guard(char* guard, std::size_t size) {
  constexpr std::size_t kZone = StackPool::kGuardZone;
  static_assert(kZone % kPage == 0, "the guard zone is whole pages");
  int mode = g_guard_mode.load(std::memory_order_relaxed);  // relaxed: idempotent probe
  if (mode != 2) {
    if (::madvise(guard, kZone, MADV_GUARD_INSTALL) == 0) {
      g_guard_mode.store(1, std::memory_order_relaxed);
      return;
    }
    if (errno != EINVAL) throw_map_error("madvise(MADV_GUARD_INSTALL)", errno, size, kZone);
    g_guard_mode.store(2, std::memory_order_relaxed);
  }
  if (::mprotect(guard, kZone, PROT_NONE) != 0) {
    throw_map_error("mprotect(PROT_NONE)", errno, size, kZone);
  }
}

}  // namespace

StackPool::StackPool(std::size_t default_size) : default_size_(round_size(default_size)) {}

StackPool::~StackPool() {
  for (auto& [addr, len] : slabs_) ::munmap(addr, len);
}

std::size_t StackPool::round_size(std::size_t size) noexcept {
  static_assert(kMinStackSize % kPage == 0 && kMaxStackSize % kPage == 0, "whole pages");
  assert(size <= kMaxStackSize);
  if (size <= kMinStackSize) return kMinStackSize;
  return (size + kPage - 1) & ~(kPage - 1);  // no wrap: size <= kMaxStackSize, far below it
}

std::uint64_t StackPool::resident_bytes() const {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> pages;
  std::uint64_t resident = 0;
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& [addr, len] : slabs_) {
    pages.resize((len + page - 1) / page);
    if (::mincore(addr, len, pages.data()) != 0) continue;  // cannot fail on our own mapping
    for (unsigned char v : pages) resident += (v & 1u);
  }
  return resident * page;
}

void StackPool::map_slab(std::size_t size, std::vector<char*>& out) {
  const std::size_t slot = kGuardZone + size;
  // Above 256 KiB of stack a slab of 64 would reserve 32 MiB or more (with the zones) for one
  // size: a mapping each. A reasoned bound, not tuned by a benchmark.
  const std::size_t count = size <= 256 * 1024 ? kSlabStacks : 1;
  const std::size_t len = slot * count;
  void* mem = ::mmap(nullptr, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) throw_map_error("mmap", errno, size, len);
  // No transparent huge pages: with THP set to "always" one touched byte of a stack could make
  // the kernel back 2 MiB of the slab (many neighbouring stacks' untouched pages) with one huge
  // page, and the lazy commit above would be gone. Advisory: a kernel without THP refuses it
  // (EINVAL), which changes nothing.
  (void)::madvise(mem, len, MADV_NOHUGEPAGE);
  char* base = static_cast<char*>(mem);
  try {
    for (std::size_t i = 0; i < count; ++i) install_guard(base + i * slot, size);
  } catch (...) {
    ::munmap(mem, len);
    throw;
  }
  slabs_.emplace_back(mem, len);
  mapped_.fetch_add(count, std::memory_order_relaxed);  // relaxed: statistic
  // Hand out low addresses first: the order does not matter, but it keeps tests predictable.
  for (std::size_t i = count; i-- > 0;) out.push_back(base + i * slot + kGuardZone);
}

Stack StackPool::acquire(std::size_t size, StackCache* cache) {
  size = size == 0 ? default_size_ : round_size(size);
  if (cache != nullptr && size == default_size_) {
    if (cache->free.empty()) {
      std::lock_guard<std::mutex> g(mu_);
      auto& list = free_[size];
      if (list.empty()) map_slab(size, list);
      std::size_t n = std::min(kBatch, list.size());
      cache->free.insert(cache->free.end(), list.end() - static_cast<std::ptrdiff_t>(n),
                         list.end());
      list.resize(list.size() - n);
    }
    char* lo = cache->free.back();
    cache->free.pop_back();
    // relaxed: single writer, statistic.
    cache->net.store(cache->net.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return Stack{lo, size};
  }
  std::lock_guard<std::mutex> g(mu_);
  auto& list = free_[size];
  if (list.empty()) map_slab(size, list);
  char* lo = list.back();
  list.pop_back();
  net_shared_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  return Stack{lo, size};
}

void StackPool::release(Stack s, StackCache* cache) noexcept {
  if (s.lo == nullptr) return;
  if (cache != nullptr && s.size == default_size_) {
    cache->net.store(cache->net.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    cache->free.push_back(s.lo);
    if (cache->free.size() > kCacheMax) {
      std::lock_guard<std::mutex> g(mu_);
      auto& list = free_[s.size];
      list.insert(list.end(), cache->free.end() - static_cast<std::ptrdiff_t>(kBatch),
                  cache->free.end());
      cache->free.resize(cache->free.size() - kBatch);
    }
    return;
  }
  std::lock_guard<std::mutex> g(mu_);
  free_[s.size].push_back(s.lo);
  net_shared_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: statistic
}

}  // namespace ergon::detail
