// PoolTransfers: the daemon's Transfers (transfers.h). Each transfer is a
// job on the TransferPool that writes pieces into the store and posts its
// results to the download's mailbox; none touches the download's state. A
// job refused because the pool is stopping posts a Cancelled result, so no
// download waits for it.
#pragma once

#include <functional>
#include <memory>

#include "daemon/download/download_events.h"
#include "daemon/download/transfer_pool.h"
#include "daemon/download/transfers.h"

namespace feilong::daemon::conductor {

class PoolTransfers final : public Transfers {
 public:
  // Both must outlive this object.
  PoolTransfers(TransferPool& pool, storage::PieceStore& store) : pool_(pool), store_(store) {}

  void FetchFromParent(std::shared_ptr<Mailbox> mailbox, ParentPieceRequest request,
                       std::shared_ptr<HostGate::Pass> pass) override;
  void FetchFromOrigin(std::shared_ptr<Mailbox> mailbox, storage::TaskMeta meta, OriginSpan span,
                       source::SourceRequest request,
                       std::shared_ptr<HostGate::Pass> pass) override;
  void Probe(std::shared_ptr<Mailbox> mailbox, source::SourceRequest request,
             std::shared_ptr<HostGate::Pass> pass) override;
  bool RunBlocking(std::function<void()> job) override;

 private:
  TransferPool& pool_;
  storage::PieceStore& store_;
};

}  // namespace feilong::daemon::conductor
