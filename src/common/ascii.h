// ASCII-only case folding, for protocol tokens (HTTP header names, URL
// schemes, "bytes" units): locale-independent, unlike std::tolower, and
// never touching bytes outside A-Z.
#pragma once

#include <string>
#include <string_view>

namespace feilong {

inline char AsciiToLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string AsciiLowercase(std::string_view s);
bool AsciiStartsWithIgnoreCase(std::string_view s, std::string_view prefix);
bool AsciiEqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace feilong
