#include "daemon/upload/piece_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "access/grant.h"
#include "common/tcp_congestion.h"
#include "common/tcp_server.h"
#include "daemon/piece_request.h"
#include "daemon/upload/piece_tls.h"
#include "daemon/upload/tls_server_stream.h"
#include "daemon/upload/upload_queue.h"
#include "daemon/upload/upload_slots.h"

namespace feilong::daemon {

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
namespace ssl = asio::ssl;
using ErrorCode = boost::system::error_code;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

constexpr size_t kHeaderLimit = 8 * 1024;
constexpr size_t kSendfileChunk = 1 << 20;
// Plaintext read and handed to TLS at a time (a few 16 KiB records).
constexpr size_t kTlsChunk = 256 << 10;
// After this many bytes sent without the socket filling up, a connection
// yields its thread to the others.
constexpr uint64_t kYieldEvery = 8u << 20;

// A counted slot in the connection limit; released when the coroutine ends
// (or its frame is destroyed at shutdown).
class ConnectionSlot {
 public:
  explicit ConnectionSlot(std::atomic<uint32_t>& count) : count_(&count) { ++*count_; }
  ConnectionSlot(ConnectionSlot&& other) noexcept : count_(std::exchange(other.count_, nullptr)) {}
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot() {
    if (count_ != nullptr) {
      --*count_;
    }
  }

 private:
  std::atomic<uint32_t>* count_;
};

// One client connection. All members are used only on the socket's strand.
struct Connection {
  Connection(tcp::socket s, std::chrono::milliseconds idle)
      : socket(std::move(s)), timer(socket.get_executor()), idle_timeout(idle) {}

  // Turns the connection into a TLS server stream over `socket`.
  void StartTls(std::shared_ptr<ssl::context> context) {
    tls = std::make_unique<TlsServerStream>(socket, std::move(context));
  }

  void Touch() { deadline = std::chrono::steady_clock::now() + idle_timeout; }

  void Close() {
    if (closed) {
      return;
    }
    closed = true;
    timer.cancel();
    ErrorCode ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  tcp::socket socket;
  // Set for HTTPS: bytes go through `tls`.
  std::unique_ptr<TlsServerStream> tls;
  asio::steady_timer timer;
  std::chrono::milliseconds idle_timeout;
  std::chrono::steady_clock::time_point deadline;
  bool closed = false;
};

// A decided answer to one request.
struct Reply {
  unsigned status = 200;
  std::string text;                               // body of a non-200 answer
  std::vector<std::string> extra_headers;         // "Name: value"
  std::optional<storage::PieceReadHandle> piece;  // set for a 200
  std::optional<UploadSlots::Ticket> ticket;      // set for a 200 to a GET
  bool wait_for_slot = false;                     // every slot taken; may queue for one
  bool close = false;                             // close the connection afterwards
};

std::string_view Reason(unsigned status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    case 500:
      return "Internal Server Error";
    default:
      return "Error";
  }
}

Reply Error(unsigned status, std::string text, bool close = false) {
  Reply reply;
  reply.status = status;
  reply.text = std::move(text) + "\n";
  reply.close = close;
  return reply;
}

std::string ResponseHead(const Reply& reply, uint64_t content_length, bool keep_alive) {
  std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " +
                     std::string(Reason(reply.status)) + "\r\nServer: feilong\r\n";
  head += reply.piece.has_value() ? "Content-Type: application/octet-stream\r\n"
                                  : "Content-Type: text/plain\r\n";
  head += "Content-Length: " + std::to_string(content_length) + "\r\n";
  for (const std::string& header : reply.extra_headers) {
    head += header + "\r\n";
  }
  head += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  return head;
}

void SetCork(tcp::socket& socket, bool on) {
  int value = on ? 1 : 0;
  (void)::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_CORK, &value, sizeof(value));
}

// sendfile(2) cannot suppress SIGPIPE per call: the server's threads block it
// (common/tcp_server.h), so a peer that hangs up gives EPIPE; this discards
// a SIGPIPE left pending on this thread by a failed sendfile or TLS write.
void ClearPendingSigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  timespec zero{};
  while (sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
  }
}

