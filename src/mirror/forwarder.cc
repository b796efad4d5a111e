#include "mirror/forwarder.h"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "common/ascii.h"
#include "mirror/upstream.h"

namespace feilong::mirror {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Body bytes relayed per read/write: bounds memory per connection.
constexpr size_t kRelayChunk = 64 * 1024;

std::string_view View(beast::string_view s) { return {s.data(), s.size()}; }

// An open connection to the upstream: plain TCP or TLS over it.
struct UpstreamConnection {
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

asio::awaitable<Status> Connect(UpstreamConnection& connection, const ForwardContext& context) {
  const Upstream& u = context.upstream;
  auto executor = co_await asio::this_coro::executor;
  const std::string where = fmt::format("{} {} ({})", context.log_host_key, u.host, u.url);
  tcp::resolver resolver(executor);
  auto [resolve_error, endpoints] =
      co_await resolver.async_resolve(u.connect_host, std::to_string(u.connect_port), kNoThrow);
  if (resolve_error) {
    co_return Status::Unavailable(where + ": cannot resolve: " + resolve_error.message());
  }
  beast::tcp_stream stream(executor);
  stream.expires_after(context.timeout);
  auto [connect_error, endpoint] = co_await stream.async_connect(endpoints, kNoThrow);
  (void)endpoint;
  if (connect_error) {
    co_return Status::Unavailable(where + ": cannot connect: " + connect_error.message());
  }
  if (!u.tls) {
    connection.plain.emplace(std::move(stream));
    co_return Status::Ok();
  }
  connection.tls.emplace(std::move(stream), context.tls);
  // SNI, and the certificate must name the host.
  if (!SSL_set_tlsext_host_name(connection.tls->native_handle(), u.connect_host.c_str())) {
    co_return Status::Unavailable(where + ": cannot set TLS server name");
  }
  connection.tls->set_verify_callback(ssl::host_name_verification(u.connect_host));
  connection.lowest().expires_after(context.timeout);
  auto [handshake_error] =
      co_await connection.tls->async_handshake(ssl::stream_base::client, kNoThrow);
  if (handshake_error) {
    co_return Status::Unavailable(where + ": TLS handshake failed: " + handshake_error.message());
  }
  co_return Status::Ok();
}

// The request sent upstream: the client's end-to-end headers, every line
// kept (skopeo sends one Accept line per media type), Host replaced. With a
// body (`body` set): its length or chunked framing, and no Expect (Forward
// answers it). A Content-Length of 0 is kept: some origins want one on
// every POST or PUT.
http::request<http::empty_body> UpstreamRequest(const ClientRequest& in, http::verb method,
                                                const std::string& target, const Upstream& u,
                                                const ClientBody* body) {
  http::request<http::empty_body> out{method, target, 11};
  for (const auto& field : in) {
    std::string_view name(field.name_string().data(), field.name_string().size());
    if (IsHopByHopHeader(name) || AsciiEqualsIgnoreCase(name, "Host") ||
        AsciiEqualsIgnoreCase(name, kRegistryHeader) ||
        AsciiEqualsIgnoreCase(name, "Content-Length") ||
        (body != nullptr && AsciiEqualsIgnoreCase(name, "Expect"))) {
      continue;
    }
    out.insert(field.name_string(), field.value());
  }
  out.set(http::field::host, u.host_header);
  out.set(http::field::connection, "close");
  if (body != nullptr) {
    if (body->parser.chunked()) {
      out.set(http::field::transfer_encoding, "chunked");
    } else if (body->parser.content_length()) {
      out.set(http::field::content_length, std::to_string(*body->parser.content_length()));
    }
  } else if (method == in.method() && in.find(http::field::content_length) != in.end()) {
    out.set(http::field::content_length, "0");  // no body was parsed: the length is 0
  }
  return out;
}

template <class ClientStream>
asio::awaitable<bool> WriteAll(ClientStream& client, std::string_view bytes,
                               std::chrono::milliseconds timeout) {
  beast::get_lowest_layer(client).expires_after(timeout);
  auto [ec, n] =
      co_await asio::async_write(client, asio::buffer(bytes.data(), bytes.size()), kNoThrow);
  (void)n;
  co_return !ec;
}

bool HasBody(unsigned status, bool head) {
  return !head && status >= 200 && status != 204 && status != 304;
}

// True when the client asked for a 100 (Continue) before sending its body.
bool ExpectsContinue(const ClientRequest& request) {
  auto it = request.find(http::field::expect);
  return it != request.end() && request.version() >= 11 &&
         AsciiEqualsIgnoreCase(View(it->value()), "100-continue");
}

enum class BodyRelay {
  kDone,          // the whole body went upstream
  kClientGone,    // reading the client failed (closed, reset, idle, bad chunking)
  kUpstreamGone,  // writing upstream failed; the rest of the body is unread
};

// Reads the client's request body in chunks of kRelayChunk and writes each
// upstream before reading on: memory stays bounded whatever the length.
template <class Stream, class ClientStream>
asio::awaitable<BodyRelay> RelayBody(Stream& upstream, ClientStream& client, ClientBody& body,
                                     const ForwardContext& context) {
  const std::chrono::milliseconds timeout = context.timeout;
  const bool chunked = body.parser.chunked();
  std::vector<char> chunk(kRelayChunk);
  auto log_aborted = [&context](std::string_view side, const beast::error_code& error) {
    spdlog::debug("{}_request_body_aborted {}={} side={} sent={} error=\"{}\"", context.log_name,
                  context.log_host_key, context.upstream.host, side,
                  context.report != nullptr ? context.report->request_body_bytes : 0,
                  error.message());
  };
  while (!body.parser.is_done()) {
    body.parser.get().body().data = chunk.data();
    body.parser.get().body().size = chunk.size();
    beast::get_lowest_layer(client).expires_after(timeout);
    auto [read_error, n] = co_await http::async_read(client, body.buffer, body.parser, kNoThrow);
    (void)n;
    if (read_error == http::error::need_buffer) {
      read_error = {};
    }
    const size_t got = chunk.size() - body.parser.get().body().size;
    if (got > 0) {
      beast::get_lowest_layer(upstream).expires_after(timeout);
      beast::error_code write_error;
      if (chunked) {
        // A chunk of the same size upstream: the size line, the bytes, CRLF.
        const std::string size_line = fmt::format("{:x}\r\n", got);
        std::array<asio::const_buffer, 3> framed = {
            asio::buffer(size_line), asio::buffer(chunk.data(), got), asio::buffer("\r\n", 2)};
        auto [ec, written] = co_await asio::async_write(upstream, framed, kNoThrow);
        (void)written;
        write_error = ec;
      } else {
        auto [ec, written] =
            co_await asio::async_write(upstream, asio::buffer(chunk.data(), got), kNoThrow);
        (void)written;
        write_error = ec;
      }
      if (write_error) {
        log_aborted("upstream", write_error);
        co_return BodyRelay::kUpstreamGone;
      }
      if (context.report != nullptr) {
        context.report->request_body_bytes += got;
      }
    }
    if (read_error) {
      log_aborted("client", read_error);
      co_return BodyRelay::kClientGone;
    }
  }
  if (chunked) {
    bool last_sent = co_await WriteAll(upstream, "0\r\n\r\n", timeout);
    if (!last_sent) {
      co_return BodyRelay::kUpstreamGone;
    }
  }
  co_return BodyRelay::kDone;
}

// Relays the upstream's answer to `request` to the client. nullopt when the
// upstream failed before anything went to the client.
// With a body: sends the request head, then the body (after a 100 Continue
// to a client that expects one); a client that goes away mid-body gives
// kAborted. If the upstream stops taking the body, its answer (if any, e.g.
// 413) is still relayed, and the client connection closes.
template <class Stream, class ClientStream>
asio::awaitable<std::optional<RelayOutcome>> Relay(Stream& upstream, beast::tcp_stream& lowest,
                                                   ClientStream& client,
                                                   http::request<http::empty_body>& request,
                                                   bool client_keep_alive,
                                                   const ForwardContext& context, ClientBody* body,
                                                   bool expects_continue) {
  const std::chrono::milliseconds timeout = context.timeout;
  ForwardReport* report = context.report;
  const bool head = request.method() == http::verb::head;
  lowest.expires_after(timeout);
  if (body == nullptr) {
    auto [write_error, written] = co_await http::async_write(upstream, request, kNoThrow);
    (void)written;
    if (write_error) {
      co_return std::nullopt;
    }
  } else {
    http::request_serializer<http::empty_body> serializer(request);
    auto [write_error, written] = co_await http::async_write_header(upstream, serializer, kNoThrow);
    (void)written;
    if (write_error) {
      co_return std::nullopt;
    }
    if (expects_continue) {
      bool continued = co_await WriteAll(client, "HTTP/1.1 100 Continue\r\n\r\n", timeout);
      if (!continued) {
        co_return RelayOutcome::kAborted;
      }
    }
    BodyRelay relayed = co_await RelayBody(upstream, client, *body, context);
    if (relayed == BodyRelay::kClientGone) {
      co_return RelayOutcome::kAborted;
    }
    if (relayed == BodyRelay::kUpstreamGone) {
      client_keep_alive = false;  // the rest of the body is still in the connection
    }
  }
  beast::flat_buffer buffer;
  // Interim answers (1xx but 101: an unasked 100 Continue, 103 Early Hints)
  // are dropped: the client gets the final one.
  std::optional<http::response_parser<http::buffer_body>> final_parser;
  for (;;) {
    final_parser.emplace();
    final_parser->body_limit(std::numeric_limits<uint64_t>::max());
    if (head) {
      final_parser->skip(true);  // a HEAD answer announces a length but has no body
    }
    lowest.expires_after(timeout);
    auto [read_error, read] =
        co_await http::async_read_header(upstream, buffer, *final_parser, kNoThrow);
    (void)read;
    if (read_error) {
      co_return std::nullopt;
    }
    const unsigned code = final_parser->get().result_int();
    if (code < 100 || code >= 200 || code == 101) {
      break;
    }
  }
  http::response_parser<http::buffer_body>& parser = *final_parser;
  const auto& response = parser.get();
  const unsigned status = response.result_int();
  if (report != nullptr) {
    report->status = status;
  }
  const bool has_body = HasBody(status, head);
  const bool chunked = has_body && response.chunked();
  const bool close_delimited = has_body && !chunked && !parser.content_length();
  const bool keep_alive = client_keep_alive && !close_delimited;

  std::string reason(View(response.reason()));
  if (reason.empty()) {
    reason = std::string(View(http::obsolete_reason(response.result())));
  }
  std::string text = fmt::format("HTTP/1.1 {} {}\r\n", status, reason);
  for (const auto& field : response) {
    std::string_view name = View(field.name_string());
    if (IsHopByHopHeader(name) || (chunked && AsciiEqualsIgnoreCase(name, "Content-Length"))) {
      continue;
    }
    text += fmt::format("{}: {}\r\n", name, View(field.value()));
  }
  if (chunked) {
    text += "Transfer-Encoding: chunked\r\n";
  }
  text += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  bool head_sent = co_await WriteAll(client, text, timeout);
  if (!head_sent) {
    co_return RelayOutcome::kAborted;
  }
  if (!has_body) {
    co_return keep_alive ? RelayOutcome::kKeepAlive : RelayOutcome::kClose;
  }

  std::vector<char> chunk(kRelayChunk);
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    lowest.expires_after(timeout);
    auto [ec, n] = co_await http::async_read(upstream, buffer, parser, kNoThrow);
    (void)n;
    if (ec == http::error::need_buffer) {
      ec = {};
    }
    const size_t got = chunk.size() - parser.get().body().size;
    if (got > 0) {
      std::string_view bytes(chunk.data(), got);
      bool ok = true;
      if (chunked) {
        // One write per chunk: the size line, the bytes and the CRLF.
        std::string framed = fmt::format("{:x}\r\n", got);
        framed.append(bytes);
        framed.append("\r\n");
        ok = co_await WriteAll(client, framed, timeout);
      } else {
        ok = co_await WriteAll(client, bytes, timeout);
      }
      if (!ok) {
        co_return RelayOutcome::kAborted;
      }
      if (report != nullptr) {
        report->body_bytes += got;
      }
    }
    if (ec == http::error::end_of_stream && close_delimited) {
      break;
    }
    if (ec) {
      spdlog::info("{}_relay_aborted {}={} error=\"{}\"", context.log_name, context.log_host_key,
                   View(request.at(http::field::host)), ec.message());
      co_return RelayOutcome::kAborted;
    }
  }
  if (chunked) {
    bool last_sent = co_await WriteAll(client, "0\r\n\r\n", timeout);
    if (!last_sent) {
      co_return RelayOutcome::kAborted;
    }
  }
  co_return keep_alive ? RelayOutcome::kKeepAlive : RelayOutcome::kClose;
}

template <class Stream>
asio::awaitable<Result<unsigned>> HeadOver(Stream& upstream, beast::tcp_stream& lowest,
                                           http::request<http::empty_body>& request,
                                           std::chrono::milliseconds timeout) {
  lowest.expires_after(timeout);
  auto [write_error, written] = co_await http::async_write(upstream, request, kNoThrow);
  (void)written;
  if (write_error) {
    co_return Status::Unavailable("sending HEAD: " + write_error.message());
  }
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);
  lowest.expires_after(timeout);
  auto [read_error, read] = co_await http::async_read_header(upstream, buffer, parser, kNoThrow);
  (void)read;
  if (read_error) {
    co_return Status::Unavailable("reading HEAD answer: " + read_error.message());
  }
  co_return parser.get().result_int();
}

