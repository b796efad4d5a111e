// PieceClient: fetches one piece from a parent's piece server
// (GET http[s]://<host>:<port>/pieces/<task_id>/<number>, see piece_server.h)
// and streams the body into a storage::PieceWriter. The caller then commits
// the writer with the digest it expects; the parent's claimed digest is only
// reported, never trusted.
//
// Errors (messages name "parent <host>:<port> piece <number>"):
//   InvalidArgument   a malformed task id, expected_length 0, or a 400/4xx
//   NotFound          the parent does not have the task or piece (404)
//   PermissionDenied  the task is private and the parent did not take the
//                     grant (403; see access/grant.h)
//   Unavailable       connection refused or reset, 5xx, or the parent closed
//                     the connection before sending the whole piece
//   DeadlineExceeded  connect timeout, or no byte for `stall_timeout`
//   Corruption        the parent declared or sent a length other than
//                     expected_length, or a malformed digest header
//   (writer's error)  an Append error, returned unchanged
// A busy parent (503 with X-Feilong-Busy, see upload_slots.h) is not an
// error: the result says what was busy and nothing was appended.
// After an error the writer holds a partial piece; the caller discards it.
//
// Fetches run on a source::CurlMulti: no thread waits for them, and the
// multi keeps an idle connection to each parent it asked (up to its limit),
// so later fetches from a parent reuse its connection.
//
// Thread rule: thread-safe (the client holds only its options).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/digest.h"
#include "common/status.h"
#include "storage/piece_store.h"

namespace feilong::source {
class CurlMulti;
}  // namespace feilong::source

namespace feilong::daemon {

struct PieceClientOptions {
  // Time to establish the TCP connection to a parent. Default: 2 s.
  std::chrono::milliseconds connect_timeout{2000};
  // A fetch fails with DeadlineExceeded when no byte arrives for this long
  // (detected within about a second past it). Default: 10 s.
  std::chrono::milliseconds stall_timeout{10000};
  // HTTPS to parents (their piece servers run PieceTls): the CA their
  // certificates must chain to (and name the parent's address), and this
  // host's certificate and key. Empty ca_file: plaintext HTTP. Files are
  // read for each new connection, so rotated files are picked up.
  struct Tls {
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
  } tls;
};

struct PieceFetchResult {
  uint64_t bytes = 0;                  // body bytes appended to the writer
  std::chrono::nanoseconds elapsed{};  // from request start to the last byte
  // The digest the parent claims (X-Feilong-Piece-Digest); unset if the
  // parent sent none. Advisory: verify with the writer's Commit().
  std::optional<Sha256Digest> parent_digest;
  // Set when the parent would not send the piece right now: kParent, no
  // upload slot free (ask it again later); kPiece, not this piece (ask it
  // for another one).
  enum class Busy : uint8_t { kNo, kParent, kPiece };
  Busy busy = Busy::kNo;
};

using PieceFetchDone = std::function<void(Result<PieceFetchResult>)>;

class PieceClient {
 public:
  // `clock` measures `elapsed`; it must outlive the client.
  explicit PieceClient(PieceClientOptions options, Clock& clock = SteadyClock::Default())
      : options_(std::move(options)), clock_(clock) {}

  // Starts fetching piece `number` of `task_id` from the parent at
  // host:port (an IP address or a host name; IPv6 with or without brackets)
  // on `multi`, appending exactly `expected_length` bytes to `writer` and
  // presenting `grant` (for a private task; empty otherwise). `done` runs
  // once with the result (errors as listed above): at once on this thread
  // for a malformed request, else on the multi's strand, where `writer` is
  // also written. `writer` must stay alive until then.
  void Fetch(source::CurlMulti& multi, const std::string& host, uint16_t port,
             const std::string& task_id, uint32_t number, uint32_t expected_length,
             storage::PieceWriter& writer, const std::string& grant, PieceFetchDone done) const;

 private:
  PieceClientOptions options_;
  Clock& clock_;
};

}  // namespace feilong::daemon
