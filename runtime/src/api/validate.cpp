// validated(): checking and completing a Runtime's options. See validate.hpp.
#include "api/validate.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <random>
#include <string>
#include <thread>

#include "core/scheduler.hpp"
#include "ergon/errors.hpp"
#include "util/cpus.hpp"
#include "util/xoshiro.hpp"

namespace ergon::detail {
namespace {

void check_probability(double p, const char* field, const char* var) {
  if (!(p >= 0.0 && p <= 1.0)) {  // also rejects NaN
    throw ConfigError(std::string("ergon::Options::faults.") + field +
                      " must be a probability from 0 to 1 (" + var + ")");
  }
}

void validate_faults(const FaultOptions& f) {
  check_probability(f.delay_messages, "delay_messages", "ERGON_FAULT_DELAY_MESSAGES");
  check_probability(f.reorder_messages, "reorder_messages", "ERGON_FAULT_REORDER_MESSAGES");
  check_probability(f.crash, "crash", "ERGON_FAULT_CRASH");
  check_probability(f.fail_spawns, "fail_spawns", "ERGON_FAULT_FAIL_SPAWNS");
  if (f.max_delay < std::chrono::microseconds(1) || f.max_delay > std::chrono::seconds(60)) {
    throw ConfigError(
        "ergon::Options::faults.max_delay must be between 1 us and 60 s "
        "(ERGON_FAULT_MAX_DELAY)");
  }
}

// A seed for Options::seed == 0: never 0 itself, so the seed a runtime reports replays it.
std::uint64_t random_seed() {
  std::random_device rd;
  std::uint64_t x = (std::uint64_t{rd()} << 32) ^ rd() ^ static_cast<std::uint64_t>(monotonic_ns());
  const std::uint64_t s = splitmix64(x);
  return s != 0 ? s : 1;
}

}  // namespace

Options validated(Options o) {
  o = Options::from_env(std::move(o));
  if (!o.pools.empty()) {
    unsigned sum = 0;
    for (std::size_t i = 0; i < o.pools.size(); ++i) {
      const PoolOptions& po = o.pools[i];
      if (po.name.empty())
        throw ConfigError("ergon::Options::pools (ERGON_POOLS): a pool has no name");
      if (po.workers == 0 || po.workers > 1024) {
        throw ConfigError("ergon::Options::pools (ERGON_POOLS): pool \"" + po.name +
                          "\" must have between 1 and 1024 workers");
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (o.pools[j].name == po.name) {
          throw ConfigError("ergon::Options::pools (ERGON_POOLS): two pools are named \"" +
                            po.name + "\"");
        }
      }
      sum += po.workers;
    }
    if (o.workers != 0 && o.workers != sum) {
      throw ConfigError("ergon::Options::workers (ERGON_WORKERS) is " + std::to_string(o.workers) +
                        " but the pools (ERGON_POOLS) hold " + std::to_string(sum) +
                        " workers: leave workers at 0 with pools, or make them agree");
    }
    o.workers = sum;
  }
  if (o.workers == 0) o.workers = available_cpus();  // the affinity mask and the cgroup quota
  if (o.workers > 1024)
    throw ConfigError("ergon::Options::workers must be at most 1024 (ERGON_WORKERS)");
  if (o.reductions == 0 || o.reductions > INT32_MAX) {
    throw ConfigError(
        "ergon::Options::reductions must be between 1 and 2147483647 (ERGON_REDUCTIONS)");
  }
  if (o.stack_size < kMinStackSize || o.stack_size > kMaxStackSize) {
    throw ConfigError("ergon::Options::stack_size (ERGON_STACK_SIZE) is " +
                      std::to_string(o.stack_size) +
                      " bytes; it must be between 32 KiB (32K; ergon::kMinStackSize: the C "
                      "library needs about 16 KiB of a process's stack) and 1 TiB "
                      "(ergon::kMaxStackSize)");
  }
  if (o.max_processes == 0)
    throw ConfigError("ergon::Options::max_processes must be at least 1 (ERGON_MAX_PROCESSES)");
  using std::chrono::microseconds;
  if (o.watchdog_tick < microseconds(0) || o.watchdog_tick > std::chrono::seconds(10)) {
    throw ConfigError(
        "ergon::Options::watchdog_tick must be between 0 (watchdog off) and 10 s "
        "(ERGON_WATCHDOG_TICK)");
  }
  if (o.io_poll_interval < microseconds(100) || o.io_poll_interval > std::chrono::seconds(10)) {
    throw ConfigError(
        "ergon::Options::io_poll_interval must be between 100 us and 10 s "
        "(ERGON_IO_POLL_INTERVAL)");
  }
  if (o.preempt_after < microseconds(1) || o.handoff_after < o.preempt_after) {
    throw ConfigError(
        "ergon::Options::preempt_after must be at least 1 us, and handoff_after at least "
        "preempt_after (ERGON_PREEMPT_AFTER, ERGON_HANDOFF_AFTER)");
  }
  if (o.stall_nice < 0 || o.stall_nice > 19) {
    throw ConfigError("ergon::Options::stall_nice must be between 0 and 19 (ERGON_STALL_NICE)");
  }
  if (o.max_spare_carriers > 100000) {
    throw ConfigError(
        "ergon::Options::max_spare_carriers must be at most 100000 (ERGON_MAX_SPARE_CARRIERS)");
  }
  if (o.balance_interval < microseconds(10) || o.balance_interval > std::chrono::seconds(10)) {
    throw ConfigError(
        "ergon::Options::balance_interval must be between 10 us and 10 s "
        "(ERGON_BALANCE_INTERVAL)");
  }
  if (o.pools.empty()) o.pools.push_back(PoolOptions{"default", o.workers, o.policy});
  for (PoolOptions& po : o.pools) {
    if (!po.policy) po.policy = o.policy;
  }
  if (o.spare_keepalive < std::chrono::milliseconds(1)) {
    throw ConfigError(
        "ergon::Options::spare_keepalive must be at least 1 ms (ERGON_SPARE_KEEPALIVE)");
  }
  if (o.shutdown_timeout < std::chrono::milliseconds(0)) {
    throw ConfigError(
        "ergon::Options::shutdown_timeout must be at least 0 ms (0 waits forever) "
        "(ERGON_SHUTDOWN_TIMEOUT)");
  }
  if (o.asleep_after < std::chrono::milliseconds(0)) {
    throw ConfigError(
        "ergon::Options::asleep_after must be at least 0 ms (0 turns the report off) "
        "(ERGON_ASLEEP_AFTER)");
  }
  validate_faults(o.faults);
  if (o.simulate) o.deterministic = true;   // the simulated mode is deterministic mode's kind
  if (o.seed == 0) o.seed = random_seed();  // Runtime::seed() tells which
  return o;
}

}  // namespace ergon::detail
