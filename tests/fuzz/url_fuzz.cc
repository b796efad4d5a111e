// Fuzzes the origin URL rules (source/url.h): ParseUrl,
// NormalizeUrlForTaskId, RedactUrl and TaskId. The input is one URL as a
// client or a registry mirror would send it.
//
// Invariants checked besides "no crash, no sanitizer report":
//   - ParseUrl and NormalizeUrlForTaskId accept the same URLs;
//   - the normalized form parses, has no userinfo and no fragment, and
//     normalizing it again gives it back (idempotence);
//   - RedactUrl never keeps a query, a fragment or userinfo;
//   - TaskId gives a well-formed task id.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/task_id.h"
#include "fuzz/fuzz_check.h"
#include "source/url.h"

using feilong::Result;
using namespace feilong::source;

namespace {

// The authority of a redacted URL ("scheme://authority/path"), or "".
std::string_view Authority(std::string_view url) {
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return {};
  }
  std::string_view rest = url.substr(sep + 3);
  return rest.substr(0, rest.find('/'));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view url(reinterpret_cast<const char*>(data), size);

  std::string redacted = RedactUrl(url);
  FUZZ_CHECK(redacted.find_first_of("?#") == std::string::npos, "redacted: " << redacted);

  Result<ParsedUrl> parsed = ParseUrl(url);
  Result<std::string> normalized = NormalizeUrlForTaskId(url);
  FUZZ_CHECK(parsed.ok() == normalized.ok(), "url: " << url);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().IsInvalidArgument(), parsed.status().ToString());
    return 0;
  }
  FUZZ_CHECK(!parsed->host.empty(), "url: " << url);
  FUZZ_CHECK(Authority(redacted).find('@') == std::string_view::npos,
             "url: " << url << " redacted: " << redacted);

  const std::string& n = *normalized;
  Result<ParsedUrl> reparsed = ParseUrl(n);
  FUZZ_CHECK(reparsed.ok(), "normalized does not parse: " << n << " from " << url);
  FUZZ_CHECK(reparsed->userinfo.empty(), "normalized keeps userinfo: " << n);
  FUZZ_CHECK(!reparsed->fragment.has_value(), "normalized keeps a fragment: " << n);
  FUZZ_CHECK(reparsed->scheme == parsed->scheme, "scheme changed: " << n << " from " << url);
  FUZZ_CHECK(reparsed->path.starts_with("/"), "normalized path: " << n);
  Result<std::string> again = NormalizeUrlForTaskId(n);
  FUZZ_CHECK(again.ok() && *again == n,
             "not idempotent: " << url << " -> " << n << " -> " << again.value_or("<error>"));

  std::string id = feilong::UrlTaskId(n, "tag", "app", static_cast<uint32_t>(size));
  FUZZ_CHECK(feilong::IsValidTaskId(id), id);
  return 0;
}
