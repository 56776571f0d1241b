// StackPool: see stack_pool.hpp for the design.
#include "core/stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <fstream>
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

std::string read_max_map_count() {
  std::ifstream f("/proc/sys/vm/max_map_count");
  std::string v;
  if (f >> v) return v;
  return "unknown";
}

[[noreturn]] void throw_map_error(const char* what, int err, std::size_t size) {
  throw SpawnError(
      std::string("ergon::spawn: cannot get a stack of ") + std::to_string(size / 1024) +
      " KiB for a new process (" + what + ": " + std::strerror(err) +
      "). The kernel's limit on memory map areas (vm.max_map_count = " + read_max_map_count() +
      ") or its memory is used up. Raise the limit with `sysctl -w vm.max_map_count=4194304` "
      "(as root), lower the stack size (ergon::Options::stack_size, ERGON_STACK_SIZE or "
      "SpawnOptions::stack_size), or end some processes.");
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
    if (errno != EINVAL) throw_map_error("madvise(MADV_GUARD_INSTALL)", errno, size);
    g_guard_mode.store(2, std::memory_order_relaxed);
  }
  if (::mprotect(guard, kZone, PROT_NONE) != 0) throw_map_error("mprotect", errno, size);
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

void StackPool::map_slab(std::size_t size, std::vector<char*>& out) {
  const std::size_t slot = kGuardZone + size;
  // Above 256 KiB of stack a slab of 64 would reserve 32 MiB or more (with the zones) for one
  // size: a mapping each. A reasoned bound, not tuned by a benchmark.
  const std::size_t count = size <= 256 * 1024 ? kSlabStacks : 1;
  const std::size_t len = slot * count;
  void* mem = ::mmap(nullptr, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) throw_map_error("mmap", errno, size);
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
