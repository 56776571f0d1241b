// epmd, Erlang's port mapper, spoken over ergon::net (so its waits park a process):
// ALIVE2_REQ registers this node's name and port (the registration lasts while the
// connection stays open), PORT_PLEASE2_REQ finds another node's port.
//
// Rejected: ei_publish and ei's epmd lookups, which open epmd connections with ei's default
// blocking sockets whatever socket callbacks the node was set up with.
#pragma once

#include <cstdint>
#include <string>

#include "ergon/net.hpp"

namespace ergon::detail::dist {

// Registers `alive` (the part of the node name before '@') at `port` as a hidden node with
// epmd on 127.0.0.1:`epmd_port`. Returns the creation epmd gave; `keep` holds the connection
// (closing it unregisters). Throws std::runtime_error naming the cause (no epmd, name taken).
std::uint32_t epmd_publish(net::Stream& keep, const std::string& alive, std::uint16_t port,
                           std::uint16_t epmd_port);

// The distribution port of `alive` on `host` (whose epmd listens on `epmd_port`). Throws
// std::runtime_error when epmd is not there or does not know the name.
std::uint16_t epmd_port_please(const std::string& host, const std::string& alive,
                               std::uint16_t epmd_port, net::Timeout timeout);

}  // namespace ergon::detail::dist
