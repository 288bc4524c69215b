// Processes for tests: a command line run to the end with its output
// captured (through /bin/sh), and a program started in the background with
// its output in a log file. Not for production code.
#ifndef PGAN_TESTS_COMMON_SUBPROCESS_H_
#define PGAN_TESTS_COMMON_SUBPROCESS_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace pgan::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together.
};

inline CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    result.output.append(buffer, n);
  }
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Polls `done` every 100 ms for up to `limit`; its last answer.
template <typename Done>
bool WaitFor(std::chrono::milliseconds limit, Done done) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

// Starts argv[0] (a path) with `argv` and the extra environment `env`
// ("NAME=value"), stdout and stderr appended to `log`; returns its pid.
inline pid_t Spawn(const std::vector<std::string>& argv, const std::string& log,
                   const std::vector<std::string>& env = {}) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::freopen(log.c_str(), "a", stdout);
    std::freopen(log.c_str(), "a", stderr);
    for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const std::string& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

// SIGTERM, then SIGKILL after `grace`; reaps the process and sets `pid` to
// -1. Nothing when `pid` <= 0.
inline void StopProcess(pid_t& pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  if (!WaitFor(grace,
               [&] { return ::waitpid(pid, nullptr, WNOHANG) == pid; })) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  pid = -1;
}

}  // namespace pgan::testing

#endif  // PGAN_TESTS_COMMON_SUBPROCESS_H_
