// MD5 (RFC 1321), for the distribution handshake's challenge digests and nothing else: Erlang's
// handshake defines the digest as MD5(Cookie ++ integer_to_list(Challenge)). MD5 is broken as
// a general hash; here it is what the protocol fixes, and the cookie is its only secret.
// Written from the RFC rather than taken from libei (whose ei_MD5* are internal symbols, not
// its API) or OpenSSL (a dependency for sixty lines).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace ergon::detail::dist {

std::array<std::uint8_t, 16> md5(std::string_view data);

}  // namespace ergon::detail::dist
