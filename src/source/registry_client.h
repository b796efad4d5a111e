// RegistryClient: the OCI distribution API (distribution-spec v1.1) of one
// registry, as a command-line tool uses it: manifests and blobs pulled and
// pushed, with the registry's authentication.
//
// Authentication follows the registry's challenge: a 401 with
// `WWW-Authenticate: Basic` is answered with the credentials; with
// `Bearer realm=...,service=...,scope=...` a token is fetched from the realm
// (with the credentials, or anonymously) and the request repeated; tokens
// are kept per scope. Credentials never appear in errors or logs.
//
// Blob GETs follow redirects (registries send them to object storage);
// libcurl does not forward the Authorization header to another host. An
// upload's Location is resolved against the registry's URL; it gets the
// credentials only on the registry's own scheme, host and port, and an
// https registry's upload never goes to an http Location. A Bearer realm
// must be https unless the registry itself is plain http.
//
// Thread rule: not thread-safe; one client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace feilong::source {

struct RegistryOptions {
  std::string username;  // empty: anonymous
  std::string password;
  bool plain_http = false;  // http:// instead of https://
  bool tls_verify = true;
  std::string ca_file;  // PEM bundle; empty: the system's
  std::chrono::milliseconds connect_timeout{10000};
  // A transfer that moves no byte for this long is abandoned.
  std::chrono::milliseconds stall_timeout{60000};
};

struct FetchedManifest {
  std::string media_type;  // the Content-Type the registry sent
  std::string body;
};

// A parsed WWW-Authenticate challenge: the scheme ("basic", "bearer",
// lowercased) and its parameters (names lowercased).
struct AuthChallenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};
// InvalidArgument when `header` is not `Scheme name="value", ...`.
Result<AuthChallenge> ParseAuthChallenge(std::string_view header);

using BlobSink = std::function<Status(std::span<const uint8_t>)>;

class RegistryClient {
 public:
  // `host` is "name[:port]".
  RegistryClient(std::string host, RegistryOptions options);
  ~RegistryClient();
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  const std::string& host() const { return host_; }

  // The manifest or index `reference` (tag or digest) of `repository`,
  // asking for the media types in `accept`; at most `max_size` bytes.
  // NotFound, PermissionDenied (credentials refused or missing),
  // Unavailable (cannot connect, 5xx), FailedPrecondition (the registry
  // refused the request or answered out of bounds).
  Result<FetchedManifest> GetManifest(const std::string& repository, const std::string& reference,
                                      const std::vector<std::string_view>& accept,
                                      uint64_t max_size);
  // The referrers of manifest `digest` (the referrers API of
  // distribution-spec v1.1: an image index), asking for those of
  // `artifact_type` (a registry may ignore the filter). NotFound when the
  // registry has no referrers API; errors as GetManifest.
  Result<std::string> GetReferrers(const std::string& repository, const std::string& digest,
                                   const std::string& artifact_type, uint64_t max_size);
  // Streams blob `digest` ("sha256:...") to `sink`. The caller checks it.
  Status GetBlob(const std::string& repository, const std::string& digest, const BlobSink& sink);
  // Whether the registry has blob `digest` in `repository`.
  Result<bool> HasBlob(const std::string& repository, const std::string& digest);
  // Uploads the file at `path` as blob `digest` (one POST, one PUT).
  Status PushBlob(const std::string& repository, const std::string& digest,
                  const std::string& path);
  // Puts a manifest or index under `reference`; returns the value of the
  // OCI-Subject header ("" when the registry sent none, i.e. it does not
  // index referrers).
  Result<std::string> PutManifest(const std::string& repository, const std::string& reference,
                                  const std::string& media_type, const std::string& body);

 private:
  struct Request;
  struct Response;
  // Sends `request`, answering one authentication challenge for the
  // repository's `actions` ("pull" or "pull,push").
  Result<Response> Send(Request& request, const std::string& repository,
                        const std::string& actions);
  Result<Response> Perform(const Request& request, const std::string& authorization);
  Status Authorize(const AuthChallenge& challenge, const std::string& scope);
  std::string BaseUrl() const;

  const std::string host_;
  const RegistryOptions options_;
  void* curl_;                                        // CURL*, kept for its connections
  std::map<std::string, std::string> authorization_;  // by scope
};

}  // namespace feilong::source
