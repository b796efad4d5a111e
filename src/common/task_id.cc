#include "common/task_id.h"

#include <algorithm>

#include "common/digest.h"

namespace feilong {

std::string UrlTaskId(std::string_view normalized_url, std::string_view tag,
                      std::string_view application, uint32_t piece_length) {
  std::string joined;
  joined.reserve(normalized_url.size() + tag.size() + application.size() + 16);
  joined.append(normalized_url).append("\n");
  joined.append(tag).append("\n");
  joined.append(application).append("\n");
  joined.append(std::to_string(piece_length));
  return HexEncode(Sha256(std::string_view(joined)));
}

std::string ContentTaskId(std::string_view digest_hex, uint32_t piece_length) {
  std::string material(kOciBlobApplication);
  material.push_back('\0');
  material += "sha256:";
  material += digest_hex;
  if (piece_length != 0) {
    material.push_back('\0');
    material += std::to_string(piece_length);
  }
  return HexEncode(Sha256(std::string_view(material)));
}

bool IsValidTaskId(std::string_view id) {
  return id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Status ValidateTaskId(std::string_view id) {
  if (IsValidTaskId(id)) {
    return Status::Ok();
  }
  // Quote at most a prefix: the id may be long or hostile.
  std::string shown(id.substr(0, 80));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      c = '?';
    }
  }
  return Status::InvalidArgument("invalid task id '" + shown +
                                 "': want 64 lowercase hex characters");
}

}  // namespace feilong
