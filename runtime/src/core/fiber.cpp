// Fiber switching on Boost.Context's fcontext, with ASAN and TSAN annotations.
// See fiber.hpp for the design and the switch protocol (SR1, SF1, SF2, SR2).
#include "core/fiber.hpp"

#include <pthread.h>

#include <boost/context/detail/fcontext.hpp>

#if defined(__SANITIZE_ADDRESS__)
#define ERGON_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#define ERGON_TSAN 1
#include <sanitizer/tsan_interface.h>
#endif

namespace ergon::detail {

namespace bctx = boost::context::detail;

namespace {

// The sanitizers' half of every switch (SR1, SF2, SD and finish, then SR2 and SF1), written once.
// Before the jump: ASAN learns the stack we go to [bottom, bottom + size) and saves this
// side's fake stack in *fake_stack (nullptr: this fiber ends, drop it); TSAN switches to the
// fiber `tsan_to`. After the jump, back on this side: ASAN learns the switch is over and
// gets `fake_stack` back. In a build without sanitizers both are empty inline functions.
inline void sanitizers_before_switch([[maybe_unused]] void** fake_stack,
                                     [[maybe_unused]] const void* bottom,
                                     [[maybe_unused]] std::size_t size,
                                     [[maybe_unused]] void* tsan_to) noexcept {
#ifdef ERGON_ASAN
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
#endif
#ifdef ERGON_TSAN
  __tsan_switch_to_fiber(tsan_to, 0);
#endif
}

inline void sanitizers_after_switch([[maybe_unused]] void* fake_stack) noexcept {
#ifdef ERGON_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
}

}  // namespace

// libstdc++'s per-thread exception globals (cxxabi.h declares the type opaque; this is its
// layout in the Itanium C++ ABI).
struct EhGlobals {
  void* caught_exceptions;
  unsigned int uncaught_exceptions;
};
extern "C" EhGlobals* __cxa_get_globals() noexcept;

struct FiberAccess {
  struct DirectArgs {
    Fiber* from;
    void* resumer_ctx;
    void (*after)(void*);
    void* arg;
  };

  // SD, on the next fiber's stack: record where the previous fiber stopped, run `after`, and
  // make the next fiber believe the resumer resumed it.
  static bctx::transfer_t on_top(bctx::transfer_t t) noexcept {
    auto* a = static_cast<DirectArgs*>(t.data);
    // `a` lives on the previous fiber's stack, and `after` may publish that fiber (the worker's
    // block succeeds): from then on another thread may resume it, return from switch_to and
    // overwrite the DirectArgs frame. So copy everything needed after `after` first.
    void* const resumer_ctx = a->resumer_ctx;
    a->from->ctx_.store(t.fctx, std::memory_order_relaxed);  // relaxed: see ctx_
    a->after(a->arg);  // from here on, `a` must not be touched
    return bctx::transfer_t{resumer_ctx, nullptr};
  }

  // SX, on the fiber's own stack, from its top: t.fctx is the signal handler's context, on the
  // alternate signal stack, abandoned. caller_ stays the resumer's.
  static void restarted(bctx::transfer_t t) noexcept {
    auto* f = static_cast<Fiber*>(t.data);
    f->entry_(f);
    __builtin_unreachable();  // entry_ ends with finish()
  }

  static void entry(bctx::transfer_t t) noexcept {
    auto* f = static_cast<Fiber*>(t.data);
    f->caller_ = t.fctx;  // SF1
    sanitizers_after_switch(nullptr);
    f->entry_(f);
    __builtin_unreachable();  // entry_ ends with finish()
  }
};

void SwitchPoint::init_for_current_thread() noexcept {
  eh_globals = __cxa_get_globals();
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* addr = nullptr;
    std::size_t size = 0;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
      stack_bottom = addr;
      stack_size = size;
    }
    pthread_attr_destroy(&attr);
  }
#ifdef ERGON_TSAN
  tsan_fiber = __tsan_get_current_fiber();
#endif
}

void Fiber::start(char* lo, std::size_t size, Entry entry, void* owner) noexcept {
  entry_ = entry;
  owner_ = owner;
  eh_caught_ = nullptr;
  eh_uncaught_ = 0;
  stack_lo_ = lo;
  stack_size_ = size;
#ifdef ERGON_ASAN
  // A reused stack may still carry poison from its previous fiber's frames.
  __asan_unpoison_memory_region(lo, size);
#endif
#ifdef ERGON_TSAN
  tsan_fiber_ = __tsan_create_fiber(0);
#endif
  ctx_.store(bctx::make_fcontext(lo + size, size, &FiberAccess::entry),
             std::memory_order_relaxed);  // relaxed: see ctx_
}

