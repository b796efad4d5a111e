#include "image/blob_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/fd_io.h"
#include "image/chunk_codec.h"
#include "image/wire.h"

namespace feilong::image {

namespace {

constexpr char kBlobMagic[8] = {'F', 'L', 'I', 'B', 'L', 'O', 'B', '\0'};
constexpr uint16_t kBlobMajor = 1;
constexpr uint16_t kBlobMinor = 0;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

BlobWriter::BlobWriter(std::string path, ScopedFd fd, Compression compression)
    : path_(std::move(path)), fd_(std::move(fd)), compression_(compression) {}

BlobWriter::~BlobWriter() = default;

Result<std::unique_ptr<BlobWriter>> BlobWriter::Create(const std::string& path,
                                                       Compression compression) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) {
      return Status::AlreadyExists("blob " + path + " exists");
    }
    return Status::FromErrno(errno, "create blob " + path);
  }
  return std::unique_ptr<BlobWriter>(new BlobWriter(path, ScopedFd(fd), compression));
}

Status BlobWriter::Write(std::span<const uint8_t> bytes) {
  hasher_.Update(bytes);
  FL_RETURN_IF_ERROR(WriteFully(fd_.get(), bytes, "blob " + path_));
  size_ += bytes.size();
  return Status::Ok();
}

Result<ChunkRecord> BlobWriter::Add(std::span<const uint8_t> data) {
  return Add(data, Sha256(data));
}

Result<ChunkRecord> BlobWriter::Add(std::span<const uint8_t> data, const Sha256Digest& digest) {
  if (finished_) {
    return Status::FailedPrecondition("blob " + path_ + " is finished");
  }
  FL_ASSIGN_OR_RETURN(StoredChunk stored, StoreChunk(data, compression_));
  ChunkRecord chunk;
  chunk.digest = digest;
  chunk.compressed_offset = size_;
  chunk.compressed_size = static_cast<uint32_t>(stored.bytes.size());
  chunk.uncompressed_size = static_cast<uint32_t>(data.size());
  chunk.compression = stored.compression;
  FL_RETURN_IF_ERROR(Write(stored.bytes));
  chunks_.push_back(chunk);
  return chunk;
}

Result<BlobRecord> BlobWriter::Finish() {
  if (finished_) {
    return Status::FailedPrecondition("blob " + path_ + " is finished");
  }
  finished_ = true;
  const uint64_t table_offset = size_;
  std::string table;
  wire::Writer t(table);
  for (const ChunkRecord& c : chunks_) {
    wire::PutChunk(t, c);
  }
  std::string footer;
  wire::Writer f(footer);
  f.Bytes({reinterpret_cast<const uint8_t*>(kBlobMagic), sizeof kBlobMagic});
  f.U16(kBlobMajor);
  f.U16(kBlobMinor);
  f.U32(0);  // flags
  f.U64(chunks_.size());
  f.U64(table_offset);
  f.Bytes(Sha256(table));  // the footer is now kBlobFooterSize bytes
  FL_RETURN_IF_ERROR(Write(Bytes(table)));
  FL_RETURN_IF_ERROR(Write(Bytes(footer)));
  if (::fsync(fd_.get()) != 0) {
    return Status::FromErrno(errno, "sync blob " + path_);
  }
  fd_.Reset(-1);
  return BlobRecord{hasher_.Finish(), size_, static_cast<uint32_t>(chunks_.size())};
}

Result<std::vector<ChunkRecord>> ReadBlobTable(std::span<const uint8_t> blob) {
  auto bad = [](const std::string& what) { return Status::Corruption("image blob: " + what); };
  if (blob.size() < kBlobFooterSize) {
    return bad("shorter than its footer");
  }
  const size_t footer_at = blob.size() - kBlobFooterSize;
  wire::Reader r(blob);
  if (std::memcmp(blob.data() + footer_at, kBlobMagic, sizeof kBlobMagic) != 0) {
    return bad("no blob footer (wrong magic)");
  }
  if (r.U16(footer_at + 8) != kBlobMajor || r.U32(footer_at + 12) != 0) {
    return Status::InvalidArgument("image blob: version " + std::to_string(r.U16(footer_at + 8)) +
                                   " or flags unknown to this build");
  }
  const uint64_t count = r.U64(footer_at + 16);
  const uint64_t table_offset = r.U64(footer_at + 24);
  if (count > footer_at / wire::kChunkRecordSize ||
      table_offset != footer_at - count * wire::kChunkRecordSize) {
    return bad("footer's table does not end where the footer starts");
  }
  if (Sha256(blob.subspan(table_offset, footer_at - table_offset)) != r.Digest(footer_at + 32)) {
    return bad("chunk table digest does not match the footer");
  }
  std::vector<ChunkRecord> chunks(count);
  for (size_t i = 0; i < count; ++i) {
    ChunkRecord& c = chunks[i];
    if (!wire::GetChunk(r, table_offset + i * wire::kChunkRecordSize, &c) || c.blob_index != 0 ||
        c.uncompressed_size == 0 || c.compressed_size == 0 || c.compressed_offset > table_offset ||
        c.compressed_size > table_offset - c.compressed_offset) {
      return bad("chunk " + std::to_string(i) + " of the table is out of bounds");
    }
  }
  return chunks;
}

}  // namespace feilong::image
