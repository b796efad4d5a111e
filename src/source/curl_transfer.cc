#include "source/curl_transfer.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <mutex>

#include "common/ascii.h"
#include "source/curl_exchange.h"
#include "source/url.h"

namespace feilong::source {

namespace {

constexpr long kBufferSize = 64 * 1024;
constexpr char kUserAgent[] = "feilong/0.1";

bool IsRedirectStatus(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

void SetLowWater(int fd, int bytes) {
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof(bytes));
}

}  // namespace

// State shared by the libcurl callbacks of one transfer.
struct CurlExchange::State {
  CURL* curl = nullptr;
  SocketRegistry* registry = nullptr;
  const CurlRequest* request = nullptr;
  const CurlHeadCallback* on_head = nullptr;
  const CurlBodyCallback* on_body = nullptr;
  Clock* clock = nullptr;
  CurlOutcome outcome;
  bool head_delivered = false;
  Clock::TimePoint last_activity;
  curl_off_t last_dlnow = 0;
  // The body's socket while a low-water mark is set on it, else -1.
  int low_water_socket = -1;
  int low_water = 0;
  uint64_t body_length = 0;  // the declared Content-Length
  // The first address the origin policy refused (OK if none).
  Status refused;
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_list{nullptr, &curl_slist_free_all};
  char error_buffer[CURL_ERROR_SIZE] = {};

  // Sets the socket's low-water mark for the body about to arrive.
  void StartLowWater() {
    const std::string* length = outcome.head.Find("content-length");
    if (request->receive_low_water <= 0 || length == nullptr ||
        !ParseUint64(*length, &body_length) || body_length == 0) {
      return;
    }
    char* ip = nullptr;
    long port = 0;
    long local_port = 0;
    if (curl_easy_getinfo(curl, CURLINFO_PRIMARY_IP, &ip) != CURLE_OK || ip == nullptr ||
        curl_easy_getinfo(curl, CURLINFO_PRIMARY_PORT, &port) != CURLE_OK ||
        curl_easy_getinfo(curl, CURLINFO_LOCAL_PORT, &local_port) != CURLE_OK) {
      return;
    }
    low_water_socket = registry->SocketFor(ip, port, local_port);
    if (low_water_socket >= 0) {
      low_water = static_cast<int>(
          std::min<uint64_t>(static_cast<uint64_t>(request->receive_low_water), body_length));
      SetLowWater(low_water_socket, low_water);
    }
  }

  // Lowers the mark as the end nears (a mark above what is left would hold
  // the last bytes back); back to 1 when the body is complete.
  void FollowLowWater() {
    if (low_water_socket < 0) {
      return;
    }
    uint64_t left = body_length > outcome.body_bytes ? body_length - outcome.body_bytes : 0;
    if (left < static_cast<uint64_t>(low_water)) {
      low_water = std::max<int>(1, static_cast<int>(left));
      SetLowWater(low_water_socket, low_water);
    }
    if (left == 0) {
      low_water_socket = -1;
    }
  }

  void Touch() { last_activity = clock->Now(); }

  // True if the current complete head is a redirect libcurl will follow.
  bool HeadIsRedirect() const {
    return request->max_redirects > 0 && IsRedirectStatus(outcome.head.status) &&
           outcome.head.Find("location") != nullptr;
  }

