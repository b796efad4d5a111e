// Fuzzes the parsing of HTTP response heads from origins and parents
// (source/http_head.h): AddHeaderLine over every line of the input, then
// Content-Length, Content-Range and the parent's X-Feilong-Piece-Digest
// (ParseSha256String, as daemon/PieceClient reads it) of the resulting head;
// the whole input is also parsed as one Content-Range and one digest.
//
// Invariants checked besides "no crash, no sanitizer report":
//   - the status is three digits at most, a complete head has status >= 200;
//   - header names are lowercased and trimmed, values trimmed (blanks in
//     front; blanks, CR and LF at the back);
//   - a parsed Content-Range has first <= last < total (total known), and
//     formatting it back and parsing again gives the same range;
//   - a parsed Content-Length prints back to a value that parses the same;
//   - a parsed digest prints back as the header value (hex lowercased).
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "common/digest.h"
#include "fuzz/fuzz_check.h"
#include "source/http_head.h"

using namespace feilong::source;

namespace {

constexpr uint64_t kUnknown = std::numeric_limits<uint64_t>::max();

// Trimmed from both ends of names and values: blanks in front, blanks and
// CR/LF at the back (a bare CR inside a line is kept, as documented).
bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsSpace(char c) { return IsBlank(c) || c == '\r' || c == '\n'; }

void CheckContentRange(std::string_view value) {
  ContentRange range;
  if (!ParseContentRange(value, &range)) {
    return;
  }
  std::string formatted = "bytes ";
  if (range.first == kUnknown) {
    FUZZ_CHECK(range.last == kUnknown && range.total != kUnknown, "value: " << value);
    formatted += "*/" + std::to_string(range.total);
  } else {
    FUZZ_CHECK(range.first <= range.last, "value: " << value);
    FUZZ_CHECK(range.total == kUnknown || range.last < range.total, "value: " << value);
    formatted += std::to_string(range.first) + "-" + std::to_string(range.last) + "/" +
                 (range.total == kUnknown ? std::string("*") : std::to_string(range.total));
  }
  ContentRange again;
  FUZZ_CHECK(ParseContentRange(formatted, &again) && again.first == range.first &&
                 again.last == range.last && again.total == range.total,
             "round trip: '" << value << "' -> '" << formatted << "'");
}

void CheckDigest(std::string_view value) {
  feilong::Result<feilong::Sha256Digest> digest = feilong::ParseSha256String(value);
  if (!digest.ok()) {
    FUZZ_CHECK(digest.status().IsInvalidArgument(), digest.status().ToString());
    return;
  }
  std::string lower(value);
  for (char& c : lower) {
    c = (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  FUZZ_CHECK(feilong::Sha256String(*digest) == lower, "round trip: '" << value << "'");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckContentRange(input);
  CheckDigest(input);

  CurlResponseHead head;
  bool complete = false;
  std::string_view rest = input;
  while (!rest.empty()) {
    size_t newline = rest.find('\n');
    size_t length = newline == std::string_view::npos ? rest.size() : newline + 1;
    AddHeaderLine(rest.substr(0, length), head, complete);
    rest.remove_prefix(length);
  }

  FUZZ_CHECK(head.status >= 0 && head.status <= 999, "status " << head.status);
  FUZZ_CHECK(!complete || head.status >= 200, "complete with status " << head.status);
  for (const auto& [name, value] : head.headers) {
    for (char c : name) {
      FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "name not lowercased: " << name);
    }
    FUZZ_CHECK(name.empty() || (!IsBlank(name.front()) && !IsSpace(name.back())),
               "name not trimmed: '" << name << "'");
    FUZZ_CHECK(value.empty() || (!IsBlank(value.front()) && !IsSpace(value.back())),
               "value not trimmed: '" << value << "'");
    FUZZ_CHECK(head.Find(name) != nullptr, "Find misses " << name);
    if (name == "content-range") {
      CheckContentRange(value);
    }
    if (name == "x-feilong-piece-digest") {
      CheckDigest(value);
    }
  }
  if (std::optional<uint64_t> length = ContentLength(head); length.has_value()) {
    uint64_t again = 0;
    FUZZ_CHECK(ParseUint64(std::to_string(*length), &again) && again == *length,
               "length " << *length);
  }
  return 0;
}
