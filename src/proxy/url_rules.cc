#include "proxy/url_rules.h"

#include <fmt/format.h>

#include <algorithm>

namespace feilong::proxy {

namespace {

// Digits a back-reference (\N) or a repetition count ({N}, {N,M}) may have.
constexpr size_t kMaxRegexNumberDigits = 6;

// Digits in `text` from `from` (at most text.size()) on.
size_t DigitRun(std::string_view text, size_t from) {
  return std::min(text.find_first_not_of("0123456789", from), text.size()) - from;
}

// True when a back-reference or repetition count in `pattern` has more than
// kMaxRegexNumberDigits digits. libstdc++'s regex compiler accumulates such
// numbers in a signed long without an overflow check (undefined behaviour
// found by the fuzzer), and a count near a million already builds a huge
// automaton. Conservative: a '{' inside a character class counts too.
bool HasHugeRegexNumber(std::string_view pattern) {
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      if (DigitRun(pattern, i + 1) > kMaxRegexNumberDigits) {
        return true;
      }
      ++i;  // the escaped character is never special
    } else if (pattern[i] == '{') {
      size_t first = DigitRun(pattern, i + 1);
      size_t after = i + 1 + first;
      size_t second =
          after < pattern.size() && pattern[after] == ',' ? DigitRun(pattern, after + 1) : 0;
      if (first > kMaxRegexNumberDigits || second > kMaxRegexNumberDigits) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

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
    if (HasHugeRegexNumber(patterns[i])) {
      return Status::InvalidArgument(fmt::format(
          "config key '{}[{}]': a back-reference or repetition count in '{}' is too large (at "
          "most {} digits)",
          key, i, patterns[i], kMaxRegexNumberDigits));
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
