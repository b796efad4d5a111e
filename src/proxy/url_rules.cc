#include "proxy/url_rules.h"

#include <fmt/format.h>

namespace feilong::proxy {

Result<UrlRules> UrlRules::Compile(const std::vector<std::string>& patterns, std::string_view key) {
  UrlRules out;
  out.rules_.reserve(patterns.size());
  for (size_t i = 0; i < patterns.size(); ++i) {
    // std::regex compiles recursively: a bound keeps a config (or a fuzzer)
    // from exhausting the stack with deeply nested groups.
    if (patterns[i].size() > kMaxPatternLength) {
      return Status::InvalidArgument(
          fmt::format("config key '{}[{}]': longer than {} characters", key, i, kMaxPatternLength));
    }
    try {
      out.rules_.emplace_back(patterns[i], std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::exception& e) {
      return Status::InvalidArgument(
          fmt::format("config key '{}[{}]': bad regex '{}': {}", key, i, patterns[i], e.what()));
    }
  }
  return out;
}

bool UrlRules::Matches(std::string_view subject) const {
  for (const std::regex& rule : rules_) {
    // regex_search can throw on pathological input (error_complexity,
    // error_stack); a rule that cannot decide does not match.
    try {
      if (std::regex_search(subject.begin(), subject.end(), rule)) {
        return true;
      }
    } catch (const std::regex_error&) {
    }
  }
  return false;
}

}  // namespace feilong::proxy
