#include "storage/piece_record.h"

#include <cstring>
#include <limits>

namespace feilong::storage {

namespace {

constexpr int64_t kMaxUint32 = std::numeric_limits<uint32_t>::max();

bool IsTaskId(std::string_view id) {
  if (id.size() != 64) {
    return false;
  }
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

Status BadTask(const TaskRow& row, const std::string& what) {
  std::string id = IsTaskId(row.task_id) ? row.task_id : "with a malformed id";
  return Status::Corruption("task row " + id + ": " + what);
}

}  // namespace

Result<TaskMeta> DecodeTaskRow(const TaskRow& row) {
  if (!IsTaskId(row.task_id)) {
    return BadTask(row, "task id is not 64 lowercase hex characters");
  }
  if (row.content_length < 0) {
    return BadTask(row, "content_length " + std::to_string(row.content_length) + " is negative");
  }
  if (row.piece_length < 1 || row.piece_length > kMaxUint32) {
    return BadTask(row, "piece_length " + std::to_string(row.piece_length) + " is out of range");
  }
  // content_length <= INT64_MAX, piece_length <= UINT32_MAX: no overflow.
  auto content = static_cast<uint64_t>(row.content_length);
  auto piece = static_cast<uint64_t>(row.piece_length);
  if ((content + piece - 1) / piece > static_cast<uint64_t>(kMaxUint32)) {
    return BadTask(row, "content_length " + std::to_string(content) + " with piece_length " +
                            std::to_string(piece) + " has too many pieces");
  }
  TaskMeta meta;
  meta.task_id = row.task_id;
  meta.url = row.url;
  meta.content_length = content;
  meta.piece_length = static_cast<uint32_t>(piece);
  meta.complete = row.complete != 0;
  meta.created_at_unix = row.created_at;
  meta.accessed_at_unix = row.accessed_at;
  meta.private_task = row.private_task != 0;
  meta.grant_key = row.grant_key;
  return meta;
}

Result<PieceRecord> DecodePieceRow(const PieceRow& row, const std::string& task_id) {
  auto bad = [&](const std::string& what) {
    return Status::Corruption("piece row " + std::to_string(row.number) + " of task " + task_id +
                              ": " + what);
  };
  if (row.number < 0 || row.number > kMaxUint32) {
    return bad("number is out of range");
  }
  if (row.byte_offset < 0) {
    return bad("byte_offset " + std::to_string(row.byte_offset) + " is negative");
  }
  if (row.byte_length < 1 || row.byte_length > kMaxUint32) {
    return bad("byte_length " + std::to_string(row.byte_length) + " is out of range");
  }
  if (row.byte_offset > std::numeric_limits<int64_t>::max() - row.byte_length) {
    return bad("byte_offset " + std::to_string(row.byte_offset) + " + byte_length overflows");
  }
  PieceRecord record;
  if (row.digest.size() != record.digest.size()) {
    return bad("has a " + std::to_string(row.digest.size()) + "-byte digest");
  }
  record.number = static_cast<uint32_t>(row.number);
  record.offset = static_cast<uint64_t>(row.byte_offset);
  record.length = static_cast<uint32_t>(row.byte_length);
  std::memcpy(record.digest.data(), row.digest.data(), row.digest.size());
  return record;
}

}  // namespace feilong::storage
