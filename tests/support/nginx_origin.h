// NginxOrigin: a real nginx serving a directory on 127.0.0.1, for tests that
// need an honest, production-grade HTTP origin (ranges, keep-alive,
// sendfile).
//
// Runs `/usr/sbin/nginx -p <tmpdir> -c <tmpdir>/nginx.conf -g 'daemon off;'`
// as a child process (single process: master_process off), on a free port,
// with an access log in the format `$status $body_bytes_sent "$request"`.
// Start() returns once nginx answers TCP connections; the destructor stops
// (SIGTERM, then SIGKILL) and reaps it.
//
// Thread rule: Start and the destructor on one thread; the accessors and log
// queries are thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "support/temp_dir.h"

namespace feilong::test {

class NginxOrigin {
 public:
  struct Options {
    // Directory served at "/". REQUIRES: non-empty, readable.
    std::string root;
    // Raw nginx directives appended inside the server block, e.g.
    // "location = /moved { return 302 /file.bin; }". Default: none.
    std::string extra_server_config;
    // Serve https with a fresh self-signed certificate for 127.0.0.1 (made
    // with the openssl command); see cert_path(). Default: false.
    bool tls = false;
    // Path of the nginx binary. Default: /usr/sbin/nginx.
    std::string binary = "/usr/sbin/nginx";
  };

  // One line of the access log.
  struct LogEntry {
    int status = 0;
    uint64_t body_bytes = 0;
    std::string request;  // the request line, e.g. "GET /a.bin HTTP/1.1"
  };

  // Starts nginx. Unavailable (with the tail of nginx's error log) if it
  // exits or does not answer within 10 s.
  static Result<std::unique_ptr<NginxOrigin>> Start(const Options& options);
  ~NginxOrigin();
  NginxOrigin(const NginxOrigin&) = delete;
  NginxOrigin& operator=(const NginxOrigin&) = delete;

  uint16_t port() const { return port_; }
  // The PEM certificate clients must trust when options.tls; else empty.
  std::string cert_path() const { return tls_ ? dir_.Path("cert.pem") : std::string(); }
  // "http(s)://127.0.0.1:<port>" + path_and_query (which starts with '/').
  std::string Url(std::string_view path_and_query) const;

  // The access log so far (nginx writes a line when a request finishes).
  std::vector<LogEntry> AccessLog() const;
  // Requests whose request line contains `path_substring`.
  uint64_t RequestCount(std::string_view path_substring) const;
  // Body bytes sent for those requests.
  uint64_t BytesServed(std::string_view path_substring) const;

 private:
  NginxOrigin() = default;

  TempDir dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  bool tls_ = false;
};

}  // namespace feilong::test
