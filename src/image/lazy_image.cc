#include "image/lazy_image.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>

#include "common/fd_io.h"
#include "image/chunk_codec.h"
#include "image/index_reader.h"

namespace feilong::image {

namespace {

// Checks an index's metadata and checkpoints against the image's layers.
Status CheckIndexedLayers(const LazyImage& image, const ImageManifest& source,
                          const std::string& name) {
  const Metadata& m = image.metadata;
  const std::vector<LayerCheckpoints>& layers = image.checkpoints.layers;
  if (!m.IsIndex() || layers.size() != m.blobs.size() || source.layers.size() != m.blobs.size()) {
    return Status::Corruption(name + ": the metadata, the checkpoint table and the image do not " +
                              "have the same layers");
  }
  for (size_t i = 0; i < m.blobs.size(); ++i) {
    const Descriptor& layer = source.layers[i];
    if (layer.digest != m.blobs[i].digest || layer.size != m.blobs[i].size ||
        layers[i].kind != m.blobs[i].kind || layers[i].blob_size != layer.size) {
      return Status::Corruption(name + ": layer " + std::to_string(i) + " of the image (" +
                                Sha256String(layer.digest) + ") is not the layer indexed (" +
                                Sha256String(m.blobs[i].digest) + ")");
    }
  }
  for (size_t i = 0; i < m.chunks.size(); ++i) {
    const ChunkRecord& c = m.chunks[i];
    const uint64_t stream = layers[c.blob_index].stream_size;
    if (c.compressed_offset > stream || c.compressed_size > stream - c.compressed_offset) {
      return Status::Corruption(name + ": chunk " + std::to_string(i) + " ends past the " +
                                std::to_string(stream) + "-byte stream of layer " +
                                std::to_string(c.blob_index));
    }
  }
  return Status::Ok();
}

// The rest of Open for an index artifact: its checkpoints and its image.
Status OpenIndex(const OciLayout& layout, LazyImage& image, const std::string& name) {
  const std::vector<Descriptor>& parts = image.manifest.layers;
  if (parts.size() != 2 || parts[1].media_type != kFeilongCheckpointsType ||
      !image.manifest.subject) {
    return Status::Corruption(name + ": an index needs a subject, the metadata blob and then " +
                              "the checkpoint table");
  }
  image.source_manifest = *image.manifest.subject;
  Result<ImageManifest> source = layout.ReadManifest(*image.source_manifest);
  if (!source.ok()) {
    return source.status().WithContext(name + ": its image " +
                                       Sha256String(image.source_manifest->digest));
  }
  // The table can be no larger than its image's layers allow: a small
  // image does not make a reader take a huge table.
  std::vector<uint64_t> sizes;
  for (const Descriptor& layer : source->layers) {
    sizes.push_back(layer.size);
  }
  const uint64_t limit = std::min(CheckpointTableSizeLimit(sizes), kMaxMetadataSize);
  Result<std::string> stored = layout.ReadBlob(parts[1], ZSTD_COMPRESSBOUND(limit));
  Result<std::string> encoded =
      stored.ok() ? DecompressMetadata(*stored, limit) : Result<std::string>(stored.status());
  if (!encoded.ok()) {
    return encoded.status().WithContext(name + ": its checkpoint table");
  }
  FL_ASSIGN_OR_RETURN(image.checkpoints, CheckpointTable::Decode(*encoded));
  FL_RETURN_IF_ERROR(CheckIndexedLayers(image, *source, name));
  image.blobs = source->layers;
  return Status::Ok();
}

}  // namespace

Result<LazyImage> LazyImage::Open(const OciLayout& layout, const Descriptor& manifest) {
  LazyImage image;
  image.manifest_descriptor = manifest;
  FL_ASSIGN_OR_RETURN(image.manifest, layout.ReadManifest(manifest));
  const std::string name = "image " + Sha256String(manifest.digest);
  const bool index = image.manifest.artifact_type == kFeilongIndexArtifactType;
  auto format = image.manifest.annotations.find(std::string(kFeilongFormatAnnotation));
  if (format == image.manifest.annotations.end()) {
    return Status::InvalidArgument(name + " is not a lazy image (no " +
                                   std::string(kFeilongFormatAnnotation) + " annotation)");
  }
  if (!format->second.starts_with(std::to_string(kFormatMajor) + ".")) {
    return Status::InvalidArgument(name + " has format " + format->second + "; this build reads " +
                                   std::to_string(kFormatMajor) + ".x");
  }
  const std::vector<Descriptor>& layers = image.manifest.layers;
  const size_t metadata_at = index ? 0 : layers.size() - 1;
  if (layers.empty() || layers[metadata_at].media_type != kFeilongMetadataType) {
    return Status::Corruption(name + ": the metadata blob is not where it belongs");
  }
  image.metadata_descriptor = layers[metadata_at];
  FL_ASSIGN_OR_RETURN(std::string stored,
                      layout.ReadBlob(image.metadata_descriptor, kMaxMetadataSize));
  FL_ASSIGN_OR_RETURN(std::string encoded, DecompressMetadata(stored, kMaxMetadataSize));
  FL_ASSIGN_OR_RETURN(image.metadata, Metadata::Decode(encoded));
  if (index) {
    FL_RETURN_IF_ERROR(OpenIndex(layout, image, name));
    return image;
  }
  if (image.metadata.IsIndex() || image.metadata.blobs.size() + 1 != layers.size()) {
    return Status::Corruption(name + ": the metadata names " +
                              std::to_string(image.metadata.blobs.size()) + " data blobs, the " +
                              "manifest " + std::to_string(layers.size() - 1));
  }
  for (size_t i = 0; i < image.metadata.blobs.size(); ++i) {
    const BlobRecord& blob = image.metadata.blobs[i];
    if (layers[i].media_type != kFeilongBlobType || layers[i].digest != blob.digest ||
        layers[i].size != blob.size) {
      return Status::Corruption(name + ": layer " + std::to_string(i) +
                                " is not the metadata's data blob " + Sha256String(blob.digest));
    }
    image.blobs.push_back(layers[i]);
  }
  return image;
}

std::unique_ptr<ChunkReader> MakeChunkReader(const OciLayout& layout, const LazyImage& image,
                                             const std::string& scratch_dir) {
  if (image.IsIndex()) {
    return std::make_unique<IndexChunkReader>(layout, image, scratch_dir);
  }
  return std::make_unique<LayoutChunkReader>(layout, image);
}

LayoutChunkReader::LayoutChunkReader(const OciLayout& layout, const LazyImage& image)
    : layout_(layout), image_(image) {}

LayoutChunkReader::~LayoutChunkReader() = default;

Result<std::vector<uint8_t>> LayoutChunkReader::Read(uint32_t index) {
  const Metadata& m = image_.metadata;
  if (index >= m.chunks.size()) {
    return Status::InvalidArgument("no chunk " + std::to_string(index));
  }
  const ChunkRecord& chunk = m.chunks[index];
  auto it = open_.find(chunk.blob_index);
  if (it == open_.end()) {
    const std::string path = layout_.BlobPath(m.blobs[chunk.blob_index].digest);
    ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      return Status::FromErrno(errno, "open data blob " + path);
    }
    it = open_.emplace(chunk.blob_index, std::move(fd)).first;
  }
  std::vector<uint8_t> stored(chunk.compressed_size);
  FL_RETURN_IF_ERROR(PreadFully(it->second.get(), stored, chunk.compressed_offset,
                                "data blob " + Sha256String(m.blobs[chunk.blob_index].digest)));
  return LoadChunk(chunk, stored);
}

}  // namespace feilong::image
