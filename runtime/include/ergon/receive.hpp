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
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "ergon/detail/api.hpp"
#include "ergon/mailbox/mailbox.hpp"

namespace ergon {

// What a catch-all handler receives: a message of any type, which is dropped once the handler
// returns. is<T>() / get<T>() look inside; type_name() names the type, for a log line.
class AnyMessage {
 public:
  explicit AnyMessage(mailbox::Envelope* e) noexcept : e_(e) {}
  template <class T>
  bool is() const noexcept {
    return e_->holds<T>();
  }
  // The payload if it is a T, else nullptr.
  template <class T>
  T* get() noexcept {
    return is<T>() ? &mailbox::payload<T>(e_) : nullptr;
  }
  // The type's name as the compiler spells it ("int", "std::__cxx11::basic_string<char>").
  std::string type_name() const {
    const std::string_view pretty = mailbox::pretty_type_name(e_);
    const std::size_t at = pretty.find("T = ");
    if (at == std::string_view::npos) return std::string(pretty);
    const std::string_view rest = pretty.substr(at + 4);
    return std::string(rest.substr(0, rest.find_first_of(";]")));
  }

 private:
  mailbox::Envelope* e_;
};

namespace detail {

// --- what a callable takes and returns ---------------------------------------------------
// Arg and Ret for a callable with exactly one parameter (a lambda, a functor, a function
// pointer); no members at all for any other shape (a generic lambda, an overload set, two
// parameters), so that make_handler can tell the shapes apart and say what to write instead.
template <class M>
struct MemberTraits {};
#define ERGON_CALLABLE_TRAITS(QUALS)       \
  template <class C, class R, class A>     \
  struct MemberTraits<R (C::*)(A) QUALS> { \
    using Arg = A;                         \
    using Ret = R;                         \
  };
ERGON_CALLABLE_TRAITS()
ERGON_CALLABLE_TRAITS(const)
ERGON_CALLABLE_TRAITS(noexcept)
ERGON_CALLABLE_TRAITS(const noexcept)
ERGON_CALLABLE_TRAITS(&)
ERGON_CALLABLE_TRAITS(const&)
#undef ERGON_CALLABLE_TRAITS
template <class F, class = void>
struct CallableTraits {};
template <class F>
struct CallableTraits<F, std::void_t<decltype(&F::operator())>>
    : MemberTraits<decltype(&F::operator())> {};
template <class R, class A>
struct CallableTraits<R (*)(A), void> {
  using Arg = A;
  using Ret = R;
};
template <class R, class A>
struct CallableTraits<R (*)(A) noexcept, void> {
  using Arg = A;
  using Ret = R;
};
template <class F>
inline constexpr bool kOneArg = requires {
  typename CallableTraits<F>::Arg;
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

// The guard sees the message as const T& when it can take one, else as T& (a guard written
// with a T& parameter); fn may be a one-parameter callable or a generic lambda.
template <class T, class P, class F>
struct Guarded {
  static_assert(std::is_invocable_v<P&, const T&> || std::is_invocable_v<P&, T&>,
                "ergon::on<T>(guard, fn): the guard must take the message (const T&, T& or T) and "
                "return something testable as bool, e.g. [](const T& m) { return m.id == 7; }");
  static_assert(kOneArg<F> || std::is_invocable_v<F&, T&>,
                "ergon::on<T>(guard, fn): fn must take the message: (T), (const T&), (T&), (T&&) "
                "or a generic (auto&) parameter");
  using Type = T;
  static constexpr bool kIsAfter = false;
  P pred;
  F fn;
  bool matches(mailbox::Envelope* e) {
    if (!e->holds<T>()) return false;
    if constexpr (std::is_invocable_v<P&, const T&>) {
      return static_cast<bool>(pred(std::as_const(mailbox::payload<T>(e))));
    } else {
      return static_cast<bool>(pred(mailbox::payload<T>(e)));
    }
  }
  static auto ret_of() {
    if constexpr (kOneArg<F>) {
      return std::type_identity<typename CallableTraits<F>::Ret>{};
    } else {
      return std::type_identity<std::invoke_result_t<F&, T&>>{};
    }
  }
  using Ret = typename decltype(ret_of())::type;
  template <class R>
  R invoke(mailbox::Envelope* e) {
    if constexpr (kOneArg<F>) {
      using Arg = typename CallableTraits<F>::Arg;
      return invoke_as<R>(
          [&]() -> decltype(auto) { return call_with<Arg>(fn, mailbox::payload<T>(e)); });
    } else {
      return invoke_as<R>([&]() -> decltype(auto) { return fn(mailbox::payload<T>(e)); });
    }
  }
};

// The catch-all (Erlang's `_ ->`): a handler that takes an AnyMessage, or a generic lambda
// ([](auto&&) {...}). It matches every message; the message is dropped once it returns.
template <class F>
struct CatchAll {
  using Ret = std::invoke_result_t<F&, AnyMessage&>;
  static constexpr bool kIsAfter = false;
  F fn;
  bool matches(mailbox::Envelope*) { return true; }
  template <class R>
  R invoke(mailbox::Envelope* e) {
    AnyMessage m(e);
    return invoke_as<R>(fn, m);
  }
};

template <class F>
struct After {
  using Ret = std::invoke_result_t<F&>;
  static constexpr bool kIsAfter = true;
  std::int64_t timeout_ns;  // with `absolute`, the deadline itself (now_ns()'s clock)
  F fn;
  bool absolute = false;
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
template <class F>
struct IsHandlerKind<CatchAll<F>> : std::true_type {};

template <class H>
inline constexpr bool kBadHandler = false;

template <class H>
auto make_handler(H&& h) {
  using D = std::decay_t<H>;
  if constexpr (IsHandlerKind<D>::value) {
    return D(std::forward<H>(h));
  } else if constexpr (kOneArg<D>) {
    if constexpr (std::is_same_v<std::remove_cvref_t<typename CallableTraits<D>::Arg>,
                                 AnyMessage>) {
      return CatchAll<D>{std::forward<H>(h)};
    } else {
      return Plain<D>{std::forward<H>(h)};
    }
  } else if constexpr (std::is_invocable_v<D&, AnyMessage&>) {
    return CatchAll<D>{std::forward<H>(h)};
  } else {
    static_assert(kBadHandler<H>,
                  "ergon::receive: a handler must take exactly one message: a lambda or function "
                  "with one parameter whose type is the message type ([](const Ping& p) {...}), "
                  "ergon::on<T>(guard, fn), ergon::after(timeout, fn), ergon::until(time, fn), or "
                  "a catch-all that takes anything ([](auto&&) {...} or "
                  "[](const ergon::AnyMessage&) {...}). For an overload set, write one lambda "
                  "per type; for two values, send a struct or a std::pair.");
    return 0;
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

// The earliest deadline of the after/until handlers (kNoDeadline if none), and its index.
// `due`: that deadline has passed already (a zero timeout, or an absolute time in the past).
template <class Tuple, std::size_t... I>
void find_after(Tuple& t, std::int64_t& deadline, std::size_t& index, bool& due,
                std::index_sequence<I...>) {
  std::int64_t now = INT64_MIN;  // read once, when the first handler needs it
  auto one = [&](auto& h, std::size_t i) {
    if constexpr (std::decay_t<decltype(h)>::kIsAfter) {
      std::int64_t d;
      if (h.absolute) {
        d = h.timeout_ns;
        if (now == INT64_MIN) now = now_ns();
      } else {
        if (now == INT64_MIN) now = now_ns();
        // A timeout beyond the clock's range (saturating_ns) waits forever: no timer is armed,
        // so not even deterministic mode's clock, which jumps to the next timer, can reach it.
        d = deadline_after(now, h.timeout_ns < 0 ? 0 : h.timeout_ns);
      }
      if (index == SIZE_MAX || d < deadline) {
        deadline = d;
        index = i;
        due = d <= now;
      }
    }
  };
  (one(std::get<I>(t), I), ...);
}

// The receive loop, after receive_start (the receive's reduction, charged before the clock is
// read for its timeout). See docs/design.md, "From send to a handler".
template <class... Hs>
auto receive_impl(const ReceiveStart start, mailbox::Mailbox::MarkerId marker, Hs... hs) {
  using R = typename ReceiveResult<typename Hs::Ret...>::Type;
  auto handlers = std::make_tuple(std::move(hs)...);
  constexpr auto kIdx = std::index_sequence_for<Hs...>{};
  std::int64_t deadline = kNoDeadline;
  std::size_t after_index = SIZE_MAX;
  bool due = false;
  find_after(handlers, deadline, after_index, due, kIdx);
  mailbox::Mailbox& mb = *start.mb;
  const auto gen = static_cast<std::uint32_t>(start.gen);
  mailbox::Envelope* prev = mb.marker_position(marker);
  const bool by_number = marker >= mailbox::Mailbox::kMaxMarkers;
  bool first = true, timed_out = false;
  // A lone arrival (Mailbox::fetch_lone), not in the cache: taken by a handler, dropped, or
  // kept. A guard that throws while it is out keeps it (the destructor), so nothing is lost.
  struct Lone {
    mailbox::Mailbox& mb;
    mailbox::Envelope* e = nullptr;
    ~Lone() {
      if (e != nullptr) mb.keep(e);
    }
  } lone{mb};
  for (;;) {
    mailbox::Envelope* e = lone.e != nullptr ? lone.e : prev != nullptr ? prev->next : mb.head();
    while (e != nullptr) {
      mailbox::Envelope* next = e->next;
      if (by_number && mb.before_marker(marker, e)) {  // older than the marker: not ours
        prev = e;
        e = next;
        continue;
      }
      if (e->stamp != gen) {  // meant for an earlier process in this slot
        if (lone.e == nullptr) {
          mb.remove(prev, e);
        } else {
          lone.e = nullptr;
        }
        if (e->flags & mailbox::kCounted) [[unlikely]]
          (void)release_counted(&mb, e, false);  // no trim: the scan goes on at `next`
        drop_stale(e);
        e = next;
        continue;
      }
      std::size_t which = find_match(e, handlers, kIdx);
      if (which != SIZE_MAX) {
        if (lone.e == nullptr) {
          mb.remove(prev, e);
        } else {
          lone.e = nullptr;
        }
        // The one branch a bounded mailbox adds to a receive, on the envelope just matched.
        if (e->flags & mailbox::kCounted) [[unlikely]] {
          if (release_counted(&mb, e, true)) {  // dropped, the oldest of an overfull mailbox
            prev = mb.marker_position(marker);
            e = prev != nullptr ? prev->next : mb.head();
            continue;
          }
        }
        EnvelopeGuard guard{e};
        return invoke_at<R, 0>(which, e, handlers);
      }
      if (lone.e != nullptr) {  // no handler takes it: it waits in the cache, in its order
        mb.keep(e);
        lone.e = nullptr;
      }
      prev = e;
      e = next;
    }
    if (!by_number && mb.head() == nullptr) {  // nothing kept: see Mailbox::fetch_lone
      const mailbox::Mailbox::Fetched f = mb.fetch_lone();
      lone.e = f.lone;
      if (f.any) continue;
    } else if (mb.fetch()) {
      continue;
    }
    // The first time, find_after has just compared the deadline with the clock (`due`).
    if (after_index != SIZE_MAX &&
        (timed_out || (first ? due : deadline != kNoDeadline && now_ns() >= deadline))) {
      return invoke_after<R, 0>(after_index, handlers);
    }
    first = false;
    timed_out = wait_on(&mb, deadline);
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

// A handler that runs when no message matched by the time `t` (absolute; steady_clock).
template <class Clock, class Duration, class F>
auto until(std::chrono::time_point<Clock, Duration> t, F&& fn) {
  static_assert(std::is_same_v<Clock, std::chrono::steady_clock>,
                "ergon::until takes a std::chrono::steady_clock time point (the clock every "
                "ergon deadline uses); convert a system_clock time with a duration first");
  return detail::After<std::decay_t<F>>{detail::saturating_ns(t.time_since_epoch()),
                                        std::forward<F>(fn), true};
}

// A catch-all handler, spelled out: matches every message (Erlang's `_ ->`). The same as
// passing a generic lambda or one taking const AnyMessage&.
template <class F>
auto on_any(F&& fn) {
  return detail::CatchAll<std::decay_t<F>>{std::forward<F>(fn)};
}

// Waits for the first message that one of `handlers` matches and runs that handler.
// Throws NotInProcess outside a process.
template <class... H>
auto receive(H&&... handlers) {
  static_assert(sizeof...(H) > 0, "receive needs at least one handler");
  return detail::receive_impl(detail::receive_start_current(), mailbox::Mailbox::kNoMarker,
                              detail::make_handler(std::forward<H>(handlers))...);
}

// Waits for the next message of type T and returns it.
template <class T>
T receive() {
  return receive([](T& v) -> T { return std::move(v); });
}

namespace detail {
// What receive_for / receive_until return: optional<T> for one type, optional<variant<T...>>
// for several.
template <class... T>
using ReceiveAny = std::conditional_t<sizeof...(T) == 1, std::tuple_element_t<0, std::tuple<T...>>,
                                      std::variant<T...>>;
template <class... T, class Limit>
std::optional<ReceiveAny<T...>> receive_some(Process* p, mailbox::Mailbox::MarkerId m,
                                             Limit limit) {
  using Out = std::optional<ReceiveAny<T...>>;
  return receive_impl(receive_start(p), m,
                      make_handler([](T& v) -> Out { return Out(std::move(v)); })...,
                      std::move(limit));
}
}  // namespace detail

// Like receive<T>(), but gives up after `timeout` and returns std::nullopt. With several
// types, the first message of any of them, as a std::variant: receive_for<A, B>(50ms).
template <class... T, class Rep, class Period>
auto receive_for(std::chrono::duration<Rep, Period> timeout) {
  static_assert(sizeof...(T) > 0, "ergon::receive_for<T...>: name at least one message type");
  using Out = std::optional<detail::ReceiveAny<T...>>;
  return detail::receive_some<T...>(detail::current_process_or_throw("ergon::receive_for"),
                                    mailbox::Mailbox::kNoMarker,
                                    after(timeout, [] { return Out(); }));
}

// The same with an absolute deadline (steady_clock): std::nullopt once `t` has passed.
template <class... T, class Clock, class Duration>
auto receive_until(std::chrono::time_point<Clock, Duration> t) {
  static_assert(sizeof...(T) > 0, "ergon::receive_until<T...>: name at least one message type");
  using Out = std::optional<detail::ReceiveAny<T...>>;
  return detail::receive_some<T...>(detail::current_process_or_throw("ergon::receive_until"),
                                    mailbox::Mailbox::kNoMarker, until(t, [] { return Out(); }));
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
    check_owner();
    return detail::receive_impl(detail::receive_start(p_), id_,
                                detail::make_handler(std::forward<H>(handlers))...);
  }
  // receive_for / receive_until through the marker.
  template <class... T, class Rep, class Period>
  auto receive_for(std::chrono::duration<Rep, Period> timeout) {
    using Out = std::optional<detail::ReceiveAny<T...>>;
    check_owner();
    return detail::receive_some<T...>(p_, id_, after(timeout, [] { return Out(); }));
  }
  template <class... T, class Clock, class Duration>
  auto receive_until(std::chrono::time_point<Clock, Duration> t) {
    using Out = std::optional<detail::ReceiveAny<T...>>;
    check_owner();
    return detail::receive_some<T...>(p_, id_, until(t, [] { return Out(); }));
  }

 private:
  void check_owner() const {
    if (!owned_by_caller()) {
      throw NotInProcess(
          "ergon::Marker::receive: a marker belongs to the process that made it, and is "
          "void once that process has ended; make the marker in the process that receives");
    }
  }
  bool owned_by_caller() const noexcept {
    return detail::current_process() == p_ && detail::generation_of(p_) == gen_;
  }
  detail::Process* p_;
  std::uint32_t gen_;
  mailbox::Mailbox::MarkerId id_;
};

inline Marker mark() { return Marker(); }

}  // namespace ergon
