#include "image/layer_decoder.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <utility>

#include "common/fd_io.h"

namespace feilong::image {

namespace {

constexpr size_t kInputBlock = 64u << 10;
// zlib window bits: a gzip member (header and trailer), or raw deflate.
constexpr int kGzipBits = 15 + 16;
constexpr int kRawBits = -15;
constexpr size_t kGzipTrailerSize = 8;
// The largest zstd window decoded: 2^27 = 128 MiB, zstd's own default
// limit, set here so that it does not change with the library. A frame
// that needs more (written with --long=28 and up) is Corruption rather
// than a decoder holding gigabytes.
constexpr int kZstdWindowLogMax = 27;

// Whether a checkpoint at (`stream`, `blob`) may follow `last`: `spacing`
// of stream after it, and kMinCheckpointGap of blob, which bounds a table
// by its layers' sizes (CheckpointTableSizeLimit) however well they
// compress.
bool FarEnough(const Checkpoint& last, uint64_t stream, uint64_t blob, uint64_t spacing) {
  return stream - last.stream_offset >= spacing && blob - last.blob_offset >= kMinCheckpointGap;
}

// Compressed input read forward from the blob in blocks.
class BlobInput {
 public:
  BlobInput(int fd, uint64_t blob_size, uint64_t offset, std::string name)
      : fd_(fd), blob_size_(blob_size), next_(offset), name_(std::move(name)) {}

  // Refills the buffer when it is used up; false at the blob's end.
  Result<bool> Fill() {
    if (pos_ < data_.size()) {
      return true;
    }
    const uint64_t n = std::min<uint64_t>(kInputBlock, blob_size_ - next_);
    data_.resize(n);
    pos_ = 0;
    FL_RETURN_IF_ERROR(PreadFully(fd_, data_, next_, name_));
    next_ += n;
    return n > 0;
  }
  std::span<uint8_t> Unused() { return std::span(data_).subspan(pos_); }
  void Use(size_t n) { pos_ += n; }
  // Skips `n` bytes, read or not.
  void Drop(uint64_t n) {
    const uint64_t here = std::min<uint64_t>(n, data_.size() - pos_);
    pos_ += here;
    next_ = std::min(blob_size_, next_ + (n - here));
  }
  // The blob offset of the next unused byte.
  uint64_t offset() const { return next_ - (data_.size() - pos_); }
  bool AtEnd() const { return offset() == blob_size_; }
  const std::string& name() const { return name_; }

 private:
  const int fd_;
  const uint64_t blob_size_;
  uint64_t next_;  // blob offset of the byte after data_
  std::vector<uint8_t> data_;
  size_t pos_ = 0;
  const std::string name_;
};

class PlainDecoder : public LayerDecoder {
 public:
  PlainDecoder(int fd, uint64_t blob_size, uint64_t offset, std::string name)
      : fd_(fd), blob_size_(blob_size), position_(offset), name_(std::move(name)) {}
  void RecordCheckpoints(uint64_t) override {}
  std::vector<Checkpoint> TakeCheckpoints() override { return {}; }
  Result<size_t> Read(std::span<uint8_t> out) override {
    const uint64_t n = std::min<uint64_t>(out.size(), blob_size_ - position_);
    FL_RETURN_IF_ERROR(PreadFully(fd_, out.first(n), position_, name_));
    position_ += n;
    return static_cast<size_t>(n);
  }
  uint64_t position() const override { return position_; }
  uint64_t frames() const override { return 0; }

 private:
  const int fd_;
  const uint64_t blob_size_;
  uint64_t position_;
  const std::string name_;
};

class GzipDecoder : public LayerDecoder {
 public:
  GzipDecoder(int fd, uint64_t blob_size, const Checkpoint* at, std::string name)
      : input_(fd, blob_size, at != nullptr ? at->blob_offset : 0, std::move(name)),
        position_(at != nullptr ? at->stream_offset : 0) {}
  ~GzipDecoder() override {
    if (started_) {
      inflateEnd(&z_);
    }
  }

