// StackGuard: see stack_guard.hpp.
#include "core/stack_guard.hpp"

#include <elf.h>
#include <link.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/carrier.hpp"
#include "core/process.hpp"
#include "core/scheduler.hpp"
#include "core/stack_pool.hpp"
#include "core/worker.hpp"
#include "util/held_locks.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ERGON_GUARD_SANITIZED 1
#endif

namespace ergon::detail {
namespace {

// Neither is tuned by a benchmark. kAltStackSize: 8x glibc's classic SIGSTKSZ (8 KiB), room
// for the kernel's signal frame with AVX-512 state and the handler's 512-byte report buffer.
// kGuardReach: the guard zone below every stack (StackPool::kGuardZone, where its size comes
// from): every byte of it belongs to the stack above it, so a fault anywhere in it is that
// stack's overflow; below it lies another stack, whose faults are its own.
constexpr std::size_t kAltStackSize = 64 * 1024;
constexpr std::size_t kGuardReach = StackPool::kGuardZone;  // faults this far below count

// The stack of the process running on this thread: read in the handler from the carrier's
// current process (Carrier::current, set at every switch), which the switch keeps anyway.
// Rejected: a thread_local copy of the bounds written at every switch (16 instructions per
// pingpong round trip for a value the carrier already holds; docs/benchmarks.md, issue 15).
struct Running {
  const char* lo = nullptr;
  std::size_t size = 0;
  std::uint64_t pid = 0;
};
Running running_on_this_thread() noexcept {
  Carrier* c = current_carrier();
  const Process* p = c != nullptr ? c->current() : nullptr;
  if (p == nullptr) return {};
  return {p->stack.lo, p->stack.size, p->pid().raw()};
}
thread_local void* tls_altstack = nullptr;
// SO2's measurements, for the process it ends on this thread (read by last_overflow).
thread_local StackGuard::Overflow tls_overflow;

struct sigaction g_old_segv;
struct sigaction g_old_bus;
std::once_flag g_installed;

// The code of the shared libraries whose calls may hold a lock or keep state across calls (the
// C library with its malloc and stdio, the C++ runtime with its static-initialisation guards,
// the unwinder, the allocator, the dynamic loader): a fault whose instruction lies in one is
// refused (SO1). Collected once, by install_handlers, before any carrier runs a process: every
// thread that runs processes passes through the same call_once first, which orders these
// writes before its handler's reads. A library statically linked into the program is not
// found (its code cannot be told from the program's own).
struct CodeRange {
  std::uintptr_t lo = 0, hi = 0;
  char name[40] = {};
};
constexpr int kMaxCodeRanges = 32;  // a few executable segments per library: room to spare
CodeRange g_stateful[kMaxCodeRanges];
int g_stateful_count = 0;

bool stateful_library(const char* base) noexcept {
  static constexpr const char* kPrefixes[] = {
      "libc.so",     "libc-",         "libstdc++.so", "libgcc_s.so", "libjemalloc.so",
      "libtcmalloc", "libpthread.so", "ld-linux",     "ld64.so",
  };
  for (const char* prefix : kPrefixes) {
    if (std::strncmp(base, prefix, std::strlen(prefix)) == 0) return true;
  }
  return false;
}

int collect_stateful(dl_phdr_info* info, std::size_t, void*) noexcept {
  const char* path = info->dlpi_name != nullptr ? info->dlpi_name : "";
  const char* slash = std::strrchr(path, '/');
  const char* base = slash != nullptr ? slash + 1 : path;
  if (!stateful_library(base)) return 0;
  for (int i = 0; i < info->dlpi_phnum && g_stateful_count < kMaxCodeRanges; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
    CodeRange& r = g_stateful[g_stateful_count++];
    r.lo = info->dlpi_addr + ph.p_vaddr;
    r.hi = r.lo + ph.p_memsz;
    std::strncpy(r.name, base, sizeof r.name - 1);
  }
  return 0;
}

// The library of g_stateful whose code holds `pc`, or nullptr.
[[maybe_unused]] const char* stateful_code_at(std::uintptr_t pc) noexcept {
  for (int i = 0; i < g_stateful_count; ++i) {
    if (pc >= g_stateful[i].lo && pc < g_stateful[i].hi) return g_stateful[i].name;
  }
  return nullptr;
}

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

// The stack pointer and the instruction pointer when the fault happened, or 0 where ergon does
// not know where the saved context keeps them. (Unused in a sanitized build, which never ends
// a process alone.)
[[maybe_unused]] std::uintptr_t fault_sp([[maybe_unused]] void* uctx) noexcept {
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(static_cast<ucontext_t*>(uctx)->uc_mcontext.sp);
#else
  return 0;
#endif
}
[[maybe_unused]] std::uintptr_t fault_pc([[maybe_unused]] void* uctx) noexcept {
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(static_cast<ucontext_t*>(uctx)->uc_mcontext.pc);
#else
  return 0;
#endif
}

// The refusal for a fault inside a library of g_stateful, built in this thread's buffer (the
// handler aborts right after printing it).
thread_local char g_library_why[160];
[[maybe_unused]] const char* inside_library(const char* name) noexcept {
  char* o = g_library_why;
  const char* parts[] = {"the fault came inside ", name,
                         ", whose code may hold a lock or keep state across calls"};
  for (const char* s : parts) {
    while (*s != 0 && o < g_library_why + sizeof g_library_why - 1) *o++ = *s++;
  }
  *o = 0;
  return g_library_why;
}

// SO1: the process whose overflow this is, if it is to be ended alone; nullptr otherwise,
// with *why saying what makes that unsafe (nullptr when the option is off, or the fault cannot
// be tied to a process of ours).
Process* process_to_end(const Running& r, void* uctx, const char** why) noexcept {
  *why = nullptr;
  Carrier* c = current_carrier();
  Process* p = c != nullptr ? c->current() : nullptr;
  if (p == nullptr || p->stack.lo != r.lo) return nullptr;
  // relaxed: a process's own scheduler was published to it before it first ran.
  const Scheduler* s = p->sched.load(std::memory_order_relaxed);
  if (s == nullptr || s->options().on_stack_overflow != OnStackOverflow::kEndProcess) {
    return nullptr;
  }
#ifdef ERGON_GUARD_SANITIZED
  (void)uctx;
  *why =
      "this build has AddressSanitizer or ThreadSanitizer, which track every stack and signal "
      "handler themselves and cannot follow a process's stack being abandoned";
  return nullptr;
#else
  const auto lo = reinterpret_cast<std::uintptr_t>(r.lo);
  const std::uintptr_t sp = fault_sp(uctx);
  if (sp == 0) {
    *why =
        "ergon cannot read the stack pointer of a fault on this architecture (only on x86-64 "
        "and AArch64)";
  } else if (sp < lo - kGuardReach || sp > lo + r.size) {
    *why = "the fault did not come from code running on its stack";
  } else if (p->overflowed) {
    *why = "it overflowed again while it was being ended";
  } else if (!c->in_user()) {
    *why =
        "the fault came inside ergon's own entry (a send, spawn, receive's wait or switch in "
        "progress), whose state it would leave half-written";
  } else if (held_locks_on_this_thread() != 0) {
    *why =
        "it held one of ergon's locks (a monitor, link, exit signal, registry or trace call "
        "was in progress), which its end needs";
  } else if (const char* lib = stateful_code_at(fault_pc(uctx))) {
    *why = inside_library(lib);
  } else if (Fiber::exception_in_flight()) {
    *why = "an exception was propagating through it (the C++ unwinder was at work)";
  } else if (p->nursery != nullptr || p->shield != 0) {
    *why = "it has a nursery open, whose children refer to the nursery on its stack";
  }
  return *why == nullptr ? p : nullptr;
#endif
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  const Running r = running_on_this_thread();
  // Integers, not pointers: lo - kGuardReach may lie outside any object.
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  const auto lo = reinterpret_cast<std::uintptr_t>(r.lo);
  if (r.lo != nullptr && addr < lo && lo - addr <= kGuardReach) {
    // The suggestion holds the stack and the frame that faulted (it reached `lo - addr`
    // below the stack) twice over, and is at least 4x the stack.
    std::size_t want = r.size * 4;
    while (want < 2 * (r.size + (lo - addr))) want *= 2;
    const char* refused = nullptr;
    if (Process* p = process_to_end(r, uctx, &refused)) {
      tls_overflow = StackGuard::Overflow{r.size, lo - addr, want};  // SO2
      p->overflowed = true;
      (void)::pthread_sigmask(SIG_SETMASK, &static_cast<ucontext_t*>(uctx)->uc_sigmask, nullptr);
      p->fiber.restart(&overflow_entry);  // SO3; never returns
    }
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
    if (refused != nullptr) {
      o = buf;
      put(o,
          "ergon: Options::on_stack_overflow is end_process, but this process cannot be ended "
          "alone: ");
      // The reasons are static strings of at most 200 bytes: the line fits the buffer.
      put(o, refused);
      put(o, ". The program aborts.\n");
      ignored = ::write(2, buf, static_cast<std::size_t>(o - buf));
    }
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
  (void)::dl_iterate_phdr(&collect_stateful, nullptr);
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

StackGuard::Overflow StackGuard::last_overflow() noexcept { return tls_overflow; }

}  // namespace ergon::detail
