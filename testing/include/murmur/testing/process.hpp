#pragma once
// Running a command line from a test: its exit status and everything it printed.
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <utility>

namespace murmur::testing {

/// Runs `command` with /bin/sh (stderr folded into stdout); returns the exit status (-1 when it
/// did not exit normally) and the output.
inline std::pair<int, std::string> run_command(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace murmur::testing
