// TcpServer: the skeleton Feilong's TCP servers share (the piece server, the
// registry mirror, the HTTP proxy, the metrics endpoint). It listens on one
// address, accepts on an io_context of its own run by a fixed number of
// threads, and runs each connection as a C++20 coroutine on a strand of its
// own: one connection's handlers never run at once, connections run in
// parallel. A server's protocol is only its connection coroutine.
//
//   auto server = TcpServer::Start({"mirror", "127.0.0.1", 5000, 2},
//       [impl](tcp::socket socket) { return impl->Serve(std::move(socket)); });
//
// Stop() stops the threads and destroys every connection coroutine still
// suspended, which closes its socket: whatever their frames refer to must
// outlive Stop (declare the server after it in its owner).
//
// An accept error (out of descriptors, say) is logged and accepting resumes
// after a pause; a connection coroutine that throws is logged and ends, the
// others go on.
//
// Thread rule: thread-safe. Stop is idempotent; never call it from one of
// the server's threads.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"

namespace feilong {

struct TcpServerOptions {
  // Names the server in logs and errors, e.g. "mirror".
  std::string name;
  // Address or host name to listen on, and the port (0: any free port).
  std::string host;
  uint16_t port = 0;
  // Threads running the server's io_context (at least one).
  uint32_t threads = 1;
};

class TcpServer {
 public:
  // Runs one accepted connection; called on the connection's strand.
  using Handler = std::function<boost::asio::awaitable<void>(boost::asio::ip::tcp::socket socket)>;

  // Listens and starts the threads. InvalidArgument when the host does not
  // resolve, IOError when it cannot listen; both name the server and the
  // address.
  static Result<std::unique_ptr<TcpServer>> Start(const TcpServerOptions& options, Handler handler);
  ~TcpServer();  // Stop()
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  uint16_t port() const { return port_; }
  // The address listened on, "ip:port".
  const std::string& address() const { return address_; }

  void Stop();

 private:
  class Impl;
  TcpServer(std::unique_ptr<Impl> impl, uint16_t port, std::string address);

  std::unique_ptr<Impl> impl_;
  const uint16_t port_;
  const std::string address_;
};

}  // namespace feilong
