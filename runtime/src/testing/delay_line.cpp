// DelayLine: fault injection's held messages. See delay_line.hpp for the protocol.
#include "testing/delay_line.hpp"

#include <algorithm>
#include <chrono>
#include <climits>

#include "core/scheduler.hpp"

namespace ergon::detail {

DelayLine::DelayLine(Scheduler& sched, std::int64_t max_delay_ns, bool own_thread)
    : sched_(sched), max_delay_ns_(max_delay_ns), own_thread_(own_thread) {}

void DelayLine::start() {
  // Not in the constructor: the thread reads the scheduler's clock, whose hooks are installed
  // after the line is built (api/system.hpp, SY3).
  if (own_thread_ && !thread_.joinable()) thread_ = std::thread([this] { run(); });
}

DelayLine::~DelayLine() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  clear();
}

DelayLine::Offer DelayLine::offer(Pid from, Pid to, mailbox::Envelope* e, Hold how,
                                  std::int64_t delay_ns, Worker* w) {
  std::lock_guard<std::mutex> lk(mu_);
  const auto pair_key = std::make_pair(from.raw(), to.raw());
  auto pit = pairs_.find(pair_key);
  const bool busy = pit != pairs_.end() && pit->second.held != 0;
  const std::int64_t now = sched_.now();
  if (how == Hold::kNone && !busy) {  // DL1
    if (waiting_.find(to.raw()) == waiting_.end()) return Offer::kPassed;
    deliver_envelope(to, e, w);  // DL3: it overtakes the waiters
    if (release_overtaken(to, from, now)) cv_.notify_one();
    return Offer::kDelivered;
  }
  // DL2.
  std::int64_t due = now;
  bool awaits = false;
  if (how == Hold::kDelay) {
    due = now + delay_ns;
    ++delayed_;
  } else if (how == Hold::kReorder && !busy) {
    due = now + max_delay_ns_;
    awaits = true;
  }
  if (pit == pairs_.end()) pit = pairs_.emplace(pair_key, PairState{}).first;
  PairState& ps = pit->second;
  if (ps.held != 0) due = std::max(due, ps.last_due);
  ++ps.held;
  ps.last_due = due;
  const Key key{due, seq_++};
  held_.emplace(key, Entry{e, from, to, awaits});
  if (awaits) waiting_[to.raw()].push_back(key);
  if (held_.begin()->first == key) cv_.notify_one();  // a new first due time
  return Offer::kHeld;
}

std::int64_t DelayLine::next_due() const {
  std::lock_guard<std::mutex> lk(mu_);
  return held_.empty() ? INT64_MAX : held_.begin()->first.first;
}

void DelayLine::deliver_due(std::int64_t now) {
  std::lock_guard<std::mutex> lk(mu_);
  deliver_due_locked(now);
}

void DelayLine::deliver_due_locked(std::int64_t now) {
  while (!held_.empty() && held_.begin()->first.first <= now) {  // DL4
    auto node = held_.extract(held_.begin());
    const Entry en = node.mapped();
    if (en.awaits_overtake) forget_waiter(en.to, node.key());
    drop_pair_entry(en.from, en.to);
    deliver_envelope(en.to, en.e, nullptr);
    (void)release_overtaken(en.to, en.from, now);  // DL5: the loop delivers them next
  }
}

bool DelayLine::release_overtaken(Pid to, Pid from, std::int64_t now) {
  auto wit = waiting_.find(to.raw());
  if (wit == waiting_.end()) return false;
  std::vector<Key>& keys = wit->second;
  bool any = false;
  for (std::size_t i = 0; i < keys.size();) {
    auto it = held_.find(keys[i]);
    if (it == held_.end() || it->second.from == from) {  // its own pair cannot overtake it
      ++i;
      continue;
    }
    // The waiter is its pair's first entry (a reorder starts only on an idle pair), so it
    // may leave now without passing an older message of its pair.
    auto node = held_.extract(it);
    node.mapped().awaits_overtake = false;
    node.key().first = std::min(node.key().first, now);
    auto pit = pairs_.find(std::make_pair(node.mapped().from.raw(), to.raw()));
    if (pit != pairs_.end() && pit->second.held == 1) pit->second.last_due = node.key().first;
    held_.insert(std::move(node));
    ++reordered_;
    any = true;
    keys[i] = keys.back();
    keys.pop_back();
  }
  if (keys.empty()) waiting_.erase(wit);
  return any;
}

void DelayLine::forget_waiter(Pid to, const Key& k) {
  auto wit = waiting_.find(to.raw());
  if (wit == waiting_.end()) return;
  std::vector<Key>& keys = wit->second;
  keys.erase(std::remove(keys.begin(), keys.end(), k), keys.end());
  if (keys.empty()) waiting_.erase(wit);
}

void DelayLine::drop_pair_entry(Pid from, Pid to) {
  auto pit = pairs_.find(std::make_pair(from.raw(), to.raw()));
  if (pit != pairs_.end() && --pit->second.held == 0) pairs_.erase(pit);
}

std::size_t DelayLine::discard_if(Pid to, bool (*match)(const mailbox::Envelope*, const void*),
                                  const void* arg) {
  std::lock_guard<std::mutex> lk(mu_);
  std::size_t n = 0;
  for (auto it = held_.begin(); it != held_.end();) {
    const Entry& en = it->second;
    if (en.to != to || !match(en.e, arg)) {
      ++it;
      continue;
    }
    if (en.awaits_overtake) forget_waiter(en.to, it->first);
    drop_pair_entry(en.from, en.to);
    mailbox::dispose(en.e);
    it = held_.erase(it);
    ++n;
  }
  return n;
}

void DelayLine::clear() noexcept {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& [key, en] : held_) mailbox::dispose(en.e);
  // relaxed: a statistic. Held for receivers that have ended (or never will be delivered).
  sched_.external_dropped.fetch_add(held_.size(), std::memory_order_relaxed);
  held_.clear();
  pairs_.clear();
  waiting_.clear();
}

std::uint64_t DelayLine::delayed() const {
  std::lock_guard<std::mutex> lk(mu_);
  return delayed_;
}

std::uint64_t DelayLine::reordered() const {
  std::lock_guard<std::mutex> lk(mu_);
  return reordered_;
}

std::size_t DelayLine::held() const {
  std::lock_guard<std::mutex> lk(mu_);
  return held_.size();
}

void DelayLine::run() {
  std::unique_lock<std::mutex> lk(mu_);
  while (!stop_) {
    const std::int64_t due = held_.empty() ? INT64_MAX : held_.begin()->first.first;
    const std::int64_t now = sched_.now();
    if (due > now) {
      // Scheduler::now() is CLOCK_MONOTONIC, the clock of steady_clock on Linux.
      if (due == INT64_MAX) {
        cv_.wait(lk);
      } else {
        cv_.wait_for(lk, std::chrono::nanoseconds(due - now));
      }
      continue;
    }
    deliver_due_locked(now);
  }
}

}  // namespace ergon::detail
