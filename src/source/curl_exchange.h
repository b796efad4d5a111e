// CurlExchange: the libcurl state of one GET, shared by the two ways a GET
// is driven: PerformGet (curl_easy_perform on the caller's thread) and
// CurlMulti (many at once on an event loop). Prepare() sets every option on
// an easy handle; Conclude() turns libcurl's result into the CurlOutcome.
// Internal to src/source: this header includes libcurl.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "source/curl_transfer.h"

namespace feilong::source {

// The sockets libcurl opened through our open-socket hook, and whom each is
// connected to. Lives as long as the connections it tracks may (the easy
// handle's or the multi handle's connection cache): libcurl closes a cached
// connection through the close hook of the handle that opened it.
// Not thread-safe: used only by the thread driving the transfers.
class SocketRegistry {
 public:
  // The open socket connected to `ip`:`port` from local port `local_port`,
  // or -1.
  int SocketFor(const std::string& ip, long port, long local_port) const;
  // True while `fd` is open.
  bool Tracks(int fd) const;

  void Add(int fd, std::string ip, long port);
  void Remove(int fd);

 private:
  struct Remote {
    std::string ip;
    long port = 0;
  };
  std::vector<std::pair<int, Remote>> sockets_;
};

class CurlExchange {
 public:
  // `request`, `on_head`, `on_body` and `registry` must outlive the
  // exchange; so must `clock`.
  CurlExchange(const CurlRequest& request, const CurlHeadCallback& on_head,
               const CurlBodyCallback& on_body, SocketRegistry& registry, Clock& clock);
  ~CurlExchange();
  CurlExchange(const CurlExchange&) = delete;
  CurlExchange& operator=(const CurlExchange&) = delete;

  // Resets `curl` (its connection cache stays) and sets it up for this GET.
  // False when the GET must not start (the origin policy refuses the URL's
  // host, out of memory): outcome() says why.
  bool Prepare(CURL* curl);
  // Completes the outcome once libcurl finished with `code`, and clears what
  // the handle points into this exchange.
  void Conclude(CURLcode code);
  // When the transfer counts as stalled if no byte comes before: the last
  // activity plus the stall timeout. libcurl's progress hook checks this
  // only while it drives the transfer; CurlMulti also keeps a timer for the
  // earliest of its transfers' deadlines, and ends a stalled one with
  // MarkStalled().
  Clock::TimePoint StallDeadline() const;
  void MarkStalled();

  CurlOutcome TakeOutcome();

  struct State;  // what libcurl's callbacks see (curl_transfer.cc)

 private:
  std::unique_ptr<State> state_;
};

}  // namespace feilong::source
