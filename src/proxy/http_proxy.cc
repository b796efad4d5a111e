#include "proxy/http_proxy.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include "common/host_port.h"
#include "common/metrics.h"
#include "common/tcp_server.h"
#include "mirror/byte_range.h"
#include "mirror/forwarder.h"
#include "mirror/piece_stream.h"
#include "proxy/cert_authority.h"
#include "proxy/proxy_target.h"
#include "proxy/tunnel.h"
#include "proxy/url_rules.h"
#include "source/url.h"
#include "storage/piece_store.h"

namespace feilong::proxy {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using mirror::ClientBody;
using mirror::ClientRequest;
using BodyParser = http::request_parser<http::buffer_body>;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Request heads with long cookies or tokens still fit; more is abuse.
constexpr size_t kHeaderLimit = 64 * 1024;

std::string_view View(beast::string_view s) { return {s.data(), s.size()}; }

// Maps a failed download to the answer a client gets when no byte was sent.
unsigned HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kCancelled:
    case StatusCode::kResourceExhausted:
      return 503;
    default:
      return 502;
  }
}

// True for read errors that mean the client sent something that is not
// HTTP (worth a 400), as opposed to closing, resetting or idling.
bool IsMalformed(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

template <class Stream>
asio::awaitable<bool> WriteAll(Stream& client, std::string_view bytes,
                               std::chrono::milliseconds timeout) {
  beast::get_lowest_layer(client).expires_after(timeout);
  auto [ec, n] =
      co_await asio::async_write(client, asio::buffer(bytes.data(), bytes.size()), kNoThrow);
  (void)n;
  co_return !ec;
}

// A complete small answer of the proxy's own, with a text body. False if
// the write failed.
template <class Stream>
asio::awaitable<bool> SendText(Stream& client, unsigned status, std::string_view message,
                               bool keep_alive, std::chrono::milliseconds timeout) {
  std::string body = std::string(message) + "\n";
  std::string text = fmt::format(
      "HTTP/1.1 {} {}\r\nServer: feilong\r\nContent-Type: text/plain\r\n"
      "Content-Length: {}\r\nConnection: {}\r\n\r\n{}",
      status, View(http::obsolete_reason(static_cast<http::status>(status))), body.size(),
      keep_alive ? "keep-alive" : "close", body);
  co_return co_await WriteAll(client, text, timeout);
}

// Decrements the count of open connections when a connection ends.
class ConnectionSlot {
 public:
  explicit ConnectionSlot(std::atomic<uint32_t>& open) : open_(open) { ++open_; }
  ~ConnectionSlot() { --open_; }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

 private:
  std::atomic<uint32_t>& open_;
};

}  // namespace

struct HttpProxy::Impl {
  Impl(const ProxyConfig& c, UrlFetcher& f, storage::PieceStore& s, metrics::Registry* m)
      : config(c),
        fetcher(f),
        store(s),
        own_metrics(m == nullptr ? std::make_unique<metrics::Registry>() : nullptr),
        requests(MetricsOf(m).AddCounter("feilong_proxy_requests_total",
                                         "Requests to the HTTP proxy, by route.", {"route"})),
        p2p_body_bytes(MetricsOf(m)
                           .AddCounter("feilong_proxy_p2p_bytes_total",
                                       "Body bytes the proxy sent from P2P downloads.")
                           .Get()) {}

  Status Init();
  asio::awaitable<void> Serve(tcp::socket socket);
  // Reads requests from `client` and answers them until the connection
  // must close. `intercepted`: the CONNECT authority of a hijacked TLS
  // connection (origin-form https targets), else null (absolute http URLs).
  template <class Stream>
  asio::awaitable<void> RequestLoop(Stream& client, beast::flat_buffer& buffer,
                                    const HostPort* intercepted);
  // `body`: the request's unread body, null when it has none.
  template <class Stream>
  asio::awaitable<bool> Handle(Stream& client, const ClientRequest& request,
                               const ProxyTarget& target, ClientBody* body);
  template <class Stream>
  asio::awaitable<bool> ServeP2P(Stream& client, const ClientRequest& request,
                                 const ProxyTarget& target);
  template <class Stream>
  asio::awaitable<bool> ServeForward(Stream& client, const ClientRequest& request,
                                     const ProxyTarget& target, ClientBody* body);
  asio::awaitable<void> ServeConnect(beast::tcp_stream& client, const ClientRequest& request,
                                     beast::flat_buffer& buffer);
  asio::awaitable<void> Tunnel(beast::tcp_stream& client, const HostPort& authority,
                               beast::flat_buffer& buffer);
  asio::awaitable<void> Intercept(beast::tcp_stream& client, const HostPort& authority,
                                  beast::flat_buffer& buffer);
  // An answer of the proxy's own before a route was chosen; logged and counted.
  template <class Stream>
  asio::awaitable<bool> Reject(Stream& client, std::string_view method, std::string_view url,
                               unsigned status, std::string_view message, bool keep_alive);

