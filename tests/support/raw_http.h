// RawHttpConnection: a blocking HTTP/1.1 client over one TCP connection to
// 127.0.0.1, for tests that need exact control of the bytes sent (oversized
// headers, pipelining, keep-alive on one connection) and of what comes back.
//
// Thread rule: not thread-safe; one connection per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace feilong::test {

struct RawHttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;

  // The header's value, or "" if absent.
  std::string Header(const std::string& lower_name) const;
};

class RawHttpConnection {
 public:
  // Connects to 127.0.0.1:port. Unavailable if refused. Reads time out
  // after `timeout` (DeadlineExceeded).
  static Result<RawHttpConnection> Connect(
      uint16_t port, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  RawHttpConnection(RawHttpConnection&& other) noexcept;
  RawHttpConnection& operator=(RawHttpConnection&& other) noexcept;
  ~RawHttpConnection();

  Status Send(std::string_view bytes);
  // Reads one response. Its body is Content-Length bytes (none when
  // `head_request`). Unavailable if the server closes before a full response.
  Result<RawHttpResponse> ReadResponse(bool head_request = false);
  // True if the server closed the connection (EOF) within the read timeout
  // and sent nothing more.
  bool ServerClosed();

 private:
  explicit RawHttpConnection(int fd) : fd_(fd) {}
  Status Fill();  // reads more bytes into buffer_

  int fd_ = -1;
  std::string buffer_;
};

// One request on a fresh connection: "<method> <target> HTTP/1.1" with Host
// and "Connection: close".
Result<RawHttpResponse> RawHttpRequest(uint16_t port, std::string_view method,
                                       std::string_view target);

}  // namespace feilong::test
