#include "common/ascii.h"

namespace feilong {

std::string AsciiLowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = AsciiToLower(c);
  }
  return out;
}

bool AsciiStartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) {
    return false;
  }
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (AsciiToLower(s[i]) != AsciiToLower(prefix[i])) {
      return false;
    }
  }
  return true;
}

bool AsciiEqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && AsciiStartsWithIgnoreCase(a, b);
}

}  // namespace feilong