  // Calls on_head once. False if it refused the response.
  bool DeliverHead() {
    if (head_delivered) {
      return outcome.callback_status.ok();
    }
    head_delivered = true;
    Status status = (*on_head)(outcome.head);
    if (!status.ok()) {
      outcome.callback_status = std::move(status);
      return false;
    }
    StartLowWater();
    return true;
  }
};

namespace {

using TransferState = CurlExchange::State;

// The host a redirect's Location leads to, resolved against the URL it
// came from by libcurl's own URL parser, so what is checked is what libcurl
// will connect to ("http:///host", "//host", percent-encoding and all).
// InvalidArgument when libcurl cannot make sense of it either.
Result<std::string> RedirectHost(CURL* curl, const std::string& location) {
  char* effective = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective) != CURLE_OK ||
      effective == nullptr) {
    return Status::InvalidArgument("redirect from an unknown URL");
  }
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> url(curl_url(), &curl_url_cleanup);
  char* host = nullptr;
  if (url == nullptr || curl_url_set(url.get(), CURLUPART_URL, effective, 0) != CURLUE_OK ||
      curl_url_set(url.get(), CURLUPART_URL, location.c_str(), 0) != CURLUE_OK ||
      curl_url_get(url.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK || host == nullptr) {
    return Status::InvalidArgument("redirect to an unusable Location");
  }
  std::string result(host);
  curl_free(host);
  return result;
}

size_t OnHeaderLine(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<TransferState*>(user);
  size_t bytes = size * count;
  state->Touch();
  std::string_view line(data, bytes);
  AddHeaderLine(line, state->outcome.head, state->outcome.head_complete);
  if (state->outcome.head_complete && state->request->origin_policy != nullptr &&
      state->HeadIsRedirect()) {
    auto host = RedirectHost(state->curl, *state->outcome.head.Find("location"));
    Status allowed = host.ok() ? state->request->origin_policy->CheckHost(*host) : host.status();
    if (!allowed.ok()) {
      state->outcome.callback_status = std::move(allowed);
      return 0;  // != bytes: libcurl stops before following
    }
  }
  return bytes;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<TransferState*>(user);
  size_t bytes = size * count;
  state->Touch();
  if (!state->DeliverHead()) {
    return 0;  // != bytes: libcurl stops with CURLE_WRITE_ERROR
  }
  Status status =
      (*state->on_body)(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data), bytes));
  if (!status.ok()) {
    state->outcome.callback_status = std::move(status);
    return 0;
  }
  state->outcome.body_bytes += bytes;
  state->FollowLowWater();
  return bytes;
}

int OnProgress(void* user, curl_off_t /*dltotal*/, curl_off_t dlnow, curl_off_t /*ultotal*/,
               curl_off_t /*ulnow*/) {
  auto* state = static_cast<TransferState*>(user);
  if (dlnow != state->last_dlnow) {
    state->last_dlnow = dlnow;
    state->Touch();
    return 0;
  }
  if (state->clock->Now() - state->last_activity >= state->request->stall_timeout) {
    state->outcome.stalled = true;
    return 1;  // CURLE_ABORTED_BY_CALLBACK
  }
  return 0;
}

// libcurl's socket hooks. Opening sees the transfer (its origin policy);
// closing sees only the registry, because libcurl closes a cached
// connection long after the transfer that opened it ended.
curl_socket_t OpenSocket(void* user, curlsocktype /*purpose*/, curl_sockaddr* address) {
  auto* state = static_cast<TransferState*>(user);
  const OriginPolicy* policy = state->request->origin_policy;
  if (policy != nullptr) {
    Status allowed = policy->CheckAddress(&address->addr, address->addrlen);
    if (!allowed.ok()) {
      if (state->refused.ok()) {
        state->refused = std::move(allowed);
      }
      return CURL_SOCKET_BAD;  // libcurl tries the next address, then fails
    }
  }
  curl_socket_t fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd == CURL_SOCKET_BAD) {
    return fd;
  }
  char text[INET6_ADDRSTRLEN] = {};
  long port = 0;
  if (address->family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address->addr);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    port = ntohs(in->sin_port);
  } else if (address->family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address->addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    port = ntohs(in6->sin6_port);
  }
  state->registry->Add(fd, text, port);
  return fd;
}

int CloseSocket(void* user, curl_socket_t fd) {
  static_cast<SocketRegistry*>(user)->Remove(fd);
  return ::close(fd);
}

}  // namespace

void SocketRegistry::Add(int fd, std::string ip, long port) {
  sockets_.emplace_back(fd, Remote{std::move(ip), port});
}

void SocketRegistry::Remove(int fd) {
  std::erase_if(sockets_, [fd](const auto& entry) { return entry.first == fd; });
}

