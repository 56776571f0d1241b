// validated(): a Runtime's options checked and completed before anything is built (the
// ERGON_* environment applied on top, pools filled in, the seed drawn). Every error names the
// field, its range and the variable that sets it.
#pragma once

#include "ergon/options.hpp"

namespace ergon::detail {

// Throws ConfigError on the first bad value.
Options validated(Options o);

}  // namespace ergon::detail
