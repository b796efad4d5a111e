// Encoding and checking of the checkpoint blob; the byte layout is specified
// in docs/image-format.md ("Checkpoint blob"), which this file follows field
// by field.
#include "image/checkpoint_table.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "image/wire.h"

namespace feilong::image {

using wire::Padded;
using wire::Reader;
using wire::Writer;

namespace {

constexpr char kMagic[8] = {'F', 'L', 'I', 'C', 'K', 'P', 'T', '\0'};
constexpr uint16_t kMajor = 1;
constexpr uint16_t kMinor = 0;
constexpr size_t kHeaderSize = 64;
constexpr size_t kDigestOffset = 32;
constexpr size_t kLayerRecordSize = 32;
constexpr size_t kCheckpointRecordSize = 32;
constexpr uint8_t kLayerWhole = 1;

Status Bad(const std::string& what) { return Status::Corruption("checkpoint table: " + what); }

// Checks one checkpoint of a layer against the layer and the one before it.
Status CheckCheckpoint(const LayerCheckpoints& layer, size_t k, const std::string& name) {
  const Checkpoint& c = layer.checkpoints[k];
  // Checkpoints closer than a window apart buy a reader nothing and would
  // let a hostile table split a layer into millions of stretches for the
  // reader to keep track of; the indexer never writes them. The blob gap
  // also bounds the table by the layers' sizes (CheckpointTableSizeLimit).
  if (k == 0 ? c.stream_offset != 0
             : c.stream_offset <= layer.checkpoints[k - 1].stream_offset ||
                   c.stream_offset - layer.checkpoints[k - 1].stream_offset < kMinCheckpointGap ||
                   c.blob_offset <= layer.checkpoints[k - 1].blob_offset ||
                   c.blob_offset - layer.checkpoints[k - 1].blob_offset < kMinCheckpointGap) {
    return Bad(name + ": out of order or closer than " + std::to_string(kMinCheckpointGap) +
               " bytes to the one before (the first must be at stream offset 0)");
  }
  if (c.stream_offset > layer.stream_size || c.blob_offset > layer.blob_size) {
    return Bad(name + ": beyond its layer (blob offset " + std::to_string(c.blob_offset) + " of " +
               std::to_string(layer.blob_size) + ")");
  }
  if (layer.kind == BlobKind::kLayerGzip) {
    if (c.bits > 7 || (c.bits > 0 && c.blob_offset == 0) || c.window.size() > kGzipWindowSize ||
        c.window.size() > c.stream_offset) {
      return Bad(name + ": bit count or window out of bounds");
    }
  } else if (c.bits != 0 || !c.window.empty()) {
    return Bad(name + ": a zstd checkpoint has bits or a window");
  }
  return Status::Ok();
}

Status CheckLayer(const LayerCheckpoints& layer, size_t index) {
  const std::string name = "layer " + std::to_string(index);
  if (layer.kind == BlobKind::kLayerTar) {
    if (!layer.checkpoints.empty() || layer.whole || layer.stream_size != layer.blob_size) {
      return Bad(name + ": an uncompressed layer with checkpoints or another stream size");
    }
    return Status::Ok();
  }
  if (layer.checkpoints.empty() ||
      (layer.whole && (layer.kind != BlobKind::kLayerZstd || layer.checkpoints.size() != 1))) {
    return Bad(name + ": no checkpoint, or marked whole but not a zstd layer of one checkpoint");
  }
  for (size_t k = 0; k < layer.checkpoints.size(); ++k) {
    FL_RETURN_IF_ERROR(CheckCheckpoint(layer, k, name + " checkpoint " + std::to_string(k)));
  }
  return Status::Ok();
}

}  // namespace

uint64_t CheckpointTableSizeLimit(std::span<const uint64_t> blob_sizes) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  constexpr uint64_t kPerCheckpoint = kCheckpointRecordSize + kGzipWindowSize;
  uint64_t limit = kHeaderSize + 8;  // and padding
  for (uint64_t size : blob_sizes) {
    const uint64_t checkpoints = size / kMinCheckpointGap + 1;
    if (checkpoints > (kMax - kLayerRecordSize) / kPerCheckpoint ||
        kLayerRecordSize + checkpoints * kPerCheckpoint > kMax - limit) {
      return kMax;
    }
    limit += kLayerRecordSize + checkpoints * kPerCheckpoint;
  }
  return limit;
}