bool SocketRegistry::Tracks(int fd) const {
  return std::any_of(sockets_.begin(), sockets_.end(),
                     [fd](const auto& entry) { return entry.first == fd; });
}

int SocketRegistry::SocketFor(const std::string& ip, long port, long local_port) const {
  for (const auto& [fd, remote] : sockets_) {
    if (remote.ip != ip || remote.port != port) {
      continue;
    }
    sockaddr_storage local{};
    socklen_t length = sizeof(local);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) {
      continue;
    }
    long bound = local.ss_family == AF_INET
                     ? ntohs(reinterpret_cast<const sockaddr_in*>(&local)->sin_port)
                     : ntohs(reinterpret_cast<const sockaddr_in6*>(&local)->sin6_port);
    if (bound == local_port) {
      return fd;
    }
  }
  return -1;
}

void EnsureCurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      std::abort();  // no TLS / socket library: nothing downstream can work
    }
  });
}

CurlHandle::CurlHandle() : sockets_(std::make_unique<SocketRegistry>()) {
  EnsureCurlGlobalInit();
  handle_ = curl_easy_init();
  if (handle_ == nullptr) {
    std::abort();
  }
}

CurlHandle::~CurlHandle() { curl_easy_cleanup(static_cast<CURL*>(handle_)); }

CurlExchange::CurlExchange(const CurlRequest& request, const CurlHeadCallback& on_head,
                           const CurlBodyCallback& on_body, SocketRegistry& registry, Clock& clock)
    : state_(std::make_unique<State>()) {
  state_->registry = &registry;
  state_->request = &request;
  state_->on_head = &on_head;
  state_->on_body = &on_body;
  state_->clock = &clock;
}

CurlExchange::~CurlExchange() = default;

CurlOutcome CurlExchange::TakeOutcome() { return std::move(state_->outcome); }

Clock::TimePoint CurlExchange::StallDeadline() const {
  return state_->last_activity + state_->request->stall_timeout;
}

void CurlExchange::MarkStalled() { state_->outcome.stalled = true; }

bool CurlExchange::Prepare(CURL* curl) {
  State& state = *state_;
  const CurlRequest& request = *state.request;
  curl_easy_reset(curl);
  state.curl = curl;
  if (request.origin_policy != nullptr) {
    auto url = ParseUrl(request.url);
    Status allowed = url.ok() ? request.origin_policy->CheckHost(url->host) : url.status();
    if (!allowed.ok()) {
      state.outcome.callback_status = std::move(allowed);
      return false;
    }
  }
  state.Touch();

  for (const auto& [name, value] : request.headers) {
    if (AsciiEqualsIgnoreCase(name, "range")) {
      continue;
    }
    // "Name;" is libcurl's way to send a header with an empty value.
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    curl_slist* appended = curl_slist_append(state.header_list.get(), line.c_str());
    if (appended == nullptr) {
      state.outcome.curl_code = CURLE_OUT_OF_MEMORY;
      return false;
    }
    (void)state.header_list.release();
    state.header_list.reset(appended);
  }

  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, state.error_buffer);
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, kUserAgent);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(request.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, kBufferSize);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, &OpenSocket);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &state);
  curl_easy_setopt(curl, CURLOPT_CLOSESOCKETFUNCTION, &CloseSocket);
  curl_easy_setopt(curl, CURLOPT_CLOSESOCKETDATA, state.registry);
  if (request.max_idle_connections > 0) {
    curl_easy_setopt(curl, CURLOPT_MAXCONNECTS, request.max_idle_connections);
  }
  if (request.max_redirects > 0) {
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, request.max_redirects);
  }
  if (!request.range.empty()) {
    curl_easy_setopt(curl, CURLOPT_RANGE, request.range.c_str());
  }
  if (state.header_list != nullptr) {
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, state.header_list.get());
  }
  if (request.origin_policy != nullptr && !request.origin_policy->allows_everything()) {
    // Through a proxy from the environment the socket hook would see only
    // the proxy's address: under a policy, origins are reached directly.
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
  }
  if (!request.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, request.ca_file.c_str());
