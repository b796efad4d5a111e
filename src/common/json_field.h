// Reading fields of JSON documents that come from outside (registries,
// image layouts, token services) without exceptions: nlohmann's value()
// throws when a field exists with another type, which a hostile or broken
// document can always arrange. Include only where nlohmann-json is used.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace feilong {

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
