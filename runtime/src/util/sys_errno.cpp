// See sys_errno.hpp: out of line, so that every call reads the running thread's errno.
#include "util/sys_errno.hpp"

#include <cerrno>

namespace ergon::detail {

[[gnu::noipa]] int sys_errno() noexcept { return errno; }

}  // namespace ergon::detail
