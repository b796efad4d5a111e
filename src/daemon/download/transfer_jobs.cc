#include "daemon/download/transfer_jobs.h"

#include <algorithm>

namespace feilong::daemon::conductor {

namespace {

using std::chrono::steady_clock;

std::chrono::microseconds Since(steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - start);
}

// Records the outcome against the host and frees the slot.
void Settle(std::shared_ptr<HostGate::Pass>& pass, const Status& status) {
  if (pass) {
    pass->Finish(status);
    pass.reset();
  }
}

Status Stopping() { return Status::Cancelled("the daemon is stopping"); }

TransferPool::Job ParentFetchJob(std::shared_ptr<Mailbox> mailbox, storage::PieceStore& store,
                                 ParentPieceRequest request, std::shared_ptr<HostGate::Pass> pass) {
  return [=, &store](TransferContext& ctx) mutable {
    const uint32_t number = request.number;
    const uint32_t size = request.size;
    PieceResult result{number, request.parent_id, Status::Ok(), {}, 0, {}};
    auto start = steady_clock::now();
    auto writer = store.OpenPieceWriter(request.task_id, number);
    if (!writer.ok()) {
      result.status = writer.status();
    } else {
      TransferWriter guarded(**writer, *mailbox);
      auto fetched = ctx.piece_client().Fetch(request.ip, request.port, request.task_id, number,
                                              size, guarded, request.grant);
      if (!fetched.ok()) {
        result.status = fetched.status();
      } else if (fetched->busy != PieceFetchResult::Busy::kNo) {
        result.busy = fetched->busy;
        result.status = Status::Unavailable("parent busy");
      } else {
        auto committed = guarded.Commit(request.expected);
        if (committed.ok()) {
          result.digest = *committed;
          result.bytes = size;
        } else {
          result.status = committed.status();
        }
      }
    }
    if (writer.ok()) {
      (*writer).reset();  // release the piece before the download may retry it
    }
    result.cost = Since(start);
    // A busy parent is healthy: it only has no slot free right now.
    Settle(pass, result.busy != PieceFetchResult::Busy::kNo ? Status::Ok() : result.status);
    mailbox->Post(std::move(result));
  };
}

TransferPool::Job ProbeJob(std::shared_ptr<Mailbox> mailbox, source::SourceRequest request,
                           std::shared_ptr<HostGate::Pass> pass) {
  return [=](TransferContext& ctx) mutable {
    ProbeResult result;
    auto client = ctx.SourceFor(request.url);
    if (!client.ok()) {
      result.status = client.status();
    } else {
      auto info = (*client)->Probe(request);
      if (!info.ok()) {
        result.status = info.status();
      } else {
        result.content_length = info->content_length;
        result.range_supported = info->range_supported;
      }
    }
    Settle(pass, result.status);
    mailbox->Post(std::move(result));
  };
}

TransferPool::Job OriginSpanJob(std::shared_ptr<Mailbox> mailbox, storage::PieceStore& store,
                                storage::TaskMeta meta, OriginSpan span,
                                source::SourceRequest request,
                                std::shared_ptr<HostGate::Pass> pass) {
  return [=, &store](TransferContext& ctx) mutable {
    const uint32_t end = span.first + span.count;
    auto skipped = [&](uint32_t n) { return n < span.skip.size() && span.skip[n]; };
    uint32_t number = span.first;  // the piece the next bytes belong to
    std::unique_ptr<storage::PieceWriter> raw_writer;
    std::unique_ptr<TransferWriter> writer;
    auto start = steady_clock::now();
    // Records the piece just written, posts its result and moves on.
    auto finish_piece = [&]() -> Status {
      PieceResult result{number, "", Status::Ok(), {}, 0, {}};
      auto committed = writer->Commit(std::nullopt);
      writer.reset();
      raw_writer.reset();
      result.status = committed.status();
      if (committed.ok()) {
        result.digest = *committed;
        result.bytes = meta.PieceSize(number);
      }
      result.cost = Since(start);
      start = steady_clock::now();
      Status s = result.status;
      mailbox->Post(std::move(result));
      ++number;  // posted, failed or not: not posted again below
      return s;
    };
    auto client = ctx.SourceFor(request.url);
    Status status = client.status();
    if (client.ok()) {
      const uint64_t offset = meta.PieceOffset(span.first);
      const uint64_t length = meta.PieceOffset(end - 1) + meta.PieceSize(end - 1) - offset;
      status = (*client)->FetchRange(
          request, offset, length, [&](std::span<const uint8_t> data) -> Status {
            while (!data.empty()) {
              if (mailbox->cancelled) {
                return Status::Cancelled("download cancelled");
              }
              if (!writer) {
                FL_ASSIGN_OR_RETURN(raw_writer, store.OpenPieceWriter(meta.task_id, number));
                writer = std::make_unique<TransferWriter>(*raw_writer, *mailbox);
              }
              uint64_t room = meta.PieceSize(number) - writer->written();
              size_t take = static_cast<size_t>(std::min<uint64_t>(room, data.size()));
              FL_RETURN_IF_ERROR(writer->Append(data.first(take)));
              data = data.subspan(take);
              if (writer->written() == meta.PieceSize(number)) {
                if (skipped(number)) {
                  writer.reset();
                  raw_writer.reset();
                  ++number;
                } else {
                  FL_RETURN_IF_ERROR(finish_piece());
                }
              }
            }
            return Status::Ok();
          });
    }
    writer.reset();
    raw_writer.reset();  // release the piece before the download may retry it
    Settle(pass, status);
    if (!status.ok()) {
      // Every piece not yet posted fails, so the conductor sees the error.
      for (uint32_t n = number; n < end; ++n) {
        if (!skipped(n)) {
          mailbox->Post(PieceResult{n, "", status, {}, 0, {}});
        }
      }
    }
  };
}

}  // namespace

void PoolTransfers::FetchFromParent(std::shared_ptr<Mailbox> mailbox, ParentPieceRequest request,
                                    std::shared_ptr<HostGate::Pass> pass) {
  PieceResult refused{request.number, request.parent_id, Stopping(), {}, 0, {}};
  if (!pool_.Submit(ParentFetchJob(mailbox, store_, std::move(request), std::move(pass)))) {
    mailbox->Post(std::move(refused));
  }
}

void PoolTransfers::FetchFromOrigin(std::shared_ptr<Mailbox> mailbox, storage::TaskMeta meta,
                                    OriginSpan span, source::SourceRequest request,
                                    std::shared_ptr<HostGate::Pass> pass) {
  const OriginSpan copy = span;
  if (!pool_.Submit(OriginSpanJob(mailbox, store_, std::move(meta), std::move(span),
                                  std::move(request), std::move(pass)))) {
    for (uint32_t n = copy.first; n < copy.first + copy.count; ++n) {
      if (n >= copy.skip.size() || !copy.skip[n]) {
        mailbox->Post(PieceResult{n, "", Stopping(), {}, 0, {}});
      }
    }
  }
}

void PoolTransfers::Probe(std::shared_ptr<Mailbox> mailbox, source::SourceRequest request,
                          std::shared_ptr<HostGate::Pass> pass) {
  if (!pool_.Submit(ProbeJob(mailbox, std::move(request), std::move(pass)))) {
    ProbeResult refused;
    refused.status = Stopping();
    mailbox->Post(std::move(refused));
  }
}

bool PoolTransfers::RunBlocking(std::function<void()> job) {
  return pool_.Submit([job = std::move(job)](TransferContext&) { job(); });
}

}  // namespace feilong::daemon::conductor