void CloseQuietly(UpstreamConnection& connection) {
  beast::error_code ignored;
  if (connection.plain || connection.tls) {
    connection.lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    connection.lowest().socket().close(ignored);
  }
}

}  // namespace

bool IsHopByHopHeader(std::string_view name) {
  static constexpr std::string_view kHopByHop[] = {"Connection",
                                                   "Keep-Alive",
                                                   "Proxy-Connection",
                                                   "Proxy-Authenticate",
                                                   "Proxy-Authorization",
                                                   "TE",
                                                   "Trailer",
                                                   "Transfer-Encoding",
                                                   "Upgrade"};
  for (std::string_view h : kHopByHop) {
    if (AsciiEqualsIgnoreCase(name, h)) {
      return true;
    }
  }
  return false;
}

template <class ClientStream>
asio::awaitable<bool> SendError(ClientStream& client, unsigned status, std::string_view code,
                                std::string_view message, bool keep_alive,
                                std::chrono::milliseconds timeout) {
  nlohmann::json body = {
      {"errors", nlohmann::json::array({{{"code", code}, {"message", message}}})}};
  std::string text = body.dump() + "\n";
  std::string head = fmt::format(
      "HTTP/1.1 {} {}\r\nServer: feilong\r\nContent-Type: application/json\r\n"
      "Content-Length: {}\r\nConnection: {}\r\n\r\n",
      status, View(http::obsolete_reason(static_cast<http::status>(status))), text.size(),
      keep_alive ? "keep-alive" : "close");
  co_return co_await WriteAll(client, head + text, timeout);
}

