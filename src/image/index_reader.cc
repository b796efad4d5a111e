#include "image/index_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>

#include "common/fd_io.h"
#include "image/chunk_codec.h"

namespace feilong::image {

namespace {

constexpr size_t kCopyBlock = 1u << 20;

// An unlinked temporary file, for a layer's whole stream.
Result<ScopedFd> MakeTemporaryFile() {
  const char* dir = std::getenv("TMPDIR");
  std::string path =
      std::string(dir != nullptr && *dir != '\0' ? dir : "/var/tmp") + "/flimage-layer-XXXXXX";
  ScopedFd fd(::mkostemp(path.data(), O_CLOEXEC));
  if (!fd.valid()) {
    return Status::FromErrno(errno, "make a temporary file " + path);
  }
  ::unlink(path.c_str());
  return fd;
}

}  // namespace

IndexChunkReader::IndexChunkReader(const OciLayout& layout, const LazyImage& image)
    : layout_(layout), image_(image) {}

IndexChunkReader::~IndexChunkReader() = default;

Result<IndexChunkReader::Layer*> IndexChunkReader::OpenLayer(uint32_t blob_index) {
  auto it = layers_.find(blob_index);
  if (it != layers_.end()) {
    return &it->second;
  }
  const std::string path = layout_.BlobPath(image_.metadata.blobs[blob_index].digest);
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return errno == ENOENT ? Status::NotFound("layer " + path + " is not in the layout")
                           : Status::FromErrno(errno, "open layer " + path);
  }
  return &layers_.emplace(blob_index, Layer{std::move(fd), nullptr, ScopedFd()}).first->second;
}

Status IndexChunkReader::DecompressWhole(uint32_t blob_index, Layer& layer) {
  const LayerCheckpoints& table = image_.checkpoints.layers[blob_index];
  FL_ASSIGN_OR_RETURN(ScopedFd out, MakeTemporaryFile());
  FL_ASSIGN_OR_RETURN(std::unique_ptr<LayerDecoder> decoder,
                      LayerDecoder::Start(layer.blob.get(), table.blob_size, table.kind, nullptr,
                                          "layer " + std::to_string(blob_index)));
  std::vector<uint8_t> block(kCopyBlock);
  while (decoder->position() < table.stream_size) {
    FL_ASSIGN_OR_RETURN(size_t n, decoder->Read(block));
    if (n == 0) {
      return Status::Corruption("layer " + std::to_string(blob_index) + ": its stream ends at " +
                                std::to_string(decoder->position()) + " of " +
                                std::to_string(table.stream_size) + " bytes");
    }
    FL_RETURN_IF_ERROR(WriteFully(out.get(), std::span(block).first(n), "a temporary file"));
  }
  layer.whole = std::move(out);
  return Status::Ok();
}

Result<const IndexChunkReader::Segment*> IndexChunkReader::GetSegment(uint32_t blob_index,
                                                                      Layer& layer, size_t k,
                                                                      uint64_t size) {
  const SegmentKey key(blob_index, k);
  if (auto it = segment_at_.find(key); it != segment_at_.end()) {
    segments_.splice(segments_.begin(), segments_, it->second);
    return &segments_.front();
  }
  const LayerCheckpoints& table = image_.checkpoints.layers[blob_index];
  FL_ASSIGN_OR_RETURN(
      std::unique_ptr<LayerDecoder> decoder,
      LayerDecoder::Start(layer.blob.get(), table.blob_size, table.kind, &table.checkpoints[k],
                          "layer " + std::to_string(blob_index)));
  Segment segment{key, std::vector<uint8_t>(size)};
  FL_ASSIGN_OR_RETURN(size_t n, decoder->Read(segment.bytes));
  if (n != size) {
    return Status::Corruption("layer " + std::to_string(blob_index) + ": its stream ends inside " +
                              "checkpoint " + std::to_string(k) + "'s stretch");
  }
  const uint64_t charge = size + kSegmentOverheadBytes;
  while (!segments_.empty() && segment_bytes_ + charge > kSegmentCacheBytes) {
    segment_bytes_ -= segments_.back().bytes.size() + kSegmentOverheadBytes;
    segment_at_.erase(segments_.back().key);
    segments_.pop_back();
  }
  segment_bytes_ += charge;
  segments_.push_front(std::move(segment));
  segment_at_[key] = segments_.begin();
  return &segments_.front();
}

Status IndexChunkReader::ReadWithCursor(uint32_t blob_index, Layer& layer, uint64_t offset,
                                        std::span<uint8_t> out) {
  const LayerCheckpoints& table = image_.checkpoints.layers[blob_index];
  const Checkpoint& start = table.Before(offset);
  const bool reuse = layer.cursor != nullptr && layer.cursor->position() <= offset &&
                     layer.cursor->position() >= start.stream_offset;
  if (!reuse) {
    FL_ASSIGN_OR_RETURN(layer.cursor,
                        LayerDecoder::Start(layer.blob.get(), table.blob_size, table.kind, &start,
                                            "layer " + std::to_string(blob_index)));
  }
  FL_RETURN_IF_ERROR(layer.cursor->Skip(offset - layer.cursor->position()));
  FL_ASSIGN_OR_RETURN(size_t n, layer.cursor->Read(out));
  if (n != out.size()) {
    return Status::Corruption("layer " + std::to_string(blob_index) + ": its stream ends before " +
                              "byte " + std::to_string(offset + out.size()));
  }
  return Status::Ok();
}

Status IndexChunkReader::ReadStream(uint32_t blob_index, Layer& layer, uint64_t offset,
                                    std::span<uint8_t> out) {
  const LayerCheckpoints& table = image_.checkpoints.layers[blob_index];
  const std::string name = "layer " + std::to_string(blob_index);
  if (table.kind == BlobKind::kLayerTar) {
    return PreadFully(layer.blob.get(), out, offset, name);
  }
  if (table.whole) {
    if (!layer.whole.valid()) {
      FL_RETURN_IF_ERROR(DecompressWhole(blob_index, layer));
    }
    return PreadFully(layer.whole.get(), out, offset, name);
  }
  const size_t k = static_cast<size_t>(&table.Before(offset) - table.checkpoints.data());
  const uint64_t begin = table.checkpoints[k].stream_offset;
  const uint64_t end =
      k + 1 < table.checkpoints.size() ? table.checkpoints[k + 1].stream_offset : table.stream_size;
  if (end - begin > kMaxSegmentBytes || offset + out.size() > end) {
    return ReadWithCursor(blob_index, layer, offset, out);
  }
  FL_ASSIGN_OR_RETURN(const Segment* segment, GetSegment(blob_index, layer, k, end - begin));
  std::copy_n(segment->bytes.begin() + static_cast<ptrdiff_t>(offset - begin), out.size(),
              out.begin());
  return Status::Ok();
}

Result<std::vector<uint8_t>> IndexChunkReader::Read(uint32_t index) {
  const Metadata& m = image_.metadata;
  if (index >= m.chunks.size()) {
    return Status::InvalidArgument("no chunk " + std::to_string(index));
  }
  const ChunkRecord& chunk = m.chunks[index];
  FL_ASSIGN_OR_RETURN(Layer * layer, OpenLayer(chunk.blob_index));
  std::vector<uint8_t> bytes(chunk.uncompressed_size);
  Status read = ReadStream(chunk.blob_index, *layer, chunk.compressed_offset, bytes);
  if (!read.ok()) {
    layer->cursor.reset();  // its state is unknown now
    return read;
  }
  return LoadChunk(chunk, bytes);
}

}  // namespace feilong::image
