#include "proxy/cert_authority.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace feilong::proxy {

namespace {

namespace ssl = boost::asio::ssl;

// The first queued OpenSSL error, for messages.
std::string OpenSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) {
    return "unknown OpenSSL error";
  }
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
struct ExtDeleter {
  void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

Status Invalid(std::string_view key, const std::string& message) {
  return Status::InvalidArgument("config key '" + std::string(key) + "': " + message);
}

// Adds one v3 extension written in openssl.cnf syntax ("critical,CA:FALSE").
bool AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtDeleter> ext(
      X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext != nullptr && X509_add_ext(cert, ext.get(), -1) == 1;
}

}  // namespace

struct CertAuthority::Keys {
  X509Ptr cert;
  PkeyPtr key;
};

CertAuthority::CertAuthority(std::unique_ptr<Keys> keys) : keys_(std::move(keys)) {}
CertAuthority::~CertAuthority() = default;

Result<std::unique_ptr<CertAuthority>> CertAuthority::Load(const std::string& cert_path,
                                                           const std::string& key_path) {
  constexpr std::string_view kCertKey = "proxy.hijack_https.ca_cert";
  constexpr std::string_view kKeyKey = "proxy.hijack_https.ca_key";
  auto keys = std::make_unique<Keys>();
  std::unique_ptr<FILE, FileCloser> cert_file(std::fopen(cert_path.c_str(), "r"));
  if (!cert_file) {
    return Invalid(kCertKey, "cannot read '" + cert_path + "': " + std::strerror(errno));
  }
  keys->cert.reset(PEM_read_X509(cert_file.get(), nullptr, nullptr, nullptr));
  if (!keys->cert) {
    return Invalid(kCertKey, "'" + cert_path + "' is not a PEM certificate: " + OpenSslError());
  }
  std::unique_ptr<FILE, FileCloser> key_file(std::fopen(key_path.c_str(), "r"));
  if (!key_file) {
    return Invalid(kKeyKey, "cannot read '" + key_path + "': " + std::strerror(errno));
  }
  keys->key.reset(PEM_read_PrivateKey(key_file.get(), nullptr, nullptr, nullptr));
  if (!keys->key) {
    return Invalid(kKeyKey,
                   "'" + key_path + "' is not an unencrypted PEM private key: " + OpenSslError());
  }
  if (X509_check_private_key(keys->cert.get(), keys->key.get()) != 1) {
    ERR_clear_error();
    return Invalid(kKeyKey, "'" + key_path + "' is not the key of '" + cert_path + "'");
  }
  return std::unique_ptr<CertAuthority>(new CertAuthority(std::move(keys)));
}

Result<std::shared_ptr<ssl::context>> CertAuthority::ServerContextFor(const std::string& host) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = contexts_.find(host); it != contexts_.end()) {
      return it->second;
    }
  }
  FL_ASSIGN_OR_RETURN(std::shared_ptr<ssl::context> context, Generate(host));
  std::lock_guard lock(mutex_);
  return contexts_.emplace(host, std::move(context)).first->second;
}

Result<std::shared_ptr<ssl::context>> CertAuthority::Generate(const std::string& host) {
  const std::string where = "certificate for " + host;
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) {
    return Status::Internal(where + ": key generation failed: " + OpenSslError());
  }
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1) {
    return Status::Internal(where + ": " + OpenSslError());
  }
  // A random positive 127-bit serial: unique enough that clients never see
  // two different certificates with one serial from this CA.
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) {
    return Status::Internal(where + ": no randomness: " + OpenSslError());
  }
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  bool ok = bn != nullptr && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get())) != nullptr;
  BN_free(bn);
  // Valid from an hour ago: clients with a clock a little behind accept it.
  ok = ok && X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr &&
       X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600) != nullptr;
  ok = ok && X509_set_pubkey(cert.get(), key.get()) == 1;
  X509_NAME* name = X509_get_subject_name(cert.get());
  // A common name is limited to 64 characters; the SAN is what clients check.
  if (ok && host.size() <= 64) {
    ok = X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1,
                                    0) == 1;
  }
  ok = ok && X509_set_issuer_name(cert.get(), X509_get_subject_name(keys_->cert.get())) == 1;
  boost::system::error_code not_ip;
  boost::asio::ip::make_address(host, not_ip);
  const std::string san = (not_ip ? "DNS:" : "IP:") + host;
  ok = ok && AddExtension(cert.get(), keys_->cert.get(), NID_subject_alt_name, san) &&
       AddExtension(cert.get(), keys_->cert.get(), NID_basic_constraints, "critical,CA:FALSE") &&
       AddExtension(cert.get(), keys_->cert.get(), NID_key_usage,
                    "critical,digitalSignature,keyEncipherment") &&
       AddExtension(cert.get(), keys_->cert.get(), NID_ext_key_usage, "serverAuth") &&
       AddExtension(cert.get(), keys_->cert.get(), NID_subject_key_identifier, "hash") &&
       AddExtension(cert.get(), keys_->cert.get(), NID_authority_key_identifier, "keyid");
  ok = ok && X509_sign(cert.get(), keys_->key.get(), EVP_sha256()) > 0;
  if (!ok) {
    return Status::Internal(where + ": " + OpenSslError());
  }

  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  SSL_CTX* native = context->native_handle();
  if (SSL_CTX_use_certificate(native, cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(native, key.get()) != 1 ||
      SSL_CTX_add1_chain_cert(native, keys_->cert.get()) != 1) {
    return Status::Internal(where + ": building the TLS context: " + OpenSslError());
  }
  return context;
}

}  // namespace feilong::proxy
