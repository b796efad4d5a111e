// Transfers: how a Download moves bytes and does work that blocks. Every
// call returns at once; the outcome arrives later as events in the
// download's mailbox (download_events.h). The daemon's implementation runs
// them on the event loop (loop_transfers.h); a test or the in-process
// swarm gives its own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/digest.h"
#include "daemon/download/host_gate.h"
#include "source/source_client.h"
#include "storage/piece_store.h"

namespace feilong::daemon::conductor {

struct Mailbox;

// One piece from a parent's piece server, verified against `expected`
// before it is recorded; `grant` goes with the request (private tasks,
// access/grant.h).
struct ParentPieceRequest {
  std::string task_id;
  std::string parent_id;
  std::string ip;
  uint16_t port = 0;
  uint32_t number = 0;
  uint32_t size = 0;
  Sha256Digest expected{};
  std::string grant;
};

// Pieces [first, first + count) from the origin in one request, cut into
// pieces as the bytes arrive; each piece's result is posted as soon as it
// is written, so it can be shared before the request ends. When the request
// fails, every piece of the span not yet posted gets a failed result: each
// piece gets exactly one. Pieces set in `skip` (may be empty) are read past,
// not rewritten, and get no result. A span covering the whole content is a
// plain GET, for origins that ignore Range.
struct OriginSpan {
  uint32_t first = 0;
  uint32_t count = 1;
  std::vector<bool> skip;  // by piece number; empty = skip none
};

class Transfers {
 public:
  virtual ~Transfers() = default;
  // Posts one PieceResult. `pass` is settled when the transfer ends.
  virtual void FetchFromParent(std::shared_ptr<Mailbox> mailbox, ParentPieceRequest request,
                               std::shared_ptr<HostGate::Pass> pass) = 0;
  // Posts one PieceResult per piece of the span (see OriginSpan).
  virtual void FetchFromOrigin(std::shared_ptr<Mailbox> mailbox, storage::TaskMeta meta,
                               OriginSpan span, source::SourceRequest request,
                               std::shared_ptr<HostGate::Pass> pass) = 0;
  // Posts one ProbeResult: the origin's content length and Range support.
  virtual void Probe(std::shared_ptr<Mailbox> mailbox, source::SourceRequest request,
                     std::shared_ptr<HostGate::Pass> pass) = 0;
  // Runs `job` off the download's strand (hashing a whole file, writing an
  // output). False if the daemon is stopping: the job was not run.
  virtual bool RunBlocking(std::function<void()> job) = 0;
};

}  // namespace feilong::daemon::conductor
