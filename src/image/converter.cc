#include "image/converter.h"

#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "common/json_field.h"
#include "image/blob_sink.h"
#include "image/chunk_codec.h"
#include "image/layer_reader.h"
#include "image/lazy_image.h"
#include "image/tree_builder.h"

namespace feilong::image {

namespace {

using Json = nlohmann::json;

// Passes chunks on and tells the progress callback how far a layer is.
class ProgressSink : public ChunkSink {
 public:
  ProgressSink(ChunkSink& inner, ConvertProgress& progress, const ConvertProgressFn& callback)
      : inner_(inner), progress_(progress), callback_(callback) {}
  Result<uint32_t> Put(std::span<const uint8_t> data,
                       std::optional<uint64_t> stream_offset) override {
    Result<uint32_t> index = inner_.Put(data, stream_offset);
    progress_.file_bytes += data.size();
    if (callback_) {
      callback_(progress_);
    }
    return index;
  }

 private:
  ChunkSink& inner_;
  ConvertProgress& progress_;
  const ConvertProgressFn& callback_;
};

// Removes a temporary file when it goes; once the file was adopted into
// the layout, nothing is left at its path and the unlink does nothing.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  ~TempFile() { ::unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The source config with rootfs naming `layers` and without history.
Result<std::string> RewriteConfig(std::string_view source, const std::vector<Descriptor>& layers,
                                  std::optional<Platform>* platform) {
  Json config = ParseJsonDocument(source);
  if (config.is_discarded() || !config.is_object()) {
    return Status::InvalidArgument("the image config is not a JSON object");
  }
  Json diff_ids = Json::array();
  for (const Descriptor& layer : layers) {
    diff_ids.push_back(Sha256String(layer.digest));
  }
  config["rootfs"] = {{"type", "layers"}, {"diff_ids", std::move(diff_ids)}};
  config.erase("history");
  auto text = [&](const char* key) {
    auto it = config.find(key);
    return it != config.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (!text("os").empty() && !text("architecture").empty()) {
    *platform = Platform{text("os"), text("architecture"), text("variant")};
  }
  return JsonText(config);
}

}  // namespace

std::vector<std::string> ChoosePrefetch(const std::vector<std::string>& wanted,
                                        Metadata& metadata) {
  std::vector<std::string> missing;
  std::vector<std::string> paths;  // computed for the first pattern
  std::set<uint32_t> chosen;
  auto choose = [&](uint32_t inode) {
    if (chosen.insert(inode).second) {
      metadata.prefetch.push_back(inode);
    }
  };
  for (const std::string& entry : wanted) {
    if (entry.find_first_of("*?[") == std::string::npos) {
      Result<uint32_t> inode = metadata.Lookup(entry);
      if (inode.ok()) {
        choose(*inode);
      } else {
        missing.push_back(entry);
      }
      continue;
    }
    if (paths.empty()) {
      paths = metadata.Paths();
    }
    const std::string pattern =
        entry.starts_with("/") || entry.starts_with("*") ? entry : "/" + entry;
    bool matched = false;
    for (uint32_t i = 0; i < metadata.inodes.size(); ++i) {
      if (S_ISREG(metadata.inodes[i].mode) &&
          ::fnmatch(pattern.c_str(), paths[i].c_str(), 0) == 0) {
        choose(i);
        matched = true;
      }
    }
    if (!matched) {
      missing.push_back(entry);
    }
  }
  return missing;
}

Result<ConvertReport> ConvertImage(const OciLayout& source, const Descriptor& manifest,
                                   OciLayout& destination, const ConvertOptions& options,
                                   const ConvertProgressFn& progress) {
  FL_ASSIGN_OR_RETURN(ImageManifest image, source.ReadManifest(manifest));
  if (image.annotations.contains(std::string(kFeilongFormatAnnotation))) {
    return Status::InvalidArgument("image " + Sha256String(manifest.digest) +
                                   " is a lazy image already");
  }
  for (size_t i = 0; i < image.layers.size(); ++i) {
    if (!IsTarLayer(image.layers[i].media_type)) {
      return Status::InvalidArgument("layer " + std::to_string(i) + " has media type " +
                                     image.layers[i].media_type + ", not an image layer (tar)");
    }
  }
  FL_ASSIGN_OR_RETURN(std::string config_text, source.ReadBlob(image.config));

  TreeBuilder builder(options.chunk_size);
  BlobChunkSink sink(builder, options.compression);
  // Dictionary blobs by digest, to copy in those the image uses.
  std::map<Sha256Digest, std::pair<const OciLayout*, Descriptor>> dictionary_blobs;
  for (const ChunkDictionary& dictionary : options.dictionaries) {
    Result<LazyImage> opened = LazyImage::Open(*dictionary.layout, dictionary.manifest);
    if (!opened.ok()) {
      return opened.status().WithContext("chunk dictionary " +
                                         Sha256String(dictionary.manifest.digest));
    }
    const LazyImage& lazy = *opened;
    // An index's chunks are ranges of the image's layer streams, not of
    // data blobs: reusing them would make blob records that point into tar
    // streams, an image no reader can read.
    if (lazy.IsIndex()) {
      return Status::InvalidArgument("chunk dictionary " +
                                     Sha256String(dictionary.manifest.digest) +
                                     " is an index of an unmodified image, not a converted image");
    }
    std::vector<std::vector<ChunkRecord>> by_blob(lazy.metadata.blobs.size());
    for (const ChunkRecord& chunk : lazy.metadata.chunks) {
      by_blob[chunk.blob_index].push_back(chunk);
    }
    for (size_t i = 0; i < by_blob.size(); ++i) {
      sink.AddDictionary(lazy.metadata.blobs[i], by_blob[i]);
      dictionary_blobs.try_emplace(lazy.metadata.blobs[i].digest, dictionary.layout, lazy.blobs[i]);
    }
  }

  ConvertReport report;
  ConvertProgress at;
  at.layers = image.layers.size();
  for (size_t i = 0; i < image.layers.size(); ++i) {
    const Descriptor& layer = image.layers[i];
    at.layer = i;
    at.layer_size = layer.size;
    at.file_bytes = 0;
    at.layer_done = false;
    if (i > 0) {
      builder.BeginLayer();
    }
    FL_RETURN_IF_ERROR(source.VerifyBlob(layer));
    FL_ASSIGN_OR_RETURN(std::string ingest, destination.IngestPath("layer"));
    TempFile blob_file(ingest);
    FL_RETURN_IF_ERROR(sink.StartBlob(blob_file.path()));
    ProgressSink counted(sink, at, progress);
    Result<LayerStats> stats =
        ApplyLayer(source.BlobPath(layer.digest), options.chunk_size, builder, counted);
    Result<std::optional<BlobRecord>> blob = sink.FinishBlob();
    if (!stats.ok()) {
      return stats.status().WithContext("layer " + std::to_string(i) + " (" +
                                        Sha256String(layer.digest) + ")");
    }
    FL_RETURN_IF_ERROR(blob.status());
    if (blob->has_value()) {
      FL_RETURN_IF_ERROR(
          destination.Adopt(blob_file.path(), (*blob)->digest, (*blob)->size, kFeilongBlobType)
              .status());
      report.data_blob_bytes += (*blob)->size;
    }
    report.source_layer_bytes += layer.size;
    report.entries += stats->entries;
    report.file_bytes += stats->file_bytes;
    at.layer_done = true;
    if (progress) {
      progress(at);
    }
  }
  report.chunks_stored = sink.stored();
  report.chunks_reused = sink.reused();

  FL_ASSIGN_OR_RETURN(Metadata metadata, builder.Build());
  report.prefetch_missing = ChoosePrefetch(options.prefetch, metadata);

  ImageManifest lazy;
  lazy.media_type = std::string(kOciManifestType);
  for (const BlobRecord& blob : metadata.blobs) {
    Descriptor d{std::string(kFeilongBlobType), blob.digest, blob.size, {}, {}, {}};
    if (auto it = dictionary_blobs.find(blob.digest); it != dictionary_blobs.end()) {
      FL_RETURN_IF_ERROR(destination.CopyBlobFrom(*it->second.first, it->second.second));
    }
    lazy.layers.push_back(std::move(d));
  }
  FL_ASSIGN_OR_RETURN(const std::string metadata_bytes, CompressMetadata(metadata.Encode()));
  report.metadata_bytes = metadata_bytes.size();
  FL_ASSIGN_OR_RETURN(Descriptor metadata_descriptor,
                      destination.PutBlob(metadata_bytes, kFeilongMetadataType));
  lazy.layers.push_back(std::move(metadata_descriptor));

  std::optional<Platform> platform;
  FL_ASSIGN_OR_RETURN(std::string config, RewriteConfig(config_text, lazy.layers, &platform));
  FL_ASSIGN_OR_RETURN(lazy.config, destination.PutBlob(config, kOciConfigType));
  lazy.subject = Descriptor{manifest.media_type, manifest.digest, manifest.size, {}, {}, {}};
  lazy.annotations[std::string(kFeilongFormatAnnotation)] =
      std::to_string(kFormatMajor) + "." + std::to_string(kFormatMinor);
  FL_ASSIGN_OR_RETURN(report.manifest, destination.PutBlob(lazy.Encode(), kOciManifestType));
  report.manifest.platform = platform;
  return report;
}

}  // namespace feilong::image
