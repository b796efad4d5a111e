#include "common/tcp_server.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>
#include <thread>
#include <vector>

namespace feilong {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
// After a failed accept (e.g. out of descriptors): pause, do not spin.
constexpr std::chrono::milliseconds kAcceptErrorPause{50};

void LogException(const std::string& server, const char* where, const std::exception_ptr& error) {
  if (!error) {
    return;
  }
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("{}: {} failed error=\"{}\"", server, where, e.what());
  }
}

// A peer that closes its socket while we write must not kill the process:
// writes then fail with EPIPE instead.
void BlockSigpipeInThisThread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Result<tcp::endpoint> ResolveListenAddress(asio::io_context& io, const TcpServerOptions& options) {
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(options.host, ec);
  if (!ec) {
    return tcp::endpoint(address, options.port);
  }
  tcp::resolver resolver(io);
  auto results =
      resolver.resolve(options.host, std::to_string(options.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return Status::InvalidArgument(options.name + ": cannot resolve host '" + options.host +
                                   "': " + (ec ? ec.message() : std::string("no address")));
  }
  return results.begin()->endpoint();
}

}  // namespace

class TcpServer::Impl {
 public:
  Impl(TcpServerOptions options, Handler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}

  Result<tcp::endpoint> Listen() {
    FL_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ResolveListenAddress(*io_, options_));
    boost::system::error_code ec;
    if (acceptor_->open(endpoint.protocol(), ec) ||
        acceptor_->set_option(asio::socket_base::reuse_address(true), ec) ||
        acceptor_->bind(endpoint, ec) ||
        acceptor_->listen(asio::socket_base::max_listen_connections, ec)) {
      return Status::IOError(options_.name + ": cannot listen on " +
                             endpoint.address().to_string() + ":" +
                             std::to_string(endpoint.port()) + ": " + ec.message());
    }
    return acceptor_->local_endpoint(ec);
  }

  void Run() {
    asio::co_spawn(*io_, AcceptLoop(), [name = options_.name](const std::exception_ptr& e) {
      LogException(name, "accept loop", e);
    });
    for (uint32_t i = 0; i < std::max<uint32_t>(1, options_.threads); ++i) {
      threads_.emplace_back([this] {
        BlockSigpipeInThisThread();
        for (;;) {
          try {
            io_->run();
            return;
          } catch (const std::exception& e) {
            spdlog::error("{}: event loop error=\"{}\"", options_.name, e.what());
          }
        }
      });
    }
  }

  void Stop() {
    std::lock_guard lock(stop_mutex_);
    if (!io_) {
      return;
    }
    io_->stop();
    threads_.clear();  // joins
    boost::system::error_code ignored;
    acceptor_->close(ignored);
    acceptor_.reset();
    // Destroys every suspended connection coroutine (closing its socket).
    io_.reset();
  }

 private:
  asio::awaitable<void> AcceptLoop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_->async_accept(asio::make_strand(*io_), kNoThrow);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_->is_open()) {
          co_return;
        }
        spdlog::warn("{}: accept failed error=\"{}\"", options_.name, ec.message());
        asio::steady_timer pause(*io_, kAcceptErrorPause);
        co_await pause.async_wait(kNoThrow);
        continue;
      }
      auto executor = socket.get_executor();
      asio::co_spawn(executor, handler_(std::move(socket)),
                     [name = options_.name](const std::exception_ptr& e) {
                       LogException(name, "connection", e);
                     });
    }
  }

  const TcpServerOptions options_;
  const Handler handler_;
  std::mutex stop_mutex_;
  std::unique_ptr<asio::io_context> io_ = std::make_unique<asio::io_context>();
  std::unique_ptr<tcp::acceptor> acceptor_ = std::make_unique<tcp::acceptor>(*io_);
  std::vector<std::jthread> threads_;
};

Result<std::unique_ptr<TcpServer>> TcpServer::Start(const TcpServerOptions& options,
                                                    Handler handler) {
  auto impl = std::make_unique<Impl>(options, std::move(handler));
  FL_ASSIGN_OR_RETURN(tcp::endpoint endpoint, impl->Listen());
  impl->Run();
  std::string address = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  return std::unique_ptr<TcpServer>(new TcpServer(std::move(impl), endpoint.port(), address));
}

TcpServer::TcpServer(std::unique_ptr<Impl> impl, uint16_t port, std::string address)
    : impl_(std::move(impl)), port_(port), address_(std::move(address)) {}

TcpServer::~TcpServer() { Stop(); }

void TcpServer::Stop() { impl_->Stop(); }

}  // namespace feilong
