// gRPC credentials from a TlsConfig (rpc/tls_config.h).
//
// Thread rule: free functions; the credentials are thread-safe (gRPC's).
#pragma once

#include <memory>

#include "common/status.h"
#include "rpc/tls_config.h"

namespace grpc {
class AuthContext;
class ChannelCredentials;
class ServerCredentials;
}  // namespace grpc

namespace feilong::rpc {

// Credentials for gRPC servers: insecure when disabled; else TLS requiring
// and verifying a client certificate. IOError when the files cannot be
// read.
Result<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsConfig& config);
// Credentials for gRPC clients: insecure when disabled; else TLS verifying
// the server (chain and host) and presenting this process's certificate.
Result<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const TlsConfig& config);

// The roles (tls_config.h) in the certificate a caller presented; none for
// a caller without one (plaintext) or a null context.
std::vector<std::string> CallerRoles(const grpc::AuthContext* auth);

// The subject of the certificate a caller presented ("CN=host1,O=..."); ""
// for a caller without one (plaintext) or a null context.
std::string CallerSubject(const grpc::AuthContext* auth);

}  // namespace feilong::rpc
