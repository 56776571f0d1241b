// Faults: fault injection's decisions and counters. See faults.hpp.
#include "testing/faults.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/process.hpp"
#include "core/scheduler.hpp"
#include "ergon/errors.hpp"
#include "ergon/mailbox/mailbox.hpp"

namespace ergon::detail {
namespace {

std::string format_probability(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", p);
  return buf;
}

}  // namespace

Faults::Faults(Scheduler& sched, const FaultOptions& opts, std::uint64_t seed, bool own_thread)
    : sched_(sched),
      opts_(opts),
      seed_(seed),
      delay_(probability_threshold(opts.delay_messages)),
      reorder_(probability_threshold(opts.reorder_messages)),
      crash_(probability_threshold(opts.crash)),
      fail_spawn_(probability_threshold(opts.fail_spawns)),
      max_delay_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(opts.max_delay).count()),
      outside_(seed, ~std::uint64_t{0}) {
  if (delay_ != 0 || reorder_ != 0) {
    line_ = std::make_unique<DelayLine>(sched, max_delay_ns_, own_thread);
  }
}

Faults::~Faults() = default;

void Faults::seed_child(Process* child, Process* spawner, bool faults) {
  if (spawner != nullptr) {
    child->fault_rng = Xoshiro256(seed_, spawner->fault_rng.next());
  } else {
    std::lock_guard<std::mutex> lk(outside_mu_);
    child->fault_rng = Xoshiro256(seed_, outside_.next());
  }
  if (faults && crashes()) child->reset_signals(Process::kSigInject);  // private: see spawn_begin
}

bool Faults::on_send(Process* sender, Worker* w, Pid to, mailbox::Envelope* e, bool crash_point) {
  if (crash_point && sender != nullptr && sender->inject_crashes() && sender->shield == 0 &&
      roll_crash(sender)) {
    mailbox::dispose(e);
    throw InjectedFault(crash_message(sender->pid(), "a send"));
  }
  if (line_ == nullptr) return false;
  std::int64_t delay_ns = 0;
  const DelayLine::Hold how = roll_send(sender, &delay_ns);
  const Pid from = sender != nullptr ? sender->pid() : Pid{};
  return line_->offer(from, to, e, how, delay_ns, w) != DelayLine::Offer::kPassed;
}

void Faults::crash_point(Process* p, const char* where) {
  if (roll_crash(p)) throw InjectedFault(crash_message(p->pid(), where));
}

std::size_t Faults::discard_held(Pid to, bool (*match)(const mailbox::Envelope*, const void*),
                                 const void* arg) {
  return line_ != nullptr ? line_->discard_if(to, match, arg) : 0;
}

std::int64_t Faults::next_due() const { return line_ != nullptr ? line_->next_due() : INT64_MAX; }

void Faults::deliver_due(std::int64_t now) {
  if (line_ != nullptr) line_->deliver_due(now);
}

void Faults::start() {
  if (line_ != nullptr) line_->start();
}

void Faults::stop() noexcept { line_.reset(); }

bool Faults::roll_crash(Process* p) noexcept {
  if (!p->fault_rng.chance(crash_)) return false;
  crashes_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  return true;
}

DelayLine::Hold Faults::roll_send(Process* sender, std::int64_t* delay_ns) {
  auto decide = [&](Xoshiro256& r) {
    if (delay_ != 0 && r.chance(delay_)) {
      *delay_ns = static_cast<std::int64_t>(
          r.between_1_and(static_cast<std::uint64_t>(std::max<std::int64_t>(1, max_delay_ns_))));
      return DelayLine::Hold::kDelay;
    }
    if (reorder_ != 0 && r.chance(reorder_)) return DelayLine::Hold::kReorder;
    return DelayLine::Hold::kNone;
  };
  if (sender != nullptr) return decide(sender->fault_rng);
  std::lock_guard<std::mutex> lk(outside_mu_);
  return decide(outside_);
}

void Faults::before_spawn(Process* spawner) {
  if (spawner != nullptr && spawner->inject_crashes() && spawner->shield == 0 &&
      roll_crash(spawner)) {
    throw InjectedFault(crash_message(spawner->pid(), "a spawn"));
  }
  if (fail_spawn_ == 0) return;
  bool fail;
  if (spawner != nullptr) {
    fail = spawner->fault_rng.chance(fail_spawn_);
  } else {
    std::lock_guard<std::mutex> lk(outside_mu_);
    fail = outside_.chance(fail_spawn_);
  }
  if (!fail) return;
  spawn_failures_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  throw SpawnError(
      "ergon::spawn: failed on purpose by fault injection (Options::faults."
      "fail_spawns = " +
      format_probability(opts_.fail_spawns) + ", ERGON_FAULT_FAIL_SPAWNS; seed " +
      std::to_string(seed_) + ", ERGON_SEED=" + std::to_string(seed_) +
      " replays it). Set it to 0 to turn it off, or spawn with "
      "SpawnOptions::faults = false to exempt one spawn.");
}

std::string Faults::crash_message(Pid pid, const char* where) const {
  return "ergon: fault injection crashed process " + pid.to_string() + " at " + where +
         " (Options::faults.crash = " + format_probability(opts_.crash) +
         ", ERGON_FAULT_CRASH; seed " + std::to_string(seed_) +
         ", ERGON_SEED=" + std::to_string(seed_) +
         " replays it). Set it to 0 to turn crashes off, or spawn with SpawnOptions::faults = "
         "false to exempt a process.";
}

void Faults::clear_held() noexcept {
  if (line_ != nullptr) line_->clear();
}

void Faults::add_stats(Stats& s) const {
  if (line_ != nullptr) {
    s.messages_delayed = line_->delayed();
    s.messages_reordered = line_->reordered();
  }
  s.injected_crashes = crashes_.load(std::memory_order_relaxed);  // relaxed: statistic
  s.injected_spawn_failures = spawn_failures_.load(std::memory_order_relaxed);
}

}  // namespace ergon::detail