Fiber* Fiber::resume(SwitchPoint& from) noexcept {
  caller_sp_ = &from;
  void* fake = nullptr;
  sanitizers_before_switch(&fake, stack_lo_, stack_size_, tsan_fiber_);  // SR1
  EhGlobals* eh = static_cast<EhGlobals*>(from.eh_globals);
  EhGlobals mine = *eh;  // the worker's own (normally empty)
  eh->caught_exceptions = eh_caught_;
  eh->uncaught_exceptions = eh_uncaught_;
  bctx::transfer_t t = bctx::jump_fcontext(ctx_.load(std::memory_order_relaxed), this);
  Fiber* back = static_cast<Fiber*>(t.data);            // this, or a fiber it switched to (SD)
  back->ctx_.store(t.fctx, std::memory_order_relaxed);  // SR2 (relaxed: see ctx_)
  back->eh_caught_ = eh->caught_exceptions;
  back->eh_uncaught_ = eh->uncaught_exceptions;
  *eh = mine;
  sanitizers_after_switch(fake);
  return back;
}

void Fiber::switch_to(Fiber& next, void (*after)(void*), void* arg) noexcept {
  next.caller_sp_ = caller_sp_;
  sanitizers_before_switch(&asan_fake_stack_, next.stack_lo_, next.stack_size_,
                           next.tsan_fiber_);  // D
  EhGlobals* eh = static_cast<EhGlobals*>(caller_sp_->eh_globals);
  eh_caught_ = eh->caught_exceptions;
  eh_uncaught_ = eh->uncaught_exceptions;
  eh->caught_exceptions = next.eh_caught_;
  eh->uncaught_exceptions = next.eh_uncaught_;
  FiberAccess::DirectArgs args{this, caller_, after, arg};
  bctx::transfer_t t =
      bctx::ontop_fcontext(next.ctx_.load(std::memory_order_relaxed), &args, &FiberAccess::on_top);
  caller_ = t.fctx;  // resumed later, by any resumer (SF1)
  sanitizers_after_switch(asan_fake_stack_);
}

void Fiber::suspend() noexcept {
  sanitizers_before_switch(&asan_fake_stack_, caller_sp_->stack_bottom, caller_sp_->stack_size,
                           caller_sp_->tsan_fiber);  // SF2
  bctx::transfer_t t = bctx::jump_fcontext(caller_, this);
  caller_ = t.fctx;  // SSF1 of the next resume: possibly another worker
  sanitizers_after_switch(asan_fake_stack_);
}

void Fiber::finish() noexcept {
  // nullptr: the last switch, ASAN drops this fiber's fake stack.
  sanitizers_before_switch(nullptr, caller_sp_->stack_bottom, caller_sp_->stack_size,
                           caller_sp_->tsan_fiber);
  bctx::jump_fcontext(caller_, this);
  __builtin_unreachable();
}

void Fiber::restart(Entry entry) noexcept {
  // The thread holds the fiber's exception state while it runs (resume swapped it in). The
  // exceptions caught in the dead frames stay allocated; nothing must reach them through here.
  EhGlobals* eh = __cxa_get_globals();
  eh->caught_exceptions = nullptr;
  eh->uncaught_exceptions = 0;
  entry_ = entry;
  // The whole stack is the new context's: nothing on it is live any more.
  bctx::fcontext_t fresh =
      bctx::make_fcontext(stack_lo_ + stack_size_, stack_size_, &FiberAccess::restarted);
  bctx::jump_fcontext(fresh, this);
  __builtin_unreachable();
}

bool Fiber::exception_in_flight() noexcept { return __cxa_get_globals()->uncaught_exceptions != 0; }

void Fiber::destroy() noexcept {
#ifdef ERGON_TSAN
  if (tsan_fiber_ != nullptr) __tsan_destroy_fiber(tsan_fiber_);
  tsan_fiber_ = nullptr;
#endif
  ctx_.store(nullptr, std::memory_order_relaxed);  // relaxed: see ctx_
  caller_ = nullptr;
  caller_sp_ = nullptr;
}

}  // namespace ergon::detail