// A parse error in what the peer sent (not the peer closing or a socket error).
bool IsMalformedRequest(const ErrorCode& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

asio::awaitable<void> NothingToServe() { co_return; }

}  // namespace

struct PieceServer::Impl {
  Impl(const PieceServerOptions& o, storage::PieceStore& s, Clock& c)
      : options(o),
        store(s),
        clock(c),
        upload_queue(o.queue_length),
        upload_slots(o.max_uploads, o.first_copies_first, [this] { upload_queue.Notify(); }) {}

  // Called in the server's accept loop for each connection.
  asio::awaitable<void> Admit(tcp::socket socket);
  asio::awaitable<void> Serve(tcp::socket socket, ConnectionSlot slot);
  asio::awaitable<void> Watchdog(std::shared_ptr<Connection> connection);
  // `may_wait`: a GET finding every slot taken gets a reply with
  // `wait_for_slot` instead of a busy answer.
  // `remote_ip`: the asking address, which a private task's grant must name.
  Reply Decide(const http::request<http::empty_body>& request, const std::string& remote_ip,
               bool may_wait);
  asio::awaitable<Reply> DecideWaitingForSlot(const http::request<http::empty_body>& request,
                                              const std::string& remote_ip);
  // 403 unless the request carries a grant for this private task and address.
  std::optional<Reply> RefusePrivate(const http::request<http::empty_body>& request,
                                     const std::string& task_id, const std::string& grant_key,
                                     const std::string& remote_ip);
  asio::awaitable<bool> SendPiece(Connection& connection, const storage::PieceReadHandle& piece);
  // Over TLS: read from the content file, write through the TLS stream.
  asio::awaitable<bool> SendPieceTls(Connection& connection, const storage::PieceReadHandle& piece);

  const PieceServerOptions options;
  storage::PieceStore& store;
  Clock& clock;
  std::atomic<uint64_t> bytes_served{0};
  std::atomic<uint64_t> grants_refused{0};
  std::atomic<uint64_t> tls_handshakes_failed{0};
  UploadQueue upload_queue;  // before upload_slots, which notifies it
  UploadSlots upload_slots;
  std::atomic<uint64_t> busy_replies{0};
  std::atomic<uint64_t> queued_requests{0};
  std::atomic<uint32_t> active_connections{0};
  std::atomic<uint64_t> connections_accepted{0};
  // Declared last: destroyed first (frames of pending coroutines refer to
  // the fields above).
  std::unique_ptr<TcpServer> server;
};

asio::awaitable<void> PieceServer::Impl::Admit(tcp::socket socket) {
  if (active_connections.load() >= options.max_connections) {
    spdlog::warn("piece server: connection limit reached limit={}", options.max_connections);
    ErrorCode ignored;
    socket.close(ignored);
    return NothingToServe();
  }
  ++connections_accepted;
  // The slot is counted here, in the accept loop, so the limit is exact.
  return Serve(std::move(socket), ConnectionSlot(active_connections));
}

asio::awaitable<void> PieceServer::Impl::Watchdog(std::shared_ptr<Connection> connection) {
  while (!connection->closed) {
    connection->timer.expires_at(connection->deadline);
    co_await connection->timer.async_wait(kNoThrow);
    if (connection->closed) {
      co_return;
    }
    if (connection->deadline <= std::chrono::steady_clock::now()) {
      spdlog::debug("piece server: closing idle connection");
      connection->Close();
      co_return;
    }
  }
}

std::optional<Reply> PieceServer::Impl::RefusePrivate(
    const http::request<http::empty_body>& request, const std::string& task_id,
    const std::string& grant_key, const std::string& remote_ip) {
  auto header = request.find(access::kGrantHeader);
  std::string_view token;
  if (header != request.end()) {
    token = std::string_view(header->value().data(), header->value().size());
  }
  Status granted = access::CheckGrant(token, grant_key, task_id, remote_ip, clock.NowUnixSeconds());
  if (granted.ok()) {
    return std::nullopt;
  }
  ++grants_refused;
  if (options.grants_refused_metric != nullptr) {
    options.grants_refused_metric->Increment();
  }
  spdlog::debug("piece_grant_refused task={} remote={} reason=\"{}\"", task_id, remote_ip,
                granted.message());
  // The same answer for every piece, held or not: nothing about the content.
  return Error(403, "private task: a valid grant is required");
}

