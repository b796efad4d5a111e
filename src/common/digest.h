// Content digests: SHA-256 (OpenSSL) for integrity and content addressing,
// CRC32C for cheap checksums, and lowercase hex encoding.
//
// Digest strings use the OCI form "sha256:<64 hex>".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace feilong {

using Sha256Digest = std::array<uint8_t, 32>;

// Lowercase hex of `bytes`.
std::string HexEncode(std::span<const uint8_t> bytes);
// Bytes of a hex string (either case). InvalidArgument on odd length or a non-hex char.
Result<std::string> HexDecode(std::string_view hex);

// Incremental SHA-256. Not thread-safe; one hasher per stream.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::span<const uint8_t> data);
  void Update(std::string_view data);
  // Returns the digest and resets the hasher for a new stream.
  Sha256Digest Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

Sha256Digest Sha256(std::span<const uint8_t> data);
Sha256Digest Sha256(std::string_view data);
// "sha256:<hex>"
std::string Sha256String(const Sha256Digest& digest);
// Parses "sha256:<64 hex>". InvalidArgument naming the input otherwise.
Result<Sha256Digest> ParseSha256String(std::string_view text);
// SHA-256 of a whole file, streamed. NotFound / IOError naming the path.
Result<Sha256Digest> Sha256File(const std::string& path);

// CRC32C (Castagnoli). `Crc32cExtend(Crc32cExtend(0, a), b) == Crc32c(a + b)`.
// Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise
// (chosen once per process); both give the same values. Thread-safe.
uint32_t Crc32cExtend(uint32_t crc, std::span<const uint8_t> data);
inline uint32_t Crc32c(std::span<const uint8_t> data) { return Crc32cExtend(0, data); }
uint32_t Crc32c(std::string_view data);

}  // namespace feilong
