// InRuntime: the guard around runtime code that a process runs on its own behalf.
//
// Design
// ------
// Process code may be handed to another carrier at any switch (carrier.hpp), so it may touch
// its worker's owner-only state only inside an entry: E1/E2 (Carrier::enter) when the guard
// is built, E3 (Carrier::leave) when it goes. Between the two the worker is the caller's.
// On a thread that is not a carrier, or inside ergon::blocking, the guard does nothing (w and
// p stay null); runtime code on a carrier's own stack (its loop, a message destructor run by
// Worker::finish) owns its worker without entering, and gets w with p null.
//
// Rejected: entering at every call of the public API (most calls never touch the worker);
// a flag in the process saying "entered" (the carrier, not the process, is what moves).
#pragma once

#include <cstdint>

#include "core/carrier.hpp"
#include "core/worker.hpp"  // Carrier::enter

namespace ergon::detail {

class InRuntime {
 public:
  InRuntime() noexcept {
    Carrier* c = current_carrier();
    if (c == nullptr || c->in_blocking()) return;
    p = c->current();
    if (p == nullptr) {
      w = c->worker();
      return;
    }
    const Carrier::Entered e = c->enter2(p);  // e.now: another carrier if p moved
    w = e.w;
    carrier = e.now;
    budget = e.now->budget();  // valid until the next switch
  }
  // For a caller that is process `self`, the one its carrier runs (wait): skips reading it back.
  explicit InRuntime(Process* self) noexcept {
    Carrier* c = current_carrier();
    if (c == nullptr || c->in_blocking()) return;
    p = self;
    const Carrier::Entered e = c->enter2(p);  // e.now: another carrier if p moved
    w = e.w;
    carrier = e.now;
    budget = e.now->budget();  // valid until the next switch
  }
  ~InRuntime() {
    if (p != nullptr) current_carrier()->leave();  // wherever p runs now
  }
  InRuntime(const InRuntime&) = delete;
  InRuntime& operator=(const InRuntime&) = delete;

  Process* p = nullptr;  // the calling process, or nullptr
  Worker* w = nullptr;
  std::int32_t* budget = nullptr;  // the carrier's reduction budget, with p
  Carrier* carrier = nullptr;      // the carrier running p, with p; valid until the next switch
};

}  // namespace ergon::detail
