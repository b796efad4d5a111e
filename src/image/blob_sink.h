// BlobChunkSink: where `flimage convert` puts the chunks of an image's
// files. Each distinct chunk is stored once per image: a chunk already
// stored for an earlier layer, or present in a chunk dictionary (the blobs
// of other images, e.g. earlier versions of this one), is referenced where
// it is; a new one is compressed into the current layer's data blob.
//
//   BlobChunkSink sink(builder, Compression::kZstd);
//   sink.AddDictionary(old_blob, old_chunks);      // optional, any number
//   for each layer: sink.StartBlob(path); ApplyLayer(..., sink); sink.FinishBlob();
//
// Dictionary chunks and blobs enter the image's tables only when used, and
// a layer that brings no new chunk gets no data blob: the image lists only
// blobs a reader may need.
//
// Thread rule: not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/digest.h"
#include "image/blob_writer.h"
#include "image/layer_reader.h"
#include "image/tree_builder.h"

namespace feilong::image {

class BlobChunkSink : public ChunkSink {
 public:
  // `builder` must outlive the sink.
  BlobChunkSink(TreeBuilder& builder, Compression compression);
  ~BlobChunkSink() override;

  // Makes the chunks of another image's data blob available for reuse
  // (`chunks` as ReadBlobTable returns them, or some of them). A blob added
  // again (by another dictionary) adds its chunks to the same blob.
  void AddDictionary(const BlobRecord& blob, std::span<const ChunkRecord> chunks);
  // Starts a data blob for new chunks, to be created at `path` (which must
  // not exist) when the first one comes. FailedPrecondition while another
  // one is open.
  Status StartBlob(const std::string& path);
  // Finishes the current blob and completes its record in the builder;
  // nullopt (and no file) when no new chunk came.
  Result<std::optional<BlobRecord>> FinishBlob();

  // FailedPrecondition when a new chunk comes and no blob is open.
  // The stream offset is not needed: a chunk is stored as it is.
  Result<uint32_t> Put(std::span<const uint8_t> data, std::optional<uint64_t>) override;

  // Chunks stored in this image's blobs, and chunks found stored already.
  uint64_t stored() const { return stored_; }
  uint64_t reused() const { return reused_; }

 private:
  struct Known {
    bool in_builder = false;
    uint32_t index = 0;  // in the builder, once in_builder
    // With its blob index in the builder once in_builder; before that, a
    // dictionary chunk's blob_index is its index in dictionary_.
    ChunkRecord record;
  };
  struct DictionaryBlob {
    BlobRecord record;
    std::optional<uint32_t> index;  // in the builder, once used
  };

  TreeBuilder& builder_;
  const Compression compression_;
  std::vector<DictionaryBlob> dictionary_;
  std::optional<std::string> blob_path_;  // of the open blob
  std::unique_ptr<BlobWriter> writer_;    // once it has a chunk
  uint32_t blob_index_ = 0;
  std::map<Sha256Digest, Known> known_;
  uint64_t stored_ = 0;
  uint64_t reused_ = 0;
};

}  // namespace feilong::image
