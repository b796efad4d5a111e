// LoopTransfers: the daemon's Transfers (transfers.h). Piece transfers from
// parents and the origin are asynchronous on the IoLoop (libcurl's multi
// interface, source/curl_multi.h): no thread waits on a socket, and the
// number of threads does not grow with transfers. Bytes are hashed and
// written as they arrive; what blocks (opening a piece for writing,
// committing it to the store, whole-file work) runs on the BlockingPool.
// Results go to the download's mailbox; nothing here touches a download's
// state. A transfer refused because the daemon is stopping posts a
// Cancelled result, so no download waits for it.
//
// One CurlMulti per loop thread, so transfers use every loop thread; a
// host's transfers all go through the same multi, so its connections are
// reused.
//
// Thread rule: thread-safe. Stop (also run by the destructor) ends every
// transfer; call it before the loop stops.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/download/blocking_pool.h"
#include "daemon/download/download_events.h"
#include "daemon/download/piece_client.h"
#include "daemon/download/transfers.h"

namespace feilong {
class IoLoop;
}  // namespace feilong

namespace feilong::source {
class CurlMulti;
}  // namespace feilong::source

namespace feilong::daemon::conductor {

class LoopTransfers final : public Transfers {
 public:
  // `loop`, `pool` and `store` must outlive this object.
  LoopTransfers(IoLoop& loop, BlockingPool& pool, storage::PieceStore& store,
                const PieceClientOptions& piece_options,
                const source::SourceClientOptions& source_options);
  ~LoopTransfers() override;
  LoopTransfers(const LoopTransfers&) = delete;
  LoopTransfers& operator=(const LoopTransfers&) = delete;

  void FetchFromParent(std::shared_ptr<Mailbox> mailbox, ParentPieceRequest request,
                       std::shared_ptr<HostGate::Pass> pass) override;
  void FetchFromOrigin(std::shared_ptr<Mailbox> mailbox, storage::TaskMeta meta, OriginSpan span,
                       source::SourceRequest request,
                       std::shared_ptr<HostGate::Pass> pass) override;
  void Probe(std::shared_ptr<Mailbox> mailbox, source::SourceRequest request,
             std::shared_ptr<HostGate::Pass> pass) override;
  bool RunBlocking(std::function<void()> job) override;

  void Stop();

 private:
  struct OriginFetch;
  // A piece being written: the store's writer and the transfer's wrapper.
  struct OpenPiece {
    std::unique_ptr<storage::PieceWriter> raw;
    std::unique_ptr<TransferWriter> writer;
  };

  // The multi that carries transfers to `host`.
  source::CurlMulti& MultiFor(const std::string& host);
  // A client for the URL's scheme, created on first use and kept.
  Result<source::SourceClient*> SourceFor(const std::string& url);
  // Commits a received piece on the pool, settles `pass` (may be null) with
  // the outcome and posts the result.
  void CommitAndPost(std::shared_ptr<Mailbox> mailbox, PieceResult result,
                     std::shared_ptr<OpenPiece> piece, std::optional<Sha256Digest> expected,
                     Clock::TimePoint start, std::shared_ptr<HostGate::Pass> pass);

  BlockingPool& pool_;
  storage::PieceStore& store_;
  const PieceClient piece_client_;
  const source::SourceClientOptions source_options_;
  std::vector<std::unique_ptr<source::CurlMulti>> multis_;
  std::mutex sources_mutex_;
  std::map<std::string, std::unique_ptr<source::SourceClient>> sources_;  // by scheme
};

}  // namespace feilong::daemon::conductor
