// Runs a command line for tests and captures its output. Not for production
// code: the command goes through /bin/sh.
#ifndef PGAN_TESTS_COMMON_SUBPROCESS_H_
#define PGAN_TESTS_COMMON_SUBPROCESS_H_

#include <sys/wait.h>

#include <cstdio>
#include <string>

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

}  // namespace pgan::testing

#endif  // PGAN_TESTS_COMMON_SUBPROCESS_H_
