#include "image/indexer.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <utility>

#include "common/fd_io.h"
#include "common/scoped_fd.h"
#include "image/chunk_codec.h"
#include "image/converter.h"
#include "image/layer_decoder.h"
#include "image/layer_reader.h"
#include "image/tree_builder.h"

namespace feilong::image {

namespace {

// Records each distinct chunk where it is in the current layer's stream.
class LayerChunkSink : public DistinctChunkSink {
 public:
  using DistinctChunkSink::DistinctChunkSink;
  void SetLayer(uint32_t blob_index) { blob_index_ = blob_index; }

  Result<uint32_t> Put(std::span<const uint8_t> data,
                       std::optional<uint64_t> stream_offset) override {
    if (!stream_offset) {
      return Status::InvalidArgument(
          "a sparse file: its bytes are not in the layer as they are, so it cannot be indexed "
          "(convert the image instead)");
    }
    return DistinctChunkSink::Put(data, stream_offset);
  }

 protected:
  void Place(ChunkRecord& chunk, std::optional<uint64_t> stream_offset) override {
    chunk.compressed_offset = *stream_offset;
    chunk.blob_index = blob_index_;
  }

 private:
  uint32_t blob_index_ = 0;
};

// Reads one layer into the builder, recording its checkpoints.
Result<LayerCheckpoints> IndexLayer(const OciLayout& source, const Descriptor& layer,
                                    const IndexOptions& options, TreeBuilder& builder,
                                    LayerChunkSink& sink, IndexReport& report) {
  const std::string name = "layer " + Sha256String(layer.digest);
  FL_RETURN_IF_ERROR(source.VerifyBlob(layer));
  const std::string path = source.BlobPath(layer.digest);
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return Status::FromErrno(errno, "open " + path);
  }
  uint8_t head[4] = {};
  const std::span<uint8_t> sniffed(head, std::min<uint64_t>(sizeof head, layer.size));
  FL_RETURN_IF_ERROR(PreadFully(fd.get(), sniffed, 0, name));
  const BlobKind kind = SniffLayerKind(sniffed);
  sink.SetLayer(builder.AddBlob({layer.digest, layer.size, 0, kind}));
  FL_ASSIGN_OR_RETURN(std::unique_ptr<LayerDecoder> decoder,
                      LayerDecoder::Start(fd.get(), layer.size, kind, nullptr, name));
  decoder->RecordCheckpoints(options.checkpoint_spacing);
  FL_ASSIGN_OR_RETURN(LayerStats stats,
                      ApplyLayerStream(*decoder, name, options.chunk_size, builder, sink));
  // The tar's end is not the stream's: read on to the end, so that the
  // stream's size and every checkpoint are known (and gzip's check is made).
  std::vector<uint8_t> rest(64u << 10);
  while (true) {
    FL_ASSIGN_OR_RETURN(size_t n, decoder->Read(rest));
    if (n == 0) {
      break;
    }
  }
  LayerCheckpoints checkpoints;
  checkpoints.kind = kind;
  checkpoints.blob_size = layer.size;
  checkpoints.stream_size = decoder->position();
  checkpoints.checkpoints = decoder->TakeCheckpoints();
  // One frame, not one checkpoint: a spacing larger than the layer leaves
  // a layer of many frames with one checkpoint too.
  checkpoints.whole = kind == BlobKind::kLayerZstd && decoder->frames() == 1;
  report.entries += stats.entries;
  report.file_bytes += stats.file_bytes;
  report.source_layer_bytes += layer.size;
  report.stream_bytes += checkpoints.stream_size;
  report.checkpoints += checkpoints.checkpoints.size();
  return checkpoints;
}

// The artifact's manifest around its two blobs.
Result<Descriptor> PutArtifact(OciLayout& destination, const Descriptor& image, Descriptor metadata,
                               Descriptor checkpoints) {
  ImageManifest artifact;
  artifact.media_type = std::string(kOciManifestType);
  artifact.artifact_type = std::string(kFeilongIndexArtifactType);
  FL_ASSIGN_OR_RETURN(artifact.config, destination.PutBlob("{}", kOciEmptyType));
  artifact.layers = {std::move(metadata), std::move(checkpoints)};
  artifact.subject = Descriptor{image.media_type, image.digest, image.size, {}, {}, {}};
  artifact.annotations[std::string(kFeilongFormatAnnotation)] =
      std::to_string(kFormatMajor) + "." + std::to_string(kIndexFormatMinor);
  return destination.PutBlob(artifact.Encode(), kOciManifestType);
}

}  // namespace

