#include "source/registry_client.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/ascii.h"
#include "common/json_field.h"
#include "source/curl_transfer.h"
#include "source/http_head.h"

namespace feilong::source {

namespace {

// Error answers and token responses are read up to this size.
constexpr uint64_t kMaxSmallBody = 1u << 20;

std::string Base64(std::string_view text) {
  std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Escape(CURL* curl, const std::string& text) {
  char* escaped = curl_easy_escape(curl, text.c_str(), static_cast<int>(text.size()));
  std::string out = escaped != nullptr ? escaped : "";
  curl_free(escaped);
  return out;
}

struct UploadTarget {
  std::string url;
  bool same_origin = false;  // scheme, host and port of the request's
};

std::string UrlPart(CURLU* url, CURLUPart part) {
  char* text = nullptr;
  if (curl_url_get(url, part, &text, CURLU_DEFAULT_PORT) != CURLUE_OK || text == nullptr) {
    return "";
  }
  std::string out = text;
  curl_free(text);
  return out;
}

// The URL of an upload's PUT: `location` (absolute, or relative to
// `request_url`) with the digest added to its query. An https registry
// that names an http location is refused: the blob, and with a same-host
// location the credentials, would travel in clear text.
Result<UploadTarget> ResolveUpload(const std::string& request_url, const std::string& location,
                                   const std::string& digest) {
  using Url = std::unique_ptr<CURLU, void (*)(CURLU*)>;
  Url url(curl_url(), &curl_url_cleanup);
  Url base(curl_url(), &curl_url_cleanup);
  if (url == nullptr || base == nullptr ||
      curl_url_set(base.get(), CURLUPART_URL, request_url.c_str(), 0) != CURLUE_OK ||
      curl_url_set(url.get(), CURLUPART_URL, request_url.c_str(), 0) != CURLUE_OK ||
      curl_url_set(url.get(), CURLUPART_URL, location.c_str(), 0) != CURLUE_OK) {
    return Status::FailedPrecondition("the registry's upload Location is not a URL");
  }
  const std::string scheme = UrlPart(url.get(), CURLUPART_SCHEME);
  const std::string base_scheme = UrlPart(base.get(), CURLUPART_SCHEME);
  if (scheme != "https" && !(scheme == "http" && base_scheme == "http")) {
    return Status::FailedPrecondition("the registry's upload Location is not https");
  }
  const std::string query = "digest=" + digest;
  if (curl_url_set(url.get(), CURLUPART_QUERY, query.c_str(),
                   CURLU_APPENDQUERY | CURLU_URLENCODE) != CURLUE_OK) {
    return Status::Internal("cannot add the digest to the upload URL");
  }
  UploadTarget target;
  target.url = UrlPart(url.get(), CURLUPART_URL);
  target.same_origin = scheme == base_scheme &&
                       UrlPart(url.get(), CURLUPART_HOST) == UrlPart(base.get(), CURLUPART_HOST) &&
                       UrlPart(url.get(), CURLUPART_PORT) == UrlPart(base.get(), CURLUPART_PORT);
  return target;
}

// The registry's own words for an error ({"errors":[{"code":..,"message":..}]}).
std::string RegistryMessage(const std::string& body) {
  nlohmann::json json = ParseJsonDocument(body);
  if (json.is_object() && json.contains("errors") && json["errors"].is_array() &&
      !json["errors"].empty() && json["errors"][0].is_object()) {
    const nlohmann::json& e = json["errors"][0];
    return JsonString(e, "code") + ": " + JsonString(e, "message");
  }
  return body.substr(0, 200);
}

}  // namespace

struct RegistryClient::Request {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;
  std::string body;                // sent with PUT/POST when upload_path is empty
  std::string upload_path;         // a file sent as the PUT body
  const BlobSink* sink = nullptr;  // 2xx bodies go here when set
  uint64_t max_body = kMaxSmallBody;
  bool follow_redirects = false;
  // Off for a URL the registry named on another origin: it gets no
  // Authorization header, and a 401 from it is final.
  bool to_registry = true;
};

struct RegistryClient::Response {
  CurlResponseHead head;
  std::string body;  // when no sink took it
};

Result<AuthChallenge> ParseAuthChallenge(std::string_view header) {
  AuthChallenge c;
  const size_t space = header.find(' ');
  c.scheme = AsciiLowercase(header.substr(0, space));
  if (c.scheme.empty()) {
    return Status::InvalidArgument("empty authentication challenge");
  }
  std::string_view rest = space == std::string_view::npos ? "" : header.substr(space + 1);
  while (!rest.empty()) {
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == ',')) {
      rest.remove_prefix(1);
    }
    if (rest.empty()) {
      break;
    }
    const size_t eq = rest.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Status::InvalidArgument("authentication challenge \"" + std::string(header) +
                                     "\" is not name=value pairs");
    }
    std::string name = AsciiLowercase(rest.substr(0, eq));
    rest.remove_prefix(eq + 1);
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      const size_t close = rest.find('"', 1);
      if (close == std::string_view::npos) {
        return Status::InvalidArgument("authentication challenge \"" + std::string(header) +
                                       "\" has an unterminated quote");
      }
      value = std::string(rest.substr(1, close - 1));
      rest.remove_prefix(close + 1);
    } else {
      const size_t comma = rest.find(',');
      value = std::string(rest.substr(0, comma));
      rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma);
    }
    c.params[std::move(name)] = std::move(value);
  }
  return c;
}

