#include "source/http_head.h"

#include <limits>

#include "common/ascii.h"

namespace feilong::source {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

const std::string* CurlResponseHead::Find(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) {
      return &value;
    }
  }
  return nullptr;
}

void AddHeaderLine(std::string_view line, CurlResponseHead& head, bool& complete) {
  if (line.starts_with("HTTP/")) {
    // A new response (the first, or after a redirect or a 1xx): start over.
    head = CurlResponseHead();
    complete = false;
    size_t space = line.find(' ');
    uint64_t code = 0;
    if (space != std::string_view::npos && line.size() >= space + 4 &&
        ParseUint64(line.substr(space + 1, 3), &code)) {
      head.status = static_cast<long>(code);
    }
    return;
  }
  std::string_view trimmed = Trim(line);
  if (trimmed.empty()) {
    // End of a head; a 1xx head is followed by the real one.
    complete = head.status >= 200;
    return;
  }
  size_t colon = trimmed.find(':');
  if (colon == std::string_view::npos) {
    return;
  }
  std::string name(Trim(trimmed.substr(0, colon)));
  for (char& c : name) {
    c = AsciiToLower(c);
  }
  head.headers.emplace_back(std::move(name), std::string(Trim(trimmed.substr(colon + 1))));
}

bool ParseUint64(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 20) {
    return false;
  }
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    auto digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      return false;
    }
    value = value * 10 + digit;
  }
  *out = value;
  return true;
}

std::optional<uint64_t> ContentLength(const CurlResponseHead& head) {
  const std::string* value = head.Find("content-length");
  uint64_t length = 0;
  if (value == nullptr || !ParseUint64(*value, &length)) {
    return std::nullopt;
  }
  return length;
}

bool ParseContentRange(std::string_view value, ContentRange* out) {
  value = Trim(value);
  if (value.size() < 6 || !AsciiEqualsIgnoreCase(value.substr(0, 6), "bytes ")) {
    return false;
  }
  value = Trim(value.substr(6));
  size_t slash = value.find('/');
  if (slash == std::string_view::npos) {
    return false;
  }
  std::string_view range = value.substr(0, slash);
  std::string_view total = value.substr(slash + 1);
  constexpr uint64_t kUnknown = std::numeric_limits<uint64_t>::max();
  ContentRange parsed;
  if (total == "*") {
    parsed.total = kUnknown;
  } else if (!ParseUint64(total, &parsed.total)) {
    return false;
  }
  if (range == "*") {
    if (parsed.total == kUnknown) {
      return false;
    }
    parsed.first = parsed.last = kUnknown;
  } else {
    size_t dash = range.find('-');
    if (dash == std::string_view::npos || !ParseUint64(range.substr(0, dash), &parsed.first) ||
        !ParseUint64(range.substr(dash + 1), &parsed.last) || parsed.last < parsed.first ||
        (parsed.total != kUnknown && parsed.last >= parsed.total)) {
      return false;
    }
  }
  *out = parsed;
  return true;
}

}  // namespace feilong::source
