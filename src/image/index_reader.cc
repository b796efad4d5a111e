#include "image/index_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "common/fd_io.h"
#include "image/chunk_codec.h"

namespace feilong::image {

namespace {

constexpr size_t kCopyBlock = 1u << 20;

// An unlinked temporary file in `dir`, for a spilled stretch.
Result<ScopedFd> MakeTemporaryFile(const std::string& dir) {
  std::string path = dir + "/flimage-layer-XXXXXX";
  ScopedFd fd(::mkostemp(path.data(), O_CLOEXEC));
  if (!fd.valid()) {
    return Status::FromErrno(errno, "make a temporary file " + path);
  }
  ::unlink(path.c_str());
  return fd;
}

std::string LayerName(uint32_t blob_index) { return "layer " + std::to_string(blob_index); }

}  // namespace

IndexChunkReader::IndexChunkReader(const OciLayout& layout, const LazyImage& image,
                                   std::string scratch_dir)
    : layout_(layout),
      image_(image),
      scratch_dir_(std::move(scratch_dir)),
      needed_end_(image.metadata.blobs.size(), 0) {
  for (const ChunkRecord& chunk : image.metadata.chunks) {
    uint64_t& end = needed_end_[chunk.blob_index];
    end = std::max(end, chunk.compressed_offset + chunk.uncompressed_size);
  }
}

IndexChunkReader::~IndexChunkReader() = default;

Result<int> IndexChunkReader::OpenBlob(uint32_t blob_index) {
  auto it = blobs_.find(blob_index);
  if (it != blobs_.end()) {
    return it->second.get();
  }
  const std::string path = layout_.BlobPath(image_.metadata.blobs[blob_index].digest);
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return errno == ENOENT ? Status::NotFound("layer " + path + " is not in the layout")
                           : Status::FromErrno(errno, "open layer " + path);
  }
  return blobs_.emplace(blob_index, std::move(fd)).first->second.get();
}

LayerDecoder* IndexChunkReader::KeptCursor(uint32_t blob_index, size_t k, uint64_t position) {
  const uint64_t start = image_.checkpoints.layers[blob_index].checkpoints[k].stream_offset;
  for (auto it = cursors_.begin(); it != cursors_.end(); ++it) {
    const uint64_t at = it->decoder->position();
    if (it->blob_index == blob_index && at >= start && at <= position) {
      cursors_.splice(cursors_.begin(), cursors_, it);
      return cursors_.front().decoder.get();
    }
  }
  return nullptr;
}

Result<LayerDecoder*> IndexChunkReader::NewCursor(uint32_t blob_index, size_t k) {
  const LayerCheckpoints& table = image_.checkpoints.layers[blob_index];
  FL_ASSIGN_OR_RETURN(int fd, OpenBlob(blob_index));
  FL_ASSIGN_OR_RETURN(std::unique_ptr<LayerDecoder> decoder,
                      LayerDecoder::Start(fd, table.blob_size, table.kind, &table.checkpoints[k],
                                          LayerName(blob_index)));
  cursors_.push_front(Cursor{blob_index, std::move(decoder)});
  while (cursors_.size() > kMaxCursors) {
    cursors_.pop_back();
  }
  return cursors_.front().decoder.get();
}

void IndexChunkReader::DropCursors(uint32_t blob_index) {
  cursors_.remove_if([blob_index](const Cursor& c) { return c.blob_index == blob_index; });
}

Result<const IndexChunkReader::Segment*> IndexChunkReader::GetSegment(uint32_t blob_index, size_t k,
                                                                      uint64_t begin,
                                                                      uint64_t end) {
  const StretchKey key(blob_index, k);
  if (auto it = segment_at_.find(key); it != segment_at_.end()) {
    segments_.splice(segments_.begin(), segments_, it->second);
    return &segments_.front();
  }
  const LayerCheckpoints& table = image_.checkpoints.layers[blob_index];
  FL_ASSIGN_OR_RETURN(int fd, OpenBlob(blob_index));
  FL_ASSIGN_OR_RETURN(std::unique_ptr<LayerDecoder> decoder,
                      LayerDecoder::Start(fd, table.blob_size, table.kind, &table.checkpoints[k],
                                          LayerName(blob_index)));
  Segment segment{key, std::vector<uint8_t>(end - begin)};
  FL_ASSIGN_OR_RETURN(size_t n, decoder->Read(segment.bytes));
  if (n != segment.bytes.size()) {
    return Status::Corruption(LayerName(blob_index) + ": its stream ends inside checkpoint " +
                              std::to_string(k) + "'s stretch");
  }
  const uint64_t charge = segment.bytes.size() + kSegmentOverheadBytes;
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

Status IndexChunkReader::GrowSpill(uint32_t blob_index, Spill& spill, uint64_t to,
                                   uint64_t stretch_end) {
  LayerDecoder* decoder = KeptCursor(blob_index, spill.checkpoint, spill.end);
  if (decoder == nullptr) {
    FL_ASSIGN_OR_RETURN(decoder, NewCursor(blob_index, spill.checkpoint));
    // Starting again from the checkpoint costs what is spilled already:
    // finish the stretch now so that it never has to happen again.
    if (spill.end > spill.begin) {
      to = stretch_end;
    }
  }
  FL_RETURN_IF_ERROR(decoder->Skip(spill.end - decoder->position()));
  std::vector<uint8_t> block(std::min<uint64_t>(kCopyBlock, to - spill.end));
  while (spill.end < to) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(block.size(), to - spill.end));
    FL_ASSIGN_OR_RETURN(size_t n, decoder->Read(std::span(block).first(want)));
    if (n == 0) {
      return Status::Corruption(LayerName(blob_index) + ": its stream ends at " +
                                std::to_string(spill.end) + ", before byte " + std::to_string(to));
    }
    FL_RETURN_IF_ERROR(WriteFully(spill.file.get(), std::span(block).first(n), "a temporary file"));
    spill.end += n;
  }
  return Status::Ok();
}

