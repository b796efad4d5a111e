// ChildProcess: a real process started by a test (fld, flsched, flget), with
// its stdout and stderr captured to a log file. The destructor terminates
// and reaps it, so a failing test leaves no process behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace feilong::testing {

class ChildProcess {
 public:
  // Starts argv[0] (a path) with the arguments; output goes to `log_path`.
  // Aborts the test binary if fork/exec fails (a broken environment).
  ChildProcess(std::vector<std::string> argv, std::string log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Waits until a line of the log contains `needle`; returns that line.
  std::optional<std::string> WaitForLine(const std::string& needle,
                                         std::chrono::milliseconds timeout);
  // Sends `signal`; returns the exit status (exit code, or 128 + signal).
  int Stop(int signal = 15, std::chrono::milliseconds grace = std::chrono::seconds(10));
  // Waits for the process to exit on its own; nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  void Signal(int signal);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  int exit_status_ = -1;
};

// Runs a command to completion; returns its exit status and output.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& log_path,
                         std::chrono::milliseconds timeout = std::chrono::minutes(5));

// Path of a binary built by this tree, e.g. BinaryPath("fld").
std::string BinaryPath(const std::string& name);

// Runs a shell command line (bounded); output (stdout and stderr) in the result.
CommandResult Shell(const std::string& command, const std::string& log,
                    std::chrono::milliseconds timeout = std::chrono::seconds(120));

// The whole content of a file ("" if it cannot be read).
std::string Slurp(const std::string& path);

// The path of an installed tool in a system bin directory, or "".
std::string Which(const std::string& name);
// The first of `names` not installed, or "".
std::string MissingTool(const std::vector<std::string>& names);

// Skips the test when a tool it drives is not installed.
#define SKIP_WITHOUT(...)                                                                \
  do {                                                                                   \
    std::string missing = ::feilong::testing::MissingTool({__VA_ARGS__});                \
    if (!missing.empty()) {                                                              \
      GTEST_SKIP() << missing << " is not installed (scripts/install-deps installs it)"; \
    }                                                                                    \
  } while (0)

}  // namespace feilong::testing
