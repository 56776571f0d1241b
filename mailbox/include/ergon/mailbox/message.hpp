// Message envelopes: the unit a mailbox carries.
//
// Design
// ------
// A message of any movable C++ type T travels inside a `Message<T>`, which derives from the
// intrusive, non-template `Envelope`. The envelope carries:
//   - `next`: the intrusive link. Whoever holds the envelope owns the link: the sender until
//     the push publishes it, then the inbox, then the receiver's private cache.
//   - `type`: a type tag, the address of `kTypeTag<T>`. Dispatch compares one pointer; no RTTI,
//     no typeid, no string compare on the hot path.
//   - `destroy`: how to destroy and free the envelope without knowing T.
//   - `stamp`: a word the mailbox never interprets. The runtime stores the addressee's
//     generation in it, so a message pushed into a recycled mailbox is recognised as stale.
//   - `seq`: the arrival number the receiver's mailbox gives it when it moves it to its cache
//     (for receive markers beyond the ones kept as positions; see mailbox.hpp).
//   - `flags`: what a bounded mailbox needs to know of it (EnvelopeFlag): kSystem (never
//     counted against a capacity, never dropped: exit signals and Downs, which the runtime
//     posts, and whatever a later caller marks, such as a call's reply: set kSystem before the
//     send), kCounted (it holds a slot of a bounded mailbox: set by the sender that reserved the
//     slot, given back by whoever disposes of it) and kForwarded (an overflow already forwarded
//     once: never forwarded again). 0 for an ordinary message. The field makes the header 40
//     bytes instead of 32 (a payload of 25..32 bytes moves from the 64- to the 128-byte size
//     class); rejected: stealing bits of `seq` (every fetch would mask) or of `stamp` (every
//     receive's stale check would mask).
//
// Allocation goes through `allocate_envelope`/`free_envelope` (out of line, in mailbox.cpp).
// Envelopes of up to 256 bytes are recycled through small per-thread free lists (three size
// classes, at most kCacheDepth each): a message costs a pop and a push instead of a malloc and
// a free, and its memory is already mapped and in cache. Larger ones, and the overflow of a
// full list, use the program's allocator (jemalloc in every ergon binary). A per-thread count
// of live envelopes lets tests prove that nothing leaked.
//
// Rejected: a per-type free list in the template. It would need a thread_local in header code
// that runs on process stacks, which may resume on another thread (see docs/design.md,
// "thread_local across a context switch").
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace ergon::mailbox {

// The address of kTypeTag<T> identifies T. An inline variable has one address in a program.
// It also names T, for messages that no handler matched (ergon::AnyMessage::type_name): the
// name is in the binary, nothing is computed at run time.
struct TypeTag {
  const char* (*name)() noexcept;
};
template <class T>
const char* pretty_type_name() noexcept {
  return __PRETTY_FUNCTION__;  // "... [with T = Ping]" (GCC) or "... [T = Ping]" (Clang)
}
template <class T>
inline constexpr TypeTag kTypeTag{&pretty_type_name<T>};

template <class T>
constexpr const void* type_tag() noexcept {
  return &kTypeTag<T>;
}

enum EnvelopeFlag : std::uint32_t {
  kSystem = 1,     // never counted against a capacity, never dropped by a mailbox's policy
  kCounted = 2,    // holds a slot of a bounded mailbox (Mailbox::try_reserve)
  kForwarded = 4,  // an overflow forwarded once already (MailboxPolicy::kForward)
};

struct Envelope {
  Envelope* next = nullptr;
  const void* type = nullptr;
  void (*destroy)(Envelope*) = nullptr;
  // Neither is initialised: the send writes the stamp before the push publishes the envelope,
  // and the receiver's fetch the arrival number before anything reads it (bench/budget.py: the
  // store saved pays for the one `flags` costs).
  std::uint32_t stamp;
  std::uint32_t seq;
  std::uint32_t flags = 0;  // EnvelopeFlag bits; written by the sender before the push

  template <class T>
  bool holds() const noexcept {
    return type == type_tag<T>();
  }
};

// Storage for envelopes; counted per thread (see live_envelopes()).
void* allocate_envelope(std::size_t size);
void free_envelope(void* p, std::size_t size) noexcept;

// Envelopes allocated and not yet freed, summed over all threads. Exact when no thread is
// allocating or freeing at the same time (tests read it on tear-down).
std::int64_t live_envelopes() noexcept;

template <class T>
struct Message final : Envelope {
  T value;

  template <class... A>
  explicit Message(A&&... a) : value(std::forward<A>(a)...) {}
};

// What a message type must be: movable, with a destructor that cannot throw (the runtime
// destroys messages where nothing may throw: a message dropped to a dead pid, a mailbox
// cleared at its process's end), and not over-aligned (envelopes come from size classes).
template <class T>
inline constexpr bool is_message_type_v =
    std::is_move_constructible_v<T>&& std::is_nothrow_destructible_v<T> &&
    alignof(Message<T>) <= alignof(std::max_align_t);

template <class T, class... A>
Message<T>* make_message(A&&... args) {
  static_assert(std::is_move_constructible_v<T>, "a message type must be movable");
  static_assert(std::is_nothrow_destructible_v<T>,
                "a message type's destructor must not throw: the runtime destroys messages "
                "where nothing may throw (a drop to a dead pid, a mailbox cleared at its "
                "process's end). Make the destructor noexcept and handle the error inside it.");
  static_assert(alignof(Message<T>) <= alignof(std::max_align_t),
                "over-aligned message types are not supported");
  void* mem = allocate_envelope(sizeof(Message<T>));
  Message<T>* m;
  try {
    m = ::new (mem) Message<T>(std::forward<A>(args)...);
  } catch (...) {
    free_envelope(mem, sizeof(Message<T>));
    throw;
  }
  m->type = type_tag<T>();
  m->destroy = [](Envelope* e) {
    static_cast<Message<T>*>(e)->~Message<T>();
    free_envelope(e, sizeof(Message<T>));
  };
  return m;
}

// The `__PRETTY_FUNCTION__` text that names the type of `e`'s payload (see TypeTag).
inline const char* pretty_type_name(const Envelope* e) noexcept {
  return static_cast<const TypeTag*>(e->type)->name();
}

template <class T>
T& payload(Envelope* e) noexcept {
  return static_cast<Message<T>*>(e)->value;
}

inline void dispose(Envelope* e) noexcept { e->destroy(e); }

// Disposes a chain linked through `next`; returns how many envelopes it held.
std::size_t dispose_chain(Envelope* head) noexcept;

}  // namespace ergon::mailbox
