// ParentFeed: how a Download learns which pieces a parent holds, as the
// parent gets them. The daemon's implementation follows the parent's
// SyncPieces stream (parent_watcher.h); a test or the in-process swarm
// gives its own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "feilong/scheduler/v1/scheduler.pb.h"

namespace feilong::daemon {

// Destroying it stops the callbacks (none runs after the destructor).
class ParentSubscription {
 public:
  virtual ~ParentSubscription() = default;
};

class ParentFeed {
 public:
  using OnPieces = std::function<void(std::vector<uint32_t> numbers)>;
  // OK when the parent ended the stream normally (it holds all it will).
  using OnEnd = std::function<void(Status)>;

  virtual ~ParentFeed() = default;
  // Callbacks come from any thread. `grant` for a private task
  // (access/grant.h), else empty.
  virtual std::unique_ptr<ParentSubscription> Watch(const scheduler::v1::CandidateParent& parent,
                                                    const std::string& task_id,
                                                    const std::string& my_peer_id,
                                                    const std::string& grant, OnPieces on_pieces,
                                                    OnEnd on_end) = 0;
};

}  // namespace feilong::daemon
