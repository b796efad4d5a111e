// CurlMulti: many libcurl GETs at once on an IoLoop, without a thread per
// transfer. libcurl's multi-socket API tells which sockets to watch and when
// to time out; the loop watches them and hands readiness back. The GETs are
// those of PerformGet (curl_transfer.h): same options, same callbacks, same
// CurlOutcome. Connections are cached across transfers by the multi handle.
//
// Everything of one CurlMulti runs on one strand of the loop: the callbacks
// of its transfers never run at once, and a slow callback delays the
// others. A daemon that wants several cores for transfers uses several
// CurlMultis (one per loop thread).
//
// Thread rule: Start and Stop are thread-safe. Callbacks and `done` run on
// the multi's strand. REQUIRES: Stop (and the destructor) not called from
// a callback of this multi.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "common/clock.h"
#include "source/curl_transfer.h"

namespace feilong {
class IoLoop;
}  // namespace feilong

namespace feilong::source {

struct CurlMultiOptions {
  // Idle connections kept for later transfers, to any hosts. Default: 128.
  long max_idle_connections = 128;
  // A stalled transfer (no byte for its stall_timeout) is ended at its
  // timeout, looked for at most this often. Default: 100 ms.
  std::chrono::milliseconds stall_check_interval{100};
};

class CurlMulti {
 public:
  using Done = std::function<void(CurlOutcome)>;

  // `loop` and `clock` must outlive the multi.
  explicit CurlMulti(IoLoop& loop, CurlMultiOptions options = {},
                     Clock& clock = SteadyClock::Default());
  ~CurlMulti();  // Stop()
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  // Starts a GET of `request` (its max_idle_connections is ignored: the
  // multi's applies). `on_head` and `on_body` as for PerformGet; `done` runs
  // exactly once with the outcome, after the last callback. Once Stop was
  // called, `done` runs at once on this thread with a Cancelled
  // callback_status, without a transfer.
  // request.origin_policy, when set, must outlive `done`.
  void Start(CurlRequest request, CurlHeadCallback on_head, CurlBodyCallback on_body, Done done);

  // Ends every running transfer (their `done` gets a Cancelled
  // callback_status) and refuses new ones; returns once no callback of the
  // multi runs any more. Idempotent.
  void Stop();

  // Transfers started and not yet done. Thread-safe; for tests and metrics.
  size_t running() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace feilong::source