RegistryClient::RegistryClient(std::string host, RegistryOptions options)
    : host_(std::move(host)), options_(std::move(options)) {
  EnsureCurlGlobalInit();
  curl_ = curl_easy_init();
}

RegistryClient::~RegistryClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

std::string RegistryClient::BaseUrl() const {
  return std::string(options_.plain_http ? "http://" : "https://") + host_;
}

Result<RegistryClient::Response> RegistryClient::Perform(const Request& request,
                                                         const std::string& authorization) {
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) {
    return Status::Internal("libcurl cannot make a handle");
  }
  curl_easy_reset(curl);
  struct Context {
    Response response;
    bool head_complete = false;
    const Request* request;
    Status sink_status;
  } context{{}, false, &request, Status::Ok()};
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                   std::max(1L, static_cast<long>(options_.stall_timeout.count() / 1000)));
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options_.tls_verify ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options_.tls_verify ? 2L : 0L);
  if (!options_.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  }
  if (request.follow_redirects) {
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  }
  std::unique_ptr<FILE, int (*)(FILE*)> upload(nullptr, &std::fclose);
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (!request.upload_path.empty()) {
    upload.reset(std::fopen(request.upload_path.c_str(), "rb"));
    if (upload == nullptr) {
      return Status::FromErrno(errno, "open " + request.upload_path);
    }
    struct stat st {};
    if (::fstat(::fileno(upload.get()), &st) != 0) {
      return Status::FromErrno(errno, "stat " + request.upload_path);
    }
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READDATA, upload.get());
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(st.st_size));
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  }
  curl_slist* headers = nullptr;
  for (const std::string& h : request.headers) {
    headers = curl_slist_append(headers, h.c_str());
  }
  if (!authorization.empty()) {
    headers = curl_slist_append(headers, ("Authorization: " + authorization).c_str());
  }
  // No "Expect: 100-continue" round trip before uploads.
  headers = curl_slist_append(headers, "Expect:");
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_list(headers, &curl_slist_free_all);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  auto on_header = +[](char* data, size_t size, size_t n, void* user) -> size_t {
    auto* c = static_cast<Context*>(user);
    AddHeaderLine(std::string_view(data, size * n), c->response.head, c->head_complete);
    return size * n;
  };
  auto on_body = +[](char* data, size_t size, size_t n, void* user) -> size_t {
    auto* c = static_cast<Context*>(user);
    const size_t bytes = size * n;
    const long status = c->response.head.status;
    if (c->request->sink != nullptr && status >= 200 && status < 300) {
      c->sink_status = (*c->request->sink)({reinterpret_cast<const uint8_t*>(data), bytes});
      return c->sink_status.ok() ? bytes : 0;
    }
    if (c->response.body.size() + bytes > c->request->max_body) {
      c->sink_status = Status::FailedPrecondition("the registry's answer is larger than " +
                                                  std::to_string(c->request->max_body) + " bytes");
      return 0;
    }
    c->response.body.append(data, bytes);
    return bytes;
  };
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &context);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &context);
  const CURLcode code = curl_easy_perform(curl);
  if (!context.sink_status.ok()) {
    return context.sink_status;
  }
  if (code != CURLE_OK) {
    const std::string what =
        request.method + " " + ScrubQueryStrings(request.url) + ": " + curl_easy_strerror(code);
    if (code == CURLE_OPERATION_TIMEDOUT) {
      return Status::DeadlineExceeded(what);
    }
    if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL) {
      return Status::InvalidArgument(what);
    }
    return Status::Unavailable(what);
  }
  return std::move(context.response);
}

