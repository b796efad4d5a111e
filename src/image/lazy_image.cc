#include "image/lazy_image.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/fd_io.h"
#include "image/chunk_codec.h"

namespace feilong::image {

Result<LazyImage> LazyImage::Open(const OciLayout& layout, const Descriptor& manifest) {
  LazyImage image;
  image.manifest_descriptor = manifest;
  FL_ASSIGN_OR_RETURN(image.manifest, layout.ReadManifest(manifest));
  const std::string name = "image " + Sha256String(manifest.digest);
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
  if (layers.empty() || layers.back().media_type != kFeilongMetadataType) {
    return Status::Corruption(name + ": its last layer is not the metadata blob");
  }
  image.metadata_descriptor = layers.back();
  FL_ASSIGN_OR_RETURN(std::string stored, layout.ReadBlob(layers.back(), kMaxMetadataSize));
  FL_ASSIGN_OR_RETURN(std::string encoded, DecompressMetadata(stored, kMaxMetadataSize));
  FL_ASSIGN_OR_RETURN(image.metadata, Metadata::Decode(encoded));
  if (image.metadata.blobs.size() + 1 != layers.size()) {
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
