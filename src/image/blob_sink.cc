#include "image/blob_sink.h"

#include <utility>

namespace feilong::image {

BlobChunkSink::BlobChunkSink(TreeBuilder& builder, Compression compression)
    : builder_(builder), compression_(compression) {}

BlobChunkSink::~BlobChunkSink() = default;

void BlobChunkSink::AddDictionary(const BlobRecord& blob, std::span<const ChunkRecord> chunks) {
  // Two dictionaries may name one blob: it stays one blob of the image.
  uint32_t dictionary_index = 0;
  while (dictionary_index < dictionary_.size() &&
         dictionary_[dictionary_index].record.digest != blob.digest) {
    ++dictionary_index;
  }
  if (dictionary_index == dictionary_.size()) {
    dictionary_.push_back({blob, std::nullopt});
  }
  for (ChunkRecord chunk : chunks) {
    chunk.blob_index = dictionary_index;
    known_.try_emplace(chunk.digest, Known{false, 0, chunk});
  }
}

Status BlobChunkSink::StartBlob(const std::string& path) {
  if (blob_path_) {
    return Status::FailedPrecondition("a data blob is already open");
  }
  blob_path_ = path;
  return Status::Ok();
}

Result<std::optional<BlobRecord>> BlobChunkSink::FinishBlob() {
  if (!blob_path_) {
    return Status::FailedPrecondition("no data blob is open");
  }
  blob_path_.reset();
  if (writer_ == nullptr) {
    return std::optional<BlobRecord>();
  }
  std::unique_ptr<BlobWriter> writer = std::move(writer_);
  FL_ASSIGN_OR_RETURN(BlobRecord blob, writer->Finish());
  FL_RETURN_IF_ERROR(builder_.SetBlob(blob_index_, blob));
  return std::optional<BlobRecord>(blob);
}

Result<uint32_t> BlobChunkSink::Put(std::span<const uint8_t> data, std::optional<uint64_t>) {
  const Sha256Digest digest = Sha256(data);
  if (auto it = known_.find(digest); it != known_.end()) {
    Known& known = it->second;
    if (!known.in_builder) {
      DictionaryBlob& blob = dictionary_[known.record.blob_index];
      if (!blob.index) {
        blob.index = builder_.AddBlob(blob.record);
      }
      known.record.blob_index = *blob.index;
      FL_ASSIGN_OR_RETURN(known.index, builder_.AddChunk(known.record));
      known.in_builder = true;
    }
    ++reused_;
    return known.index;
  }
  if (!blob_path_) {
    return Status::FailedPrecondition("a new chunk and no data blob open");
  }
  if (writer_ == nullptr) {
    FL_ASSIGN_OR_RETURN(writer_, BlobWriter::Create(*blob_path_, compression_));
    blob_index_ = builder_.AddBlob({});  // completed by FinishBlob
  }
  FL_ASSIGN_OR_RETURN(ChunkRecord record, writer_->Add(data, digest));
  record.blob_index = blob_index_;
  FL_ASSIGN_OR_RETURN(uint32_t index, builder_.AddChunk(record));
  known_.emplace(digest, Known{true, index, record});
  ++stored_;
  return index;
}

}  // namespace feilong::image
