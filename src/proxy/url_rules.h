// UrlRules: a list of compiled regexes; a subject matches when any of them
// is found in it (std::regex_search, ECMAScript). The proxy uses one for
// `proxy.rules` (absolute URLs) and one for `proxy.hijack_https.hosts`.
//
// Thread rule: immutable after Compile; Matches is safe from any thread
// (std::regex matching does not modify the regex).
#pragma once

#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace feilong::proxy {

class UrlRules {
 public:
  UrlRules() = default;  // matches nothing

  static constexpr size_t kMaxPatternLength = 1024;

  // Compiles `patterns`. InvalidArgument naming `key` and the index of the
  // first pattern that does not compile or is longer than
  // kMaxPatternLength (e.g. "proxy.rules[2]").
  static Result<UrlRules> Compile(const std::vector<std::string>& patterns, std::string_view key);

  bool Matches(std::string_view subject) const;
  bool empty() const { return rules_.empty(); }

 private:
  std::vector<std::regex> rules_;
};

}  // namespace feilong::proxy
