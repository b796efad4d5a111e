// Decoding of the metadata rows the piece store reads back from its SQLite
// database (tasks and pieces). The database is on disk and may have been
// damaged or written by another version: every value is checked before it
// becomes a TaskMeta or PieceRecord, so a bad row is a Corruption error and
// never a division by zero or a truncated number. Shared by the store and
// tests/fuzz/piece_record_fuzz.cc.
//
// Thread rule: free functions on values; safe from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/status.h"
#include "storage/piece_store.h"

namespace feilong::storage {

// The columns of one `tasks` row, as SQLite returns them.
struct TaskRow {
  std::string task_id;
  std::string url;
  int64_t content_length = 0;
  int64_t piece_length = 0;
  int64_t complete = 0;
  int64_t created_at = 0;
  int64_t accessed_at = 0;
  int64_t private_task = 0;
  std::string grant_key;
};

// A TaskMeta, or Corruption naming the task and the bad value when: the task
// id is not 64 lowercase hex characters, content_length is negative,
// piece_length is not in [1, UINT32_MAX], or the task would have more than
// UINT32_MAX pieces (the rules CreateTask enforces). complete is any
// non-zero value.
Result<TaskMeta> DecodeTaskRow(const TaskRow& row);

// The columns of one `pieces` row, as SQLite returns them. `digest` points
// into the statement's memory.
struct PieceRow {
  int64_t number = 0;
  int64_t byte_offset = 0;
  int64_t byte_length = 0;
  std::span<const uint8_t> digest;
};

// A PieceRecord, or Corruption naming the piece and the bad value when:
// number is not in [0, UINT32_MAX], byte_offset is negative, byte_length is
// not in [1, UINT32_MAX], offset + length overflows int64, or the digest is
// not 32 bytes. `task_id` only names the piece in the error.
Result<PieceRecord> DecodePieceRow(const PieceRow& row, const std::string& task_id);

}  // namespace feilong::storage
