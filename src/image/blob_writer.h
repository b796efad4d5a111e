// BlobWriter and ReadBlobTable: the data blobs of a lazy image
// (docs/image-format.md, "Data blobs").
//
// A data blob is its chunks' stored bytes back to back, then a table of
// its chunk records (blob index 0) and a 64-byte footer: magic
// "FLIBLOB\0" (8), major and minor version (2 + 2), flags (4), chunk
// count (8), table offset (8), SHA-256 of the table (32). So a blob describes itself, and its table
// can be read from its tail alone (a chunk dictionary for other images). The blob's OCI digest is
// the SHA-256 of all of it, computed while writing.
//
// Thread rule: a BlobWriter is not thread-safe; ReadBlobTable is a pure
// function.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/scoped_fd.h"
#include "common/status.h"
#include "image/metadata.h"

namespace feilong::image {

inline constexpr size_t kBlobFooterSize = 64;

class BlobWriter {
 public:
  // Creates `path` (AlreadyExists if it exists); chunks are stored with
  // `compression` where it makes them smaller (chunk_codec.h).
  static Result<std::unique_ptr<BlobWriter>> Create(const std::string& path,
                                                    Compression compression);
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  // Stores one chunk (its uncompressed bytes) and returns its record, with
  // blob_index 0: the caller numbers its blobs. `digest`, when the caller
  // has it, must be the data's SHA-256.
  Result<ChunkRecord> Add(std::span<const uint8_t> data);
  Result<ChunkRecord> Add(std::span<const uint8_t> data, const Sha256Digest& digest);
  // Writes the table and footer, syncs and closes the file. No Add after.
  Result<BlobRecord> Finish();

 private:
  BlobWriter(std::string path, ScopedFd fd, Compression compression);
  Status Write(std::span<const uint8_t> bytes);

  const std::string path_;
  ScopedFd fd_;
  const Compression compression_;
  Sha256Hasher hasher_;
  uint64_t size_ = 0;
  std::vector<ChunkRecord> chunks_;
  bool finished_ = false;
};

// The chunk table of a whole blob held in memory, checked: footer magic
// and version, table digest, every chunk within the data before the table.
// Corruption naming what is wrong.
Result<std::vector<ChunkRecord>> ReadBlobTable(std::span<const uint8_t> blob);

}  // namespace feilong::image