template <class ClientStream>
asio::awaitable<RelayOutcome> Forward(ClientStream& client, const ClientRequest& request,
                                      const std::string& target, ForwardContext context,
                                      ClientBody* body) {
  // An unread body stays in the client connection: it cannot carry another
  // request after an answer of our own.
  const bool client_keep_alive = request.keep_alive() && body == nullptr;
  const bool expects_continue = body != nullptr && ExpectsContinue(request);
  if (body != nullptr) {
    body->parser.body_limit(std::numeric_limits<uint64_t>::max());
  }
  UpstreamConnection connection;
  Status connected = co_await Connect(connection, context);
  if (!connected.ok()) {
    spdlog::warn("{}_upstream_unreachable {}={} error=\"{}\"", context.log_name,
                 context.log_host_key, context.upstream.host, connected.message());
    if (context.report != nullptr) {
      context.report->status = 502;
    }
    bool sent = co_await SendError(client, 502, "UNAVAILABLE", connected.message(),
                                   client_keep_alive, context.timeout);
    co_return sent ? (client_keep_alive ? RelayOutcome::kKeepAlive : RelayOutcome::kClose)
                   : RelayOutcome::kAborted;
  }
  auto upstream_request =
      UpstreamRequest(request, request.method(), target, context.upstream, body);
  // Keep-alive after a body is decided by Relay, once the body was read.
  const bool keep_alive = request.keep_alive();
  std::optional<RelayOutcome> outcome;
  if (connection.tls) {
    outcome = co_await Relay(*connection.tls, connection.lowest(), client, upstream_request,
                             keep_alive, context, body, expects_continue);
  } else {
    outcome = co_await Relay(*connection.plain, connection.lowest(), client, upstream_request,
                             keep_alive, context, body, expects_continue);
  }
  CloseQuietly(connection);
  if (!outcome) {
    std::string message =
        fmt::format("{} {} failed to answer", context.log_host_key, context.upstream.host);
    spdlog::warn("{}_upstream_failed {}={}", context.log_name, context.log_host_key,
                 context.upstream.host);
    if (context.report != nullptr) {
      context.report->status = 502;
    }
    const bool reusable = keep_alive && (body == nullptr || body->parser.is_done());
    bool sent = co_await SendError(client, 502, "UNAVAILABLE", message, reusable, context.timeout);
    co_return sent ? (reusable ? RelayOutcome::kKeepAlive : RelayOutcome::kClose)
                   : RelayOutcome::kAborted;
  }
  co_return *outcome;
}