Status CheckIndexOptions(const IndexOptions& options) {
  const uint32_t size = options.chunk_size;
  if (size < kMinChunkSize || size > kMaxChunkSize || (size & (size - 1)) != 0) {
    return Status::InvalidArgument("chunk size " + std::to_string(size) +
                                   " is not a power of two from 4 KiB to 16 MiB");
  }
  if (options.checkpoint_spacing < kMinCheckpointGap) {
    return Status::InvalidArgument(
        "checkpoint spacing " + std::to_string(options.checkpoint_spacing) +
        " is below 32 KiB (each checkpoint keeps a 32 KiB window; readers refuse closer ones)");
  }
  return Status::Ok();
}

Result<IndexReport> IndexImage(const OciLayout& source, const Descriptor& manifest,
                               OciLayout& destination, const IndexOptions& options) {
  FL_RETURN_IF_ERROR(CheckIndexOptions(options));
  FL_ASSIGN_OR_RETURN(ImageManifest image, source.ReadManifest(manifest));
  if (image.annotations.contains(std::string(kFeilongFormatAnnotation)) ||
      image.artifact_type == kFeilongIndexArtifactType) {
    return Status::InvalidArgument("image " + Sha256String(manifest.digest) +
                                   " is a lazy image or an index already");
  }
  if (image.layers.empty()) {
    return Status::InvalidArgument("image " + Sha256String(manifest.digest) +
                                   " has no layers to index");
  }
  for (size_t i = 0; i < image.layers.size(); ++i) {
    if (!IsTarLayer(image.layers[i].media_type)) {
      return Status::InvalidArgument("layer " + std::to_string(i) + " has media type " +
                                     image.layers[i].media_type + ", not an image layer (tar)");
    }
  }
  TreeBuilder builder(options.chunk_size);
  LayerChunkSink sink(builder);
  IndexReport report;
  CheckpointTable table;
  for (size_t i = 0; i < image.layers.size(); ++i) {
    if (i > 0) {
      builder.BeginLayer();
    }
    Result<LayerCheckpoints> layer =
        IndexLayer(source, image.layers[i], options, builder, sink, report);
    if (!layer.ok()) {
      return layer.status().WithContext("layer " + std::to_string(i));
    }
    if (layer->whole) {
      report.whole_layers.push_back(i);
    }
    table.layers.push_back(std::move(*layer));
  }
  FL_ASSIGN_OR_RETURN(Metadata metadata, builder.Build());
  for (const ChunkRecord& chunk : metadata.chunks) {
    ++metadata.blobs[chunk.blob_index].chunk_count;
  }
  report.chunks = metadata.chunks.size();
  report.prefetch_missing = ChoosePrefetch(options.prefetch, metadata);

  FL_ASSIGN_OR_RETURN(const std::string metadata_bytes, CompressMetadata(metadata.Encode()));
  FL_ASSIGN_OR_RETURN(const std::string table_bytes, CompressMetadata(table.Encode()));
  report.metadata_bytes = metadata_bytes.size();
  report.checkpoint_bytes = table_bytes.size();
  FL_ASSIGN_OR_RETURN(Descriptor metadata_blob,
                      destination.PutBlob(metadata_bytes, kFeilongMetadataType));
  FL_ASSIGN_OR_RETURN(Descriptor table_blob,
                      destination.PutBlob(table_bytes, kFeilongCheckpointsType));
  FL_ASSIGN_OR_RETURN(report.manifest,
                      PutArtifact(destination, manifest, metadata_blob, table_blob));
  return report;
}

}  // namespace feilong::image
