// SchedulerLink: how a Download reaches the schedulers. Open returns at
// once; whether a stream opened, what the scheduler says on it and its end
// arrive through callbacks, from any thread. The daemon's implementation
// is gRPC (scheduler_connection.h); a test or the in-process swarm gives
// its own.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "feilong/scheduler/v1/scheduler.pb.h"

namespace feilong::daemon {

// One download's AnnouncePeer stream. Destroying it ends the stream after
// what was sent has gone out; it never blocks the caller.
class SchedulerStream {
 public:
  virtual ~SchedulerStream() = default;
  // False if the stream is broken (its on_closed callback tells why).
  virtual bool Send(const scheduler::v1::AnnouncePeerRequest& request) = 0;
  virtual const std::string& address() const = 0;
};

class SchedulerLink {
 public:
  using OnMessage = std::function<void(scheduler::v1::AnnouncePeerResponse)>;
  // The stream ended without the download asking for it.
  using OnClosed = std::function<void(Status)>;
  // The stream, or Unavailable naming every scheduler tried.
  using OnOpened = std::function<void(Result<std::shared_ptr<SchedulerStream>>)>;

  virtual ~SchedulerLink() = default;
  // Opens a stream for `registration.task_id()` and sends Register first.
  // on_message and on_closed are called only after on_opened succeeded.
  virtual void Open(const scheduler::v1::Register& registration, OnMessage on_message,
                    OnClosed on_closed, OnOpened on_opened) = 0;
};

}  // namespace feilong::daemon