  Status Begin(const Checkpoint* at, int fd) {
    raw_ = at != nullptr;
    if (inflateInit2(&z_, raw_ ? kRawBits : kGzipBits) != Z_OK) {
      return Status::Internal("zlib: cannot start inflating");
    }
    started_ = true;
    if (at == nullptr) {
      return Status::Ok();
    }
    if (at->bits > 7 || (at->bits > 0 && at->blob_offset == 0)) {
      return Status::Corruption(input_.name() + ": a checkpoint with " + std::to_string(at->bits) +
                                " bits of the byte before it");
    }
    if (at->bits > 0) {
      uint8_t byte = 0;
      FL_RETURN_IF_ERROR(PreadFully(fd, std::span(&byte, 1), at->blob_offset - 1, input_.name()));
      if (inflatePrime(&z_, at->bits, byte >> (8 - at->bits)) != Z_OK) {
        return Status::Internal("zlib: cannot prime " + std::to_string(at->bits) + " bits");
      }
    }
    if (!at->window.empty() &&
        inflateSetDictionary(&z_, reinterpret_cast<const Bytef*>(at->window.data()),
                             static_cast<uInt>(at->window.size())) != Z_OK) {
      return Status::Corruption(input_.name() + ": a checkpoint's window is refused");
    }
    return Status::Ok();
  }

  void RecordCheckpoints(uint64_t spacing) override { spacing_ = spacing; }
  std::vector<Checkpoint> TakeCheckpoints() override { return std::move(checkpoints_); }
  uint64_t position() const override { return position_; }
  uint64_t frames() const override { return members_; }

  Result<size_t> Read(std::span<uint8_t> out) override {
    size_t produced = 0;
    while (produced < out.size() && !ended_) {
      FL_ASSIGN_OR_RETURN(bool more, input_.Fill());
      if (!more) {
        return Status::Corruption(input_.name() + ": the gzip stream is truncated");
      }
      std::span<uint8_t> in = input_.Unused();
      // zlib counts in 32 bits: a larger span is filled in several calls
      // (truncated, 4 GiB would be 0 and never progress).
      z_.next_in = in.data();
      z_.avail_in = static_cast<uInt>(std::min<size_t>(in.size(), UINT_MAX));
      z_.next_out = out.data() + produced;
      z_.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - produced, UINT_MAX));
      const int rc = inflate(&z_, spacing_ > 0 ? Z_BLOCK : Z_NO_FLUSH);
      input_.Use(std::min<size_t>(in.size(), UINT_MAX) - z_.avail_in);
      const size_t n = std::min<size_t>(out.size() - produced, UINT_MAX) - z_.avail_out;
      produced += n;
      position_ += n;
      if (rc == Z_STREAM_END) {
        FL_RETURN_IF_ERROR(EndMember());
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return Status::Corruption(input_.name() + ": not a valid gzip stream (" +
                                  (z_.msg != nullptr ? z_.msg : "zlib error") + ")");
      } else if (spacing_ > 0 && (z_.data_type & 128) != 0 && (z_.data_type & 64) == 0) {
        FL_RETURN_IF_ERROR(AtBlockBoundary());
      }
    }
    return produced;
  }

 private:
  // A member ended: the next one, if any, starts after its trailer.
  Status EndMember() {
    ++members_;
    if (raw_) {
      input_.Drop(kGzipTrailerSize);  // zlib checks it only in gzip mode
    }
    if (input_.AtEnd()) {
      ended_ = true;
      return Status::Ok();
    }
    raw_ = false;
    if (inflateReset2(&z_, kGzipBits) != Z_OK) {
      return Status::Internal("zlib: cannot reset");
    }
    return Status::Ok();
  }

  Status AtBlockBoundary() {
    if (!checkpoints_.empty() &&
        !FarEnough(checkpoints_.back(), position_, input_.offset(), spacing_)) {
      return Status::Ok();
    }
    Checkpoint c;
    c.stream_offset = position_;
    c.blob_offset = input_.offset();
    c.bits = static_cast<uint8_t>(z_.data_type & 7);
    c.window.resize(kGzipWindowSize);
    uInt length = 0;
    if (inflateGetDictionary(&z_, reinterpret_cast<Bytef*>(c.window.data()), &length) != Z_OK) {
      return Status::Internal("zlib: cannot take the window at stream offset " +
                              std::to_string(position_));
    }
    c.window.resize(length);
    checkpoints_.push_back(std::move(c));
    return Status::Ok();
  }

  BlobInput input_;
  z_stream z_{};
  bool started_ = false;
  bool raw_ = false;
  bool ended_ = false;
  uint64_t position_;
  uint64_t spacing_ = 0;
  uint64_t members_ = 0;
  std::vector<Checkpoint> checkpoints_;
};

class ZstdDecoder : public LayerDecoder {
 public:
  ZstdDecoder(int fd, uint64_t blob_size, const Checkpoint* at, std::string name)
      : input_(fd, blob_size, at != nullptr ? at->blob_offset : 0, std::move(name)),
        position_(at != nullptr ? at->stream_offset : 0),
        dctx_(ZSTD_createDCtx()) {
    if (dctx_ != nullptr &&
        ZSTD_isError(ZSTD_DCtx_setParameter(dctx_, ZSTD_d_windowLogMax, kZstdWindowLogMax))) {
      ZSTD_freeDCtx(dctx_);
      dctx_ = nullptr;  // Read says so
    }
  }
  ~ZstdDecoder() override { ZSTD_freeDCtx(dctx_); }

