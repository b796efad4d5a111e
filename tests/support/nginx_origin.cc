#include "support/nginx_origin.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

extern char** environ;

namespace feilong::test {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string Config(const std::string& prefix, const NginxOrigin::Options& options, uint16_t port) {
  std::string conf;
  if (::geteuid() == 0) {
    conf += "user root;\n";
  }
  conf += "master_process off;\nworker_processes 1;\n";
  conf += "pid " + prefix + "/nginx.pid;\n";
  conf += "error_log " + prefix + "/error.log warn;\n";
  conf += "events { worker_connections 256; }\n";
  conf += "http {\n";
  conf += "  default_type application/octet-stream;\n";
  conf += "  log_format feilong '$status $body_bytes_sent \"$request\"';\n";
  conf += "  access_log " + prefix + "/access.log feilong;\n";
  conf += "  client_body_temp_path " + prefix + "/client_body;\n";
  conf += "  proxy_temp_path " + prefix + "/proxy;\n";
  conf += "  fastcgi_temp_path " + prefix + "/fastcgi;\n";
  conf += "  uwsgi_temp_path " + prefix + "/uwsgi;\n";
  conf += "  scgi_temp_path " + prefix + "/scgi;\n";
  conf += "  sendfile on;\n  keepalive_timeout 60s;\n";
  conf += "  server {\n";
  conf += "    listen 127.0.0.1:" + std::to_string(port) + (options.tls ? " ssl" : "") + ";\n";
  if (options.tls) {
    conf += "    ssl_certificate " + prefix + "/cert.pem;\n";
    conf += "    ssl_certificate_key " + prefix + "/key.pem;\n";
  }
  conf += "    root " + options.root + ";\n";
  conf += "    " + options.extra_server_config + "\n";
  conf += "  }\n}\n";
  return conf;
}

bool Answers(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

// Runs argv[0] (an absolute path) with its output discarded; OK on exit 0.
Status RunCommand(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& arg : args) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return Status::FromErrno(rc, "spawn " + args[0]);
  }
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return Status::Internal(args[0] + " failed");
  }
  return Status::Ok();
}

std::string Tail(const std::string& text, size_t n) {
  return text.size() <= n ? text : text.substr(text.size() - n);
}

}  // namespace

Result<std::unique_ptr<NginxOrigin>> NginxOrigin::Start(const Options& options) {
  if (options.root.empty()) {
    return Status::InvalidArgument("NginxOrigin: empty root");
  }
  Status last_error = Status::Unavailable("nginx did not start");
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<NginxOrigin> origin(new NginxOrigin());
    const std::string& prefix = origin->dir_.path();
    ::mkdir((prefix + "/logs").c_str(), 0755);  // nginx's compiled-in default log dir
    origin->port_ = FreeTcpPort();
    origin->tls_ = options.tls;
    if (options.tls) {
      FL_RETURN_IF_ERROR(
          RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                      "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                      "-keyout", prefix + "/key.pem", "-out", prefix + "/cert.pem"}));
    }
    std::string conf_path = prefix + "/nginx.conf";
    FL_RETURN_IF_ERROR(WriteFile(conf_path, Config(prefix, options, origin->port_)));
    FL_RETURN_IF_ERROR(WriteFile(prefix + "/access.log", ""));

    std::string error_log = prefix + "/error.log";
    std::string output = prefix + "/stderr.log";
    std::vector<std::string> args = {options.binary, "-p", prefix + "/", "-c", conf_path, "-e",
                                     error_log,      "-g", "daemon off;"};
    std::vector<char*> argv;
    for (std::string& arg : args) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, options.binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      return Status::FromErrno(rc, "spawn " + options.binary);
    }
    origin->pid_ = pid;

    auto deadline = steady_clock::now() + std::chrono::seconds(10);
    bool exited = false;
    while (steady_clock::now() < deadline) {
      int wstatus = 0;
      if (::waitpid(pid, &wstatus, WNOHANG) == pid) {
        exited = true;
        origin->pid_ = -1;
        break;
      }
      if (Answers(origin->port_)) {
        return origin;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    std::string log = ReadFile(error_log).value_or("") + ReadFile(output).value_or("");
    last_error =
        Status::Unavailable(std::string("nginx ") + (exited ? "exited" : "did not answer in 10 s") +
                            ": " + Tail(log, 600));
    // A port taken between FreeTcpPort() and nginx's bind: try another one.
    if (log.find("Address already in use") == std::string::npos) {
      break;
    }
  }
  return last_error;
}

NginxOrigin::~NginxOrigin() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGTERM);
  auto deadline = steady_clock::now() + std::chrono::seconds(5);
  while (steady_clock::now() < deadline) {
    int wstatus = 0;
    pid_t r = ::waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      return;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  int wstatus = 0;
  ::waitpid(pid_, &wstatus, 0);
}

std::string NginxOrigin::Url(std::string_view path_and_query) const {
  return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_) +
         std::string(path_and_query);
}

std::vector<NginxOrigin::LogEntry> NginxOrigin::AccessLog() const {
  std::vector<LogEntry> entries;
  std::string text = ReadFile(dir_.Path("access.log")).value_or("");
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      break;  // a line still being written
    }
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    size_t first_space = line.find(' ');
    size_t second_space = line.find(' ', first_space + 1);
    if (first_space == std::string_view::npos || second_space == std::string_view::npos) {
      continue;
    }
    LogEntry entry;
    entry.status = std::atoi(std::string(line.substr(0, first_space)).c_str());
    entry.body_bytes = std::strtoull(
        std::string(line.substr(first_space + 1, second_space - first_space - 1)).c_str(), nullptr,
        10);
    std::string_view request = line.substr(second_space + 1);
    if (request.size() >= 2 && request.front() == '"' && request.back() == '"') {
      request = request.substr(1, request.size() - 2);
    }
    entry.request = std::string(request);
    entries.push_back(std::move(entry));
  }
  return entries;
}

uint64_t NginxOrigin::RequestCount(std::string_view path_substring) const {
  uint64_t count = 0;
  for (const LogEntry& entry : AccessLog()) {
    if (entry.request.find(path_substring) != std::string::npos) {
      ++count;
    }
  }
  return count;
}

uint64_t NginxOrigin::BytesServed(std::string_view path_substring) const {
  uint64_t bytes = 0;
  for (const LogEntry& entry : AccessLog()) {
    if (entry.request.find(path_substring) != std::string::npos) {
      bytes += entry.body_bytes;
    }
  }
  return bytes;
}

}  // namespace feilong::test
