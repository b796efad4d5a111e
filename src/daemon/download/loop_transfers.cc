#include "daemon/download/loop_transfers.h"

#include <algorithm>
#include <functional>

#include "common/io_loop.h"
#include "source/curl_multi.h"

namespace feilong::daemon::conductor {

namespace {

Clock& TheClock() { return SteadyClock::Default(); }

std::chrono::microseconds Since(Clock::TimePoint start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(TheClock().Now() - start);
}

// Records the outcome against the host and frees the slot.
void Settle(std::shared_ptr<HostGate::Pass>& pass, const Status& status) {
  if (pass) {
    pass->Finish(status);
    pass.reset();
  }
}

Status Stopping() { return Status::Cancelled("the daemon is stopping"); }

// "host:port" of an absolute URL: what picks the multi for an origin.
std::string Authority(const std::string& url) {
  size_t begin = url.find("://");
  begin = begin == std::string::npos ? 0 : begin + 3;
  size_t end = url.find_first_of("/?#", begin);
  return url.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

}  // namespace

// One origin span under way: the piece being received and what is left.
struct LoopTransfers::OriginFetch {
  std::shared_ptr<Mailbox> mailbox;
  storage::TaskMeta meta;
  OriginSpan span;
  std::shared_ptr<HostGate::Pass> pass;
  uint32_t number = 0;               // the piece the next bytes belong to
  std::shared_ptr<OpenPiece> piece;  // null between pieces
  Clock::TimePoint start;