Status IndexChunkReader::ReadSpill(uint32_t blob_index, size_t k, uint64_t begin, uint64_t end,
                                   uint64_t offset, std::span<uint8_t> out) {
  auto it = spills_.find(blob_index);
  if (it == spills_.end() || it->second.checkpoint != k) {
    FL_ASSIGN_OR_RETURN(ScopedFd file, MakeTemporaryFile(scratch_dir_));
    // One spill per layer: the one before (if any) is closed, and freed.
    it = spills_.insert_or_assign(blob_index, Spill{k, std::move(file), begin, begin}).first;
  }
  Spill& spill = it->second;
  if (spill.end < offset + out.size()) {
    Status grown = GrowSpill(blob_index, spill, offset + out.size(), end);
    if (!grown.ok()) {
      spills_.erase(it);  // written up to where, is not known
      return grown;
    }
  }
  return PreadFully(spill.file.get(), out, offset - spill.begin, "a temporary file");
}

Status IndexChunkReader::ReadStretch(uint32_t blob_index, size_t k, uint64_t begin, uint64_t end,
                                     uint64_t offset, std::span<uint8_t> out) {
  if (end - begin > kMaxSegmentBytes) {
    return ReadSpill(blob_index, k, begin, end, offset, out);
  }
  FL_ASSIGN_OR_RETURN(const Segment* segment, GetSegment(blob_index, k, begin, end));
  std::copy_n(segment->bytes.begin() + static_cast<ptrdiff_t>(offset - begin), out.size(),
              out.begin());
  return Status::Ok();
}

Status IndexChunkReader::ReadStream(uint32_t blob_index, uint64_t offset, std::span<uint8_t> out) {
  const LayerCheckpoints& table = image_.checkpoints.layers[blob_index];
  if (table.kind == BlobKind::kLayerTar) {
    FL_ASSIGN_OR_RETURN(int fd, OpenBlob(blob_index));
    return PreadFully(fd, out, offset, LayerName(blob_index));
  }
  // Stretch by stretch; a stretch ends at the next checkpoint, or where
  // the layer's last chunk does (the declared stream size is only a claim).
  while (!out.empty()) {
    const size_t k = static_cast<size_t>(&table.Before(offset) - table.checkpoints.data());
    const uint64_t begin = table.checkpoints[k].stream_offset;
    const uint64_t next = k + 1 < table.checkpoints.size() ? table.checkpoints[k + 1].stream_offset
                                                           : table.stream_size;
    const uint64_t end = std::min(next, needed_end_[blob_index]);
    if (offset >= end) {
      return Status::Corruption(LayerName(blob_index) + ": byte " + std::to_string(offset) +
                                " is past its stream");
    }
    const size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), end - offset));
    FL_RETURN_IF_ERROR(ReadStretch(blob_index, k, begin, end, offset, out.first(n)));
    offset += n;
    out = out.subspan(n);
  }
  return Status::Ok();
}

Result<std::vector<uint8_t>> IndexChunkReader::Read(uint32_t index) {
  const Metadata& m = image_.metadata;
  if (index >= m.chunks.size()) {
    return Status::InvalidArgument("no chunk " + std::to_string(index));
  }
  const ChunkRecord& chunk = m.chunks[index];
  std::vector<uint8_t> bytes(chunk.uncompressed_size);
  Status read = ReadStream(chunk.blob_index, chunk.compressed_offset, bytes);
  if (!read.ok()) {
    DropCursors(chunk.blob_index);  // their state is unknown now
    return read;
  }
  // The bytes are the chunk's as they are (never compressed in an index):
  // checked where they are, not copied through LoadChunk.
  FL_RETURN_IF_ERROR(VerifyChunk(chunk, bytes));
  return bytes;
}

}  // namespace feilong::image
