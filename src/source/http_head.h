// Parsing of HTTP response heads as libcurl hands them over, one line at a
// time: the status line, header lines, Content-Length and Content-Range.
// Used by CurlTransfer (origin and peer responses) and by
// tests/fuzz/http_head_fuzz.cc; every byte here comes from the network.
//
// Thread rule: free functions on values; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace feilong::source {

// The final response's status line and headers.
struct CurlResponseHead {
  long status = 0;
  // Header names lowercased, values trimmed, in arrival order.
  std::vector<std::pair<std::string, std::string>> headers;
  // The first value of header `lower_name`, or nullptr.
  const std::string* Find(std::string_view lower_name) const;
};

// Applies one raw line of a response head (CRLF included or not) to `head`:
//   "HTTP/..."      a new response (the first, or after a redirect or a
//                   1xx): `head` starts over, `complete` becomes false, and
//                   the three characters after the first space, when they
//                   are decimal digits, become the status (0 otherwise)
//   an empty line   (spaces and CRLF only) the end of a head: `complete`
//                   becomes true when the status is >= 200 (a 1xx head is
//                   followed by the real one)
//   "Name: value"   appended: name trimmed and lowercased, value trimmed
//                   (spaces, tabs, CR, LF)
// A line without ':' is ignored.
void AddHeaderLine(std::string_view line, CurlResponseHead& head, bool& complete);

// Parses a decimal uint64 with no sign, spaces or overflow.
bool ParseUint64(std::string_view text, uint64_t* out);

// The value of the first Content-Length header, or nullopt when there is
// none or it is not a decimal uint64.
std::optional<uint64_t> ContentLength(const CurlResponseHead& head);

// Parses "bytes first-last/total" (total may be "*": returns total
// UINT64_MAX) or "bytes */total" (first = last = UINT64_MAX). False on any
// other form. A parsed range satisfies first <= last, and last < total when
// the total is known.
struct ContentRange {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t total = 0;
};
bool ParseContentRange(std::string_view value, ContentRange* out);

}  // namespace feilong::source