  void Log(std::string_view method, std::string_view url, Route route, unsigned status,
           uint64_t bytes) {
    requests.WithLabels({std::string(RouteName(route))}).Increment();
    spdlog::debug("proxy_request method={} url={} route={} status={} bytes={}", method,
                  source::RedactUrl(url), RouteName(route), status, bytes);
  }
  metrics::Registry& MetricsOf(metrics::Registry* given) {
    return given != nullptr ? *given : *own_metrics;
  }

  const ProxyConfig config;
  UrlFetcher& fetcher;
  storage::PieceStore& store;
  UrlRules rules;
  UrlRules hijack_hosts;
  std::unique_ptr<CertAuthority> authority;  // null when nothing is intercepted
  // TLS to origins of intercepted hosts: system store plus origin_ca_file.
  ssl::context origin_tls{ssl::context::tls_client};
  std::unique_ptr<metrics::Registry> own_metrics;
  metrics::Family<metrics::Counter>& requests;
  metrics::Counter& p2p_body_bytes;

  std::atomic<uint32_t> open_connections{0};
  std::atomic<uint64_t> p2p{0};
  std::atomic<uint64_t> forwarded{0};
  std::atomic<uint64_t> tunnels{0};
  std::atomic<uint64_t> intercepted{0};
  std::atomic<uint64_t> bad_requests{0};
  std::atomic<uint64_t> p2p_bytes{0};

  // Declared last: destroyed first (suspended coroutines refer to the fields above).
  std::unique_ptr<TcpServer> server;
};

Status HttpProxy::Impl::Init() {
  FL_ASSIGN_OR_RETURN(rules, UrlRules::Compile(config.rules, "proxy.rules"));
  FL_ASSIGN_OR_RETURN(hijack_hosts,
                      UrlRules::Compile(config.hijack_https.hosts, "proxy.hijack_https.hosts"));
  if (!hijack_hosts.empty()) {
    FL_ASSIGN_OR_RETURN(
        authority, CertAuthority::Load(config.hijack_https.ca_cert, config.hijack_https.ca_key));
  }
  beast::error_code ec;
  origin_tls.set_default_verify_paths(ec);
  origin_tls.set_verify_mode(ssl::verify_peer);
  if (!config.origin_ca_file.empty()) {
    origin_tls.load_verify_file(config.origin_ca_file, ec);
    if (ec) {
      return Status::InvalidArgument("config key 'proxy.origin_ca_file': cannot load '" +
                                     config.origin_ca_file + "': " + ec.message());
    }
  }
  return Status::Ok();
}

asio::awaitable<void> HttpProxy::Impl::Serve(tcp::socket socket) {
  ConnectionSlot slot(open_connections);
  beast::tcp_stream client(std::move(socket));
  beast::error_code ignored;
  client.socket().set_option(tcp::no_delay(true), ignored);
  if (open_connections.load() > config.max_connections) {
    ++bad_requests;
    requests.WithLabels({"rejected"}).Increment();
    spdlog::debug("proxy_request route=rejected status=503 reason=max_connections");
    co_await SendText(client, 503, "too many connections to the proxy", false, config.io_timeout);
  } else {
    beast::flat_buffer buffer;
    co_await RequestLoop(client, buffer, nullptr);
  }
  client.socket().shutdown(tcp::socket::shutdown_both, ignored);
  client.socket().close(ignored);
}

