// Carrier: the thread, the ownership protocol (E1..E3, T1..T2) and the spare pool. See
// carrier.hpp for the design.
#include "core/carrier.hpp"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <system_error>

#include "core/process.hpp"
#include "core/scheduler.hpp"
#include "core/stack_guard.hpp"
#include "core/worker.hpp"

extern "C" {
__thread std::int32_t ergon_budget = INT32_MAX;
}

namespace ergon::detail {
namespace {

thread_local Carrier* tls_carrier = nullptr;

// Addresses no carrier can have, for Worker::owner_.
alignas(Carrier) unsigned char sentinels[2];

bool query_membarrier() noexcept {
  long cmds = ::syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

std::once_flag g_membarrier_once;

bool membarrier_available() noexcept { return g_membarrier; }

}  // namespace

bool g_membarrier = false;  // see carrier.hpp

Carrier* const Carrier::kDeciding = reinterpret_cast<Carrier*>(&sentinels[0]);
Carrier* const Carrier::kReleased = reinterpret_cast<Carrier*>(&sentinels[1]);

// noipa: the compiler must not inline these, nor assume that two calls return the same value:
// a process may resume on another carrier between them.
[[gnu::noipa]] Carrier* current_carrier() noexcept { return tls_carrier; }
[[gnu::noipa]] std::int32_t* budget_slot() noexcept { return &ergon_budget; }

bool have_membarrier() noexcept { return membarrier_available(); }

void heavy_fence() noexcept {
  if (membarrier_available()) {
    ::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

Carrier::Carrier(Scheduler& sched, unsigned id) : sched_(sched), id_(id) {}

void Carrier::publish_cpu_clock() noexcept {
  clockid_t cid;
  // relaxed: see cpu_clock_.
  cpu_clock_.store(::pthread_getcpuclockid(::pthread_self(), &cid) == 0 ? cid : kNoCpuClock,
                   std::memory_order_relaxed);
}

std::int64_t Carrier::cpu_ns() const noexcept {
  const std::int64_t c = cpu_clock_.load(std::memory_order_relaxed);  // relaxed: see cpu_clock_
  if (c == kNoCpuClock) return -1;
  timespec ts;
  if (::clock_gettime(static_cast<clockid_t>(c), &ts) != 0) return -1;
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Carrier::Entered Carrier::enter_slow(Process* p, Worker* w) noexcept {
  for (;;) {
    // acquire: pairs with the watchdog's store of its decision.
    Carrier* o = w->owner_.load(std::memory_order_acquire);
    if (o == this) return {w, this};  // the watchdog aborted
    if (o == kDeciding) {
      ::sched_yield();
      continue;
    }
    break;
  }
  // Lost: the worker runs on another carrier now. Back to our loop, which sends p to the
  // worker's inbox; p goes on (and enters again) wherever it is resumed.
  lost_ = p;
  p->reason = SwitchReason::kLost;
  p->fiber.suspend();
  return current_carrier()->enter2(p);
}

void Carrier::release_for_blocking() noexcept {
  Worker* w = worker_;
  const bool handed = w->has_work() && sched_.carriers().hand_off_now(w, this);
  if (!handed) {
    // release: the next owner (a spare carrier, or us again) sees our writes to the worker.
    w->owner_.store(kReleased, std::memory_order_release);
  }
  blocked_worker_ = w;
  worker_ = nullptr;
  blocking_ = true;
}

void Carrier::reclaim_after_blocking(Process* p) noexcept {
  blocking_ = false;
  Worker* w = blocked_worker_;
  blocked_worker_ = nullptr;
  for (;;) {
    Carrier* expected = kReleased;
    // acquire: nobody ran the worker meanwhile, but the pool lock may have been taken and
    // released around a failed take_released().
    if (w->owner_.compare_exchange_strong(expected, this, std::memory_order_acquire,
                                          std::memory_order_acquire)) {
      worker_ = w;
      return;
    }
    if (expected != kDeciding) break;  // taken by a spare carrier
    ::sched_yield();
  }
  // The worker went on without us: resume p there (as in enter_slow). relaxed: E1; this
  // carrier is back in runtime code (its loop, then the spare pool), never process code.
  in_user_.store(0, std::memory_order_relaxed);
  worker_ = w;  // what our loop returns through; it does not touch the worker
  lost_ = p;
  p->reason = SwitchReason::kLost;
  p->fiber.suspend();
}

void Carrier::main() {
  tls_carrier = this;
  tid_.store(static_cast<int>(::syscall(SYS_gettid)), std::memory_order_relaxed);
  publish_cpu_clock();
  switch_point_.init_for_current_thread();
  StackGuard::install_on_this_thread();
  CarrierPool& pool = sched_.carriers();
  {
    std::lock_guard<std::mutex> g(pool.mu_);
    budget_slot_ = &ergon_budget;
  }
  while (Worker* w = pool.wait_for_work(this)) {
    worker_ = w;
    w->loop(*this);
    worker_ = nullptr;
    if (Process* p = lost_) {
      lost_ = nullptr;
      w->remote_wake(p);  // p->home is w: it resumes there, or wherever a thief takes it
    }
  }
  StackGuard::remove_from_this_thread();
  tls_carrier = nullptr;
  // relaxed: see cpu_clock_. The clock dies with the thread (and its id may be reused).
  cpu_clock_.store(kNoCpuClock, std::memory_order_relaxed);
  std::lock_guard<std::mutex> g(pool.mu_);
  budget_slot_ = nullptr;  // the thread-local goes away with the thread
  exited_ = true;
  if (pool.abandoned_) thread_.detach();               // nobody will join it (abandon)
  pool.live_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: statistic
}

void Carrier::bind_to_this_thread() noexcept {
  tls_carrier = this;
  tid_.store(static_cast<int>(::syscall(SYS_gettid)), std::memory_order_relaxed);
  publish_cpu_clock();
  switch_point_.init_for_current_thread();
  StackGuard::install_on_this_thread();
  budget_slot_ = &ergon_budget;
}

void Carrier::unbind_from_this_thread() noexcept {
  cpu_clock_.store(kNoCpuClock, std::memory_order_relaxed);  // relaxed: see cpu_clock_
  StackGuard::remove_from_this_thread();
  budget_slot_ = nullptr;
  worker_ = nullptr;
  tls_carrier = nullptr;
}

// --- CarrierPool ---------------------------------------------------------------------------

CarrierPool::CarrierPool(Scheduler& sched, unsigned max_spare, std::chrono::nanoseconds keepalive)
    : sched_(sched), max_spare_(max_spare), keepalive_(keepalive) {
  std::call_once(g_membarrier_once, [] { g_membarrier = query_membarrier(); });
}

CarrierPool::~CarrierPool() { stop(); }

void CarrierPool::start(unsigned workers) {
  std::lock_guard<std::mutex> g(mu_);
  workers_ = workers;
  for (unsigned i = 0; i < workers; ++i) {
    Worker* w = &sched_.worker(i);
    Carrier* c = spare_for(w);
    // release: the carrier sees the worker's initial state (it also takes our lock).
    w->owner_.store(c, std::memory_order_release);
  }
}

void CarrierPool::stop() {
  std::vector<Carrier*> all;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (stopping_ && all_.empty()) return;
    stopping_ = true;
    for (auto& c : all_) {
      c->cv_.notify_all();
      all.push_back(c.get());
    }
  }
  for (Carrier* c : all) {
    if (c->thread_.joinable()) c->thread_.join();
  }
  std::lock_guard<std::mutex> g(mu_);
  idle_.clear();
  all_.clear();
}

void CarrierPool::abandon() {
  std::lock_guard<std::mutex> g(mu_);
  abandoned_ = true;
  for (auto& c : all_) {
    // An exited carrier's thread has returned from main() or is about to: detach it. A live
    // one detaches itself when it exits (Carrier::main).
    if (c->exited_ && c->thread_.joinable()) c->thread_.detach();
  }
}

Carrier* CarrierPool::spare_for(Worker* w) {
  if (stopping_) return nullptr;
  if (!idle_.empty()) {
    Carrier* c = idle_.back();
    idle_.pop_back();
    // relaxed: an idle carrier runs no process code; the watchdog, which reads this only for
    // the owner of a worker, reads it after our owner_ store below (and under this lock).
    c->in_user_.store(0, std::memory_order_relaxed);
    c->idle_ = false;
    c->assigned_ = w;
    c->cv_.notify_one();
    return c;
  }
  if (live_.load(std::memory_order_relaxed) >= workers_ + max_spare_) {
    cap_hits_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    return nullptr;
  }
  // Reuse the record of a carrier that retired (records are never freed before the pool:
  // the watchdog reads carriers without the lock and only trusts what it re-checks under it).
  Carrier* c = nullptr;
  for (auto& r : all_) {
    if (r->exited_) {
      c = r.get();
      if (c->thread_.joinable()) c->thread_.join();
      break;
    }
  }
  if (c == nullptr) {
    all_.push_back(std::make_unique<Carrier>(sched_, static_cast<unsigned>(all_.size())));
    c = all_.back().get();
  }
  c->exited_ = false;
  c->assigned_ = w;
  c->in_user_.store(0, std::memory_order_relaxed);  // relaxed: as above (a recycled record)
  try {
    c->thread_ = std::thread([c] { c->main(); });
  } catch (const std::system_error&) {
    c->exited_ = true;
    c->assigned_ = nullptr;
    cap_hits_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    return nullptr;
  }
  live_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic and the cap (under mu_)
  return c;
}

Worker* CarrierPool::wait_for_work(Carrier* c) {
  std::unique_lock<std::mutex> lk(mu_);
  if (c->demoted_) {
    // Back to the priority of the other carriers before carrying a worker again. Raising it
    // needs CAP_SYS_NICE (or RLIMIT_NICE): without, this carrier exits instead.
    c->demoted_ = false;
    if (::setpriority(PRIO_PROCESS, static_cast<id_t>(c->tid()), 0) != 0) return nullptr;
  }
  for (;;) {
    if (c->assigned_ != nullptr) {
      Worker* w = c->assigned_;
      c->assigned_ = nullptr;
      return w;
    }
    if (stopping_) return nullptr;
    if (!c->idle_) {
      idle_.push_back(c);
      c->idle_ = true;
    }
    if (c->cv_.wait_for(lk, keepalive_) == std::cv_status::timeout && c->assigned_ == nullptr &&
        !stopping_) {
      // Retire after the keep-alive: leave the spare pool.
      std::erase(idle_, c);
      c->idle_ = false;
      return nullptr;
    }
  }
}

bool CarrierPool::retake(Worker* w, Carrier* owner, std::uint64_t runs) {
  std::lock_guard<std::mutex> g(mu_);
  Carrier* expected = owner;
  // relaxed: T1; the fence below orders it before the read of in_user_.
  if (!w->owner_.compare_exchange_strong(expected, Carrier::kDeciding, std::memory_order_relaxed,
                                         std::memory_order_relaxed)) {
    return false;
  }
  heavy_fence();
  // T2: still in process code, in the same slice?
  if (!owner->in_user() || w->processes_run() != runs) {
    // release: pairs with the acquire in enter_slow.
    w->owner_.store(owner, std::memory_order_release);
    return false;
  }
  Carrier* s = spare_for(w);
  // release: the new carrier (and the old one's enter_slow) see the decision; the new one
  // also takes this lock before it runs the worker.
  w->owner_.store(s != nullptr ? s : owner, std::memory_order_release);
  if (s == nullptr) return false;
  handoffs_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  return true;
}

bool CarrierPool::take_released(Worker* w) {
  std::lock_guard<std::mutex> g(mu_);
  Carrier* expected = Carrier::kReleased;
  // acquire: the releasing carrier's writes to the worker, for the spare that runs it.
  if (!w->owner_.compare_exchange_strong(expected, Carrier::kDeciding, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
    return false;
  }
  Carrier* s = spare_for(w);
  // release: as in retake.
  w->owner_.store(s != nullptr ? s : Carrier::kReleased, std::memory_order_release);
  if (s == nullptr) return false;
  handoffs_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  return true;
}

bool CarrierPool::hand_off_now(Worker* w, Carrier* c) {
  std::lock_guard<std::mutex> g(mu_);
  (void)c;  // the caller owns w: no protocol needed
  Carrier* s = spare_for(w);
  if (s == nullptr) return false;
  // release: the spare carrier sees our writes to the worker.
  w->owner_.store(s, std::memory_order_release);
  handoffs_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  return true;
}

void CarrierPool::demote(Carrier* c, int nice) {
  std::lock_guard<std::mutex> g(mu_);
  // Not once it is back in the pool (it would carry a worker at the low priority).
  if (c->idle_ || c->exited_ || c->demoted_) return;
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(c->tid()), nice) == 0) c->demoted_ = true;
}

void CarrierPool::request_yield(Worker* w, Carrier* owner) {
  std::lock_guard<std::mutex> g(mu_);
  // Under the lock: `owner` cannot retire (and free its thread-local) while it owns w.
  if (w->owner_.load(std::memory_order_relaxed) != owner || owner->budget_slot_ == nullptr) return;
  store_budget(owner->budget_slot_, 0);
}

}  // namespace ergon::detail
