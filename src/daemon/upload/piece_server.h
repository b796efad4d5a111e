// PieceServer: the peer-facing HTTP/1.1 server that hands out piece bytes.
//
//   GET  /pieces/<task_id>/<number>   200, body = the piece's bytes
//   HEAD /pieces/<task_id>/<number>   200, headers only
//
// A 200 carries Content-Length (the piece's length) and
// "X-Feilong-Piece-Digest: sha256:<hex>" (the digest recorded in the store).
// The body goes out with sendfile(2) straight from the content file; over
// HTTPS (options.tls: every child must present a certificate of the CA), it
// is read and written through TLS.
// Other answers (each with a short text body):
//   403  a private task (storage::TaskMeta::private_task) asked for without
//        a valid grant in "X-Feilong-Grant" (access/grant.h: signed by the
//        key recorded with the task, for this task and the asking address,
//        not expired); the same answer whether the piece is held or not
//   400  a malformed path under /pieces/, a task id that is not 64 lowercase
//        hex characters, a number that is not decimal or is not a piece of
//        the task; also a malformed request (then the connection closes)
//   404  an unknown task, a piece the store does not hold, any other path
//   405  a method other than GET and HEAD
//   413  a request with a body (not accepted; the connection closes)
//   431  request headers over 8 KiB (the connection closes)
//   500  a store error other than NotFound
//   503  busy: all upload slots are taken, or this piece is being sent to
//        another child (see upload_slots.h); the header
//        "X-Feilong-Busy: slots" or "X-Feilong-Busy: piece" says which. The
//        connection stays open; the child asks again later or elsewhere.
//        A GET that finds every slot taken first waits up to `queue_wait`
//        in a queue of at most `queue_length` (see upload_queue.h); only
//        when the queue is full or the wait runs out is it answered busy.
// Keep-alive follows HTTP/1.1 rules (Connection: close, HTTP/1.0). A
// connection idle (no byte read or written) for `idle_timeout` is closed. Any
// error closes only its connection. The server serves pieces of tasks in the
// store, never a path.
//
// Concurrency: a TcpServer (common/tcp_server.h) with `threads` threads; each
// connection is one C++20 coroutine on its own strand. Store calls (OpenPiece,
// GetTask) run on those threads; they are short metadata lookups.
//
// Thread rule: all methods are thread-safe. Stop() (also run by the
// destructor) is idempotent: it closes the listening socket and every
// connection and joins the threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"
#include "storage/piece_store.h"

namespace feilong::daemon {

class PieceTls;

struct PieceServerOptions {
  // Address to listen on (numeric IPv4/IPv6 or a host name). Default: all
  // IPv4 interfaces.
  std::string host = "0.0.0.0";
  // TCP port; 0 picks a free ephemeral port (see PieceServer::port()).
  // Default: 0.
  uint16_t port = 0;
  // Threads running the event loop. Default: 2. REQUIRES: >= 1.
  uint32_t threads = 2;
  // Open connections at most; further connections are accepted and closed at
  // once. Default: 512.
  uint32_t max_connections = 512;
  // Piece bodies sent at once; 0 = no limit. A piece is sent to one child
  // at a time either way. Default: 0.
  uint32_t max_uploads = 0;
  // A GET finding every upload slot taken waits this long at most for one
  // (0: answered busy at once), among at most `queue_length` such GETs.
  // Default: 0, 0.
  std::chrono::milliseconds queue_wait{0};
  uint32_t queue_length = 0;
  // See UploadSlots: while this peer downloads a task, no piece goes out
  // twice while a held one has not gone out at all. Needs
  // `held_while_downloading`. Default: false.
  bool first_copies_first = false;
  // Pieces of the task this peer holds while it downloads it; 0 when it
  // does not. Called on the server's threads; must be thread-safe.
  std::function<uint32_t(const std::string& task_id)> held_while_downloading;
  // TCP congestion control of the connections (common/tcp_congestion.h:
  // the piece server's senders are many-to-one); "" keeps the host's. One
  // this process may not use is reported at Start and left alone.
  // Default: "".
  std::string tcp_congestion;
  // A connection with no byte read or written for this long is closed.
  // Default: 60 s.
  std::chrono::milliseconds idle_timeout{60'000};
  // HTTPS with client certificates (piece_tls.h); null: plaintext HTTP.
  // Default: null.
  std::shared_ptr<PieceTls> tls;
  // When set, also counted here: grants refused (403) and failed TLS
  // handshakes. Must outlive the server. Default: null.
  metrics::Counter* grants_refused_metric = nullptr;
  metrics::Counter* tls_handshake_failures_metric = nullptr;
};

class PieceServer {
 public:
  // Binds, listens and starts serving `store`, which must outlive the server.
  // InvalidArgument for bad options (threads 0, a host that does not
  // resolve); IOError naming the address when it cannot bind or listen.
  // `clock` (which must outlive the server too) tells grants' expiry.
  static Result<std::unique_ptr<PieceServer>> Start(const PieceServerOptions& options,
                                                    storage::PieceStore& store,
                                                    Clock& clock = SteadyClock::Default());

  ~PieceServer();
  PieceServer(const PieceServer&) = delete;
  PieceServer& operator=(const PieceServer&) = delete;

  // The bound port (the ephemeral one when options.port was 0).
  uint16_t port() const;

  // Closes the acceptor and every connection, joins the threads. Idempotent.
  void Stop();

  // Piece body bytes sent since Start (GET bodies only).
  uint64_t bytes_served() const;
  // Piece bodies being sent right now.
  uint32_t active_uploads() const;
  // GETs answered busy (503) since Start.
  uint64_t busy_replies() const;
  // GETs that waited in the queue for an upload slot since Start.
  uint64_t queued_requests() const;
  // Open connections right now.
  uint32_t active_connections() const;
  // Connections served since Start (not those refused at the limit).
  uint64_t connections_accepted() const;
  // Requests for a private task refused for want of a valid grant (403).
  uint64_t grants_refused() const;
  // TLS handshakes that failed (no client certificate, another CA, ...).
  uint64_t tls_handshakes_failed() const;

 private:
  struct Impl;
  explicit PieceServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace feilong::daemon