template <class Stream>
asio::awaitable<void> HttpProxy::Impl::RequestLoop(Stream& client, beast::flat_buffer& buffer,
                                                   const HostPort* intercepted_authority) {
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kHeaderLimit);
    // Bodies of any length are relayed (in chunks), never held.
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    beast::get_lowest_layer(client).expires_after(config.io_timeout);
    auto [read_error, read] = co_await http::async_read_header(client, buffer, parser, kNoThrow);
    (void)read;
    if (read_error == http::error::header_limit) {
      co_await Reject(client, "-", "-", 431, "request headers too large", false);
      co_return;
    }
    if (read_error) {
      if (IsMalformed(read_error)) {
        const std::string message = "malformed request: " + read_error.message();
        co_await Reject(client, "-", "-", 400, message, false);
      }
      co_return;  // closed, reset or idle: nothing useful to answer
    }
    const std::string method(View(parser.get().method_string()));
    const std::string raw_target(View(parser.get().target()));
    if (parser.get().method() == http::verb::connect) {
      if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        if (intercepted_authority == nullptr) {
          co_await ServeConnect(client, parser.get(), buffer);
          co_return;
        }
      }
      co_await Reject(client, method, raw_target, 400, "CONNECT inside an intercepted tunnel",
                      false);
      co_return;
    }
    // A body: the head is kept as a copy and the parser goes on with a
    // buffer body, which the forwarder reads in chunks.
    std::optional<ClientRequest> head_copy;
    std::optional<BodyParser> body_parser;
    std::optional<ClientBody> body;
    if (!parser.is_done()) {
      head_copy.emplace(parser.get());
      body_parser.emplace(std::move(parser));
      body.emplace(ClientBody{*body_parser, buffer});
    }
    const ClientRequest& request = head_copy ? *head_copy : parser.get();
    Result<ProxyTarget> target = Status::Internal("unset");
    if (intercepted_authority != nullptr) {
      target = ParseInterceptedTarget(raw_target, *intercepted_authority);
    } else {
      target = ParseAbsoluteTarget(raw_target);
    }
    if (!target.ok()) {
      co_await Reject(client, method, raw_target, 400, target.status().message(), false);
      co_return;
    }
    bool keep_open = co_await Handle(client, request, *target, body ? &*body : nullptr);
    if (!keep_open) {
      co_return;
    }
    if (body_parser && !body_parser->is_done()) {
      co_return;  // an unread body (e.g. after a 405) is no next request
    }
  }
}

template <class Stream>
asio::awaitable<bool> HttpProxy::Impl::Reject(Stream& client, std::string_view method,
                                              std::string_view url, unsigned status,
                                              std::string_view message, bool keep_alive) {
  ++bad_requests;
  requests.WithLabels({"rejected"}).Increment();
  spdlog::debug("proxy_request method={} url={} route=rejected status={} bytes=0", method,
                source::RedactUrl(url), status);
  bool sent = co_await SendText(client, status, message, keep_alive, config.io_timeout);
  co_return sent&& keep_alive;
}

template <class Stream>
asio::awaitable<bool> HttpProxy::Impl::Handle(Stream& client, const ClientRequest& request,
                                              const ProxyTarget& target, ClientBody* body) {
  if (request.method() == http::verb::unknown) {
    // An unread body closes the connection: it is no next request.
    co_return co_await Reject(client, View(request.method_string()), target.url, 405,
                              "method not supported by the proxy",
                              request.keep_alive() && body == nullptr);
  }
  RequestFacts facts;
  facts.get = request.method() == http::verb::get;
  facts.body = body != nullptr;
  if (auto range = request.find(http::field::range); range != request.end()) {
    // If-Range needs the origin's validators, which a P2P task does not keep.
    facts.unservable_range = !mirror::IsSingleByteRange(View(range->value())) ||
                             request.find(http::field::if_range) != request.end();
  }
  facts.credentials = request.find(http::field::authorization) != request.end() ||
                      request.find(http::field::cookie) != request.end() ||
                      source::UrlCarriesCredentials(target.url);
  if (ChooseRoute(rules, target, facts) == Route::kP2P) {
    co_return co_await ServeP2P(client, request, target);
  }
  co_return co_await ServeForward(client, request, target, body);
}

