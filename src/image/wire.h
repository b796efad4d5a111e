// Little-endian byte helpers and the 56-byte chunk record, shared by the
// metadata blob and the data blob's chunk table (docs/image-format.md).
// Internal to src/image.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "common/digest.h"
#include "image/metadata.h"

namespace feilong::image::wire {

inline constexpr size_t kChunkRecordSize = 56;

inline size_t Padded(size_t n) { return (n + 7) & ~size_t{7}; }

// SHA-256 of a self-describing blob with its own 32-byte digest field (at
// `digest_offset`) taken as zeros: how the metadata blob and the checkpoint
// table check themselves. REQUIRES: bytes.size() >= digest_offset + 32.
inline Sha256Digest DigestWithFieldZeroed(std::span<const uint8_t> bytes, size_t digest_offset) {
  static constexpr uint8_t kZeros[32] = {};
  Sha256Hasher hasher;
  hasher.Update(bytes.first(digest_offset));
  hasher.Update(std::span(kZeros));
  hasher.Update(bytes.subspan(digest_offset + 32));
  return hasher.Finish();
}

// Little-endian appends to a byte string.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Le(v, 2); }
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  void I64(int64_t v) { Le(static_cast<uint64_t>(v), 8); }
  void Bytes(std::span<const uint8_t> b) {
    out_.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  void Zeros(size_t n) { out_.append(n, '\0'); }
  void PadTo8() { Zeros(Padded(out_.size()) - out_.size()); }

 private:
  void Le(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) {
      out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
  }
  std::string& out_;
};

// Little-endian reads at fixed offsets of a span the caller bounds-checked.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> in) : in_(in) {}
  uint8_t U8(size_t at) const { return in_[at]; }
  uint16_t U16(size_t at) const { return static_cast<uint16_t>(Le(at, 2)); }
  uint32_t U32(size_t at) const { return static_cast<uint32_t>(Le(at, 4)); }
  uint64_t U64(size_t at) const { return Le(at, 8); }
  Sha256Digest Digest(size_t at) const {
    Sha256Digest d;
    std::memcpy(d.data(), in_.data() + at, d.size());
    return d;
  }
  bool AllZero(size_t at, size_t n) const {
    return std::all_of(in_.begin() + static_cast<ptrdiff_t>(at),
                       in_.begin() + static_cast<ptrdiff_t>(at + n),
                       [](uint8_t b) { return b == 0; });
  }

 private:
  uint64_t Le(size_t at, int bytes) const {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      v |= uint64_t{in_[at + static_cast<size_t>(i)]} << (8 * i);
    }
    return v;
  }
  std::span<const uint8_t> in_;
};

// digest (32), compressed offset (8), compressed size (4), uncompressed
// size (4), blob index (4), compression (1), zero (3).
inline void PutChunk(Writer& w, const ChunkRecord& c) {
  w.Bytes(c.digest);
  w.U64(c.compressed_offset);
  w.U32(c.compressed_size);
  w.U32(c.uncompressed_size);
  w.U32(c.blob_index);
  w.U8(static_cast<uint8_t>(c.compression));
  w.Zeros(3);
}

// False when the compression is unknown or the reserved bytes are not zero;
// sizes and ranges are the caller's to check.
inline bool GetChunk(const Reader& r, size_t at, ChunkRecord* c) {
  c->digest = r.Digest(at);
  c->compressed_offset = r.U64(at + 32);
  c->compressed_size = r.U32(at + 40);
  c->uncompressed_size = r.U32(at + 44);
  c->blob_index = r.U32(at + 48);
  const uint8_t compression = r.U8(at + 52);
  if (compression > static_cast<uint8_t>(Compression::kLz4) || !r.AllZero(at + 53, 3)) {
    return false;
  }
  c->compression = static_cast<Compression>(compression);
  return true;
}

}  // namespace feilong::image::wire
