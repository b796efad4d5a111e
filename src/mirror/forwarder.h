// Forwarder: the mirror's and the proxy's HTTP client side. Passes a
// client's request through to an upstream (registry or origin) and relays
// the answer back unchanged (status, headers, body streamed in bounded
// chunks), and asks a registry whether it would serve a blob to this client
// (HEAD). A request body (the proxy's POST, PUT...) is relayed to the
// upstream in bounded chunks too, never held whole.
//
// One upstream connection per request, closed afterwards (no pooling:
// pass-through traffic is manifests and pings, a few requests per pull).
// http:// and https:// upstreams (certificates verified against the system
// store, SNI and host name checked).
//
// Thread rule: coroutines on the caller's executor; each call uses only its
// own sockets and the shared, read-only TLS context.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "mirror/mirror_config.h"

namespace feilong::mirror {

using ClientRequest = boost::beast::http::request<boost::beast::http::empty_body>;

// The body of a client's request, not yet read: Forward reads it from the
// client and sends it on. `parser` has read the head (e.g. converted from
// the request_parser<empty_body> that did); `buffer` holds what the client
// sent past the head. Content-Length bodies go upstream with that length,
// chunked ones are de-chunked and re-chunked (trailers dropped).
struct ClientBody {
  boost::beast::http::request_parser<boost::beast::http::buffer_body>& parser;
  boost::beast::flat_buffer& buffer;
};

enum class RelayOutcome {
  kKeepAlive,  // the whole answer was relayed; the client connection may be reused
  kClose,      // the whole answer was relayed; close the client connection
  kAborted,    // failed after bytes went to the client: close it (a short body)
};

// What Forward did, for the caller's log line.
struct ForwardReport {
  unsigned status = 0;              // sent to the client (the upstream's, or 502 of our own)
  uint64_t body_bytes = 0;          // answer body bytes relayed to the client
  uint64_t request_body_bytes = 0;  // request body bytes relayed to the upstream
};

struct ForwardContext {
  const Upstream& upstream;
  boost::asio::ssl::context& tls;
  std::chrono::milliseconds timeout;
  ForwardReport* report = nullptr;  // filled when given
  // How failures are logged: "<log_name>_upstream_unreachable
  // <log_host_key>=<host>", so the proxy's lines do not read as the mirror's.
  std::string_view log_name = "mirror";
  std::string_view log_host_key = "registry";
};

// Sends `request` (its method, `target` as the request target, the client's
// end-to-end headers, Host set to the upstream's) and relays the answer to
// `client`. When the upstream cannot be reached or answers garbage before
// anything was relayed, sends a 502 with an OCI error body itself.
// ClientStream: beast::tcp_stream (the mirror, the proxy) or
// beast::ssl_stream<beast::tcp_stream> (the proxy's intercepted HTTPS);
// both are instantiated in forwarder.cc.
//
// `body`: the request's body, or null when it has none. Read from the
// client in chunks of at most 64 KiB, each written upstream before the next
// read (io_timeout per read and write). `Expect: 100-continue` is answered
// by Forward itself once the upstream is connected and is not sent on. When
// the body was not read to its end (the upstream failed first), the answer
// closes the client connection. A client that goes away mid-body gets
// kAborted and the upstream connection is closed.
template <class ClientStream>
boost::asio::awaitable<RelayOutcome> Forward(ClientStream& client, const ClientRequest& request,
                                             const std::string& target, ForwardContext context,
                                             ClientBody* body = nullptr);

// The status code the upstream gives a HEAD of `target` with the client's
// headers. Unavailable (naming the upstream, never the query) when it
// cannot be reached or answers garbage.
boost::asio::awaitable<Result<unsigned>> HeadStatus(const ClientRequest& request,
                                                    const std::string& target,
                                                    ForwardContext context);

// Writes a complete small answer with an OCI error body:
// {"errors":[{"code":<code>,"message":<message>}]}. False if the write failed.
// ClientStream as for Forward.
template <class ClientStream>
boost::asio::awaitable<bool> SendError(ClientStream& client, unsigned status, std::string_view code,
                                       std::string_view message, bool keep_alive,
                                       std::chrono::milliseconds timeout);

// True for headers that belong to one connection, not to the message
// (RFC 9110 section 7.6.1): never forwarded in either direction.
bool IsHopByHopHeader(std::string_view name);

}  // namespace feilong::mirror