template <class Stream>
asio::awaitable<bool> HttpProxy::Impl::ServeForward(Stream& client, const ClientRequest& request,
                                                    const ProxyTarget& target, ClientBody* body) {
  ++forwarded;
  mirror::Upstream origin;
  origin.host = target.host_header;
  origin.url = target.scheme + "://" + target.host_header;
  origin.tls = target.scheme == "https";
  origin.connect_host = target.host;
  origin.connect_port = target.port;
  origin.host_header = target.host_header;
  mirror::ForwardReport report;
  mirror::ForwardContext context{origin, origin_tls, config.io_timeout, &report, "proxy", "origin"};
  mirror::RelayOutcome outcome =
      co_await mirror::Forward(client, request, target.path_and_query, context, body);
  Log(View(request.method_string()), target.url, Route::kForward, report.status, report.body_bytes);
  co_return outcome == mirror::RelayOutcome::kKeepAlive;
}

template <class Stream>
asio::awaitable<bool> HttpProxy::Impl::ServeP2P(Stream& client, const ClientRequest& request,
                                                const ProxyTarget& target) {
  const bool keep_alive = request.keep_alive();
  const auto timeout = config.io_timeout;
  const std::string_view method = View(request.method_string());
  ++p2p;
  auto watch = std::make_shared<mirror::ProgressWatch>();
  Result<std::string> task_id = fetcher.Start(UrlFetchRequest{target.url},
                                              [watch](const FetchProgress& p) { watch->Set(p); });
  if (!task_id.ok() && task_id.status().code() == StatusCode::kPermissionDenied) {
    // Someone fetched this URL with credentials: the task is private. The
    // origin decides whether this client may read it.
    --p2p;
    co_return co_await ServeForward(client, request, target, nullptr);
  }
  if (!task_id.ok()) {
    const unsigned status = HttpStatusFor(task_id.status());
    Log(method, target.url, Route::kP2P, status, 0);
    bool sent = co_await SendText(client, status, task_id.status().message(), keep_alive, timeout);
    co_return sent&& keep_alive;
  }
  FetchProgress progress = co_await mirror::WaitForProgress(
      *watch, [](const FetchProgress& p) { return p.content_length_known; });
  if (!progress.content_length_known) {
    const unsigned status = HttpStatusFor(progress.status);
    spdlog::info("proxy_p2p_failed url={} sent=0 error=\"{}\"", source::RedactUrl(target.url),
                 progress.status.ToString());
    Log(method, target.url, Route::kP2P, status, 0);
    bool sent = co_await SendText(client, status, progress.status.message(), keep_alive, timeout);
    co_return sent&& keep_alive;
  }
  Result<storage::TaskMeta> meta = store.GetTask(*task_id);
  if (!meta.ok()) {
    Log(method, target.url, Route::kP2P, 500, 0);
    bool sent = co_await SendText(client, 500, meta.status().message(), keep_alive, timeout);
    co_return sent&& keep_alive;
  }
  const uint64_t length = meta->content_length;
  // One range of the content (ChooseRoute let only a single bytes range
  // through), or the whole of it.
  mirror::ByteRange range{0, length == 0 ? 0 : length - 1};
  bool partial = false;
  if (auto it = request.find(http::field::range); it != request.end()) {
    mirror::RangeParse parsed = mirror::ParseRange(View(it->value()), length, &range);
    if (parsed == mirror::RangeParse::kUnsatisfiable) {
      Log(method, target.url, Route::kP2P, 416, 0);
      std::string head = fmt::format(
          "HTTP/1.1 416 Range Not Satisfiable\r\nServer: feilong\r\nContent-Range: bytes */{}\r\n"
          "Content-Length: 0\r\nConnection: {}\r\n\r\n",
          length, keep_alive ? "keep-alive" : "close");
      bool sent = co_await WriteAll(client, head, timeout);
      co_return sent&& keep_alive;
    }
    partial = parsed == mirror::RangeParse::kRange;
  }
  const uint64_t begin = partial ? range.first : 0;
  const uint64_t end = partial ? range.last + 1 : length;  // exclusive
  const unsigned status = partial ? 206 : 200;
  // The end of the body is sent only once the download ended well, so a
  // download that fails at its last piece never looks complete.
  auto download_ok = [watch]() -> asio::awaitable<Status> {
    FetchProgress p =
        co_await mirror::WaitForProgress(*watch, [](const FetchProgress& p) { return p.done; });
    co_return p.status;
  };
  if (length == 0) {
    Status s = co_await download_ok();
    if (!s.ok()) {
      const unsigned status = HttpStatusFor(s);
      Log(method, target.url, Route::kP2P, status, 0);
      bool sent = co_await SendText(client, status, s.message(), keep_alive, timeout);
      co_return sent&& keep_alive;
    }
  }
  const std::string head = mirror::PieceAnswerHead(partial, range, length, "", keep_alive);
  bool head_sent = co_await WriteAll(client, head, timeout);
  if (!head_sent) {
    Log(method, target.url, Route::kP2P, status, 0);
    co_return false;
  }
  mirror::PieceStreamSpec spec{*task_id, meta->piece_length, length, begin, end, timeout};
  mirror::PieceStreamHooks hooks;
  hooks.before_last = download_ok;
  hooks.on_sent = [this](size_t n) {
    p2p_bytes += n;
    p2p_body_bytes.Increment(n);
  };
  mirror::PieceStreamResult streamed =
      co_await mirror::StreamPieces(client, *watch, store, spec, hooks);
  Log(method, target.url, Route::kP2P, status, streamed.sent);
  if (streamed.client_gone) {
    co_return false;
  }
  if (!streamed.failure.ok()) {
    spdlog::warn("proxy_p2p_failed url={} sent={} error=\"{}\"", source::RedactUrl(target.url),
                 streamed.sent, streamed.failure.ToString());
    co_return false;  // cut the connection: the client sees a short body
  }
  FetchProgress last = watch->Get();
  spdlog::info(
      "proxy_p2p_served url={} bytes={} from_cache={} from_peers={} from_origin={} range={}",
      source::RedactUrl(target.url), end - begin, last.bytes_from_cache, last.bytes_from_peers,
      last.bytes_from_origin, partial ? fmt::format("{}-{}", range.first, range.last) : "-");
  co_return keep_alive;
}

