// PieceTls: the piece server's side of mutual TLS (HTTPS between peers),
// from the same `tls:` block as gRPC (rpc/tls_config.h).
//
// The server context asks every child for a certificate that chains to the
// configured CA (no certificate, or another CA's: the handshake fails) and
// presents this host's certificate. TLS 1.2 at least. Connections use it
// through TlsServerStream (tls_server_stream.h).
//
// Rotation: Current() re-reads the three files when one of them changed
// (checked at most once per `reload_interval`); new connections get the new
// context, open ones keep theirs. A file that fails to load keeps the last
// good context and is logged.
//
// Thread rule: thread-safe.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "rpc/tls_config.h"

namespace feilong::daemon {

class PieceTls {
 public:
  // InvalidArgument naming the file when the CA, certificate or key cannot
  // be loaded, or the key does not match the certificate.
  // REQUIRES: config.enabled. `clock` must outlive the object.
  static Result<std::unique_ptr<PieceTls>> Load(const rpc::TlsConfig& config,
                                                Clock& clock = SteadyClock::Default());

  // The context for a new connection.
  std::shared_ptr<boost::asio::ssl::context> Current();
  // Contexts built since Load (1 + successful reloads).
  uint64_t loads() const;

 private:
  PieceTls(const rpc::TlsConfig& config, Clock& clock);
  // The files' modification times, joined; empty if one cannot be stat'ed.
  std::string Stamp() const;
  Result<std::shared_ptr<boost::asio::ssl::context>> Build() const;

  const rpc::TlsConfig config_;
  Clock& clock_;
  mutable std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::string stamp_;
  Clock::TimePoint checked_at_;
  uint64_t loads_ = 0;
};

}  // namespace feilong::daemon
