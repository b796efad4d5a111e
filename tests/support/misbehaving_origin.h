// MisbehavingOrigin: an in-process HTTP/1.1 server (Boost.Asio, one thread)
// on 127.0.0.1 for the origin and parent failures a real server will not
// produce on demand. It serves one body at every path (query ignored).
//
// Behaviours:
//   kHonest       Range honored (206 / 416 "bytes */N" / 200), keep-alive
//   kFixedStatus  always `status` with a short text body, then closes
//   kShortBody    honest status and Content-Length, but sends only part of
//                 the body (`withhold` bytes fewer; default half), then closes
//   kIgnoreRange  always 200 with the whole body, keep-alive
//   kStall        honest headers, `stall_after` body bytes, then silence with
//                 the connection left open until the server is destroyed
//   kRedirect     302 to `redirect_to`, keep-alive
//
// With `fail_every` = n > 0, every n-th request (the n-th, 2n-th, ...)
// misbehaves as `failure` and the others as `behavior`: a flaky origin.
//
// Thread rule: Start and the destructor on one thread; accessors are
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace feilong::test {

class MisbehavingOrigin {
 public:
  enum class Behavior { kHonest, kFixedStatus, kShortBody, kIgnoreRange, kStall, kRedirect };

  struct Options {
    Behavior behavior = Behavior::kHonest;
    std::string body;          // the content served at every path
    unsigned status = 500;     // kFixedStatus
    uint64_t withhold = 0;     // kShortBody: bytes not sent; 0 means half
    uint64_t stall_after = 0;  // kStall: body bytes sent before stalling
    std::string redirect_to;   // kRedirect: the Location
    uint32_t fail_every = 0;   // 0: every request follows `behavior`
    Behavior failure = Behavior::kFixedStatus;
    // Added to every response, each "Name: value".
    std::vector<std::string> extra_headers;
  };

  // Listens on an ephemeral port of 127.0.0.1. IOError if it cannot.
  static Result<std::unique_ptr<MisbehavingOrigin>> Start(Options options);
  ~MisbehavingOrigin();
  MisbehavingOrigin(const MisbehavingOrigin&) = delete;
  MisbehavingOrigin& operator=(const MisbehavingOrigin&) = delete;

  uint16_t port() const;
  // "http://127.0.0.1:<port>" + path_and_query (which starts with '/').
  std::string Url(std::string_view path_and_query) const;
  // The raw request heads received so far (request line and headers).
  std::vector<std::string> Requests() const;
  // TCP connections accepted so far.
  size_t connections() const;
  // The most requests that were being answered at the same time.
  size_t max_concurrent_requests() const;

 private:
  struct Impl;
  explicit MisbehavingOrigin(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace feilong::test
