// ProcessTable: see process_table.hpp.
#include "core/process_table.hpp"

#include <sys/mman.h>

#include <new>
#include <string>

#include "ergon/errors.hpp"

namespace ergon::detail {

constinit TableStorage g_process_table;

void ProcessTable::grow() {
  std::uint32_t c = chunk_count_.load(std::memory_order_relaxed);  // relaxed: under mu_
  if (c >= kMaxChunks) {
    throw SpawnError("ergon::spawn: the process table is full (" +
                     std::to_string(std::uint64_t{kMaxChunks} * kChunkSize) +
                     " records); end some processes");
  }
  std::size_t bytes = sizeof(Process) * kChunkSize;
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw SpawnError("ergon::spawn: out of memory for process records");
  auto* chunk = static_cast<Process*>(mem);
  for (std::uint32_t i = 0; i < kChunkSize; ++i) {
    Process* p = ::new (chunk + i) Process;
    p->index = (c << kChunkBits) | i;
  }
  // Record 0 is never handed out, so no valid Pid has index 0 and generation 0 together.
  for (std::uint32_t i = kChunkSize; i-- > 0;) {
    if (c == 0 && i == 0) continue;
    free_.push_back(chunk + i);
  }
  // release: publishes the constructed records to lookup() and for_each().
  chunks_[c].store(chunk, std::memory_order_release);
  chunk_count_.store(c + 1, std::memory_order_release);
}

void ProcessTable::take(std::vector<Process*>& out, std::size_t n) {
  std::lock_guard<std::mutex> g(mu_);
  if (free_.empty()) grow();
  n = std::min(n, free_.size());
  out.insert(out.end(), free_.end() - static_cast<std::ptrdiff_t>(n), free_.end());
  free_.resize(free_.size() - n);
}

void ProcessTable::give(Process* const* records, std::size_t n) {
  std::lock_guard<std::mutex> g(mu_);
  free_.insert(free_.end(), records, records + n);
}

}  // namespace ergon::detail
