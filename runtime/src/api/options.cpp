// Options::from_env: the ERGON_* variables, one table row each, and their parsers; and
// to_string(Policy). Every error names the variable the user set and what it accepts.
//
// Rejected: one getenv block per variable (what this replaced: twenty near-identical blocks in
// which a variable's name was written twice and could disagree with itself).
#include "ergon/options.hpp"

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ergon/errors.hpp"

namespace ergon {

namespace {

std::uint64_t parse_size(const char* name, const char* text, bool allow_suffix, std::uint64_t max) {
  std::string s(text);
  std::uint64_t mult = 1;
  if (allow_suffix && !s.empty()) {
    char c = s.back();
    if (c == 'k' || c == 'K') mult = 1024;
    if (c == 'm' || c == 'M') mult = 1024 * 1024;
    if (c == 'g' || c == 'G') mult = 1024ull * 1024 * 1024;
    if (mult != 1) s.pop_back();
  }
  const std::string what = std::string(name) + "='" + text + "'";
  // Digits only: std::stoull would accept a sign (and wrap "-1" around) or leading blanks.
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) {
    throw ConfigError(what + " is not a number" +
                      (allow_suffix ? " (a count of bytes, optionally with K, M or G)" : ""));
  }
  unsigned long long v = 0;
  try {
    v = std::stoull(s);
  } catch (...) {
    throw ConfigError(what + " is too large (at most " + std::to_string(max) + ")");
  }
  if (v > max / mult) {
    throw ConfigError(what + " is too large (at most " + std::to_string(max) + ")");
  }
  return v * mult;
}

// A duration with a unit: "250us", "2ms", "10s" (also "ns", "m" for minutes is not accepted).
std::chrono::nanoseconds parse_duration(const char* name, const char* text) {
  std::string s(text);
  std::size_t digits = s.find_first_not_of("0123456789");
  const std::string what = std::string(name) + "='" + text + "'";
  if (digits == 0 || digits == std::string::npos) {
    throw ConfigError(what +
                      " is not a duration: give a whole number with a unit, ns, us, ms "
                      "or s (for example 250us or 2ms)");
  }
  const std::string unit = s.substr(digits);
  std::uint64_t mult = 0;
  if (unit == "ns") mult = 1;
  if (unit == "us") mult = 1000;
  if (unit == "ms") mult = 1000 * 1000;
  if (unit == "s") mult = 1000 * 1000 * 1000;
  if (mult == 0) {
    throw ConfigError(what + " has an unknown unit '" + unit + "': use ns, us, ms or s");
  }
  const std::uint64_t max = std::uint64_t{1} << 62;
  std::uint64_t v = 0;
  try {
    v = std::stoull(s.substr(0, digits));
  } catch (...) {
    throw ConfigError(what + " is too large");
  }
  if (v > max / mult) throw ConfigError(what + " is too large");
  return std::chrono::nanoseconds(static_cast<std::int64_t>(v * mult));
}

// A probability: a decimal number from 0 to 1 ("0.01", "1e-3", "1").
double parse_probability(const char* name, const char* text) {
  const std::string what = std::string(name) + "='" + text + "'";
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || errno != 0 || !(v >= 0.0 && v <= 1.0)) {
    throw ConfigError(what + " is not a probability: give a number from 0 to 1 (for example 0.01)");
  }
  return v;
}

template <class D>
D parse_duration_as(const char* name, const char* text) {
  const auto ns = parse_duration(name, text);
  const auto d = std::chrono::duration_cast<D>(ns);
  if (std::chrono::duration_cast<std::chrono::nanoseconds>(d) != ns) {
    throw ConfigError(std::string(name) + "='" + text + "' is finer than this setting's unit");
  }
  return d;
}

}  // namespace

const char* to_string(Policy p) noexcept {
  switch (p) {
    case Policy::kBalance:
      return "balance";
    case Policy::kSteal:
      return "steal";
    case Policy::kBalanceSteal:
      return "balance+steal";
  }
  return "?";
}

