// A cluster for the distribution tests: an epmd on a free port of its own (ERL_EPMD_PORT, so
// that runs never meet) and real `erl` nodes running tests/dist/ergon_peer.erl, compiled by
// erlc into a temporary directory. Each is a child process this file kills.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace dist_test {

inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool can_connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A child process; its stdout and stderr go to the file `log` (a pipe nobody drains would
// stall an erl node whose logger writes much). Killed when its handle goes, so a test that
// fails half-way leaves no node running.
struct Child {
  pid_t pid = -1;
  std::string log;

  Child() = default;
  Child(pid_t p, std::string l) : pid(p), log(std::move(l)) {}
  Child(Child&& o) noexcept : pid(o.pid), log(std::move(o.log)) {
    o.pid = -1;
    o.log.clear();
  }
  Child& operator=(Child&& o) noexcept {
    if (this != &o) {
      kill_now();
      pid = o.pid;
      log = std::move(o.log);
      o.pid = -1;
      o.log.clear();
    }
    return *this;
  }
  ~Child() { kill_now(); }
  void kill_now() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      pid = -1;
    }
    if (!log.empty()) ::unlink(log.c_str());
    log.clear();
  }
  // What the child wrote so far.
  std::string output() const {
    std::string all;
    if (FILE* f = std::fopen(log.c_str(), "r")) {
      char buf[4096];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) all.append(buf, n);
      std::fclose(f);
    }
    return all;
  }
  // Polls the output until `word` shows up; false if the child ends or `timeout` passes.
  bool wait_for(const std::string& word, std::chrono::seconds timeout, std::string* seen) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      const std::string all = output();
      if (seen != nullptr) *seen = all;
      if (all.find(word) != std::string::npos) return true;
      if (::waitpid(pid, nullptr, WNOHANG) == pid) {
        pid = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
};

inline Child spawn_child(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env) {
  char tmpl[] = "/tmp/ergon-dist-log-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::close(fd);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fd);
  return Child{pid, tmpl};
}

class Cluster {
 public:
  // Starts epmd and compiles the helper module.
  void start(const std::string& source_dir) {
    char tmpl[] = "/tmp/ergon-dist-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    beam_dir_ = tmpl;
    const std::string cmd =
        "erlc -o " + beam_dir_ + " " + source_dir + "/tests/dist/ergon_peer.erl 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("erlc failed: " + cmd);
    epmd_port_ = free_port();
    epmd_ = spawn_child({"epmd", "-port", std::to_string(epmd_port_)}, {});
    for (int i = 0; i < 100 && !can_connect(epmd_port_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!can_connect(epmd_port_)) throw std::runtime_error("epmd did not start");
    ::setenv("ERL_EPMD_PORT", std::to_string(epmd_port_).c_str(), 1);
  }

  // Starts `erl -name <name>@127.0.0.1` with the helper; waits until it is ready.
  Child erl(const std::string& name, const std::string& cookie) {
    Child c = spawn_child({"erl", "-name", name + "@127.0.0.1", "-setcookie", cookie, "-noshell",
                           "-noinput", "-pa", beam_dir_, "-eval", "ergon_peer:start()"},
                          {"ERL_EPMD_PORT=" + std::to_string(epmd_port_)});
    std::string seen;
    if (!c.wait_for("ready", std::chrono::seconds(60), &seen)) {
      c.kill_now();
      throw std::runtime_error("erl " + name + " did not start: " + seen);
    }
    return c;
  }

  void stop() {
    epmd_.kill_now();
    if (!beam_dir_.empty()) {
      const std::string cmd = "rm -rf " + beam_dir_;
      (void)std::system(cmd.c_str());
    }
    ::unsetenv("ERL_EPMD_PORT");
  }

  int epmd_port() const { return epmd_port_; }

 private:
  std::string beam_dir_;
  int epmd_port_ = 0;
  Child epmd_;
};

}  // namespace dist_test
