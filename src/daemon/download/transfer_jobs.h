// The transfer jobs a Download submits to the TransferPool. Each runs on a
// pool thread, writes pieces into the store and posts one result event per
// piece (or one ProbeResult) to the download's mailbox; none touches the
// download's state.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/download/download_events.h"
#include "daemon/download/host_gate.h"
#include "daemon/download/transfer_pool.h"
#include "source/source_client.h"

namespace feilong::daemon::conductor {

// Piece `number` (of `size` bytes) from the parent's piece server, verified
// against `expected` before it is recorded; `grant` goes with the request
// (private tasks, access/grant.h).
TransferPool::Job ParentFetchJob(std::shared_ptr<Mailbox> mailbox, storage::PieceStore& store,
                                 std::string task_id, std::string parent_id, std::string ip,
                                 uint16_t port, uint32_t number, uint32_t size,
                                 Sha256Digest expected, std::string grant,
                                 std::shared_ptr<HostGate::Pass> pass);

// The origin's content length and Range support.
TransferPool::Job ProbeJob(std::shared_ptr<Mailbox> mailbox, source::SourceRequest request,
                           std::shared_ptr<HostGate::Pass> pass);

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
TransferPool::Job OriginSpanJob(std::shared_ptr<Mailbox> mailbox, storage::PieceStore& store,
                                storage::TaskMeta meta, OriginSpan span,
                                source::SourceRequest request,
                                std::shared_ptr<HostGate::Pass> pass);

}  // namespace feilong::daemon::conductor
