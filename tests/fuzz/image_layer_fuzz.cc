// Fuzzes the reading of an image layer (image/layer_reader.h): a tar,
// plain, gzip or zstd, from a registry nobody here controls, applied to a
// TreeBuilder whose tree must stay a valid image whatever the layer holds.
//
// Invariants checked besides "no crash, no sanitizer report":
//   - an applied layer builds, and the built metadata decodes back (so no
//     entry named "..", no path outside the root, link counts right);
//   - a refused layer is Corruption, InvalidArgument or NotFound (a hard
//     link to nothing).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "common/digest.h"
#include "fuzz/fuzz_check.h"
#include "image/layer_reader.h"

using feilong::Result;
using feilong::Sha256Digest;
using feilong::image::ChunkSink;
using feilong::image::Metadata;
using feilong::image::TreeBuilder;

namespace {

constexpr uint32_t kChunk = 4096;

class CountingSink : public ChunkSink {
 public:
  explicit CountingSink(TreeBuilder& builder) : builder_(builder) {
    blob_ = builder_.AddBlob({.size = uint64_t{1} << 50});
  }
  Result<uint32_t> Put(std::span<const uint8_t> data, std::optional<uint64_t>) override {
    const Sha256Digest digest = feilong::Sha256(data);
    if (auto it = seen_.find(digest); it != seen_.end()) {
      return it->second;
    }
    FL_ASSIGN_OR_RETURN(uint32_t index,
                        builder_.AddChunk({.digest = digest,
                                           .compressed_offset = offset_,
                                           .compressed_size = static_cast<uint32_t>(data.size()),
                                           .uncompressed_size = static_cast<uint32_t>(data.size()),
                                           .blob_index = blob_}));
    offset_ += data.size();
    seen_.emplace(digest, index);
    return index;
  }

 private:
  TreeBuilder& builder_;
  uint32_t blob_ = 0;
  uint64_t offset_ = 0;
  std::map<Sha256Digest, uint32_t> seen_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memfd_create("layer", MFD_CLOEXEC);
  if (fd < 0 || write(fd, data, size) != static_cast<ssize_t>(size)) {
    if (fd >= 0) {
      close(fd);
    }
    return 0;
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  TreeBuilder builder(kChunk);
  CountingSink sink(builder);
  auto applied = feilong::image::ApplyLayer(path, kChunk, builder, sink);
  close(fd);
  if (!applied.ok()) {
    FUZZ_CHECK(applied.status().IsCorruption() || applied.status().IsInvalidArgument() ||
                   applied.status().IsNotFound(),
               applied.status().ToString());
    return 0;
  }
  Result<Metadata> built = builder.Build();
  FUZZ_CHECK(built.ok(), built.status().ToString());
  Result<Metadata> decoded = Metadata::Decode(built->Encode());
  FUZZ_CHECK(decoded.ok(), decoded.status().ToString());
  return 0;
}