// The client streams the mirror and the proxy use.
using TlsClient = beast::ssl_stream<beast::tcp_stream>;
template asio::awaitable<RelayOutcome> Forward(beast::tcp_stream&, const ClientRequest&,
                                               const std::string&, ForwardContext, ClientBody*);
template asio::awaitable<RelayOutcome> Forward(TlsClient&, const ClientRequest&, const std::string&,
                                               ForwardContext, ClientBody*);
template asio::awaitable<bool> SendError(beast::tcp_stream&, unsigned, std::string_view,
                                         std::string_view, bool, std::chrono::milliseconds);
template asio::awaitable<bool> SendError(TlsClient&, unsigned, std::string_view, std::string_view,
                                         bool, std::chrono::milliseconds);

asio::awaitable<Result<unsigned>> HeadStatus(const ClientRequest& request,
                                             const std::string& target, ForwardContext context) {
  UpstreamConnection connection;
  Status connected = co_await Connect(connection, context);
  if (!connected.ok()) {
    co_return connected;
  }
  auto head = UpstreamRequest(request, http::verb::head, target, context.upstream, nullptr);
  // Plain statements around co_await: GCC 12 mishandles co_await inside
  // conditional and short-circuit expressions.
  Result<unsigned> status = Status::Internal("no answer");
  if (connection.tls) {
    status = co_await HeadOver(*connection.tls, connection.lowest(), head, context.timeout);
  } else {
    status = co_await HeadOver(*connection.plain, connection.lowest(), head, context.timeout);
  }
  CloseQuietly(connection);
  if (!status.ok()) {
    co_return status.status().WithContext("registry " + context.upstream.host);
  }
  co_return status;
}

}  // namespace feilong::mirror