  uint32_t end() const { return span.first + span.count; }
  bool Skipped(uint32_t n) const { return n < span.skip.size() && span.skip[n]; }
};

LoopTransfers::LoopTransfers(IoLoop& loop, BlockingPool& pool, storage::PieceStore& store,
                             const PieceClientOptions& piece_options,
                             const source::SourceClientOptions& source_options)
    : pool_(pool), store_(store), piece_client_(piece_options), source_options_(source_options) {
  const uint32_t count = std::max(1U, loop.threads());
  for (uint32_t i = 0; i < count; ++i) {
    multis_.push_back(std::make_unique<source::CurlMulti>(loop));
  }
}

LoopTransfers::~LoopTransfers() { Stop(); }

void LoopTransfers::Stop() {
  for (auto& multi : multis_) {
    multi->Stop();
  }
}

source::CurlMulti& LoopTransfers::MultiFor(const std::string& host) {
  return *multis_[std::hash<std::string>{}(host) % multis_.size()];
}

Result<source::SourceClient*> LoopTransfers::SourceFor(const std::string& url) {
  std::string scheme = url.substr(0, url.find(':'));
  std::lock_guard lock(sources_mutex_);
  auto it = sources_.find(scheme);
  if (it == sources_.end()) {
    FL_ASSIGN_OR_RETURN(auto client, source::NewSourceClient(url, source_options_));
    it = sources_.emplace(scheme, std::move(client)).first;
  }
  return it->second.get();
}

void LoopTransfers::CommitAndPost(std::shared_ptr<Mailbox> mailbox, PieceResult result,
                                  std::shared_ptr<OpenPiece> piece,
                                  std::optional<Sha256Digest> expected, Clock::TimePoint start,
                                  std::shared_ptr<HostGate::Pass> pass) {
  const uint32_t number = result.number;
  const std::string parent_id = result.parent_id;
  auto commit = [mailbox, result = std::move(result), piece = std::move(piece), expected, start,
                 pass]() mutable {
    auto committed = piece->writer->Commit(expected);
    const uint64_t size = piece->writer->written();
    piece.reset();  // release the piece before the download may retry it
    if (committed.ok()) {
      result.digest = *committed;
      result.bytes = size;
    } else {
      result.status = committed.status();
    }
    result.cost = Since(start);
    Settle(pass, result.status);  // a parent that sent a corrupt piece failed
    mailbox->Post(std::move(result));
  };
  if (!pool_.Submit(std::move(commit))) {
    Settle(pass, Stopping());
    mailbox->Post(PieceResult{number, parent_id, Stopping(), {}, 0, {}});
  }
}

void LoopTransfers::FetchFromParent(std::shared_ptr<Mailbox> mailbox, ParentPieceRequest request,
                                    std::shared_ptr<HostGate::Pass> pass) {
  const Clock::TimePoint start = TheClock().Now();
  PieceResult refused{request.number, request.parent_id, Stopping(), {}, 0, {}};
  auto open_and_fetch = [this, mailbox, request = std::move(request), pass, start]() mutable {
    PieceResult result{request.number, request.parent_id, Status::Ok(), {}, 0, {}};
    auto opened = store_.OpenPieceWriter(request.task_id, request.number);
    if (!opened.ok()) {
      result.status = opened.status();
      result.cost = Since(start);
      Settle(pass, result.status);
      mailbox->Post(std::move(result));
      return;
    }
    auto piece = std::make_shared<OpenPiece>();
    piece->raw = std::move(opened).value();
    piece->writer = std::make_unique<TransferWriter>(*piece->raw, *mailbox);
    const std::string host = request.ip + ":" + std::to_string(request.port);
    piece_client_.Fetch(
        MultiFor(host), request.ip, request.port, request.task_id, request.number, request.size,
        *piece->writer, request.grant,
        [this, mailbox, piece, pass, start, result = std::move(result),
         expected = request.expected](Result<PieceFetchResult> fetched) mutable {
          const bool busy = fetched.ok() && fetched->busy != PieceFetchResult::Busy::kNo;
          if (fetched.ok() && !busy) {
            CommitAndPost(mailbox, std::move(result), std::move(piece), expected, start,
                          std::move(pass));
            return;
          }
          piece.reset();  // release the piece before the download may retry it
          if (busy) {
            result.busy = fetched->busy;
            result.status = Status::Unavailable("parent busy");
            Settle(pass, Status::Ok());  // a busy parent is healthy: no slot free right now
          } else {
            result.status = fetched.status();
            Settle(pass, result.status);
          }
          result.cost = Since(start);
          mailbox->Post(std::move(result));
        });
  };
  if (!pool_.Submit(std::move(open_and_fetch))) {
    mailbox->Post(std::move(refused));
  }
}

void LoopTransfers::FetchFromOrigin(std::shared_ptr<Mailbox> mailbox, storage::TaskMeta meta,
                                    OriginSpan span, source::SourceRequest request,
                                    std::shared_ptr<HostGate::Pass> pass) {
  auto fetch = std::make_shared<OriginFetch>();
  fetch->mailbox = std::move(mailbox);
  fetch->meta = std::move(meta);
  fetch->span = std::move(span);
  fetch->pass = std::move(pass);
  fetch->number = fetch->span.first;
  fetch->start = TheClock().Now();
  // Every piece not yet handed on fails, so the download sees the error.
  auto fail_rest = [](OriginFetch& f, const Status& status) {
    f.piece.reset();  // release the piece before the download may retry it
    Settle(f.pass, status);
    if (status.ok()) {
      return;
    }
    for (uint32_t n = f.number; n < f.end(); ++n) {
      if (!f.Skipped(n)) {
        f.mailbox->Post(PieceResult{n, "", status, {}, 0, {}});
      }
    }
  };
  auto client = SourceFor(request.url);
  if (!client.ok()) {
    fail_rest(*fetch, client.status());
    return;
  }
  // Cuts the bytes into pieces; runs on the multi's strand.
  auto sink = [this, fetch](std::span<const uint8_t> data) -> Status {
    OriginFetch& f = *fetch;
    while (!data.empty()) {
      if (f.mailbox->cancelled) {
        return Status::Cancelled("download cancelled");
      }
      if (!f.piece) {
        auto piece = std::make_shared<OpenPiece>();
        FL_ASSIGN_OR_RETURN(piece->raw, store_.OpenPieceWriter(f.meta.task_id, f.number));
        piece->writer = std::make_unique<TransferWriter>(*piece->raw, *f.mailbox);
        f.piece = std::move(piece);
      }
      TransferWriter& writer = *f.piece->writer;
      uint64_t room = f.meta.PieceSize(f.number) - writer.written();
      size_t take = static_cast<size_t>(std::min<uint64_t>(room, data.size()));
      FL_RETURN_IF_ERROR(writer.Append(data.first(take)));
      data = data.subspan(take);
      if (writer.written() == f.meta.PieceSize(f.number)) {
        if (f.Skipped(f.number)) {
          f.piece.reset();
        } else {
          CommitAndPost(f.mailbox, PieceResult{f.number, "", Status::Ok(), {}, 0, {}},
                        std::move(f.piece), std::nullopt, f.start, nullptr);
          f.start = TheClock().Now();
        }
        ++f.number;  // handed on, failed or not: not posted again below
      }
    }
    return Status::Ok();
  };
  const uint32_t end = fetch->end();
  const uint64_t offset = fetch->meta.PieceOffset(fetch->span.first);
  const uint64_t length =
      fetch->meta.PieceOffset(end - 1) + fetch->meta.PieceSize(end - 1) - offset;
  (*client)->FetchRangeAsync(MultiFor(Authority(request.url)), request, offset, length,
                             std::move(sink),
                             [fetch, fail_rest](Status status) { fail_rest(*fetch, status); });
}

void LoopTransfers::Probe(std::shared_ptr<Mailbox> mailbox, source::SourceRequest request,
                          std::shared_ptr<HostGate::Pass> pass) {
  auto client = SourceFor(request.url);
  auto finish = [mailbox, pass](Result<source::ContentInfo> info) mutable {
    ProbeResult result;
    if (!info.ok()) {
      result.status = info.status();
    } else {
      result.content_length = info->content_length;
      result.range_supported = info->range_supported;
    }
    Settle(pass, result.status);
    mailbox->Post(std::move(result));
  };
  if (!client.ok()) {
    finish(client.status());
    return;
  }
  (*client)->ProbeAsync(MultiFor(Authority(request.url)), request, std::move(finish));
}

bool LoopTransfers::RunBlocking(std::function<void()> job) { return pool_.Submit(std::move(job)); }

}  // namespace feilong::daemon::conductor
