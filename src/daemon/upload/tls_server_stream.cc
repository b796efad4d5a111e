#include "daemon/upload/tls_server_stream.h"

#include <openssl/err.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <utility>

namespace feilong::daemon {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
// Encrypted bytes gathered before a send(2).
constexpr long kWriteBuffer = 256 << 10;
}  // namespace

TlsServerStream::TlsServerStream(tcp::socket& socket, std::shared_ptr<asio::ssl::context> context)
    : socket_(socket), context_(std::move(context)) {
  ssl_ = SSL_new(context_->native_handle());
  if (ssl_ == nullptr) {
    return;
  }
  // Reads come straight from the socket; writes gather in a buffer BIO in
  // front of it, so a 256 KiB write leaves in a few large send(2)s rather
  // than one per 16 KiB record.
  BIO* socket_bio = BIO_new_socket(socket_.native_handle(), BIO_NOCLOSE);
  BIO* write_bio = BIO_new(BIO_f_buffer());
  if (socket_bio == nullptr || write_bio == nullptr ||
      BIO_set_write_buffer_size(write_bio, kWriteBuffer) != 1 || BIO_up_ref(socket_bio) != 1) {
    BIO_free(socket_bio);
    BIO_free(write_bio);
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  BIO_push(write_bio, socket_bio);
  SSL_set_bio(ssl_, socket_bio, write_bio);  // takes both references
  SSL_set_accept_state(ssl_);
}

TlsServerStream::~TlsServerStream() {
  if (ssl_ != nullptr) {
    SSL_free(ssl_);  // the socket BIO does not close the descriptor
  }
}

TlsServerStream::Outcome TlsServerStream::Classify(int ret) {
  const int reason = SSL_get_error(ssl_, ret);
  switch (reason) {
    case SSL_ERROR_WANT_READ:
      return {Step::kWantRead, 0, {}};
    case SSL_ERROR_WANT_WRITE:
      return {Step::kWantWrite, 0, {}};
    case SSL_ERROR_ZERO_RETURN:
      return {Step::kFailed, 0, asio::error::eof};
    case SSL_ERROR_SYSCALL: {
      const int err = errno;
      ERR_clear_error();
      return {Step::kFailed, 0,
              err == 0 ? ErrorCode(asio::error::eof)
                       : ErrorCode(err, boost::system::system_category())};
    }
    default: {
      const unsigned long code = ERR_get_error();
      ERR_clear_error();
      if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        return {Step::kFailed, 0, asio::error::eof};
      }
      return {Step::kFailed, 0,
              code == 0 ? ErrorCode(asio::error::fault)
                        : ErrorCode(static_cast<int>(code), asio::error::get_ssl_category())};
    }
  }
}

TlsServerStream::Outcome TlsServerStream::ReadStep(asio::mutable_buffer into) {
  if (ssl_ == nullptr) {
    return {Step::kFailed, 0, asio::error::no_memory};
  }
  ERR_clear_error();
  size_t got = 0;
  int ret = SSL_read_ex(ssl_, into.data(), into.size(), &got);
  if (ret == 1) {
    return {Step::kDone, got, {}};
  }
  return Classify(ret);
}

asio::awaitable<TlsServerStream::ErrorCode> TlsServerStream::Wait(Step step) {
  auto [error] = co_await socket_.async_wait(
      step == Step::kWantWrite ? tcp::socket::wait_write : tcp::socket::wait_read, kNoThrow);
  co_return error;
}

asio::awaitable<TlsServerStream::ErrorCode> TlsServerStream::Handshake() {
  if (ssl_ == nullptr) {
    co_return asio::error::no_memory;
  }
  while (true) {
    ERR_clear_error();
    int ret = SSL_do_handshake(ssl_);
    if (ret == 1) {
      co_return ErrorCode();
    }
    Outcome outcome = Classify(ret);
    if (outcome.step == Step::kFailed) {
      co_return outcome.error;
    }
    if (ErrorCode error = co_await Wait(outcome.step)) {
      co_return error;
    }
  }
}

asio::awaitable<TlsServerStream::ErrorCode> TlsServerStream::WriteAll(asio::const_buffer data) {
  if (ssl_ == nullptr) {
    co_return asio::error::no_memory;
  }
  const auto* next = static_cast<const char*>(data.data());
  size_t left = data.size();
  while (left > 0) {
    // Retried with the same bytes after a wait, as OpenSSL requires.
    ERR_clear_error();
    size_t written = 0;
    int ret = SSL_write_ex(ssl_, next, left, &written);
    if (ret == 1) {
      next += written;
      left -= written;
      continue;
    }
    Outcome outcome = Classify(ret);
    if (outcome.step == Step::kFailed) {
      co_return outcome.error;
    }
    if (ErrorCode error = co_await Wait(outcome.step)) {
      co_return error;
    }
  }
  co_return co_await Flush();
}

asio::awaitable<TlsServerStream::ErrorCode> TlsServerStream::Flush() {
  BIO* write_bio = SSL_get_wbio(ssl_);
  while (true) {
    errno = 0;
    if (BIO_flush(write_bio) > 0) {
      co_return ErrorCode();
    }
    if (!BIO_should_retry(write_bio)) {
      co_return errno == 0 ? ErrorCode(asio::error::broken_pipe)
                           : ErrorCode(errno, boost::system::system_category());
    }
    if (ErrorCode error = co_await Wait(Step::kWantWrite)) {
      co_return error;
    }
  }
}

}  // namespace feilong::daemon
