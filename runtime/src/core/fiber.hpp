// Fiber: a stack and a saved machine context, nothing more.
//
// Design
// ------
// The only place that talks to Boost.Context (fcontext: make_fcontext / jump_fcontext) and the
// only place that tells the sanitizers about stack switches. A fiber is resumed from a worker's
// own thread stack (its SwitchPoint) and suspends back to whichever SwitchPoint resumed it last.
// That SwitchPoint arrives with every resume (jump_fcontext hands the resumer's context to the
// resumed side), so a fiber never looks up "its" worker through a thread_local: it may resume on
// a different worker thread than the one it suspended on.
//
// Steps of one switch, resumer side (SR) and fiber side (SF):
//   SR1 resume(): tell ASAN the stack we go to, tell TSAN the fiber we go to, jump.
//   SF1 the fiber returns from its own jump (or starts in trampoline): it records the resumer's
//       context and, for ASAN, the resumer's stack bounds.
//   SF2 suspend()/finish(): tell the sanitizers where we go, jump to the recorded resumer.
//   SR2 resume() returns: stores the fiber's new context; tells ASAN the switch finished.
// finish() is the last switch of a fiber: ASAN drops its fake stack, and the resumer may reuse
// the stack at once.
//
// Direct switch (SD): a running fiber A may hand the thread straight to another suspended fiber
// B of the same resumer, without going through the resumer's stack. A jumps to B with
// ontop_fcontext; the `after` function runs first on B's stack, once A's context is saved
// (that is where the worker completes A's block: until then no other thread may resume A).
// B then continues as if the resumer had resumed it, and B inherits A's resumer. resume()
// therefore reports which fiber came back, which need not be the one it resumed.
//
// Restart (SX): the stack guard's way out of an overflow (stack_guard.hpp, with
// Options::on_stack_overflow = kEndProcess). From the signal handler, on the alternate signal
// stack, the running fiber is given a fresh context at the top of its own stack and jumped to:
// every frame on the stack is abandoned (none is unwound: there is no room, and a destructor
// would fault again), and `entry` runs there as process code. The fiber keeps caller_, its
// resumer's context, so its finish() goes back to the worker as usual; the handler's own frame
// and the kernel's signal frame stay behind on the alternate stack, which the next signal
// reuses from its top. The handler restores the signal mask first (it runs with SIGSEGV
// blocked, and sigreturn, which would unblock it, never comes). No sanitizer annotation: the
// guard does not restart under ASAN or TSAN.
//
// Rejected: boost::context::fiber (callcc). It allocates the context record on the stack and
// unwinds with forced_unwind exceptions on destruction; we pool stacks, decide the process
// lifecycle ourselves, and need the raw switch to annotate it.
#pragma once

#include <atomic>
#include <cstddef>

namespace ergon::detail {

// The resumer's side of a switch: a worker's own thread stack.
struct SwitchPoint {
  void* tsan_fiber = nullptr;          // TSAN's handle for the thread's own context
  const void* stack_bottom = nullptr;  // the thread's stack, for ASAN
  std::size_t stack_size = 0;
  void* eh_globals = nullptr;  // this thread's C++ exception globals (__cxa_get_globals)
  void init_for_current_thread() noexcept;
};

class Fiber {
 public:
  using Entry = void (*)(Fiber*);

  Fiber() = default;
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Prepares the fiber to run `entry(this)` on the stack [lo, lo + size). Resumer only.
  void start(char* lo, std::size_t size, Entry entry, void* owner) noexcept;
  void* owner() const noexcept { return owner_; }

  // SR1..SR2: runs the fiber until a fiber of this resumer suspends or finishes; returns that
  // fiber (this one, or one it switched to directly). Resumer only.
  Fiber* resume(SwitchPoint& from) noexcept;

  // SD: switches from this (running) fiber to `next` (suspended, started) on the same thread;
  // `after(arg)` runs on next's stack right after this fiber's context is saved. Fiber only.
  void switch_to(Fiber& next, void (*after)(void*), void* arg) noexcept;

  // SF2: back to the resumer. Fiber only.
  void suspend() noexcept;

  // The last switch. Fiber only; never returns.
  [[noreturn]] void finish() noexcept;

  // SX: abandons every frame on the fiber's stack and runs `entry(this)` afresh from its top,
  // on this thread. The thread's C++ exception state (the fiber's, while it runs) starts empty:
  // exceptions caught in the dead frames are never freed. Fiber only, from a signal handler on
  // another stack; never returns.
  [[noreturn]] void restart(Entry entry) noexcept;
  // Whether an exception is propagating on this thread (thrown and not yet caught: the
  // unwinder is at work). Async-signal-safe; the stack guard asks it.
  static bool exception_in_flight() noexcept;

  // Releases sanitizer state of a finished fiber. Resumer only.
  void destroy() noexcept;

  bool started() const noexcept { return ctx_.load(std::memory_order_relaxed) != nullptr; }

  // Where the fiber's stack pointer stood when it last switched out (its saved context sits
  // there), or nullptr before it first runs. Any thread, advisory: process_info derives the
  // stack in use from it, so a switch stores nothing extra for it.
  const void* saved_context() const noexcept { return ctx_.load(std::memory_order_relaxed); }

 private:
  friend struct FiberAccess;

  // The fiber's saved context while it is not running (and its last one while it runs).
  // Written by whoever switches the fiber out (SR2, SD) or starts it; read by the next resumer,
  // which the run queue or the direct switch orders after the write, and by saved_context() on
  // any thread. relaxed: the handover orders it for the resumer; the other reads are
  // advisory (a plain mov either way on x86-64 and AArch64).
  std::atomic<void*> ctx_{nullptr};
  void* caller_ = nullptr;  // the resumer's saved context while the fiber runs
  SwitchPoint* caller_sp_ = nullptr;
  Entry entry_ = nullptr;
  char* stack_lo_ = nullptr;
  std::size_t stack_size_ = 0;
  void* asan_fake_stack_ = nullptr;
  void* tsan_fiber_ = nullptr;
  void* owner_ = nullptr;
  // The C++ runtime's per-thread exception state (caught exceptions, uncaught count) while
  // the fiber is switched out. It travels with the fiber, so a process that blocks inside a
  // catch block and resumes on another thread still finds its exception there.
  void* eh_caught_ = nullptr;
  unsigned int eh_uncaught_ = 0;
};

}  // namespace ergon::detail