Reply PieceServer::Impl::Decide(const http::request<http::empty_body>& request,
                                const std::string& remote_ip, bool may_wait) {
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    Reply reply = Error(405, "only GET and HEAD are supported");
    reply.extra_headers.emplace_back("Allow: GET, HEAD");
    return reply;
  }
  std::string_view target(request.target().data(), request.target().size());
  Result<PieceTarget> parsed = ParsePieceTarget(target);
  if (!parsed.ok()) {
    return Error(parsed.status().IsNotFound() ? 404 : 400, parsed.status().message());
  }
  const std::string& task_id = parsed->task_id;
  const uint32_t number = parsed->number;

  Result<storage::PieceReadHandle> piece = store.OpenPiece(task_id, number);
  if (!piece.ok()) {
    if (piece.status().IsNotFound()) {
      Result<storage::TaskMeta> task = store.GetTask(task_id);
      if (task.ok() && task->private_task) {
        if (auto refused = RefusePrivate(request, task_id, task->grant_key, remote_ip)) {
          return *std::move(refused);
        }
      }
      if (task.ok() && number >= task->PieceCount()) {
        return Error(400, "piece number out of range");
      }
      return Error(404, task.ok() ? "piece not held" : "unknown task");
    }
    if (piece.status().IsInvalidArgument()) {
      return Error(400, "bad request");
    }
    spdlog::warn("piece server: store error task={} piece={} error=\"{}\"", task_id, number,
                 piece.status().ToString());
    return Error(500, "store error");
  }
  if (piece->private_task) {
    if (auto refused = RefusePrivate(request, task_id, piece->grant_key, remote_ip)) {
      return *std::move(refused);
    }
  }
  Reply reply;
  if (request.method() == http::verb::get) {
    uint32_t held = options.held_while_downloading ? options.held_while_downloading(task_id) : 0;
    UploadSlots::Acquired acquired = upload_slots.TryAcquire(task_id, number, held);
    if (!acquired.ticket) {
      if (may_wait && acquired.refusal == UploadRefusal::kSlotsFull) {
        Reply wait;
        wait.wait_for_slot = true;
        return wait;
      }
      ++busy_replies;
      Reply busy = Error(503, "busy, ask again later or another peer");
      busy.extra_headers.push_back("X-Feilong-Busy: " +
                                   std::string(UploadRefusalName(acquired.refusal)));
      return busy;
    }
    reply.ticket = std::move(acquired.ticket);
  }
  reply.extra_headers.push_back("X-Feilong-Piece-Digest: " + Sha256String(piece->digest));
  reply.piece = std::move(piece).value();
  return reply;
}

asio::awaitable<Reply> PieceServer::Impl::DecideWaitingForSlot(
    const http::request<http::empty_body>& request, const std::string& remote_ip) {
  const auto deadline = std::chrono::steady_clock::now() + options.queue_wait;
  Reply reply = Decide(request, remote_ip, options.queue_wait.count() > 0);
  if (reply.wait_for_slot) {
    ++queued_requests;
  }
  while (reply.wait_for_slot) {
    // Rounded up: a wait cut to whole milliseconds below would give up before queue_wait.
    auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    bool waited = false;
    if (left.count() > 0) {
      waited = co_await upload_queue.Wait(left);
    }
    // Once more without waiting when the queue was full or the time is up.
    reply = Decide(request, remote_ip, waited && std::chrono::steady_clock::now() < deadline);
  }
  co_return reply;
}

