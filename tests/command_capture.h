#pragma once
// Tests only: runs a shell command line and returns its exit code and standard output (add
// "2>&1" to the command for standard error too).
#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace ischia::test {

struct CommandResult {
  int exitCode = -1;   // -1: could not be run, or ended by a signal
  std::string output;  // standard output
};

inline CommandResult RunCommand(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace ischia::test
