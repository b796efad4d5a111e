#include "rpc/tls_credentials.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>

namespace feilong::rpc {

namespace {

std::shared_ptr<grpc::experimental::CertificateProviderInterface> WatchFiles(
    const TlsConfig& config) {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(config.reload_interval);
  return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      config.key_file, config.cert_file, config.ca_file,
      static_cast<unsigned int>(std::max<int64_t>(1, seconds.count())));
}

}  // namespace

Result<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsConfig& config) {
  if (!config.enabled) {
    return grpc::InsecureServerCredentials();
  }
  FL_RETURN_IF_ERROR(CheckTlsFiles(config));
  grpc::experimental::TlsServerCredentialsOptions options(WatchFiles(config));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  auto credentials = grpc::experimental::TlsServerCredentials(options);
  if (!credentials) {
    return Status::IOError("cannot make TLS server credentials from " + config.cert_file);
  }
  return credentials;
}

Result<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const TlsConfig& config) {
  if (!config.enabled) {
    return grpc::InsecureChannelCredentials();
  }
  FL_RETURN_IF_ERROR(CheckTlsFiles(config));
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(WatchFiles(config));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  options.set_check_call_host(true);
  auto credentials = grpc::experimental::TlsCredentials(options);
  if (!credentials) {
    return Status::IOError("cannot make TLS channel credentials from " + config.cert_file);
  }
  return credentials;
}

std::vector<std::string> CallerRoles(const grpc::AuthContext* auth) {
  if (auth == nullptr) {
    return {};
  }
  std::vector<grpc::string_ref> certs = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (certs.empty()) {
    return {};
  }
  return CertificateRoles(std::string_view(certs.front().data(), certs.front().size()));
}

std::string CallerSubject(const grpc::AuthContext* auth) {
  if (auth == nullptr) {
    return {};
  }
  std::vector<grpc::string_ref> subjects =
      auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME);
  return subjects.empty() ? std::string()
                          : std::string(subjects.front().data(), subjects.front().size());
}

}  // namespace feilong::rpc
