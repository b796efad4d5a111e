#include "support/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

namespace feilong::test {

std::string RawHttpResponse::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

Result<RawHttpConnection> RawHttpConnection::Connect(uint16_t port,
                                                     std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return Status::FromErrno(errno, "socket");
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    int err = errno;
    ::close(fd);
    return Status::Unavailable("connect 127.0.0.1:" + std::to_string(port) + ": " +
                               std::to_string(err));
  }
  return RawHttpConnection(fd);
}

RawHttpConnection::RawHttpConnection(RawHttpConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)) {}

RawHttpConnection& RawHttpConnection::operator=(RawHttpConnection&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

RawHttpConnection::~RawHttpConnection() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

Status RawHttpConnection::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Status::Unavailable("send: errno " + std::to_string(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status RawHttpConnection::Fill() {
  char chunk[64 * 1024];
  for (;;) {
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return Status::Ok();
    }
    if (n == 0) {
      return Status::Unavailable("server closed the connection");
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return Status::DeadlineExceeded("read timed out");
    }
    return Status::Unavailable("recv: errno " + std::to_string(errno));
  }
}

Result<RawHttpResponse> RawHttpConnection::ReadResponse(bool head_request) {
  size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    FL_RETURN_IF_ERROR(Fill());
  }
  std::string head = buffer_.substr(0, end + 2);
  buffer_.erase(0, end + 4);
  RawHttpResponse response;
  size_t line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  size_t space = status_line.find(' ');
  if (space == std::string::npos) {
    return Status::Corruption("bad status line: " + status_line);
  }
  response.status = std::atoi(status_line.c_str() + space + 1);
  size_t pos = line_end + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    std::string line = head.substr(pos, next - pos);
    pos = next + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) {
      continue;
    }
    std::string name = line.substr(0, colon);
    for (char& c : name) {
      c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    }
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') {
      value.erase(0, 1);
    }
    response.headers[name] = value;
  }
  if (!head_request) {
    size_t length = std::strtoull(response.Header("content-length").c_str(), nullptr, 10);
    while (buffer_.size() < length) {
      FL_RETURN_IF_ERROR(Fill());
    }
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
  }
  return response;
}

bool RawHttpConnection::ServerClosed() {
  if (!buffer_.empty()) {
    return false;
  }
  Status status = Fill();
  return !status.ok() && status.code() == StatusCode::kUnavailable && buffer_.empty();
}

Result<RawHttpResponse> RawHttpRequest(uint16_t port, std::string_view method,
                                       std::string_view target) {
  FL_ASSIGN_OR_RETURN(RawHttpConnection connection, RawHttpConnection::Connect(port));
  std::string request = std::string(method) + " " + std::string(target) +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  FL_RETURN_IF_ERROR(connection.Send(request));
  return connection.ReadResponse(method == "HEAD");
}

}  // namespace feilong::test
