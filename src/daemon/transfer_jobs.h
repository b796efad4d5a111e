// The transfer jobs a Download submits to the TransferPool. Each runs on a
// pool thread, writes pieces into the store and posts one result event per
// piece (or one ProbeResult) to the download's mailbox; none touches the
// download's state.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/download_events.h"
#include "daemon/host_gate.h"
#include "daemon/transfer_pool.h"
#include "source/source_client.h"

namespace feilong::daemon::conductor {

// Piece `number` (of `size` bytes) from the parent's piece server, verified
// against `expected` before it is recorded.
TransferPool::Job ParentFetchJob(std::shared_ptr<Mailbox> mailbox, storage::PieceStore& store,
                                 std::string task_id, std::string parent_id, std::string ip,
                                 uint16_t port, uint32_t number, uint32_t size,
                                 Sha256Digest expected, std::shared_ptr<HostGate::Pass> pass);

// Piece `number` at [offset, offset + size) from the origin with a Range request.
TransferPool::Job OriginFetchJob(std::shared_ptr<Mailbox> mailbox, storage::PieceStore& store,
                                 std::string task_id, source::SourceRequest request,
                                 uint32_t number, uint64_t offset, uint32_t size,
                                 std::shared_ptr<HostGate::Pass> pass);

// The origin's content length and Range support.
TransferPool::Job ProbeJob(std::shared_ptr<Mailbox> mailbox, source::SourceRequest request,
                           std::shared_ptr<HostGate::Pass> pass);

// The whole body in one request (for origins that ignore Range), cut into
// pieces; pieces in `held` are read past, not rewritten.
TransferPool::Job WholeBodyJob(std::shared_ptr<Mailbox> mailbox, storage::PieceStore& store,
                               storage::TaskMeta meta, std::vector<bool> held,
                               source::SourceRequest request, std::shared_ptr<HostGate::Pass> pass);

}  // namespace feilong::daemon::conductor