asio::awaitable<void> HttpProxy::Impl::ServeConnect(beast::tcp_stream& client,
                                                    const ClientRequest& request,
                                                    beast::flat_buffer& buffer) {
  const std::string raw_target(View(request.target()));
  Result<HostPort> authority_of = ParseConnectTarget(raw_target);
  if (!authority_of.ok()) {
    co_await Reject(client, "CONNECT", raw_target, 400, authority_of.status().message(), false);
    co_return;
  }
  if (authority != nullptr && hijack_hosts.Matches(authority_of->host)) {
    co_await Intercept(client, *authority_of, buffer);
  } else {
    co_await Tunnel(client, *authority_of, buffer);
  }
}

asio::awaitable<void> HttpProxy::Impl::Tunnel(beast::tcp_stream& client,
                                              const HostPort& authority_of,
                                              beast::flat_buffer& buffer) {
  const std::string where = authority_of.host + ":" + std::to_string(authority_of.port);
  ++tunnels;
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [resolve_error, endpoints] = co_await resolver.async_resolve(
      authority_of.host, std::to_string(authority_of.port), kNoThrow);
  beast::tcp_stream origin(executor);
  beast::error_code connect_error = resolve_error;
  if (!resolve_error) {
    origin.expires_after(config.io_timeout);
    auto [ec, endpoint] = co_await origin.async_connect(endpoints, kNoThrow);
    (void)endpoint;
    connect_error = ec;
  }
  if (connect_error) {
    Log("CONNECT", where, Route::kTunnel, 502, 0);
    const std::string message = "cannot connect to " + where + ": " + connect_error.message();
    co_await SendText(client, 502, message, false, config.io_timeout);
    co_return;
  }
  bool sent =
      co_await WriteAll(client, "HTTP/1.1 200 Connection Established\r\n\r\n", config.io_timeout);
  if (!sent) {
    co_return;
  }
  // Bytes the client sent after its CONNECT head (e.g. a TLS ClientHello
  // it did not wait to send) were read into `buffer`: they go first.
  TunnelBytes bytes;
  if (buffer.size() > 0) {
    bytes.to_origin = buffer.size();
    const std::string_view early(static_cast<const char*>(buffer.data().data()), buffer.size());
    bool forwarded_early = co_await WriteAll(origin, early, config.io_timeout);
    buffer.consume(buffer.size());
    if (!forwarded_early) {
      co_return;
    }
  }
  // The tunnel keeps its own idle deadline; Beast's per-operation timers
  // must not cut it.
  client.expires_never();
  origin.expires_never();
  TunnelBytes copied = co_await RunTunnel(client.socket(), origin.socket(), config.io_timeout);
  beast::error_code ignored;
  origin.socket().close(ignored);
  Log("CONNECT", where, Route::kTunnel, 200, bytes.to_origin + copied.to_origin + copied.to_client);
}

