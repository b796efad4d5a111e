#include "mirror/byte_range.h"

#include <fmt/format.h>

#include <charconv>
#include <limits>

namespace feilong::mirror {

namespace {

bool ParseNumber(std::string_view s, uint64_t* out) {
  if (s.empty()) {
    return false;
  }
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

RangeParse ParseRange(std::string_view header, uint64_t length, ByteRange* range) {
  constexpr std::string_view kUnit = "bytes=";
  if (!header.starts_with(kUnit)) {
    return RangeParse::kNone;
  }
  std::string_view spec = header.substr(kUnit.size());
  if (spec.find(',') != std::string_view::npos) {
    return RangeParse::kNone;
  }
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) {
    return RangeParse::kNone;
  }
  std::string_view a = spec.substr(0, dash);
  std::string_view b = spec.substr(dash + 1);
  uint64_t first = 0;
  uint64_t last = 0;
  if (a.empty()) {  // suffix: the last n bytes
    uint64_t n = 0;
    if (!ParseNumber(b, &n)) {
      return RangeParse::kNone;
    }
    if (n == 0 || length == 0) {
      return RangeParse::kUnsatisfiable;
    }
    first = n >= length ? 0 : length - n;
    last = length - 1;
  } else {
    if (!ParseNumber(a, &first)) {
      return RangeParse::kNone;
    }
    if (b.empty()) {
      last = length == 0 ? 0 : length - 1;
    } else if (!ParseNumber(b, &last) || last < first) {
      return RangeParse::kNone;
    }
    if (first >= length) {
      return RangeParse::kUnsatisfiable;
    }
    if (last >= length) {
      last = length - 1;
    }
  }
  range->first = first;
  range->last = last;
  return RangeParse::kRange;
}

bool IsSingleByteRange(std::string_view header) {
  // kNone depends only on the syntax, never on the length.
  ByteRange ignored;
  return ParseRange(header, std::numeric_limits<uint64_t>::max(), &ignored) != RangeParse::kNone;
}

std::string PieceAnswerHead(bool partial, const ByteRange& range, uint64_t length,
                            std::string_view extra_headers, bool keep_alive) {
  std::string head =
      partial ? fmt::format("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {}-{}/{}\r\n",
                            range.first, range.last, length)
              : std::string("HTTP/1.1 200 OK\r\n");
  const uint64_t body_length = partial ? range.last - range.first + 1 : length;
  head += fmt::format(
      "Server: feilong\r\nContent-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\n"
      "Content-Length: {}\r\n{}Connection: {}\r\n\r\n",
      body_length, extra_headers, keep_alive ? "keep-alive" : "close");
  return head;
}

}  // namespace feilong::mirror
