// Fuzzes what a lazy image's reader takes from a data blob
// (image/blob_writer.h, image/chunk_codec.h): the chunk table at the blob's
// end, and one chunk's stored bytes decoded with a fuzzed record.
//
// The harness writes a valid footer magic and, when the footer's table
// range is inside the input, the table's digest, so the table itself is
// what is fuzzed.
//
// Invariants checked besides "no crash, no sanitizer report":
//   - every chunk of an accepted table lies in the data before the table;
//   - a chunk that decodes has exactly its record's size and digest;
//   - refusals are Corruption (InvalidArgument for an unknown version).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/digest.h"
#include "fuzz/fuzz_check.h"
#include "image/blob_writer.h"
#include "image/chunk_codec.h"

using feilong::Result;
using feilong::image::ChunkRecord;
using feilong::image::Compression;
using feilong::image::kBlobFooterSize;

namespace {

uint64_t Le64(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v |= uint64_t{static_cast<uint8_t>(s[at + static_cast<size_t>(i)])} << (8 * i);
  }
  return v;
}

void FuzzTable(std::string blob) {
  if (blob.size() >= kBlobFooterSize) {
    const size_t footer = blob.size() - kBlobFooterSize;
    std::memcpy(blob.data() + footer, "FLIBLOB\0\1\0\0\0\0\0\0\0", 16);
    const uint64_t table = Le64(blob, footer + 24);
    if (table <= footer) {
      auto digest = feilong::Sha256(std::string_view(blob).substr(table, footer - table));
      std::memcpy(blob.data() + footer + 32, digest.data(), digest.size());
    }
  }
  auto bytes = std::span(reinterpret_cast<const uint8_t*>(blob.data()), blob.size());
  Result<std::vector<ChunkRecord>> table = feilong::image::ReadBlobTable(bytes);
  if (!table.ok()) {
    FUZZ_CHECK(table.status().IsCorruption() || table.status().IsInvalidArgument(),
               table.status().ToString());
    return;
  }
  const uint64_t table_offset = Le64(blob, blob.size() - kBlobFooterSize + 24);
  for (const ChunkRecord& c : *table) {
    FUZZ_CHECK(c.compressed_offset + c.compressed_size <= table_offset,
               "chunk at " << c.compressed_offset << " past the table at " << table_offset);
  }
}

void FuzzChunk(FuzzedDataProvider& in) {
  ChunkRecord record;
  record.compression = static_cast<Compression>(in.ConsumeIntegralInRange<int>(0, 2));
  record.uncompressed_size = in.ConsumeIntegralInRange<uint32_t>(1, 1 << 17);
  const std::string stored = in.ConsumeRemainingBytesAsString();
  record.compressed_size = static_cast<uint32_t>(stored.size());
  // The digest of what a plain copy would give, so some inputs decode.
  record.digest = feilong::Sha256(stored);
  auto bytes = std::span(reinterpret_cast<const uint8_t*>(stored.data()), stored.size());
  Result<std::vector<uint8_t>> data = feilong::image::LoadChunk(record, bytes);
  if (!data.ok()) {
    FUZZ_CHECK(data.status().IsCorruption(), data.status().ToString());
    return;
  }
  FUZZ_CHECK(data->size() == record.uncompressed_size, "decoded " << data->size() << " bytes");
  FUZZ_CHECK(feilong::Sha256(*data) == record.digest, "decoded bytes with another digest");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  if (in.ConsumeBool()) {
    FuzzTable(in.ConsumeRemainingBytesAsString());
  } else {
    FuzzChunk(in);
  }
  return 0;
}
