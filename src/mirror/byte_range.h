// The Range header of a blob GET (RFC 9110 section 14): one range only.
//
// Thread rule: free functions on values; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace feilong::mirror {

struct ByteRange {
  uint64_t first = 0;  // inclusive
  uint64_t last = 0;   // inclusive
};

enum class RangeParse {
  kNone,           // no usable range: serve the whole body (also for forms we ignore)
  kRange,          // `range` is set
  kUnsatisfiable,  // 416: the range starts past the end
};

// Parses "bytes=a-b", "bytes=a-" and "bytes=-n" against `length`. Several
// ranges ("bytes=0-1,5-6") and other units give kNone: the spec lets a
// server ignore Range, and a whole body is always correct.
RangeParse ParseRange(std::string_view header, uint64_t length, ByteRange* range);

// True when `header` is one range in a form ParseRange takes, whatever the
// length: ParseRange then never gives kNone for it. Lets a caller that learns
// the length later (the proxy: once a download started) decide beforehand
// whether it can serve the range at all.
bool IsSingleByteRange(std::string_view header);

// The head of an answer served from the piece store: "200 OK", or with
// `partial` "206 Partial Content" and the Content-Range of `range`, then a
// generic Content-Type (the origin's is not kept), Accept-Ranges, the
// Content-Length of the body sent, `extra_headers` (whole lines, each ending
// in CRLF) and Connection.
std::string PieceAnswerHead(bool partial, const ByteRange& range, uint64_t length,
                            std::string_view extra_headers, bool keep_alive);

}  // namespace feilong::mirror