#if LIBCURL_VERSION_NUM >= 0x075700
    // libcurl keeps a parsed CA file for a day; a rotated bundle must count
    // from the next connection on.
    curl_easy_setopt(curl, CURLOPT_CA_CACHE_TIMEOUT, 0L);
#endif
  }
  if (!request.client_cert_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, request.client_cert_file.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, request.client_key_file.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeaderLine);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &state);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &state);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  return true;
}

void CurlExchange::Conclude(CURLcode code) {
  State& state = *state_;
  state.outcome.curl_code = code;
  // A refused address among several that one allowed did no harm.
  if (code != CURLE_OK && !state.refused.ok() && state.outcome.callback_status.ok()) {
    state.outcome.callback_status = std::exchange(state.refused, Status::Ok());
  }
  if (state.low_water_socket >= 0 && state.registry->Tracks(state.low_water_socket)) {
    SetLowWater(state.low_water_socket, 1);  // the body ended early; the connection stays
  }
  if (!state.head_delivered && state.outcome.head_complete && !state.HeadIsRedirect() &&
      state.outcome.callback_status.ok()) {
    state.DeliverHead();
  }
  if (code != CURLE_OK) {
    state.outcome.error = ScrubQueryStrings(state.error_buffer);
  }
  // The list, the error buffer and the state die with the exchange; leave
  // no dangling pointers in the handle that the next reset would not clear.
  if (state.curl != nullptr) {
    curl_easy_setopt(state.curl, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(state.curl, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(state.curl, CURLOPT_OPENSOCKETDATA, nullptr);
  }
}

CurlOutcome PerformGet(CurlHandle& handle, const CurlRequest& request,
                       const CurlHeadCallback& on_head, const CurlBodyCallback& on_body,
                       Clock& clock) {
  CURL* curl = static_cast<CURL*>(handle.get());
  CurlExchange exchange(request, on_head, on_body, handle.sockets(), clock);
  if (!exchange.Prepare(curl)) {
    return exchange.TakeOutcome();
  }
  exchange.Conclude(curl_easy_perform(curl));
  return exchange.TakeOutcome();
}

bool IsTruncatedTransfer(const CurlOutcome& outcome) {
  return outcome.curl_code == CURLE_PARTIAL_FILE ||
         (outcome.head_complete && outcome.curl_code == CURLE_RECV_ERROR);
}

Status TransportStatus(const CurlOutcome& outcome, std::string_view what,
                       std::chrono::milliseconds stall_timeout) {
  std::string prefix(what);
  if (outcome.stalled) {
    return Status::DeadlineExceeded(prefix + ": no data for " +
                                    std::to_string(stall_timeout.count()) + " ms");
  }
  auto code = static_cast<CURLcode>(outcome.curl_code);
  std::string detail = curl_easy_strerror(code);
  if (!outcome.error.empty()) {
    detail += " (" + outcome.error + ")";
  }
  std::string message = prefix + ": " + detail;
  switch (code) {
    case CURLE_OK:
      return Status::Ok();
    case CURLE_OPERATION_TIMEDOUT:
      return Status::DeadlineExceeded(std::move(message));
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_TOO_MANY_REDIRECTS:
      return Status::InvalidArgument(std::move(message));
    case CURLE_OUT_OF_MEMORY:
      return Status::ResourceExhausted(std::move(message));
    case CURLE_ABORTED_BY_CALLBACK:
      return Status::Cancelled(std::move(message));
    case CURLE_WRITE_ERROR:
      return Status::Internal(std::move(message));
    default:
      // Resolve and connect failures, resets, TLS failures, truncated bodies.
      return Status::Unavailable(std::move(message));
  }
}

std::string ScrubQueryStrings(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_query = false;
  for (char c : text) {
    if (in_query) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\'' || c == '"') {
        in_query = false;
        out.push_back(c);
      }
      continue;
    }
    if (c == '?') {
      in_query = true;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace feilong::source
