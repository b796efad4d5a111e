#include "rpc/tls_config.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

namespace feilong::rpc {

namespace {

Status Readable(std::string_view key, const std::string& path) {
  if (path.empty()) {
    return Status::InvalidArgument("config key 'tls." + std::string(key) +
                                   "' is required when tls.enabled is true");
  }
  if (::access(path.c_str(), R_OK) != 0) {
    return Status::InvalidArgument("config key 'tls." + std::string(key) + "': cannot read " +
                                   path);
  }
  return Status::Ok();
}

}  // namespace

Status CheckTlsFiles(const TlsConfig& config) {
  if (!config.enabled) {
    return Status::Ok();
  }
  if (config.ca_file.empty() && config.cert_file.empty() && config.key_file.empty()) {
    return Status::InvalidArgument(
        "TLS between hosts is on by default and needs tls.ca_file, tls.cert_file and "
        "tls.key_file (scripts/make-certs makes a CA and certificates; docs/security.md); "
        "for plaintext, unauthenticated traffic set tls.enabled: false or pass --plaintext");
  }
  FL_RETURN_IF_ERROR(Readable("ca_file", config.ca_file));
  FL_RETURN_IF_ERROR(Readable("cert_file", config.cert_file));
  return Readable("key_file", config.key_file);
}

Status ReadTlsConfig(const ConfigReader& reader, TlsConfig& out) {
  FL_RETURN_IF_ERROR(reader.Read("enabled", out.enabled));
  FL_RETURN_IF_ERROR(reader.Read("ca_file", out.ca_file));
  FL_RETURN_IF_ERROR(reader.Read("cert_file", out.cert_file));
  FL_RETURN_IF_ERROR(reader.Read("key_file", out.key_file));
  FL_RETURN_IF_ERROR(reader.Read("reload_interval", out.reload_interval));
  if (out.reload_interval < std::chrono::seconds(1) ||
      out.reload_interval > std::chrono::hours(1)) {
    return Status::InvalidArgument("config key 'tls.reload_interval': must be within 1s..1h");
  }
  const bool configured = reader.Has("enabled") || reader.Has("ca_file") ||
                          reader.Has("cert_file") || reader.Has("key_file");
  return configured ? CheckTlsFiles(out) : Status::Ok();
}

std::vector<std::string> CertificateRoles(std::string_view pem) {
  static constexpr std::string_view kPrefix = "urn:feilong:role:";
  std::vector<std::string> roles;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) {
    return roles;
  }
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) {
    return roles;
  }
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) {
      continue;
    }
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    std::string_view text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                          static_cast<size_t>(ASN1_STRING_length(uri)));
    if (text.starts_with(kPrefix) && text.size() > kPrefix.size()) {
      roles.emplace_back(text.substr(kPrefix.size()));
    }
  }
  GENERAL_NAMES_free(names);
  X509_free(cert);
  return roles;
}

}  // namespace feilong::rpc
