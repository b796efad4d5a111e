// Fuzzes what an index reader takes from registries it does not control
// (docs/image-format.md, "Without conversion"): the checkpoint table
// (image/checkpoint_table.h), and a layer decoded from a checkpoint
// (image/layer_decoder.h: raw deflate primed with the checkpoint's bits and
// window, or zstd from a frame start) over arbitrary layer bytes.
//
// Random bytes would all fail the table's SHA-256, so the harness writes a
// valid magic, major version and digest over the input before decoding:
// what is fuzzed are the header's counts and every record.
//
// Invariants checked besides "no crash, no sanitizer report":
//   - an accepted table encodes back to exactly the same bytes;
//   - its checkpoints are in order, a window apart, and inside their layer, and Before()
//     finds the last one at or before any offset;
//   - a decoder never returns more than asked, and its position moves by
//     what it returned;
//   - refusals are Corruption (InvalidArgument for a newer version).
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/scoped_fd.h"
#include "fuzz/fuzz_check.h"
#include "image/checkpoint_table.h"
#include "image/layer_decoder.h"

using feilong::Result;
using feilong::image::BlobKind;
using feilong::image::Checkpoint;
using feilong::image::CheckpointTable;
using feilong::image::LayerCheckpoints;

namespace {

constexpr size_t kHeader = 64;
constexpr size_t kDigestAt = 32;

void CheckLayer(const LayerCheckpoints& layer, uint64_t probe) {
  for (size_t k = 0; k < layer.checkpoints.size(); ++k) {
    const Checkpoint& c = layer.checkpoints[k];
    FUZZ_CHECK(c.stream_offset <= layer.stream_size && c.blob_offset <= layer.blob_size,
               "checkpoint " << k << " outside its layer");
    FUZZ_CHECK(k == 0 ? c.stream_offset == 0
                      : c.stream_offset > layer.checkpoints[k - 1].stream_offset &&
                            c.stream_offset - layer.checkpoints[k - 1].stream_offset >=
                                feilong::image::kMinCheckpointGap,
               "checkpoint " << k << " out of order or too close to the one before");
  }
  if (!layer.checkpoints.empty()) {
    const Checkpoint& before = layer.Before(probe);
    FUZZ_CHECK(before.stream_offset <= probe, "Before() gave a later checkpoint");
    FUZZ_CHECK(&before == &layer.checkpoints.back() || (&before + 1)->stream_offset > probe,
               "Before() skipped a checkpoint");
  }
}

void FuzzTable(FuzzedDataProvider& in) {
  const uint64_t probe = in.ConsumeIntegral<uint64_t>();
  std::string bytes = in.ConsumeRemainingBytesAsString();
  if (bytes.size() >= kHeader) {
    std::memcpy(bytes.data(), "FLICKPT\0\1\0\0\0", 12);  // minor 0: what Encode writes
    std::memset(bytes.data() + kDigestAt, 0, 32);
    const feilong::Sha256Digest digest = feilong::Sha256(bytes);
    std::memcpy(bytes.data() + kDigestAt, digest.data(), digest.size());
  }
  Result<CheckpointTable> table = CheckpointTable::Decode(bytes);
  if (!table.ok()) {
    FUZZ_CHECK(table.status().IsCorruption() || table.status().IsInvalidArgument(),
               table.status().ToString());
    return;
  }
  FUZZ_CHECK(table->Encode() == bytes, "decoded table encodes differently");
  for (const LayerCheckpoints& layer : table->layers) {
    CheckLayer(layer, probe);
  }
}

void FuzzDecoder(FuzzedDataProvider& in) {
  const BlobKind kind = in.ConsumeBool() ? BlobKind::kLayerGzip : BlobKind::kLayerZstd;
  const bool from_start = in.ConsumeBool();
  Checkpoint at;
  at.stream_offset = in.ConsumeIntegralInRange<uint64_t>(0, 1 << 20);
  at.bits = kind == BlobKind::kLayerGzip ? in.ConsumeIntegralInRange<uint8_t>(0, 7) : 0;
  if (kind == BlobKind::kLayerGzip) {
    at.window = in.ConsumeRandomLengthString(feilong::image::kGzipWindowSize);
  }
  const std::string blob = in.ConsumeRemainingBytesAsString();
  at.blob_offset = blob.empty() ? 0 : (at.stream_offset % (blob.size() + 1));
  if (at.bits > 0 && at.blob_offset == 0) {
    at.bits = 0;  // as the table's rules guarantee
  }
  feilong::ScopedFd fd(::memfd_create("layer", MFD_CLOEXEC));
  FUZZ_CHECK(fd.valid() &&
                 ::write(fd.get(), blob.data(), blob.size()) == static_cast<ssize_t>(blob.size()),
             "cannot write the layer to a memfd");
  auto decoder = feilong::image::LayerDecoder::Start(fd.get(), blob.size(), kind,
                                                     from_start ? nullptr : &at, "fuzzed layer");
  FUZZ_CHECK(decoder.ok() || decoder.status().IsCorruption(), decoder.status().ToString());
  if (!decoder.ok()) {
    return;
  }
  std::vector<uint8_t> out(256u << 10);
  for (int round = 0; round < 4; ++round) {
    const uint64_t before = (*decoder)->position();
    Result<size_t> n = (*decoder)->Read(out);
    if (!n.ok()) {
      FUZZ_CHECK(n.status().IsCorruption(), n.status().ToString());
      return;
    }
    FUZZ_CHECK(*n <= out.size() && (*decoder)->position() == before + *n,
               "read " << *n << " bytes, position moved " << (*decoder)->position() - before);
    if (*n < out.size()) {
      return;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  if (in.ConsumeBool()) {
    FuzzTable(in);
  } else {
    FuzzDecoder(in);
  }
  return 0;
}
