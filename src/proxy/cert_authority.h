// CertAuthority: the CA the proxy signs leaf certificates with when it
// intercepts HTTPS for a configured host (proxy.hijack_https). Each host gets
// an EC P-256 key and a certificate naming it in subjectAltName (DNS, or IP
// for an address literal), valid from an hour ago for 30 days, signed by the
// configured CA; the TLS server context built on it is cached per host for
// the life of the proxy.
//
// Thread rule: thread-safe (the cache sits behind a mutex; generating a
// certificate happens outside it, so two first requests for one host may
// both generate, and the first stored wins).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

namespace feilong::proxy {

class CertAuthority {
 public:
  // Reads the PEM certificate and key. InvalidArgument naming the config
  // key (proxy.hijack_https.ca_cert / ca_key) when a file cannot be read or
  // parsed, or when the key does not belong to the certificate.
  static Result<std::unique_ptr<CertAuthority>> Load(const std::string& cert_path,
                                                     const std::string& key_path);
  ~CertAuthority();
  CertAuthority(const CertAuthority&) = delete;
  CertAuthority& operator=(const CertAuthority&) = delete;

  // A TLS server context presenting a certificate for `host` (a DNS name or
  // an IP literal, without brackets or port). Internal when OpenSSL fails.
  Result<std::shared_ptr<boost::asio::ssl::context>> ServerContextFor(const std::string& host);

 private:
  struct Keys;  // the CA's X509 and EVP_PKEY
  explicit CertAuthority(std::unique_ptr<Keys> keys);
  Result<std::shared_ptr<boost::asio::ssl::context>> Generate(const std::string& host);

  std::unique_ptr<Keys> keys_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<boost::asio::ssl::context>> contexts_;  // by host
};

}  // namespace feilong::proxy