Status RegistryClient::Authorize(const AuthChallenge& challenge, const std::string& scope) {
  const bool has_credentials = !options_.username.empty() || !options_.password.empty();
  const std::string basic = "Basic " + Base64(options_.username + ":" + options_.password);
  if (challenge.scheme == "basic") {
    if (!has_credentials) {
      return Status::PermissionDenied("registry " + host_ +
                                      " requires credentials (--creds USER:PASSWORD)");
    }
    authorization_[scope] = basic;
    return Status::Ok();
  }
  if (challenge.scheme != "bearer") {
    return Status::PermissionDenied("registry " + host_ + " asks for \"" + challenge.scheme +
                                    "\" authentication, which flimage does not speak");
  }
  auto realm = challenge.params.find("realm");
  if (realm == challenge.params.end() ||
      !(realm->second.starts_with("https://") ||
        (options_.plain_http && realm->second.starts_with("http://")))) {
    // Credentials go to the token service: never in clear text unless the
    // registry itself is reached in clear text.
    return Status::PermissionDenied("registry " + host_ + " sent a Bearer challenge without " +
                                    (options_.plain_http ? "a usable" : "an https") + " realm");
  }
  CURL* curl = static_cast<CURL*>(curl_);
  Request token;
  token.url = realm->second + (realm->second.find('?') == std::string::npos ? "?" : "&");
  if (auto service = challenge.params.find("service"); service != challenge.params.end()) {
    token.url += "service=" + Escape(curl, service->second) + "&";
  }
  auto wanted = challenge.params.find("scope");
  token.url += "scope=" + Escape(curl, wanted != challenge.params.end() ? wanted->second : scope);
  FL_ASSIGN_OR_RETURN(Response response, Perform(token, has_credentials ? basic : ""));
  if (response.head.status == 401 || response.head.status == 403) {
    return Status::PermissionDenied("the token service of registry " + host_ +
                                    " refused the credentials");
  }
  nlohmann::json json = ParseJsonDocument(response.body);
  std::string value = JsonString(json, "token");
  if (value.empty()) {
    value = JsonString(json, "access_token");
  }
  if (response.head.status != 200 || value.empty()) {
    return Status::PermissionDenied("the token service of registry " + host_ +
                                    " gave no token (HTTP " + std::to_string(response.head.status) +
                                    ")");
  }
  authorization_[scope] = "Bearer " + value;
  return Status::Ok();
}

Result<RegistryClient::Response> RegistryClient::Send(Request& request,
                                                      const std::string& repository,
                                                      const std::string& actions) {
  const std::string scope = "repository:" + repository + ":" + actions;
  for (int attempt = 0;; ++attempt) {
    auto known = authorization_.find(scope);
    const bool authorize = request.to_registry && known != authorization_.end();
    FL_ASSIGN_OR_RETURN(Response response, Perform(request, authorize ? known->second : ""));
    if (response.head.status != 401) {
      return response;
    }
    const std::string* header = response.head.Find("www-authenticate");
    if (attempt > 0 || header == nullptr || !request.to_registry) {
      return Status::PermissionDenied("registry " + host_ + " refused " + request.method + " " +
                                      repository + " (HTTP 401): wrong or missing credentials");
    }
    FL_ASSIGN_OR_RETURN(AuthChallenge challenge, ParseAuthChallenge(*header));
    FL_RETURN_IF_ERROR(Authorize(challenge, scope));
  }
}

namespace {

// The Status for a non-2xx answer about `what`.
Status HttpError(long status, const std::string& body, const std::string& what) {
  const std::string text = what + ": HTTP " + std::to_string(status) + " " + RegistryMessage(body);
  if (status == 404) {
    return Status::NotFound(text);
  }
  if (status == 401 || status == 403) {
    return Status::PermissionDenied(text);
  }
  if (status == 429 || status >= 500) {
    return Status::Unavailable(text);
  }
  // The registry refused what was sent (MANIFEST_INVALID, DIGEST_INVALID,
  // ...): not a usage error of the caller.
  return Status::FailedPrecondition(text);
}

bool Success(long status) { return status >= 200 && status < 300; }

}  // namespace

