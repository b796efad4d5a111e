#include "integration/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace feilong::testing {

ChildProcess::ChildProcess(std::vector<std::string> argv, std::string log_path)
    : log_path_(std::move(log_path)) {
  int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(("open " + log_path_).c_str());
    std::abort();
  }
  // Built before fork: between fork and exec the child may only make
  // async-signal-safe calls. An allocation there can deadlock on a lock
  // another thread (a gRPC client, say) held at the fork; seen with ASan.
  std::vector<char*> args;
  for (auto& a : argv) {
    args.push_back(a.data());
  }
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) {
    std::perror("fork");
    std::abort();
  }
  if (pid_ == 0) {
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    // Die with the test binary.
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(args[0], args.data());
    static const char kExecFailed[] = "exec failed\n";
    [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, kExecFailed, sizeof(kExecFailed) - 1);
    ::_exit(127);
  }
  ::close(fd);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    Stop(SIGKILL, std::chrono::seconds(5));
  }
}

std::optional<std::string> ChildProcess::WaitForLine(const std::string& needle,
                                                     std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(log_path_);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find(needle) != std::string::npos) {
        return line;
      }
    }
    if (pid_ > 0) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pid_ = -1;
      }
    }
    if (pid_ <= 0) {
      // Read once more: the line may have been written just before exit.
      std::ifstream again(log_path_);
      while (std::getline(again, line)) {
        if (line.find(needle) != std::string::npos) {
          return line;
        }
      }
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

void ChildProcess::Signal(int signal) {
  if (pid_ > 0) {
    ::kill(pid_, signal);
  }
}

std::optional<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) {
    return exit_status_;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      return exit_status_;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int ChildProcess::Stop(int signal, std::chrono::milliseconds grace) {
  if (pid_ <= 0) {
    return exit_status_;
  }
  ::kill(pid_, signal);
  if (auto status = Wait(grace)) {
    return *status;
  }
  ::kill(pid_, SIGKILL);
  return Wait(std::chrono::seconds(10)).value_or(-1);
}

std::string ChildProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& log_path,
                         std::chrono::milliseconds timeout) {
  ChildProcess process(argv, log_path);
  CommandResult result;
  auto status = process.Wait(timeout);
  result.exit_code = status.value_or(-1);
  if (!status) {
    process.Stop(SIGKILL);
  }
  result.output = process.Log();
  return result;
}

std::string BinaryPath(const std::string& name) {
  return std::string(FEILONG_BINARY_DIR) + "/src/bin/" + name + "/" + name;
}

CommandResult Shell(const std::string& command, const std::string& log,
                    std::chrono::milliseconds timeout) {
  return RunCommand({"/bin/sh", "-c", command}, log, timeout);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Which(const std::string& name) {
  for (const char* dir :
       {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    std::string path = std::string(dir) + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) {
      return path;
    }
  }
  return "";
}

std::string MissingTool(const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (Which(name).empty()) {
      return name;
    }
  }
  return "";
}

}  // namespace feilong::testing
