#include "common/metrics_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace feilong::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr auto kAcceptErrorPause = std::chrono::milliseconds(100);
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

asio::awaitable<void> AcceptLoop(tcp::acceptor acceptor, const Registry& registry) {
  while (acceptor.is_open()) {
    beast::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
        break;
      }
      // E.g. out of file descriptors: pause instead of spinning on the error.
      spdlog::warn("metrics_accept_failed error=\"{}\"", ec.message());
      asio::steady_timer pause(acceptor.get_executor(), kAcceptErrorPause);
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    asio::co_spawn(acceptor.get_executor(), Session(std::move(socket), registry), asio::detached);
  }
}

}  // namespace

// Every socket and coroutine lives in `io`; destroying it (in Stop) closes
// the listener and all connections.
struct MetricsServer::Impl {
  explicit Impl(const Registry& r) : registry(r) { io.emplace(1); }

  const Registry& registry;
  std::optional<asio::io_context> io;
  uint16_t port = 0;
  std::mutex stop_mutex;
  std::jthread thread;
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& host, uint16_t port,
                                                            const Registry& registry) {
  auto impl = std::make_unique<Impl>(registry);
  std::string where = host + ":" + std::to_string(port);
  beast::error_code ec;
  tcp::endpoint endpoint;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, port);
  } else {
    tcp::resolver resolver(*impl->io);
    auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      return Status::InvalidArgument("metrics server: cannot resolve host '" + host +
                                     "': " + (ec ? ec.message() : std::string("no address")));
    }
    endpoint = results.begin()->endpoint();
  }

  tcp::acceptor acceptor(*impl->io);
  if (acceptor.open(endpoint.protocol(), ec) ||
      acceptor.set_option(asio::socket_base::reuse_address(true), ec) ||
      acceptor.bind(endpoint, ec) ||
      acceptor.listen(asio::socket_base::max_listen_connections, ec)) {
    return Status::IOError("metrics server: cannot listen on " + where + ": " + ec.message());
  }
  impl->port = acceptor.local_endpoint(ec).port();
  if (ec) {
    return Status::IOError("metrics server: " + where + ": " + ec.message());
  }

  asio::co_spawn(*impl->io, AcceptLoop(std::move(acceptor), impl->registry), asio::detached);
  asio::io_context* io = &*impl->io;
  impl->thread = std::jthread([io] {
    try {
      io->run();
    } catch (const std::exception& e) {
      spdlog::error("metrics_server_failed error=\"{}\"", e.what());
    }
  });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() { Stop(); }

uint16_t MetricsServer::port() const { return impl_->port; }

void MetricsServer::Stop() {
  std::lock_guard<std::mutex> lock(impl_->stop_mutex);
  if (!impl_->io) {
    return;
  }
  impl_->io->stop();
  if (impl_->thread.joinable()) {
    impl_->thread.join();
  }
  // Destroys the pending accept and connection coroutines with the sockets
  // they own.
  impl_->io.reset();
}

}  // namespace feilong::metrics
