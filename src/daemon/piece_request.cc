#include "daemon/piece_request.h"

#include "common/task_id.h"
#include "source/url.h"

namespace feilong::daemon {

namespace {
constexpr std::string_view kPiecePrefix = "/pieces/";
}  // namespace

bool ParsePieceNumber(std::string_view text, uint32_t* out) {
  if (text.empty() || text.size() > 10) {
    return false;
  }
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value > UINT32_MAX) {
    return false;
  }
  *out = static_cast<uint32_t>(value);
  return true;
}

Result<PieceTarget> ParsePieceTarget(std::string_view target) {
  target = target.substr(0, target.find('?'));
  if (!target.starts_with(kPiecePrefix)) {
    if (!target.starts_with("/") || target.find("..") != std::string_view::npos) {
      return Status::InvalidArgument("malformed path");
    }
    return Status::NotFound("no such resource");
  }
  std::string_view rest = target.substr(kPiecePrefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return Status::InvalidArgument("expected /pieces/<task_id>/<number>");
  }
  PieceTarget parsed;
  parsed.task_id = std::string(rest.substr(0, slash));
  if (!IsValidTaskId(parsed.task_id)) {
    return Status::InvalidArgument("task id must be 64 lowercase hex characters");
  }
  if (!ParsePieceNumber(rest.substr(slash + 1), &parsed.number)) {
    return Status::InvalidArgument("piece number must be a decimal uint32");
  }
  return parsed;
}

}  // namespace feilong::daemon