asio::awaitable<void> HttpProxy::Impl::Intercept(beast::tcp_stream& client,
                                                 const HostPort& authority_of,
                                                 beast::flat_buffer& buffer) {
  const std::string where = authority_of.host + ":" + std::to_string(authority_of.port);
  ++intercepted;
  Result<std::shared_ptr<ssl::context>> context = authority->ServerContextFor(authority_of.host);
  if (!context.ok()) {
    spdlog::warn("proxy_certificate_failed host={} error=\"{}\"", authority_of.host,
                 context.status().ToString());
    Log("CONNECT", where, Route::kHijack, 502, 0);
    const std::string message = "cannot make a certificate for " + authority_of.host;
    co_await SendText(client, 502, message, false, config.io_timeout);
    co_return;
  }
  bool sent =
      co_await WriteAll(client, "HTTP/1.1 200 Connection Established\r\n\r\n", config.io_timeout);
  if (!sent) {
    co_return;
  }
  Log("CONNECT", where, Route::kHijack, 200, 0);
  // Only the socket moves: `client` stays a valid (closed) stream for Serve.
  TlsStream tls(std::move(client.socket()), **context);
  beast::get_lowest_layer(tls).expires_after(config.io_timeout);
  // The handshake starts with whatever the client already sent.
  auto [handshake_error, used] =
      co_await tls.async_handshake(ssl::stream_base::server, buffer.data(), kNoThrow);
  buffer.consume(used);
  if (handshake_error) {
    spdlog::debug("proxy_tls_handshake_failed host={} error=\"{}\"", authority_of.host,
                  handshake_error.message());
  } else {
    co_await RequestLoop(tls, buffer, &authority_of);
  }
  beast::error_code ignored;
  beast::get_lowest_layer(tls).socket().shutdown(tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(tls).socket().close(ignored);
}

HttpProxy::HttpProxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpProxy::~HttpProxy() { Stop(); }

Result<std::unique_ptr<HttpProxy>> HttpProxy::Start(const ProxyConfig& config, UrlFetcher& fetcher,
                                                    storage::PieceStore& store,
                                                    metrics::Registry* metrics) {
  Result<HostPort> listen = ParseHostPort(config.listen);
  if (!listen.ok()) {
    return listen.status().WithContext("proxy.listen");
  }
  auto impl = std::make_unique<Impl>(config, fetcher, store, metrics);
  FL_RETURN_IF_ERROR(impl->Init());
  Impl* raw = impl.get();
  auto server =
      TcpServer::Start({"proxy", listen->host, listen->port, config.threads},
                       [raw](tcp::socket socket) { return raw->Serve(std::move(socket)); });
  if (!server.ok()) {
    return server.status().WithContext("proxy.listen");
  }
  impl->server = std::move(server).value();
  spdlog::info("proxy: listening address={} rules={} hijack_hosts={}", raw->server->address(),
               config.rules.size(), config.hijack_https.hosts.size());
  return std::unique_ptr<HttpProxy>(new HttpProxy(std::move(impl)));
}

uint16_t HttpProxy::port() const { return impl_->server->port(); }

ProxyStats HttpProxy::stats() const {
  ProxyStats s;
  s.p2p = impl_->p2p.load();
  s.forwarded = impl_->forwarded.load();
  s.tunnels = impl_->tunnels.load();
  s.intercepted = impl_->intercepted.load();
  s.bad_requests = impl_->bad_requests.load();
  s.p2p_bytes = impl_->p2p_bytes.load();
  return s;
}

void HttpProxy::Stop() {
  // Destroys every suspended connection coroutine.
  impl_->server->Stop();
}

}  // namespace feilong::proxy
