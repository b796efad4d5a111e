// Fuzzes the decoding of a lazy image's metadata blob (image/metadata.h),
// which flimage and flfs read from registries they do not control.
//
// Random bytes would all fail the blob's SHA-256, so the harness writes a
// valid magic, major version and digest over the input before decoding:
// what is fuzzed are the header's counts and every table.
//
// Invariants checked besides "no crash, no sanitizer report":
//   - a decoded blob encodes back to exactly the same bytes (one encoding);
//   - every directory entry is found again by LookupIn with its name;
//   - every regular file's chunks add up to its size;
//   - rejected input is Corruption or InvalidArgument.
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/digest.h"
#include "fuzz/fuzz_check.h"
#include "image/metadata.h"

using feilong::Result;
using feilong::Sha256Digest;
using feilong::Sha256Hasher;
using feilong::image::Metadata;

namespace {
constexpr size_t kHeader = 128;
constexpr size_t kDigestAt = 56;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kHeader) {
    (void)Metadata::Decode(std::span(data, size));
    return 0;
  }
  std::string bytes(reinterpret_cast<const char*>(data), size);
  std::memcpy(bytes.data(), "FLIMETA\0", 8);
  bytes[8] = 1;
  bytes[9] = 0;
  bytes[10] = bytes[12] & 1;  // minor version 0, or 1 with source layers: what Encode writes
  bytes[11] = 0;
  std::memset(bytes.data() + kDigestAt, 0, 32);
  Sha256Hasher hasher;
  hasher.Update(bytes);
  const Sha256Digest digest = hasher.Finish();
  std::memcpy(bytes.data() + kDigestAt, digest.data(), digest.size());

  Result<Metadata> decoded = Metadata::Decode(bytes);
  if (!decoded.ok()) {
    FUZZ_CHECK(decoded.status().IsCorruption() || decoded.status().IsInvalidArgument(),
               decoded.status().ToString());
    return 0;
  }
  const Metadata& m = *decoded;
  FUZZ_CHECK(m.Encode() == bytes, "decoded blob encodes differently");
  for (uint32_t i = 0; i < m.inodes.size(); ++i) {
    const auto& inode = m.inodes[i];
    if ((inode.mode & S_IFMT) == S_IFDIR) {
      for (const auto& entry : m.Entries(inode)) {
        auto found = m.LookupIn(i, m.Name(entry));
        FUZZ_CHECK(found && *found == entry.inode, "entry not found again: " << m.Name(entry));
      }
    } else if ((inode.mode & S_IFMT) == S_IFREG) {
      uint64_t total = 0;
      for (uint32_t chunk : m.FileChunks(inode)) {
        total += m.chunks[chunk].uncompressed_size;
      }
      FUZZ_CHECK(total == inode.size, "chunks add up to " << total << " of " << inode.size);
    }
  }
  return 0;
}
