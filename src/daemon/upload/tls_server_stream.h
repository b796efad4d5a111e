// TlsServerStream: the server end of one TLS connection of the piece server,
// with OpenSSL reading and writing the connection's socket itself (a socket
// BIO on its non-blocking descriptor) and Asio only waiting for readiness.
//
// Why not asio::ssl::stream: that stream passes every record through a
// 17 KiB memory BIO pair and one asynchronous socket write, so a 4 MiB
// piece costs 256 trips through the event loop and two extra copies; on
// loopback that overhead cost more CPU than the cipher itself. Here one
// WriteAll() of 256 KiB encrypts and writes 16 records in one go, waiting
// only when the socket is full. With the socket in OpenSSL's hands, kernel
// TLS (SSL_OP_ENABLE_KTLS, SSL_sendfile) becomes possible; it is not turned
// on, since no kernel here offers it to test against (docs/security.md).
//
// The stream is an Asio AsyncReadStream (async_read_some), so Beast parses
// requests from it; writes are coroutines. Errors are boost error codes:
// asio::error::eof when the peer closed (cleanly or not), the SSL category
// for protocol and certificate failures, the system category otherwise.
//
// Thread rule: like the socket, used from one strand at a time. The socket
// must outlive the stream; closing the socket ends pending waits with an
// error. OpenSSL writes with write(2), which raises SIGPIPE when the peer
// is gone: REQUIRES SIGPIPE blocked or ignored in the threads that run the
// stream (a write then fails with EPIPE).
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstddef>
#include <memory>

namespace feilong::daemon {

class TlsServerStream {
 public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;
  using ErrorCode = boost::system::error_code;

  // REQUIRES: `socket` is open and non-blocking.
  TlsServerStream(boost::asio::ip::tcp::socket& socket,
                  std::shared_ptr<boost::asio::ssl::context> context);
  ~TlsServerStream();
  TlsServerStream(const TlsServerStream&) = delete;
  TlsServerStream& operator=(const TlsServerStream&) = delete;

  // The TLS handshake, as the server (the context decides what the client
  // must present).
  boost::asio::awaitable<ErrorCode> Handshake();

  // Writes all of `data` (as TLS records) and returns once every byte is
  // in the socket.
  boost::asio::awaitable<ErrorCode> WriteAll(boost::asio::const_buffer data);

  executor_type get_executor() { return socket_.get_executor(); }

  // AsyncReadStream: reads some decrypted bytes into the first non-empty
  // buffer of `buffers`. Never completes inside the initiating call.
  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    boost::asio::mutable_buffer first;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      if (boost::asio::buffer_size(*it) != 0) {
        first = *it;
        break;
      }
    }
    return boost::asio::async_compose<Token, void(ErrorCode, size_t)>(ReadOp{*this, first}, token,
                                                                      socket_);
  }

 private:
  // What one non-blocking OpenSSL call came to.
  enum class Step { kDone, kWantRead, kWantWrite, kFailed };
  struct Outcome {
    Step step = Step::kFailed;
    size_t bytes = 0;
    ErrorCode error;
  };

  // One SSL_read_ex into `into`.
  Outcome ReadStep(boost::asio::mutable_buffer into);
  // What SSL_get_error says about a failed call that returned `ret`.
  Outcome Classify(int ret);
  boost::asio::awaitable<ErrorCode> Wait(Step step);
  // Sends what the write buffer holds.
  boost::asio::awaitable<ErrorCode> Flush();

  struct ReadOp {
    TlsServerStream& stream;
    boost::asio::mutable_buffer into;
    bool started = false;

    template <typename Self>
    void operator()(Self& self, ErrorCode error = {}) {
      if (!started) {
        started = true;  // resume from the executor, not inside the initiating call
        boost::asio::post(stream.socket_.get_executor(), std::move(self));
        return;
      }
      if (error) {
        self.complete(error, 0);
        return;
      }
      if (into.size() == 0) {
        self.complete(ErrorCode(), 0);
        return;
      }
      Outcome outcome = stream.ReadStep(into);
      switch (outcome.step) {
        case Step::kDone:
          self.complete(ErrorCode(), outcome.bytes);
          return;
        case Step::kWantRead:
          stream.socket_.async_wait(boost::asio::ip::tcp::socket::wait_read, std::move(self));
          return;
        case Step::kWantWrite:
          stream.socket_.async_wait(boost::asio::ip::tcp::socket::wait_write, std::move(self));
          return;
        case Step::kFailed:
          self.complete(outcome.error, 0);
          return;
      }
    }
  };

  boost::asio::ip::tcp::socket& socket_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  SSL* ssl_ = nullptr;
};

}  // namespace feilong::daemon
