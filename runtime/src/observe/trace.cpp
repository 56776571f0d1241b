// Tracer: sessions, hooks and the Chrome trace JSON writer. See trace.hpp for the design, and
// the public calls of ergon/trace.hpp at the end.
#include "observe/trace.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/process.hpp"
#include "core/scheduler.hpp"
#include "ergon/errors.hpp"
#include "ergon/preempt.hpp"
#include "ergon/runtime.hpp"
#include "otp/registry.hpp"

namespace ergon::detail {

TraceBuffer::TraceBuffer(std::size_t capacity) : events_(capacity) {
  // std::vector value-initialises every event, which writes (touches) every page now, at
  // start(), rather than inside the slices that record (TR1).
}

void Tracer::record(unsigned w, const TraceEvent& e) noexcept {
  // acquire: pairs with the release store in start() (TR1): the buffers are built.
  Session* s = session_.load(std::memory_order_acquire);
  if (s != nullptr && w < s->workers.size()) s->workers[w]->push(e);
}

void Tracer::record_shared(const TraceEvent& e) noexcept {
  std::lock_guard<CountedMutex> g(mu_);
  Session* s = session_.load(std::memory_order_relaxed);  // relaxed: written under mu_
  if (s != nullptr) s->shared->push(e);
}

namespace {
void set_text(TraceEvent& e, const std::string& text) noexcept {
  const std::size_t n = std::min(text.size(), sizeof e.text - 1);
  std::memcpy(e.text, text.data(), n);
  e.text[n] = '\0';
}
}  // namespace

void Tracer::slice(unsigned w, Pid pid, std::int64_t begin, std::int64_t end) noexcept {
  TraceEvent e;
  e.kind = TraceKind::kSlice;
  e.ts = begin;
  e.dur = end - begin;
  e.pid = pid.raw();
  e.tid = w;
  record(w, e);
}

void Tracer::park(unsigned w, std::int64_t begin, std::int64_t end) noexcept {
  TraceEvent e;
  e.kind = TraceKind::kPark;
  e.ts = begin;
  e.dur = end - begin;
  e.tid = w;
  record(w, e);
}

void Tracer::moved(unsigned w, Move kind, unsigned other, Pid pid, std::int64_t now) noexcept {
  TraceEvent e;
  e.kind = kind == Move::kMigrate ? TraceKind::kMigrate
           : kind == Move::kSteal ? TraceKind::kSteal
                                  : TraceKind::kForward;
  e.ts = now;
  e.pid = pid.raw();
  e.arg = other;
  if (kind == Move::kMigrate) {  // the balancer's thread: the shared buffer
    e.tid = kTidBalancer;
    e.dur = w;  // from
    record_shared(e);
    return;
  }
  e.tid = w;
  record(w, e);
}

void Tracer::spawn(int w, Pid child, Pid parent, std::int64_t now) noexcept {
  TraceEvent e;
  e.kind = TraceKind::kSpawn;
  e.ts = now;
  e.pid = child.raw();
  e.arg = parent.raw();
  if (w >= 0) {
    e.tid = static_cast<std::uint32_t>(w);
    record(static_cast<unsigned>(w), e);
  } else {
    e.tid = kTidOutside;
    record_shared(e);
  }
}

void Tracer::exit(unsigned w, Pid pid, const char* why, std::int64_t now) noexcept {
  TraceEvent e;
  e.kind = TraceKind::kExit;
  e.ts = now;
  e.pid = pid.raw();
  e.tid = w;
  std::memcpy(e.text, why, sizeof e.text);
  e.text[sizeof e.text - 1] = '\0';
  record(w, e);
}

void Tracer::describe_exit(ExitText& out, const ExitReason& reason) noexcept {
  try {
    const std::string text = reason.to_string();
    const std::size_t n = std::min(text.size(), sizeof out - 1);
    std::memcpy(out, text.data(), n);
    out[n] = '\0';
  } catch (...) {  // no memory for the text: the event still says the process ended
    out[0] = '\0';
  }
}

void Tracer::crash(Pid pid, const std::string& what, std::int64_t now) noexcept {
  TraceEvent e;
  e.kind = TraceKind::kCrash;
  e.ts = now;
  e.pid = pid.raw();
  e.tid = kTidOutside;
  set_text(e, what);
  record_shared(e);
}

void Tracer::handoff(unsigned w, Pid pid, std::int64_t now) noexcept {
  TraceEvent e;
  e.kind = TraceKind::kHandoff;
  e.ts = now;
  e.pid = pid.raw();
  e.arg = w;
  e.tid = kTidWatchdog;
  record_shared(e);
}

void Tracer::tenants(const TenantTable& t, std::int64_t now) noexcept {
  const unsigned n = t.count();
  for (unsigned i = 0; i < n; ++i) {
    const TenantRec& r = *t.at(i);
    TraceEvent e;
    e.kind = TraceKind::kTenant;
    e.ts = now;
    e.tid = kTidBalancer;
    // relaxed: statistics (tenant.hpp).
    e.arg = i == 0 ? t.default_reductions() : r.reductions.load(std::memory_order_relaxed);
    e.dur = r.queued.load(std::memory_order_relaxed);
    e.pid = static_cast<std::uint64_t>(r.throttled_ns.load(std::memory_order_relaxed));
    std::snprintf(e.text, sizeof e.text, "%s", r.name.c_str());
    record_shared(e);
  }
}

void Tracer::name(Pid pid, const std::string& name) {
  std::lock_guard<CountedMutex> g(mu_);
  Session* s = session_.load(std::memory_order_relaxed);  // relaxed: written under mu_
  if (s != nullptr) s->names[pid.raw()] = name;
}

void Tracer::start(std::size_t capacity, std::int64_t now, Registry& names) {
  auto s = std::make_unique<Session>();
  s->t0 = now;
  for (unsigned i = 0; i < workers_; ++i)
    s->workers.push_back(std::make_unique<TraceBuffer>(capacity));
  s->shared = std::make_unique<TraceBuffer>(capacity);
  for (auto& [pid, name] : names.snapshot()) s->names[pid.raw()] = name;
  std::lock_guard<CountedMutex> g(mu_);
  on_.store(false, std::memory_order_relaxed);  // relaxed: see on(); a restart stops first
  // release: pairs with the acquire in record() (TR1): a hook that sees the session sees its
  // buffers built and touched.
  session_.store(s.get(), std::memory_order_release);
  kept_.push_back(std::move(s));
  // Keep this session and the two before it (see "Lifetime" in trace.hpp).
  if (kept_.size() > 3) kept_.erase(kept_.begin());
  on_.store(true, std::memory_order_relaxed);  // relaxed: see on()
}

void Tracer::stop() noexcept {
  std::lock_guard<CountedMutex> g(mu_);
  on_.store(false, std::memory_order_relaxed);  // relaxed: see on(); TR3
}

trace::Summary Tracer::summary() const {
  std::lock_guard<CountedMutex> g(mu_);
  trace::Summary sum;
  sum.on = on();
  const Session* s = session_.load(std::memory_order_relaxed);  // relaxed: written under mu_
  if (s == nullptr) return sum;
  for (const auto& b : s->workers) {
    sum.events += b->count();
    sum.dropped += b->dropped();
  }
  sum.events += s->shared->count();
  sum.dropped += s->shared->dropped();
  return sum;
}

namespace {

void append_escaped(std::string& out, const char* text) {
  for (const char* c = text; *c != '\0'; ++c) {
    const auto u = static_cast<unsigned char>(*c);
    if (*c == '"' || *c == '\\') {
      out += '\\';
      out += *c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += *c;
    }
  }
}

void append_us(std::string& out, std::int64_t ns) {
  char buf[32];
  if (ns < 0) ns = 0;
  std::snprintf(buf, sizeof buf, "%" PRId64 ".%03" PRId64, ns / 1000, ns % 1000);
  out += buf;
}

const char* kind_name(TraceKind k) {
  switch (k) {
    case TraceKind::kSlice:
      return "slice";
    case TraceKind::kSpawn:
      return "spawn";
    case TraceKind::kExit:
      return "exit";
    case TraceKind::kCrash:
      return "crash";
    case TraceKind::kMigrate:
      return "migrate";
    case TraceKind::kSteal:
      return "steal";
    case TraceKind::kForward:
      return "forward";
    case TraceKind::kPark:
      return "parked";
    case TraceKind::kHandoff:
      return "handoff";
    case TraceKind::kTenant:
      return "tenant";
  }
  return "?";
}

}  // namespace

std::string Tracer::json(Registry& registry) const {
  std::lock_guard<CountedMutex> g(mu_);
  const Session* s = session_.load(std::memory_order_relaxed);  // relaxed: written under mu_
  std::map<std::uint64_t, std::string> names;
  if (s != nullptr) names = s->names;
  for (auto& [pid, name] : registry.snapshot()) names[pid.raw()] = name;
  auto label = [&names](std::uint64_t raw) {
    auto it = names.find(raw);
    return it != names.end() ? it->second : Pid::from_raw(raw).to_string();
  };

  std::string out = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
  bool first = true;
  auto begin_event = [&out, &first] {
    if (!first) out += ",\n";
    first = false;
  };
  auto thread_name = [&](std::uint32_t tid, const std::string& name) {
    begin_event();
    out += "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":" + std::to_string(tid) +
           ",\"args\":{\"name\":\"";
    append_escaped(out, name.c_str());
    out += "\"}}";
  };
  begin_event();
  out += "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"ergon\"}}";
  for (unsigned w = 0; w < workers_; ++w) thread_name(w, "worker " + std::to_string(w));
  thread_name(kTidBalancer, "balancer");
  thread_name(kTidWatchdog, "watchdog");
  thread_name(kTidOutside, "outside the workers");
  if (s == nullptr) {
    out += "\n]}\n";
    return out;
  }

  auto emit = [&](const TraceEvent& e) {
    begin_event();
    if (e.kind == TraceKind::kTenant) {  // a counter track per tenant
      out += "{\"name\":\"tenant ";
      append_escaped(out, e.text);
      out += "\",\"cat\":\"tenant\",\"ph\":\"C\",\"pid\":1,\"ts\":";
      append_us(out, e.ts - s->t0);
      out += ",\"args\":{\"reductions\":" + std::to_string(e.arg) +
             ",\"queued\":" + std::to_string(e.dur) +
             ",\"throttled_ms\":" + std::to_string(e.pid / 1'000'000) + "}}";
      return;
    }
    const bool complete = e.kind == TraceKind::kSlice || e.kind == TraceKind::kPark;
    out += "{\"name\":\"";
    if (e.kind == TraceKind::kSlice) {
      append_escaped(out, label(e.pid).c_str());
    } else {
      out += kind_name(e.kind);
    }
    out += "\",\"cat\":\"";
    out += e.kind == TraceKind::kSlice ? "process" : kind_name(e.kind);
    out += complete ? "\",\"ph\":\"X\"" : "\",\"ph\":\"i\",\"s\":\"t\"";
    out += ",\"pid\":1,\"tid\":" + std::to_string(e.tid) + ",\"ts\":";
    append_us(out, e.ts - s->t0);
    if (complete) {
      out += ",\"dur\":";
      append_us(out, e.dur);
    }
    out += ",\"args\":{";
    if (e.kind != TraceKind::kPark) {
      out += "\"pid\":\"" + Pid::from_raw(e.pid).to_string() + "\"";
      auto it = names.find(e.pid);
      if (it != names.end()) {
        out += ",\"name\":\"";
        append_escaped(out, it->second.c_str());
        out += "\"";
      }
    }
    switch (e.kind) {
      case TraceKind::kSpawn:
        out += ",\"parent\":\"" + Pid::from_raw(e.arg).to_string() + "\"";
        break;
      case TraceKind::kExit:
      case TraceKind::kCrash:
        out += ",\"reason\":\"";
        append_escaped(out, e.text);
        out += "\"";
        break;
      case TraceKind::kMigrate:
        out += ",\"from\":" + std::to_string(e.dur) + ",\"to\":" + std::to_string(e.arg);
        break;
      case TraceKind::kSteal:
        out += ",\"from\":" + std::to_string(e.arg);
        break;
      case TraceKind::kForward:
        out += ",\"to\":" + std::to_string(e.arg);
        break;
      case TraceKind::kHandoff:
        out += ",\"worker\":" + std::to_string(e.arg);
        break;
      default:
        break;
    }
    out += "}}";
  };
  for (const auto& b : s->workers) {
    const std::size_t n = b->count();  // TR4
    for (std::size_t i = 0; i < n; ++i) emit((*b)[i]);
  }
  const std::size_t n = s->shared->count();
  for (std::size_t i = 0; i < n; ++i) emit((*s->shared)[i]);
  out += "\n]}\n";
  return out;
}

}  // namespace ergon::detail
