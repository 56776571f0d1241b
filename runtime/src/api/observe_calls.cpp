// The public calls of the read-only views (ergon/trace.hpp, ergon/process_info.hpp,
// ergon/top.hpp): each finds its runtime's System (system.hpp) and calls the view in observe/.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "api/system.hpp"
#include "ergon/ergon.hpp"
#include "observe/process_info.hpp"
#include "observe/top.hpp"

// --- ergon/process_info.hpp ------------------------------------------------------------------

namespace ergon {

std::optional<ProcessInfo> process_info(Pid pid) {
  detail::System& s = detail::system_of_caller("ergon::process_info");
  return detail::process_info(s.sched, s.registry, pid);
}

std::vector<ProcessInfo> processes() {
  detail::System& s = detail::system_of_caller("ergon::processes");
  return detail::processes(s.sched, s.registry);
}

std::optional<ProcessInfo> Runtime::process_info(Pid pid) const {
  return detail::process_info(sys_->sched, sys_->registry, pid);
}

std::vector<ProcessInfo> Runtime::processes() const {
  return detail::processes(sys_->sched, sys_->registry);
}

// --- ergon/top.hpp ---------------------------------------------------------------------------

namespace {
// A Runtime handle is not reachable from a process: the calls without one use its System.
std::string table_of(detail::System& s, std::size_t rows) {
  Stats st = s.sched.stats();
  return top_table(st, detail::processes(s.sched, s.registry), rows);
}
}  // namespace

std::string top_table(Runtime& rt, std::size_t rows) {
  Stats s = rt.stats();
  return top_table(s, rt.processes(), rows);
}

void top(Runtime& rt, const TopOptions& o) {
  detail::run_top(o, detail::current_process() != nullptr,
                  [&rt, &o] { return top_table(rt, o.rows); });
}

std::string top_table(std::size_t rows) {
  return table_of(detail::system_of_caller("ergon::top_table"), rows);
}

void top(const TopOptions& o) {
  detail::System& s = detail::system_of_caller("ergon::top");
  detail::run_top(o, true, [&s, &o] { return table_of(s, o.rows); });
}

}  // namespace ergon

// --- ergon/trace.hpp -------------------------------------------------------------------------

namespace ergon::trace {
namespace {

using detail::System;

System& of_caller(const char* what) { return detail::system_of_caller(what); }
System& of(Runtime& rt) { return detail::system_of(*detail::scheduler_of(rt)); }

void start_on(System& s, std::size_t events) {
  if (events == 0) throw Error("ergon::trace::start: events_per_worker must be at least 1");
  s.tracer.start(events, s.sched.now(), s.registry);
}

void write_to(System& s, const std::string& path) {
  const std::string text = s.tracer.json(s.registry);
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    throw Error("ergon::trace::write: cannot open \"" + path + "\": " + std::strerror(errno));
  }
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) {
    throw Error("ergon::trace::write: cannot write \"" + path + "\": " + std::strerror(errno));
  }
}

}  // namespace

void start(Runtime& rt, std::size_t events) { start_on(of(rt), events); }
void stop(Runtime& rt) { of(rt).tracer.stop(); }
bool enabled(Runtime& rt) { return of(rt).tracer.on(); }
Summary summary(Runtime& rt) { return of(rt).tracer.summary(); }
std::string to_json(Runtime& rt) {
  System& s = of(rt);
  return s.tracer.json(s.registry);
}
void write(Runtime& rt, const std::string& path) { write_to(of(rt), path); }

// From a process, allocating and touching the buffers (milliseconds for the default size)
// and writing a file block the thread: ergon::blocking hands the worker's other processes to
// another thread meanwhile.
void start(std::size_t events) {
  System& s = of_caller("ergon::trace::start");
  ergon::blocking([&s, events] { start_on(s, events); });
}
void stop() { of_caller("ergon::trace::stop").tracer.stop(); }
bool enabled() { return of_caller("ergon::trace::enabled").tracer.on(); }
Summary summary() { return of_caller("ergon::trace::summary").tracer.summary(); }
std::string to_json() {
  System& s = of_caller("ergon::trace::to_json");
  return s.tracer.json(s.registry);
}
void write(const std::string& path) {
  System& s = of_caller("ergon::trace::write");
  ergon::blocking([&s, &path] { write_to(s, path); });
}

}  // namespace ergon::trace
