// Reading fields of JSON documents that come from outside (registries,
// image layouts, token services) without exceptions: nlohmann's value()
// throws when a field exists with another type, which a hostile or broken
// document can always arrange. Include only where nlohmann-json is used.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace feilong {

// Parses `text`; the result is_discarded() when it is not JSON or nests
// deeper than `max_depth`: copying and printing a document recurse once per
// level, so a hostile `[[[[...` of a few MiB would overflow the stack.
inline nlohmann::json ParseJsonDocument(std::string_view text, int max_depth = 64) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return nlohmann::json(nlohmann::json::value_t::discarded);
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

// The string at `key`, or "" when `object` is not an object, lacks `key`,
// or holds something else there.
inline std::string JsonString(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) {
    return "";
  }
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Compact JSON text of `json`. Never throws: a string that is not UTF-8
// (from a file name or a flag) is written with U+FFFD in place of bad bytes.
inline std::string JsonText(const nlohmann::json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace feilong
