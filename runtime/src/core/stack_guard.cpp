// StackGuard: see stack_guard.hpp.
#include "core/stack_guard.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/stack_pool.hpp"

namespace ergon::detail {
namespace {

// Neither is tuned by a benchmark. kAltStackSize: 8x glibc's classic SIGSTKSZ (8 KiB), room
// for the kernel's signal frame with AVX-512 state and the handler's 512-byte report buffer.
// kGuardReach: the guard zone below every stack (StackPool::kGuardZone, where its size comes
// from): every byte of it belongs to the stack above it, so a fault anywhere in it is that
// stack's overflow; below it lies another stack, whose faults are its own.
constexpr std::size_t kAltStackSize = 64 * 1024;
constexpr std::size_t kGuardReach = StackPool::kGuardZone;  // faults this far below count

struct Running {
  const char* lo = nullptr;
  std::size_t size = 0;
  std::uint64_t pid = 0;
};
thread_local Running tls_running;
thread_local void* tls_altstack = nullptr;

struct sigaction g_old_segv;
struct sigaction g_old_bus;
std::once_flag g_installed;

void put(char*& out, const char* s) {
  while (*s != 0) *out++ = *s++;
}
void put_u64(char*& out, std::uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) *out++ = tmp[--n];
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  const Running& r = tls_running;
  // Integers, not pointers: lo - kGuardReach may lie outside any object.
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  const auto lo = reinterpret_cast<std::uintptr_t>(r.lo);
  if (r.lo != nullptr && addr < lo && lo - addr <= kGuardReach) {
    // The suggestion holds the stack and the frame that faulted (it reached `lo - addr`
    // below the stack) twice over, and is at least 4x the stack.
    std::size_t want = r.size * 4;
    while (want < 2 * (r.size + (lo - addr))) want *= 2;
    char buf[512];
    char* o = buf;
    put(o, "ergon: process <0.");
    put_u64(o, r.pid & 0xffffffffu);
    put(o, ".");
    put_u64(o, r.pid >> 32);
    put(o, "> overflowed its stack of ");
    put_u64(o, r.size / 1024);
    put(o, " KiB (a frame reached ");
    put_u64(o, (lo - addr + 1023) / 1024);
    put(o,
        " KiB below it, into its guard zone). Give it a larger stack: SpawnOptions::stack_size "
        "for this spawn, or ergon::Options::stack_size / ERGON_STACK_SIZE for every process "
        "(for example ");
    put_u64(o, want / 1024);
    put(o, "K).\n");
    ssize_t ignored = ::write(2, buf, static_cast<std::size_t>(o - buf));
    (void)ignored;
    ::signal(SIGABRT, SIG_DFL);
    ::abort();
  }
  // Not ours: restore the previous handler and return; the fault repeats and reaches it.
  struct sigaction* old = sig == SIGSEGV ? &g_old_segv : &g_old_bus;
  if ((old->sa_flags & SA_SIGINFO) != 0 && old->sa_sigaction != nullptr) {
    old->sa_sigaction(sig, info, uctx);
    return;
  }
  ::sigaction(sig, old, nullptr);
}

void install_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = &on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGSEGV, &sa, &g_old_segv);
  ::sigaction(SIGBUS, &sa, &g_old_bus);
}

}  // namespace

void StackGuard::install_on_this_thread() noexcept {
  std::call_once(g_installed, install_handlers);
  void* mem =
      ::mmap(nullptr, kAltStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  stack_t ss;
  ss.ss_sp = mem;
  ss.ss_size = kAltStackSize;
  ss.ss_flags = 0;
  if (::sigaltstack(&ss, nullptr) != 0) {
    ::munmap(mem, kAltStackSize);
    return;
  }
  tls_altstack = mem;
}

void StackGuard::remove_from_this_thread() noexcept {
  if (tls_altstack == nullptr) return;
  stack_t ss;
  std::memset(&ss, 0, sizeof ss);
  ss.ss_flags = SS_DISABLE;
  ::sigaltstack(&ss, nullptr);
  ::munmap(tls_altstack, kAltStackSize);
  tls_altstack = nullptr;
}

void StackGuard::set_running(const char* stack_lo, std::size_t size, std::uint64_t pid) noexcept {
  tls_running = Running{stack_lo, size, pid};
}

void StackGuard::clear_running() noexcept { tls_running = Running{}; }

}  // namespace ergon::detail
