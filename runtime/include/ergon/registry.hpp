// Registered names: a process can be known by a name, as in Erlang.
//
//   ergon::register_name("logger", ergon::self());
//   ergon::send("logger", Line{"started"});     // throws Error if nobody holds the name
//   ergon::Pid p = ergon::whereis("logger");    // Pid{} if nobody does
//
// A name belongs to one live process of one runtime, and a process has at most one name. The
// name is released when the process ends (or by unregister_name). The calls below work inside
// a process of the runtime; from outside, use Runtime::register_name / whereis.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "ergon/detail/api.hpp"
#include "ergon/errors.hpp"
#include "ergon/mailbox/message.hpp"
#include "ergon/pid.hpp"

namespace ergon {

// Gives `pid` the name `name`. Throws Error when the name is held by a live process, when the
// pid already has a name, or when it names no live process of this runtime; NotInProcess
// outside a process.
void register_name(std::string name, Pid pid);
// Frees `name`; false if nobody held it.
bool unregister_name(std::string_view name);
// The process holding `name`, or Pid{}.
Pid whereis(std::string_view name);

namespace detail {
Pid whereis_or_throw(std::string_view name, const char* what);
}

// Sends `msg` to the process registered as `name`. Throws Error naming the name when nobody
// holds it (Erlang's badarg), NotInProcess outside a process.
template <class T>
void send(std::string_view name, T&& msg) {
  using M = detail::wire_t<T>;
  const Pid to = detail::whereis_or_throw(name, "ergon::send");
  detail::send_envelope(to, mailbox::make_message<M>(std::forward<T>(msg)));
}

}  // namespace ergon