  void RecordCheckpoints(uint64_t spacing) override {
    spacing_ = spacing;
    checkpoints_.push_back({position_, input_.offset(), 0, {}});
  }
  std::vector<Checkpoint> TakeCheckpoints() override { return std::move(checkpoints_); }
  uint64_t position() const override { return position_; }
  uint64_t frames() const override { return frames_; }

  Result<size_t> Read(std::span<uint8_t> out) override {
    if (dctx_ == nullptr) {
      return Status::Internal("zstd: cannot make a decoder");
    }
    size_t produced = 0;
    while (produced < out.size() && !ended_) {
      FL_ASSIGN_OR_RETURN(bool more, input_.Fill());
      if (!more) {
        if (!frame_open_) {
          ended_ = true;
          break;
        }
        return Status::Corruption(input_.name() + ": the zstd stream is truncated");
      }
      std::span<uint8_t> in = input_.Unused();
      ZSTD_inBuffer zin{in.data(), in.size(), 0};
      ZSTD_outBuffer zout{out.data() + produced, out.size() - produced, 0};
      const size_t rc = ZSTD_decompressStream(dctx_, &zout, &zin);
      if (ZSTD_isError(rc)) {
        return Status::Corruption(input_.name() + ": not a valid zstd stream (" +
                                  ZSTD_getErrorName(rc) + ")");
      }
      input_.Use(zin.pos);
      produced += zout.pos;
      position_ += zout.pos;
      frame_open_ = rc != 0;
      if (rc == 0) {
        AtFrameEnd();
      }
    }
    return produced;
  }

 private:
  void AtFrameEnd() {
    ++frames_;
    if (input_.AtEnd()) {
      ended_ = true;
    } else if (spacing_ > 0 &&
               FarEnough(checkpoints_.back(), position_, input_.offset(), spacing_)) {
      checkpoints_.push_back({position_, input_.offset(), 0, {}});
    }
  }

  BlobInput input_;
  uint64_t position_;
  ZSTD_DCtx* dctx_;
  bool frame_open_ = false;
  bool ended_ = false;
  uint64_t frames_ = 0;
  uint64_t spacing_ = 0;
  std::vector<Checkpoint> checkpoints_;
};

}  // namespace

BlobKind SniffLayerKind(std::span<const uint8_t> head) {
  if (head.size() >= 2 && head[0] == 0x1f && head[1] == 0x8b) {
    return BlobKind::kLayerGzip;
  }
  if (head.size() >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f &&
      head[3] == 0xfd) {
    return BlobKind::kLayerZstd;
  }
  return BlobKind::kLayerTar;
}

Result<std::unique_ptr<LayerDecoder>> LayerDecoder::Start(int fd, uint64_t blob_size, BlobKind kind,
                                                          const Checkpoint* at, std::string name) {
  if (at != nullptr && at->blob_offset > blob_size) {
    return Status::Corruption(name + ": a checkpoint at byte " + std::to_string(at->blob_offset) +
                              " beyond its " + std::to_string(blob_size) + " bytes");
  }
  switch (kind) {
    case BlobKind::kLayerGzip: {
      auto decoder = std::make_unique<GzipDecoder>(fd, blob_size, at, name);
      FL_RETURN_IF_ERROR(decoder->Begin(at, fd));
      return std::unique_ptr<LayerDecoder>(std::move(decoder));
    }
    case BlobKind::kLayerZstd:
      return std::unique_ptr<LayerDecoder>(
          std::make_unique<ZstdDecoder>(fd, blob_size, at, std::move(name)));
    case BlobKind::kLayerTar:
      return std::unique_ptr<LayerDecoder>(std::make_unique<PlainDecoder>(
          fd, blob_size, at != nullptr ? at->stream_offset : 0, std::move(name)));
    case BlobKind::kData:
      break;
  }
  return Status::InvalidArgument(name + " is a data blob, not a layer");
}

Status LayerDecoder::Skip(uint64_t n) {
  std::vector<uint8_t> scratch(std::min<uint64_t>(n, kInputBlock));
  while (n > 0) {
    FL_ASSIGN_OR_RETURN(size_t got,
                        Read(std::span(scratch).first(std::min<uint64_t>(n, scratch.size()))));
    if (got == 0) {
      return Status::Corruption("the layer's stream ends before the offset wanted");
    }
    n -= got;
  }
  return Status::Ok();
}

}  // namespace feilong::image
