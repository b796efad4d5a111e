#include "source/curl_transfer.h"

#include <curl/curl.h>

#include <cstdlib>
#include <limits>
#include <mutex>

namespace feilong::source {

namespace {

constexpr long kBufferSize = 128 * 1024;
constexpr char kUserAgent[] = "feilong/0.1";

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsRedirectStatus(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// State shared by the libcurl callbacks of one transfer.
struct TransferState {
  const CurlRequest* request = nullptr;
  const CurlHeadCallback* on_head = nullptr;
  const CurlBodyCallback* on_body = nullptr;
  Clock* clock = nullptr;
  CurlOutcome outcome;
  bool head_delivered = false;
  Clock::TimePoint last_activity;
  curl_off_t last_dlnow = 0;

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
    return true;
  }
};

size_t OnHeaderLine(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<TransferState*>(user);
  size_t bytes = size * count;
  state->Touch();
  std::string_view line(data, bytes);
  AddHeaderLine(line, state->outcome.head, state->outcome.head_complete);
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

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerAscii(a[i]) != LowerAscii(b[i])) {
      return false;
    }
  }
  return true;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

}  // namespace

void EnsureCurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      std::abort();  // no TLS / socket library: nothing downstream can work
    }
  });
}

CurlHandle::CurlHandle() {
  EnsureCurlGlobalInit();
  handle_ = curl_easy_init();
  if (handle_ == nullptr) {
    std::abort();
  }
}

CurlHandle::~CurlHandle() { curl_easy_cleanup(static_cast<CURL*>(handle_)); }

CurlOutcome PerformGet(CurlHandle& handle, const CurlRequest& request,
                       const CurlHeadCallback& on_head, const CurlBodyCallback& on_body,
                       Clock& clock) {
  CURL* curl = static_cast<CURL*>(handle.get());
  curl_easy_reset(curl);

  TransferState state;
  state.request = &request;
  state.on_head = &on_head;
  state.on_body = &on_body;
  state.clock = &clock;
  state.Touch();

  std::unique_ptr<curl_slist, SlistDeleter> header_list;
  for (const auto& [name, value] : request.headers) {
    if (EqualsIgnoreCase(name, "range")) {
      continue;
    }
    // "Name;" is libcurl's way to send a header with an empty value.
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    curl_slist* appended = curl_slist_append(header_list.get(), line.c_str());
    if (appended == nullptr) {
      state.outcome.curl_code = CURLE_OUT_OF_MEMORY;
      return std::move(state.outcome);
    }
    (void)header_list.release();
    header_list.reset(appended);
  }

  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
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
  if (header_list != nullptr) {
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list.get());
  }
  if (!request.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, request.ca_file.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeaderLine);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &state);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &state);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);

  CURLcode code = curl_easy_perform(curl);
  state.outcome.curl_code = code;
  if (!state.head_delivered && state.outcome.head_complete && !state.HeadIsRedirect() &&
      state.outcome.callback_status.ok()) {
    state.DeliverHead();
  }
  if (code != CURLE_OK) {
    state.outcome.error = ScrubQueryStrings(error_buffer);
  }
  // The list and the error buffer die here; leave no dangling pointers in
  // the handle that the next reset would not clear.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  return std::move(state.outcome);
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