const char* to_string(MailboxPolicy p) noexcept {
  switch (p) {
    case MailboxPolicy::kBlock:
      return "block";
    case MailboxPolicy::kDropNewest:
      return "drop_newest";
    case MailboxPolicy::kDropOldest:
      return "drop_oldest";
    case MailboxPolicy::kFail:
      return "fail";
    case MailboxPolicy::kForward:
      return "forward";
  }
  return "?";
}

const char* to_string(OnStackOverflow o) noexcept {
  switch (o) {
    case OnStackOverflow::kAbort:
      return "abort";
    case OnStackOverflow::kEndProcess:
      return "end_process";
  }
  return "?";
}

namespace {
Policy parse_policy(const std::string& what, std::string_view v) {
  if (v == "balance") return Policy::kBalance;
  if (v == "steal") return Policy::kSteal;
  if (v == "balance+steal") return Policy::kBalanceSteal;
  throw ConfigError(what + " is not a policy: use balance, steal or balance+steal");
}

bool parse_bool(const char* name, const char* v) {
  const std::string_view t(v);
  if (t == "1" || t == "true" || t == "yes" || t == "on") return true;
  if (t == "0" || t == "false" || t == "no" || t == "off") return false;
  throw ConfigError(std::string(name) + "='" + v + "' is not a boolean: use 0 or 1");
}

// "name:workers[:policy],..."
std::vector<PoolOptions> parse_pools(const char* v) {
  std::vector<PoolOptions> pools;
  const std::string all(v);
  const std::string what = std::string("ERGON_POOLS='") + v + "'";
  std::size_t at = 0;
  while (at <= all.size()) {
    std::size_t end = all.find(',', at);
    if (end == std::string::npos) end = all.size();
    const std::string item = all.substr(at, end - at);
    const std::size_t c1 = item.find(':');
    if (c1 == std::string::npos || c1 == 0) {
      throw ConfigError(what + ": each pool is name:workers[:policy], e.g. cheap:3,slow:1:steal");
    }
    const std::size_t c2 = item.find(':', c1 + 1);
    PoolOptions po;
    po.name = item.substr(0, c1);
    const std::string n =
        item.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1);
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos || n.size() > 4 ||
        std::stoul(n) < 1 || std::stoul(n) > 1024) {
      throw ConfigError(what + ": pool \"" + po.name + "\" has workers '" + n +
                        "', which is not a count from 1 to 1024; each pool is "
                        "name:workers[:policy], e.g. cheap:3,slow:1:steal");
    }
    po.workers = static_cast<unsigned>(std::stoul(n));
    if (c2 != std::string::npos) po.policy = parse_policy(what, item.substr(c2 + 1));
    pools.push_back(std::move(po));
    at = end + 1;
  }
  return pools;
}
}  // namespace