asio::awaitable<bool> PieceServer::Impl::SendPieceTls(Connection& connection,
                                                      const storage::PieceReadHandle& piece) {
  std::vector<uint8_t> chunk(std::min<uint64_t>(piece.length, kTlsChunk));
  uint64_t offset = piece.offset;
  uint64_t remaining = piece.length;
  while (remaining > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(remaining, chunk.size()));
    ssize_t got = ::pread(piece.fd(), chunk.data(), want, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      spdlog::warn("piece server: cannot read the content file offset={} error=\"{}\"", offset,
                   got == 0 ? "end of file" : std::strerror(errno));
      co_return false;
    }
    auto n = static_cast<size_t>(got);
    connection.Touch();
    ErrorCode error = co_await connection.tls->WriteAll(asio::buffer(chunk.data(), n));
    if (error || connection.closed) {
      ClearPendingSigpipe();
      co_return false;
    }
    offset += n;
    remaining -= n;
    bytes_served += n;
  }
  co_return true;
}

asio::awaitable<bool> PieceServer::Impl::SendPiece(Connection& connection,
                                                   const storage::PieceReadHandle& piece) {
  const int out = connection.socket.native_handle();
  auto offset = static_cast<off_t>(piece.offset);
  uint64_t remaining = piece.length;
  uint64_t since_yield = 0;
  while (remaining > 0) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(remaining, kSendfileChunk));
    ssize_t sent = ::sendfile(out, piece.fd(), &offset, chunk);
    if (sent > 0) {
      auto n = static_cast<uint64_t>(sent);
      remaining -= n;
      since_yield += n;
      bytes_served += n;
      connection.Touch();
      if (since_yield >= kYieldEvery && remaining > 0) {
        since_yield = 0;
        co_await asio::post(connection.socket.get_executor(), asio::use_awaitable);
        if (connection.closed) {
          co_return false;
        }
      }
      continue;
    }
    if (sent == 0) {
      spdlog::warn("piece server: content file ended inside a piece offset={}", offset);
      co_return false;
    }
    int err = errno;
    if (err == EINTR) {
      continue;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) {
      since_yield = 0;
      auto [ec] = co_await connection.socket.async_wait(tcp::socket::wait_write, kNoThrow);
      if (ec || connection.closed) {
        co_return false;
      }
      continue;
    }
    if (err == EPIPE) {
      ClearPendingSigpipe();
    }
    spdlog::debug("piece server: sendfile failed error=\"{}\"", std::strerror(err));
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> PieceServer::Impl::Serve(tcp::socket socket, ConnectionSlot slot) {
  (void)slot;  // held for the life of the coroutine
  auto connection = std::make_shared<Connection>(std::move(socket), options.idle_timeout);
  ErrorCode ec;
  connection->socket.set_option(tcp::no_delay(true), ec);
  if (!options.tcp_congestion.empty()) {
    Status set = SetTcpCongestion(connection->socket.native_handle(), options.tcp_congestion);
    if (!set.ok()) {
      spdlog::debug("piece server: {}", set.message());
    }
  }
  connection->socket.native_non_blocking(true, ec);
  if (ec) {
    connection->Close();
    co_return;
  }
  const tcp::endpoint remote = connection->socket.remote_endpoint(ec);
  if (ec) {
    connection->Close();
    co_return;
  }
  const std::string remote_ip = remote.address().to_string();
  connection->Touch();
  asio::co_spawn(connection->socket.get_executor(), Watchdog(connection), asio::detached);
  if (options.tls) {
    connection->StartTls(options.tls->Current());
    ErrorCode handshake_error = co_await connection->tls->Handshake();
    if (handshake_error) {
      ++tls_handshakes_failed;
      if (options.tls_handshake_failures_metric != nullptr) {
        options.tls_handshake_failures_metric->Increment();
      }
      spdlog::debug("piece server: TLS handshake failed remote={} error=\"{}\"", remote_ip,
                    handshake_error.message());
      connection->Close();
      co_return;
    }
  }

  boost::beast::flat_buffer buffer;
  while (!connection->closed) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kHeaderLimit);
    connection->Touch();
    auto [read_error, read_bytes] =
        connection->tls
            ? co_await http::async_read_header(*connection->tls, buffer, parser, kNoThrow)
            : co_await http::async_read_header(connection->socket, buffer, parser, kNoThrow);
    (void)read_bytes;
    Reply reply;
    bool keep_alive = false;
    bool is_head = false;
    if (read_error) {
      if (read_error == http::error::header_limit) {
        reply = Error(431, "request headers exceed 8 KiB", true);
      } else if (IsMalformedRequest(read_error)) {
        reply = Error(400, "malformed request", true);
      } else {
        break;  // the peer closed, reset, or the watchdog closed an idle connection
      }
    } else if (!parser.is_done()) {
      reply = Error(413, "request bodies are not accepted", true);
    } else {
      const auto& request = parser.get();
      keep_alive = request.keep_alive();
      is_head = request.method() == http::verb::head;
      reply = co_await DecideWaitingForSlot(request, remote_ip);
    }
    keep_alive = keep_alive && !reply.close;

    uint64_t content_length = reply.piece ? reply.piece->length : reply.text.size();
    std::string head = ResponseHead(reply, content_length, keep_alive);
    bool send_piece = reply.piece.has_value() && !is_head;
    if (send_piece) {
      SetCork(connection->socket, true);
    }
    std::vector<asio::const_buffer> buffers{asio::buffer(head)};
    if (!is_head && !reply.piece.has_value()) {
      buffers.push_back(asio::buffer(reply.text));
    }
    connection->Touch();
    ErrorCode write_error;
    if (connection->tls) {
      for (size_t i = 0; i < buffers.size() && !write_error; ++i) {
        write_error = co_await connection->tls->WriteAll(buffers[i]);
      }
    } else {
      write_error = std::get<0>(co_await asio::async_write(connection->socket, buffers, kNoThrow));
    }
    if (write_error) {
      break;
    }
    if (send_piece) {
      bool sent = connection->tls ? co_await SendPieceTls(*connection, *reply.piece)
                                  : co_await SendPiece(*connection, *reply.piece);
      reply.ticket.reset();
      if (!sent) {
        break;
      }
      SetCork(connection->socket, false);
    }
    if (!keep_alive) {
      break;
    }
  }
  connection->Close();
}