const Checkpoint& LayerCheckpoints::Before(uint64_t stream_offset) const {
  auto after = std::upper_bound(
      checkpoints.begin(), checkpoints.end(), stream_offset,
      [](uint64_t offset, const Checkpoint& c) { return offset < c.stream_offset; });
  return *(after - 1);  // the first checkpoint is at offset 0
}

std::string CheckpointTable::Encode() const {
  std::string body;
  Writer w(body);
  uint32_t first = 0;
  for (const LayerCheckpoints& layer : layers) {
    w.U8(static_cast<uint8_t>(layer.kind));
    w.U8(layer.whole ? kLayerWhole : 0);
    w.U16(0);
    w.U32(first);
    w.U32(static_cast<uint32_t>(layer.checkpoints.size()));
    w.U32(0);
    w.U64(layer.blob_size);
    w.U64(layer.stream_size);
    first += static_cast<uint32_t>(layer.checkpoints.size());
  }
  std::string pool;
  for (const LayerCheckpoints& layer : layers) {
    for (const Checkpoint& c : layer.checkpoints) {
      w.U64(c.stream_offset);
      w.U64(c.blob_offset);
      w.U64(pool.size());
      w.U32(static_cast<uint32_t>(c.window.size()));
      w.U8(c.bits);
      w.Zeros(3);
      pool += c.window;
    }
  }
  body += pool;
  w.PadTo8();

  std::string out;
  Writer h(out);
  h.Bytes(std::span(reinterpret_cast<const uint8_t*>(kMagic), sizeof kMagic));
  h.U16(kMajor);
  h.U16(kMinor);
  h.U32(0);  // flags
  h.U32(static_cast<uint32_t>(layers.size()));
  h.U32(first);
  h.U64(pool.size());
  h.Zeros(kHeaderSize - out.size());
  out += body;
  const Sha256Digest digest = wire::DigestWithFieldZeroed(
      std::span(reinterpret_cast<const uint8_t*>(out.data()), out.size()), kDigestOffset);
  std::memcpy(out.data() + kDigestOffset, digest.data(), digest.size());
  return out;
}

