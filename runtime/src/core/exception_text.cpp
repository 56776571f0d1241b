// The text for an exception not derived from std::exception. See exception_text.hpp.
#include "core/exception_text.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <typeinfo>

namespace ergon::detail {

std::string foreign_exception_text() noexcept {
  try {
    const std::type_info* t = abi::__cxa_current_exception_type();
    if (t == nullptr) return "an exception not derived from std::exception";
    int status = 0;
    char* name = abi::__cxa_demangle(t->name(), nullptr, nullptr, &status);
    std::string text = std::string("an exception of type ") +
                       (status == 0 && name != nullptr ? name : t->name()) +
                       " (not derived from std::exception)";
    std::free(name);
    return text;
  } catch (...) {
    return std::string();  // no memory: an empty text (the report still says it crashed)
  }
}

}  // namespace ergon::detail