Result<FetchedManifest> RegistryClient::GetManifest(const std::string& repository,
                                                    const std::string& reference,
                                                    const std::vector<std::string_view>& accept,
                                                    uint64_t max_size) {
  Request request;
  request.url = BaseUrl() + "/v2/" + repository + "/manifests/" + reference;
  std::string accepted = "Accept: ";
  for (size_t i = 0; i < accept.size(); ++i) {
    accepted += (i > 0 ? ", " : "") + std::string(accept[i]);
  }
  request.headers.push_back(accepted);
  request.max_body = max_size;
  FL_ASSIGN_OR_RETURN(Response response, Send(request, repository, "pull"));
  const std::string what = host_ + "/" + repository + ":" + reference;
  if (!Success(response.head.status)) {
    return HttpError(response.head.status, response.body, what);
  }
  FetchedManifest manifest;
  if (const std::string* type = response.head.Find("content-type"); type != nullptr) {
    manifest.media_type = type->substr(0, type->find(';'));
  }
  manifest.body = std::move(response.body);
  return manifest;
}

Result<std::string> RegistryClient::GetReferrers(const std::string& repository,
                                                 const std::string& digest,
                                                 const std::string& artifact_type,
                                                 uint64_t max_size) {
  Request request;
  request.url = BaseUrl() + "/v2/" + repository + "/referrers/" + digest +
                "?artifactType=" + Escape(static_cast<CURL*>(curl_), artifact_type);
  request.headers.push_back("Accept: application/vnd.oci.image.index.v1+json");
  request.max_body = max_size;
  FL_ASSIGN_OR_RETURN(Response response, Send(request, repository, "pull"));
  if (!Success(response.head.status)) {
    return HttpError(response.head.status, response.body,
                     "referrers of " + host_ + "/" + repository + "@" + digest);
  }
  return std::move(response.body);
}

Status RegistryClient::GetBlob(const std::string& repository, const std::string& digest,
                               const BlobSink& sink) {
  Request request;
  request.url = BaseUrl() + "/v2/" + repository + "/blobs/" + digest;
  request.sink = &sink;
  request.follow_redirects = true;
  FL_ASSIGN_OR_RETURN(Response response, Send(request, repository, "pull"));
  if (!Success(response.head.status)) {
    return HttpError(response.head.status, response.body, "blob " + digest);
  }
  return Status::Ok();
}

Result<bool> RegistryClient::HasBlob(const std::string& repository, const std::string& digest) {
  Request request;
  request.method = "HEAD";
  request.url = BaseUrl() + "/v2/" + repository + "/blobs/" + digest;
  request.follow_redirects = true;
  FL_ASSIGN_OR_RETURN(Response response, Send(request, repository, "pull,push"));
  if (response.head.status == 404) {
    return false;
  }
  if (!Success(response.head.status)) {
    return HttpError(response.head.status, response.body, "blob " + digest);
  }
  return true;
}

Status RegistryClient::PushBlob(const std::string& repository, const std::string& digest,
                                const std::string& path) {
  Request start;
  start.method = "POST";
  start.url = BaseUrl() + "/v2/" + repository + "/blobs/uploads/";
  FL_ASSIGN_OR_RETURN(Response started, Send(start, repository, "pull,push"));
  const std::string* location = started.head.Find("location");
  if (started.head.status != 202 || location == nullptr) {
    return started.head.status == 202
               ? Status::FailedPrecondition("registry " + host_ +
                                            " started an upload without a Location")
               : HttpError(started.head.status, started.body, "upload to " + repository);
  }
  Request put;
  put.method = "PUT";
  FL_ASSIGN_OR_RETURN(UploadTarget target, ResolveUpload(start.url, *location, digest));
  put.url = std::move(target.url);
  put.to_registry = target.same_origin;
  put.upload_path = path;
  put.headers.push_back("Content-Type: application/octet-stream");
  FL_ASSIGN_OR_RETURN(Response done, Send(put, repository, "pull,push"));
  if (!Success(done.head.status)) {
    return HttpError(done.head.status, done.body, "upload of blob " + digest);
  }
  return Status::Ok();
}

Result<std::string> RegistryClient::PutManifest(const std::string& repository,
                                                const std::string& reference,
                                                const std::string& media_type,
                                                const std::string& body) {
  Request request;
  request.method = "PUT";
  request.url = BaseUrl() + "/v2/" + repository + "/manifests/" + reference;
  request.headers.push_back("Content-Type: " + media_type);
  request.body = body;
  FL_ASSIGN_OR_RETURN(Response response, Send(request, repository, "pull,push"));
  if (!Success(response.head.status)) {
    return HttpError(response.head.status, response.body,
                     "manifest " + host_ + "/" + repository + ":" + reference);
  }
  const std::string* subject = response.head.Find("oci-subject");
  return subject != nullptr ? *subject : std::string();
}

}  // namespace feilong::source
