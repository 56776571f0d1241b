// receive: selective receive by message type, with guards, timeouts and receive markers.
//
//   ergon::receive(
//       [](const Ping& p) { ergon::send(p.from, Pong{}); },
//       ergon::on<int>([](int v) { return v > 0; }, [](int v) { ... }),
//       ergon::after(std::chrono::milliseconds(50), [] { ... timed out ... }));
//
// A handler is a callable taking one message (by value, reference or const reference); its
// parameter's type is the message type it matches. on<T>(guard, fn) also requires guard(msg).
// after(timeout, fn) runs fn when nothing matched within the timeout. The first message in
// arrival order that some handler matches is taken; handlers are tried in the order given.
// Messages that nothing matches stay in the mailbox, in order, for later receives.
// If every handler returns a value, receive returns their common type; otherwise void.
//
// Request/reply without rescanning old messages (Erlang's receive markers):
//   ergon::Marker m = ergon::mark();       // messages before this point are not scanned
//   ergon::send(server, Request{ergon::self()});
//   Reply r = m.receive([](Reply& r) { return std::move(r); });
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "ergon/detail/api.hpp"
#include "ergon/mailbox/mailbox.hpp"

namespace ergon {
namespace detail {

// --- what a callable takes and returns ---------------------------------------------------
template <class F>
struct CallableTraits : CallableTraits<decltype(&std::decay_t<F>::operator())> {};
#define ERGON_CALLABLE_TRAITS(QUALS)         \
  template <class C, class R, class A>       \
  struct CallableTraits<R (C::*)(A) QUALS> { \
    using Arg = A;                           \
    using Ret = R;                           \
  };
ERGON_CALLABLE_TRAITS()
ERGON_CALLABLE_TRAITS(const)
ERGON_CALLABLE_TRAITS(noexcept)
ERGON_CALLABLE_TRAITS(const noexcept)
#undef ERGON_CALLABLE_TRAITS
template <class R, class A>
struct CallableTraits<R (*)(A)> {
  using Arg = A;
  using Ret = R;
};
template <class R, class A>
struct CallableTraits<R (*)(A) noexcept> {
  using Arg = A;
  using Ret = R;
};

template <class A, class F, class T>
decltype(auto) call_with(F& fn, T& value) {
  if constexpr (std::is_lvalue_reference_v<A> && !std::is_const_v<std::remove_reference_t<A>>) {
    return fn(value);
  } else {
    return fn(std::move(value));
  }
}

template <class R, class F, class... A>
R invoke_as(F&& f, A&&... a) {
  if constexpr (std::is_void_v<R>) {
    std::forward<F>(f)(std::forward<A>(a)...);
  } else {
    return static_cast<R>(std::forward<F>(f)(std::forward<A>(a)...));
  }
}

// --- handler kinds -------------------------------------------------------------------------
template <class F>
struct Plain {
  using Arg = typename CallableTraits<F>::Arg;
  using Type = std::remove_cv_t<std::remove_reference_t<Arg>>;
  using Ret = typename CallableTraits<F>::Ret;
  static constexpr bool kIsAfter = false;
  F fn;
  bool matches(mailbox::Envelope* e) { return e->holds<Type>(); }
  template <class R>
  R invoke(mailbox::Envelope* e) {
    return invoke_as<R>(
        [&]() -> decltype(auto) { return call_with<Arg>(fn, mailbox::payload<Type>(e)); });
  }
};

template <class T, class P, class F>
struct Guarded {
  using Type = T;
  using Arg = typename CallableTraits<F>::Arg;
  using Ret = typename CallableTraits<F>::Ret;
  static constexpr bool kIsAfter = false;
  P pred;
  F fn;
  bool matches(mailbox::Envelope* e) {
    return e->holds<T>() && static_cast<bool>(pred(std::as_const(mailbox::payload<T>(e))));
  }
  template <class R>
  R invoke(mailbox::Envelope* e) {
    return invoke_as<R>(
        [&]() -> decltype(auto) { return call_with<Arg>(fn, mailbox::payload<T>(e)); });
  }
};

template <class F>
struct After {
  using Ret = std::invoke_result_t<F&>;
  static constexpr bool kIsAfter = true;
  std::int64_t timeout_ns;
  F fn;
  bool matches(mailbox::Envelope*) { return false; }
  template <class R>
  R invoke(mailbox::Envelope*) {
    return invoke_as<R>(fn);
  }
};

template <class H>
struct IsHandlerKind : std::false_type {};
template <class T, class P, class F>
struct IsHandlerKind<Guarded<T, P, F>> : std::true_type {};
template <class F>
struct IsHandlerKind<After<F>> : std::true_type {};

template <class H>
auto make_handler(H&& h) {
  if constexpr (IsHandlerKind<std::decay_t<H>>::value) {
    return std::decay_t<H>(std::forward<H>(h));
  } else {
    return Plain<std::decay_t<H>>{std::forward<H>(h)};
  }
}

template <class... Rs>
struct ReceiveResult {
  static constexpr bool kAnyVoid = (std::is_void_v<Rs> || ...);
  using Type = typename std::conditional_t<kAnyVoid, std::type_identity<void>,
                                           std::common_type<Rs...>>::type;
};

struct EnvelopeGuard {
  mailbox::Envelope* e;
  ~EnvelopeGuard() { mailbox::dispose(e); }
};

template <class R, std::size_t I, class Tuple>
R invoke_at(std::size_t which, mailbox::Envelope* e, Tuple& t) {
  if constexpr (I + 1 < std::tuple_size_v<Tuple>) {
    if (which != I) return invoke_at<R, I + 1>(which, e, t);
  }
  return std::get<I>(t).template invoke<R>(e);
}

// The timeout path: only `after` handlers are ever called here (so the compiler never sees a
// message handler called without a message).
template <class R, std::size_t I, class Tuple>
R invoke_after(std::size_t which, Tuple& t) {
  if constexpr (I + 1 < std::tuple_size_v<Tuple>) {
    if (which != I) return invoke_after<R, I + 1>(which, t);
  }
  if constexpr (std::tuple_element_t<I, Tuple>::kIsAfter) {
    return std::get<I>(t).template invoke<R>(nullptr);
  } else {
    __builtin_unreachable();
  }
}

template <class Tuple, std::size_t... I>
std::size_t find_match(mailbox::Envelope* e, Tuple& t, std::index_sequence<I...>) {
  std::size_t which = SIZE_MAX;
  ((which == SIZE_MAX && std::get<I>(t).matches(e) ? (which = I) : 0), ...);
  return which;
}

template <class Tuple, std::size_t... I>
void find_after(Tuple& t, std::int64_t& timeout, std::size_t& index, std::index_sequence<I...>) {
  auto one = [&](auto& h, std::size_t i) {
    if constexpr (std::decay_t<decltype(h)>::kIsAfter) {
      if (index == SIZE_MAX || h.timeout_ns < timeout) {
        timeout = h.timeout_ns;
        index = i;
      }
    }
  };
  (one(std::get<I>(t), I), ...);
}

// The receive loop. See docs/design.md, "From send to a handler".
template <class... Hs>
auto receive_impl(Process* p, mailbox::Mailbox::MarkerId marker, Hs... hs) {
  using R = typename ReceiveResult<typename Hs::Ret...>::Type;
  auto handlers = std::make_tuple(std::move(hs)...);
  constexpr auto kIdx = std::index_sequence_for<Hs...>{};
  std::int64_t timeout = INT64_MAX;
  std::size_t after_index = SIZE_MAX;
  find_after(handlers, timeout, after_index, kIdx);
  std::int64_t deadline = kNoDeadline;
  if (after_index != SIZE_MAX) {
    timeout = timeout < 0 ? 0 : timeout;
    std::int64_t now = now_ns();
    // A timeout beyond the clock's range (saturating_ns) waits forever: no timer is armed,
    // so not even deterministic mode's clock, which jumps to the next timer, can reach it.
    deadline = deadline_after(now, timeout);
  }
  charge(p, 1);
  mailbox::Mailbox& mb = mailbox_of(p);
  const std::uint32_t gen = generation_of(p);
  mailbox::Envelope* prev = mb.marker_position(marker);
  const bool by_number = marker >= mailbox::Mailbox::kMaxMarkers;
  bool first = true, timed_out = false;
  for (;;) {
    mailbox::Envelope* e = prev != nullptr ? prev->next : mb.head();
    while (e != nullptr) {
      mailbox::Envelope* next = e->next;
      if (by_number && mb.before_marker(marker, e)) {  // older than the marker: not ours
        prev = e;
        e = next;
        continue;
      }
      if (e->stamp != gen) {  // meant for an earlier process in this slot
        mb.remove(prev, e);
        if (e->flags & mailbox::kCounted) [[unlikely]]
          (void)release_counted(p, e, false);  // no trim: the scan goes on at `next`
        drop_stale(e);
        e = next;
        continue;
      }
      std::size_t which = find_match(e, handlers, kIdx);
      if (which != SIZE_MAX) {
        mb.remove(prev, e);
        // The one branch a bounded mailbox adds to a receive, on the envelope just matched.
        if (e->flags & mailbox::kCounted) [[unlikely]] {
          if (release_counted(p, e, true)) {  // dropped, the oldest of an overfull mailbox
            prev = mb.marker_position(marker);
            e = prev != nullptr ? prev->next : mb.head();
            continue;
          }
        }
        EnvelopeGuard guard{e};
        return invoke_at<R, 0>(which, e, handlers);
      }
      prev = e;
      e = next;
    }
    if (mb.fetch()) continue;
    // The first time, `deadline` was just computed from the clock: only a zero timeout is due.
    if (deadline != kNoDeadline && (timed_out || (first ? timeout == 0 : now_ns() >= deadline))) {
      return invoke_after<R, 0>(after_index, handlers);
    }
    first = false;
    timed_out = wait(p, deadline);
  }
}

}  // namespace detail

// A handler that matches messages of type T for which guard(const T&) is true.
template <class T, class P, class F>
auto on(P&& guard, F&& fn) {
  return detail::Guarded<T, std::decay_t<P>, std::decay_t<F>>{std::forward<P>(guard),
                                                              std::forward<F>(fn)};
}

// A handler that runs when no message matched within `timeout` (zero: only look, never wait).
template <class Rep, class Period, class F>
auto after(std::chrono::duration<Rep, Period> timeout, F&& fn) {
  return detail::After<std::decay_t<F>>{detail::saturating_ns(timeout), std::forward<F>(fn)};
}

// Waits for the first message that one of `handlers` matches and runs that handler.
// Throws NotInProcess outside a process.
template <class... H>
auto receive(H&&... handlers) {
  static_assert(sizeof...(H) > 0, "receive needs at least one handler");
  return detail::receive_impl(detail::current_process_or_throw("ergon::receive"),
                              mailbox::Mailbox::kNoMarker,
                              detail::make_handler(std::forward<H>(handlers))...);
}

// Waits for the next message of type T and returns it.
template <class T>
T receive() {
  return receive([](T& v) -> T { return std::move(v); });
}

// Like receive<T>(), but gives up after `timeout` and returns std::nullopt.
template <class T, class Rep, class Period>
std::optional<T> receive_for(std::chrono::duration<Rep, Period> timeout) {
  return receive([](T& v) -> std::optional<T> { return std::optional<T>(std::move(v)); },
                 after(timeout, [] { return std::optional<T>(); }));
}

// A receive marker: receives through it only see messages that arrived after it was made.
// Belongs to the process that made it; move-only; released when destroyed.
// A marker names its process by record and generation: the record may hold a later process
// once this one has ended, and a marker that outlives its process (moved into a heap object,
// destroyed by another process) must not touch the later one's markers.
class Marker {
 public:
  Marker()
      : p_(detail::current_process_or_throw("ergon::mark")),
        gen_(detail::generation_of(p_)),
        id_(detail::mailbox_of(p_).mark()) {}
  Marker(Marker&& o) noexcept : p_(o.p_), gen_(o.gen_), id_(o.id_) {
    o.id_ = mailbox::Mailbox::kNoMarker;
  }
  Marker(const Marker&) = delete;
  Marker& operator=(const Marker&) = delete;
  Marker& operator=(Marker&&) = delete;
  // Only its own process, still alive, releases it: the mailbox has one reader. (Elsewhere the
  // marker is left; its process's end clears every marker.)
  ~Marker() {
    if (owned_by_caller()) detail::mailbox_of(p_).release(id_);
  }

  template <class... H>
  auto receive(H&&... handlers) {
    static_assert(sizeof...(H) > 0, "receive needs at least one handler");
    if (!owned_by_caller()) {
      throw NotInProcess(
          "ergon::Marker::receive: a marker belongs to the process that made it, and is "
          "void once that process has ended; make the marker in the process that receives");
    }
    return detail::receive_impl(p_, id_, detail::make_handler(std::forward<H>(handlers))...);
  }

 private:
  bool owned_by_caller() const noexcept {
    return detail::current_process() == p_ && detail::generation_of(p_) == gen_;
  }
  detail::Process* p_;
  std::uint32_t gen_;
  mailbox::Mailbox::MarkerId id_;
};

inline Marker mark() { return Marker(); }

}  // namespace ergon