namespace {

// Options::from_env as a table: one row per ERGON_* variable, naming the variable and the
// setter of its field. A setter parses the text by the field's type (a count, a size with K/M/G,
// a duration in the field's unit, a probability, a boolean, a policy, the pool list, the
// stack overflow action), and every parse error names the variable the user set and says what
// it accepts.
using Setter = void (*)(Options& o, const char* var, const char* text);
struct EnvVar {
  const char* name;
  Setter set;
};

template <auto Field, std::uint64_t Max, bool Suffix = false>
void set_count(Options& o, const char* var, const char* text) {
  using F = std::remove_reference_t<decltype(o.*Field)>;
  o.*Field = static_cast<F>(parse_size(var, text, Suffix, Max));
}
template <auto Field>
void set_duration(Options& o, const char* var, const char* text) {
  using D = std::remove_reference_t<decltype(o.*Field)>;
  o.*Field = parse_duration_as<D>(var, text);
}
template <auto Field>
void set_bool(Options& o, const char* var, const char* text) {
  o.*Field = parse_bool(var, text);
}
template <auto Field>
void set_fault_probability(Options& o, const char* var, const char* text) {
  o.faults.*Field = parse_probability(var, text);
}
template <auto Field>
void set_fault_duration(Options& o, const char* var, const char* text) {
  using D = std::remove_reference_t<decltype(o.faults.*Field)>;
  o.faults.*Field = parse_duration_as<D>(var, text);
}
void set_policy(Options& o, const char* var, const char* text) {
  o.policy = parse_policy(std::string(var) + "='" + text + "'", text);
}
void set_pools(Options& o, const char*, const char* text) { o.pools = parse_pools(text); }
void set_on_stack_overflow(Options& o, const char* var, const char* text) {
  const std::string_view v(text);
  if (v == "abort") {
    o.on_stack_overflow = OnStackOverflow::kAbort;
  } else if (v == "end_process") {
    o.on_stack_overflow = OnStackOverflow::kEndProcess;
  } else {
    throw ConfigError(std::string(var) + "='" + text +
                      "' is not a stack overflow action: use abort (the default: the report, "
                      "then the program aborts) or end_process (only the process ends, with "
                      "reason stack_overflow)");
  }
}

// The bounds: what the runtime can represent or accept (workers and pool sizes: 1024 workers
// at most; a stack: kMaxStackSize, 1 TiB of address space; reductions: a signed 32-bit budget;
// stall_nice: the largest nice value, 19; spare carriers: 100,000 threads).
constexpr EnvVar kEnvVars[] = {
    {"ERGON_WORKERS", set_count<&Options::workers, 1024>},
    {"ERGON_STACK_SIZE", set_count<&Options::stack_size, kMaxStackSize, true>},
    {"ERGON_STACK_OVERFLOW", set_on_stack_overflow},
    {"ERGON_MAX_PROCESSES", set_count<&Options::max_processes, SIZE_MAX>},
    {"ERGON_REDUCTIONS", set_count<&Options::reductions, INT32_MAX>},
    {"ERGON_SPIN_ROUNDS", set_count<&Options::spin_rounds, UINT32_MAX>},
    {"ERGON_WATCHDOG_TICK", set_duration<&Options::watchdog_tick>},
    {"ERGON_PREEMPT_AFTER", set_duration<&Options::preempt_after>},
    {"ERGON_HANDOFF_AFTER", set_duration<&Options::handoff_after>},
    {"ERGON_MAX_SPARE_CARRIERS", set_count<&Options::max_spare_carriers, 100000>},
    {"ERGON_STALL_NICE", set_count<&Options::stall_nice, 19>},
    {"ERGON_SPARE_KEEPALIVE", set_duration<&Options::spare_keepalive>},
    {"ERGON_SHUTDOWN_TIMEOUT", set_duration<&Options::shutdown_timeout>},
    {"ERGON_ASLEEP_AFTER", set_duration<&Options::asleep_after>},
    {"ERGON_IO_POLL_INTERVAL", set_duration<&Options::io_poll_interval>},
    {"ERGON_ACCEPT_OVERLOAD", set_count<&Options::accept_overload, SIZE_MAX>},
    {"ERGON_POLICY", set_policy},
    {"ERGON_BALANCE_INTERVAL", set_duration<&Options::balance_interval>},
    {"ERGON_COMPACTION", set_bool<&Options::compaction>},
    {"ERGON_FORCE_MIGRATION", set_bool<&Options::force_migration>},
    {"ERGON_POOLS", set_pools},
    {"ERGON_DETERMINISTIC", set_bool<&Options::deterministic>},
    {"ERGON_SIMULATE", set_bool<&Options::simulate>},
    {"ERGON_SEED", set_count<&Options::seed, UINT64_MAX>},
    {"ERGON_FAULT_DELAY_MESSAGES", set_fault_probability<&FaultOptions::delay_messages>},
    {"ERGON_FAULT_MAX_DELAY", set_fault_duration<&FaultOptions::max_delay>},
    {"ERGON_FAULT_REORDER_MESSAGES", set_fault_probability<&FaultOptions::reorder_messages>},
    {"ERGON_FAULT_CRASH", set_fault_probability<&FaultOptions::crash>},
    {"ERGON_FAULT_FAIL_SPAWNS", set_fault_probability<&FaultOptions::fail_spawns>},
};

}  // namespace

Options Options::from_env(Options base) {
  for (const EnvVar& v : kEnvVars) {
    if (const char* text = std::getenv(v.name)) v.set(base, v.name, text);
  }
  return base;
}

}  // namespace ergon