Result<CheckpointTable> CheckpointTable::Decode(std::string_view bytes) {
  return Decode(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

namespace {

// Decode() in three steps: the header against the blob, each layer record,
// each checkpoint record; it walks the checkpoints and the window pool in
// order, as Encode() writes them.
class TableDecoder {
 public:
  explicit TableDecoder(std::span<const uint8_t> bytes) : bytes_(bytes), r_(bytes) {}

  Result<CheckpointTable> Run() {
    FL_RETURN_IF_ERROR(Header());
    CheckpointTable table;
    table.layers.resize(layer_count_);
    for (size_t i = 0; i < layer_count_; ++i) {
      FL_RETURN_IF_ERROR(Layer(i, table.layers[i]));
    }
    if (next_checkpoint_ != checkpoint_count_ || next_window_ != pool_size_) {
      return Bad("checkpoints or windows belong to no layer");
    }
    return table;
  }

 private:
  Status Header() {
    if (bytes_.size() < kHeaderSize || std::memcmp(bytes_.data(), kMagic, sizeof kMagic) != 0) {
      return Bad("not a checkpoint table (short, or wrong magic)");
    }
    if (r_.U16(8) != kMajor || r_.U32(12) != 0) {
      return Status::InvalidArgument("checkpoint table: format " + std::to_string(r_.U16(8)) +
                                     " or flags " + std::to_string(r_.U32(12)) +
                                     " of a newer flimage (this build reads 1.x, no flags)");
    }
    layer_count_ = r_.U32(16);
    checkpoint_count_ = r_.U32(20);
    pool_size_ = r_.U64(24);
    if (wire::DigestWithFieldZeroed(bytes_, kDigestOffset) != r_.Digest(kDigestOffset)) {
      return Bad("digest does not match the header (damaged or truncated)");
    }
    // The counts are below 2^32 and the pool is bounded by the blob first,
    // so nothing here overflows.
    const size_t available = bytes_.size() - kHeaderSize;
    if (pool_size_ > available ||
        Padded(layer_count_ * kLayerRecordSize + checkpoint_count_ * kCheckpointRecordSize +
               pool_size_) != available) {
      return Bad("the header's sizes do not add up to the blob's " + std::to_string(bytes_.size()) +
                 " bytes");
    }
    checkpoints_at_ = kHeaderSize + layer_count_ * kLayerRecordSize;
    pool_at_ = checkpoints_at_ + checkpoint_count_ * kCheckpointRecordSize;
    if (!r_.AllZero(pool_at_ + pool_size_, available - (pool_at_ - kHeaderSize) - pool_size_)) {
      return Bad("padding is not zero");
    }
    return Status::Ok();
  }

  Status Layer(size_t i, LayerCheckpoints& layer) {
    const size_t p = kHeaderSize + i * kLayerRecordSize;
    const uint8_t kind = r_.U8(p);
    const uint8_t flags = r_.U8(p + 1);
    if (kind < static_cast<uint8_t>(BlobKind::kLayerTar) ||
        kind > static_cast<uint8_t>(BlobKind::kLayerZstd) || (flags & ~kLayerWhole) != 0 ||
        r_.U16(p + 2) != 0 || r_.U32(p + 12) != 0 || r_.U32(p + 4) != next_checkpoint_ ||
        r_.U32(p + 8) > checkpoint_count_ - next_checkpoint_) {
      return Bad("layer " + std::to_string(i) + ": unknown kind or flags, or checkpoints out of " +
                 "order");
    }
    layer.kind = static_cast<BlobKind>(kind);
    layer.whole = (flags & kLayerWhole) != 0;
    layer.blob_size = r_.U64(p + 16);
    layer.stream_size = r_.U64(p + 24);
    layer.checkpoints.resize(r_.U32(p + 8));
    for (Checkpoint& c : layer.checkpoints) {
      FL_RETURN_IF_ERROR(NextCheckpoint(c));
    }
    return CheckLayer(layer, i);
  }

  Status NextCheckpoint(Checkpoint& c) {
    const size_t q = checkpoints_at_ + next_checkpoint_ * kCheckpointRecordSize;
    const uint64_t window_length = r_.U32(q + 24);
    if (r_.U64(q + 16) != next_window_ || window_length > pool_size_ - next_window_ ||
        !r_.AllZero(q + 29, 3)) {
      return Bad("checkpoint " + std::to_string(next_checkpoint_) +
                 ": window out of the pool or reserved bytes not zero");
    }
    c.stream_offset = r_.U64(q);
    c.blob_offset = r_.U64(q + 8);
    c.bits = r_.U8(q + 28);
    c.window.assign(reinterpret_cast<const char*>(bytes_.data() + pool_at_ + next_window_),
                    window_length);
    ++next_checkpoint_;
    next_window_ += window_length;
    return Status::Ok();
  }

  const std::span<const uint8_t> bytes_;
  const Reader r_;
  uint64_t layer_count_ = 0;
  uint64_t checkpoint_count_ = 0;
  uint64_t pool_size_ = 0;
  size_t checkpoints_at_ = 0;  // offsets in the blob
  size_t pool_at_ = 0;
  uint64_t next_checkpoint_ = 0;  // the next record to read
  uint64_t next_window_ = 0;      // its window's offset in the pool
};

}  // namespace

Result<CheckpointTable> CheckpointTable::Decode(std::span<const uint8_t> bytes) {
  return TableDecoder(bytes).Run();
}

}  // namespace feilong::image
