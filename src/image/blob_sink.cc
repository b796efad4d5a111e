#include "image/blob_sink.h"

#include <utility>

namespace feilong::image {

BlobChunkSink::BlobChunkSink(TreeBuilder& builder, Compression compression)
    : builder_(builder), compression_(compression) {}

BlobChunkSink::~BlobChunkSink() = default;

void BlobChunkSink::AddDictionary(const BlobRecord& blob, std::span<const ChunkRecord> chunks) {
  const uint32_t index = builder_.AddBlob(blob);
  for (ChunkRecord chunk : chunks) {
    chunk.blob_index = index;
    known_.try_emplace(chunk.digest, Known{false, 0, chunk});
  }
}

Status BlobChunkSink::StartBlob(const std::string& path) {
  if (writer_ != nullptr) {
    return Status::FailedPrecondition("a data blob is already open");
  }
  FL_ASSIGN_OR_RETURN(writer_, BlobWriter::Create(path, compression_));
  blob_index_ = builder_.AddBlob({});  // completed by FinishBlob
  return Status::Ok();
}

Result<BlobRecord> BlobChunkSink::FinishBlob() {
  if (writer_ == nullptr) {
    return Status::FailedPrecondition("no data blob is open");
  }
  std::unique_ptr<BlobWriter> writer = std::move(writer_);
  FL_ASSIGN_OR_RETURN(BlobRecord blob, writer->Finish());
  FL_RETURN_IF_ERROR(builder_.SetBlob(blob_index_, blob));
  return blob;
}

Result<uint32_t> BlobChunkSink::Put(std::span<const uint8_t> data) {
  const Sha256Digest digest = Sha256(data);
  if (auto it = known_.find(digest); it != known_.end()) {
    Known& known = it->second;
    if (!known.in_builder) {
      FL_ASSIGN_OR_RETURN(known.index, builder_.AddChunk(known.record));
      known.in_builder = true;
    }
    ++reused_;
    return known.index;
  }
  if (writer_ == nullptr) {
    return Status::FailedPrecondition("a new chunk and no data blob open");
  }
  FL_ASSIGN_OR_RETURN(ChunkRecord record, writer_->Add(data, digest));
  record.blob_index = blob_index_;
  FL_ASSIGN_OR_RETURN(uint32_t index, builder_.AddChunk(record));
  known_.emplace(digest, Known{true, index, record});
  ++stored_;
  return index;
}

}  // namespace feilong::image