PieceServer::PieceServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PieceServer::~PieceServer() { Stop(); }

Result<std::unique_ptr<PieceServer>> PieceServer::Start(const PieceServerOptions& options,
                                                        storage::PieceStore& store, Clock& clock) {
  if (options.threads == 0) {
    return Status::InvalidArgument("piece server: threads must be at least 1");
  }
  PieceServerOptions checked = options;
  if (!checked.tcp_congestion.empty()) {
    Status usable = ProbeTcpCongestion(checked.tcp_congestion);
    if (!usable.ok()) {
      spdlog::warn("piece server: keeping the host's TCP congestion control: {}", usable.message());
      checked.tcp_congestion.clear();
    }
  }
  auto impl = std::make_unique<Impl>(checked, store, clock);
  Impl* raw = impl.get();
  FL_ASSIGN_OR_RETURN(
      impl->server,
      TcpServer::Start({"piece server", options.host, options.port, options.threads},
                       [raw](tcp::socket socket) { return raw->Admit(std::move(socket)); }));
  spdlog::info("piece server: listening address={} threads={}", impl->server->address(),
               options.threads);
  return std::unique_ptr<PieceServer>(new PieceServer(std::move(impl)));
}

void PieceServer::Stop() {
  // Uploads released while the connections go must not post wake-ups to
  // the server's io_context.
  impl_->upload_queue.Close();
  // Destroys every suspended connection coroutine, which closes its socket
  // and releases its piece handle.
  impl_->server->Stop();
}

uint16_t PieceServer::port() const { return impl_->server->port(); }

uint64_t PieceServer::bytes_served() const { return impl_->bytes_served.load(); }

uint32_t PieceServer::active_uploads() const { return impl_->upload_slots.active(); }

uint64_t PieceServer::busy_replies() const { return impl_->busy_replies.load(); }

uint64_t PieceServer::queued_requests() const { return impl_->queued_requests.load(); }

uint32_t PieceServer::active_connections() const { return impl_->active_connections.load(); }

uint64_t PieceServer::connections_accepted() const { return impl_->connections_accepted.load(); }

uint64_t PieceServer::grants_refused() const { return impl_->grants_refused.load(); }

uint64_t PieceServer::tls_handshakes_failed() const { return impl_->tls_handshakes_failed.load(); }

}  // namespace feilong::daemon
