// Fuzzes the decoding of the piece store's metadata rows read back from
// disk (storage/piece_record.h): the input supplies the column values of a
// `tasks` row and of a `pieces` row, as a damaged or foreign database could
// hold them.
//
// Invariants checked besides "no crash, no sanitizer report" (a division by
// zero in PieceCount is one):
//   - a decoded task has piece_length >= 1, a piece count that fits uint32,
//     and pieces that tile [0, content_length): the last piece ends exactly
//     at content_length and every piece but the last is piece_length long;
//   - a decoded piece keeps its number, offset and length unchanged, has a
//     32-byte digest, and offset + length does not overflow;
//   - rejected rows are Corruption.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "storage/piece_record.h"

using feilong::Result;
using feilong::storage::DecodePieceRow;
using feilong::storage::DecodeTaskRow;
using feilong::storage::PieceRecord;
using feilong::storage::PieceRow;
using feilong::storage::TaskMeta;
using feilong::storage::TaskRow;

namespace {

// Mostly small or boundary values, so the interesting cases come up often.
int64_t PickInt64(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      return in.ConsumeIntegralInRange<int64_t>(-2, 1 << 20);
    case 1:
      return in.PickValueInArray<int64_t>(
          {0, 1, -1, int64_t{1} << 32, (int64_t{1} << 32) - 1, (int64_t{1} << 32) + 1,
           std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(),
           int64_t{4} << 20, int64_t{64} << 20});
    default:
      return in.ConsumeIntegral<int64_t>();
  }
}

void CheckTask(const TaskRow& row) {
  Result<TaskMeta> meta = DecodeTaskRow(row);
  if (!meta.ok()) {
    FUZZ_CHECK(meta.status().IsCorruption(), meta.status().ToString());
    return;
  }
  const TaskMeta& m = *meta;
  FUZZ_CHECK(m.piece_length >= 1, "piece_length 0");
  FUZZ_CHECK(static_cast<int64_t>(m.content_length) == row.content_length &&
                 int64_t{m.piece_length} == row.piece_length,
             "values changed");
  uint32_t count = m.PieceCount();
  uint64_t expected = (m.content_length + m.piece_length - 1) / m.piece_length;
  FUZZ_CHECK(count == expected, "count " << count << " expected " << expected);
  if (count == 0) {
    FUZZ_CHECK(m.content_length == 0, "no pieces for " << m.content_length << " bytes");
    return;
  }
  uint32_t last = count - 1;
  FUZZ_CHECK(m.PieceSize(last) >= 1 && m.PieceSize(last) <= m.piece_length,
             "last piece size " << m.PieceSize(last));
  FUZZ_CHECK(
      m.PieceOffset(last) + m.PieceSize(last) == m.content_length,
      "pieces end at " << m.PieceOffset(last) + m.PieceSize(last) << " not " << m.content_length);
  if (count > 1) {
    FUZZ_CHECK(m.PieceSize(0) == m.piece_length, "first piece size " << m.PieceSize(0));
  }
}

void CheckPiece(const PieceRow& row) {
  Result<PieceRecord> record = DecodePieceRow(row, "t");
  if (!record.ok()) {
    FUZZ_CHECK(record.status().IsCorruption(), record.status().ToString());
    return;
  }
  FUZZ_CHECK(int64_t{record->number} == row.number, "number changed");
  FUZZ_CHECK(static_cast<int64_t>(record->offset) == row.byte_offset, "offset changed");
  FUZZ_CHECK(int64_t{record->length} == row.byte_length && record->length >= 1, "length changed");
  FUZZ_CHECK(row.digest.size() == 32, "digest size " << row.digest.size());
  FUZZ_CHECK(record->offset + record->length >= record->offset &&
                 record->offset + record->length <=
                     static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
             "offset + length overflows");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  TaskRow task;
  task.task_id = in.ConsumeBool() ? std::string(64, 'a') : in.ConsumeRandomLengthString(80);
  task.url = in.ConsumeRandomLengthString(64);
  task.content_length = PickInt64(in);
  task.piece_length = PickInt64(in);
  task.complete = PickInt64(in);
  task.created_at = PickInt64(in);
  task.accessed_at = PickInt64(in);
  CheckTask(task);

  PieceRow piece;
  piece.number = PickInt64(in);
  piece.byte_offset = PickInt64(in);
  piece.byte_length = PickInt64(in);
  std::vector<uint8_t> digest =
      in.ConsumeBool() ? std::vector<uint8_t>(32, 7) : in.ConsumeBytes<uint8_t>(40);
  piece.digest = digest;
  CheckPiece(piece);
  return 0;
}
