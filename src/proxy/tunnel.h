// A CONNECT tunnel: bytes copied both ways between the client and the
// origin until both directions ended, or nothing moved either way for the
// idle timeout.
//
// Thread rule: a coroutine on the sockets' executor (one strand); it uses
// only its arguments.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>

namespace feilong::proxy {

struct TunnelBytes {
  uint64_t to_origin = 0;  // client -> origin
  uint64_t to_client = 0;  // origin -> client
};

// Copies until both directions reached EOF (each EOF is passed on as a
// half close), either side failed (both are then shut down), or `idle`
// passed with no byte in either direction. The sockets stay open (the
// caller closes them). REQUIRES: both sockets on one strand.
boost::asio::awaitable<TunnelBytes> RunTunnel(boost::asio::ip::tcp::socket& client,
                                              boost::asio::ip::tcp::socket& origin,
                                              std::chrono::milliseconds idle);

}  // namespace feilong::proxy
