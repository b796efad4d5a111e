#include "common/metrics_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <utility>

#include "common/tcp_server.h"

namespace feilong::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr uint64_t kMaxRequestBytes = 16 * 1024;  // headers; GETs carry no body

http::response<http::string_body> Respond(const http::request<http::string_body>& req,
                                          const Registry& registry) {
  http::response<http::string_body> res;
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  res.set(http::field::server, "feilong");
  std::string_view target(req.target().data(), req.target().size());
  // Ignore a query string ("/metrics?x=y").
  target = target.substr(0, target.find('?'));
  if (req.method() != http::verb::get) {
    res.result(http::status::method_not_allowed);
    res.set(http::field::allow, "GET");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "method not allowed\n";
  } else if (target == "/metrics") {
    res.result(http::status::ok);
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = registry.Render();
  } else if (target == "/healthz") {
    res.result(http::status::ok);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "ok";
  } else {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "not found\n";
  }
  res.prepare_payload();
  return res;
}

asio::awaitable<void> Session(tcp::socket socket, const Registry& registry) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxRequestBytes);
    parser.body_limit(kMaxRequestBytes);
    stream.expires_after(kIdleTimeout);
    beast::error_code ec;
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      break;  // closed by the peer, timed out, or malformed
    }
    http::request<http::string_body> req = parser.release();
    http::response<http::string_body> res = Respond(req, registry);
    bool keep_alive = res.keep_alive();
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !keep_alive) {
      break;
    }
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace

struct MetricsServer::Impl {
  std::unique_ptr<TcpServer> server;
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& host, uint16_t port,
                                                            const Registry& registry) {
  const Registry* served = &registry;
  FL_ASSIGN_OR_RETURN(auto server, TcpServer::Start({"metrics server", host, port, 1},
                                                    [served](tcp::socket socket) {
                                                      return Session(std::move(socket), *served);
                                                    }));
  auto impl = std::make_unique<Impl>();
  impl->server = std::move(server);
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() { Stop(); }

uint16_t MetricsServer::port() const { return impl_->server->port(); }

void MetricsServer::Stop() { impl_->server->Stop(); }

}  // namespace feilong::metrics
