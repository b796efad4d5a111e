// `flimage index`: an index of an unmodified image, beside it.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <utility>

#include "cli/flimage.h"
#include "cli/flimage_common.h"
#include "image/indexer.h"
#include "image/metadata.h"
#include "image/registry_copy.h"

namespace feilong::cli {

namespace {

using image::Descriptor;
using image::OciLayout;

constexpr const char* kName = "index";

// Where the index goes: DEST, or the image's own layout or repository,
// with its tag defaulted from the image's.
Result<ImageName> Destination(const IndexCommand& command, const ImageName& source) {
  ImageName destination = source;
  if (!command.destination.empty()) {
    FL_ASSIGN_OR_RETURN(destination, ImageName::Parse(command.destination));
  }
  if (destination.is_archive() || source.is_archive()) {
    return Status::InvalidArgument(
        "an index is made of and beside an image in a layout or a registry (oci: or docker://), "
        "not a docker archive");
  }
  std::string& reference =
      destination.is_registry() ? destination.registry.reference : destination.reference;
  if (!command.destination.empty() && destination.reference_given) {
    if (reference.starts_with("sha256:")) {
      return Status::InvalidArgument("a destination is named by a tag, not a digest");
    }
    return destination;
  }
  const std::string& from = source.is_registry() ? source.registry.reference : source.reference;
  reference = (from.empty() || from.starts_with("sha256:") ? "latest" : from) + "-feilong-index";
  return destination;
}

bool SamePlace(const ImageName& a, const ImageName& b) {
  if (a.is_registry() || b.is_registry()) {
    return a.registry.host == b.registry.host && a.registry.repository == b.registry.repository;
  }
  // Two paths that cannot be resolved are not known to be the same (one
  // shared error_code made two failures compare equal, as empty paths).
  std::error_code a_error;
  std::error_code b_error;
  const std::filesystem::path a_path = std::filesystem::weakly_canonical(a.dir, a_error);
  const std::filesystem::path b_path = std::filesystem::weakly_canonical(b.dir, b_error);
  return !a_error && !b_error && a_path == b_path;
}

Result<image::IndexOptions> Options(const IndexCommand& command) {
  image::IndexOptions options;
  // Saturated, not truncated: a size past 32 bits is then refused as the
  // odd number it becomes, not taken as its low bits.
  options.chunk_size = static_cast<uint32_t>(
      std::min<uint64_t>(command.chunk_size, std::numeric_limits<uint32_t>::max()));
  options.checkpoint_spacing = command.checkpoint_spacing;
  // Before the image is opened (and maybe pulled), not after.
  FL_RETURN_IF_ERROR(image::CheckIndexOptions(options));
  options.prefetch = command.prefetch;
  if (!command.prefetch_file.empty()) {
    FL_ASSIGN_OR_RETURN(std::vector<std::string> lines, ReadLines(command.prefetch_file));
    options.prefetch.insert(options.prefetch.end(), lines.begin(), lines.end());
  }
  return options;
}

// Copies the image (manifest, config, layers) into another layout.
Status CopyImage(const OciLayout& from, const Descriptor& manifest, OciLayout& to) {
  FL_ASSIGN_OR_RETURN(image::ImageManifest parsed, from.ReadManifest(manifest));
  FL_RETURN_IF_ERROR(to.CopyBlobFrom(from, parsed.config));
  for (const Descriptor& layer : parsed.layers) {
    FL_RETURN_IF_ERROR(to.CopyBlobFrom(from, layer));
  }
  return to.CopyBlobFrom(from, manifest);
}

// Puts the index (and, elsewhere than the image, the image) at
// `destination`; `built` is the layout the index was written to.
Status Publish(const IndexCommand& command, const ImageName& source, const ImageName& destination,
               const OpenedImage& image, OciLayout& built, const Descriptor& index) {
  const bool elsewhere = !SamePlace(source, destination);
  if (!destination.is_registry()) {
    if (elsewhere) {
      FL_RETURN_IF_ERROR(CopyImage(image.layout, image.manifest, built));
    }
    return built.Tag(index, destination.reference);
  }
  source::RegistryClient client = MakeClient(
      destination, elsewhere ? command.destination_creds : command.source_creds, command.access);
  if (elsewhere) {
    image::RegistryImage by_digest = destination.registry;
    by_digest.reference = Sha256String(image.manifest.digest);
    FL_RETURN_IF_ERROR(image::PushImage(image.layout, image.manifest, client, by_digest));
  }
  return image::PushImage(built, index, client, destination.registry);
}

void PrintReport(const IndexCommand& command, const ImageName& destination,
                 const OpenedImage& image, const image::IndexReport& report) {
  for (const std::string& missing : report.prefetch_missing) {
    std::fprintf(stderr, "flimage index: prefetch entry %s names nothing in the image\n",
                 missing.c_str());
  }
  for (size_t layer : report.whole_layers) {
    std::fprintf(stderr,
                 "flimage index: layer %zu is one zstd frame: no checkpoint inside it, a "
                 "reader decompresses it from its start, as far as it reads\n",
                 layer);
  }
  std::printf("%s -> %s\n", command.image.c_str(), destination.ToString().c_str());
  std::printf("manifest    %s\n", Sha256String(report.manifest.digest).c_str());
  std::printf("image       %s (unchanged)\n", Sha256String(image.manifest.digest).c_str());
  std::printf("source      %s in layers, %s of tar streams, %" PRIu64 " entries\n",
              Bytes(report.source_layer_bytes).c_str(), Bytes(report.stream_bytes).c_str(),
              report.entries);
  std::printf("chunks      %" PRIu64 " distinct, %s of files\n", report.chunks,
              Bytes(report.file_bytes).c_str());
  std::printf("checkpoints %" PRIu64 " (%zu layers read whole)\n", report.checkpoints,
              report.whole_layers.size());
  std::printf("written     %s (metadata %s, checkpoints %s)\n",
              Bytes(report.metadata_bytes + report.checkpoint_bytes).c_str(),
              Bytes(report.metadata_bytes).c_str(), Bytes(report.checkpoint_bytes).c_str());
}

}  // namespace

int RunIndex(const IndexCommand& command) {
  Result<ImageName> source = ImageName::Parse(command.image);
  if (!source.ok()) {
    return Fail(kName, source.status());
  }
  Result<ImageName> destination = Destination(command, *source);
  Result<image::IndexOptions> options = Options(command);
  if (!destination.ok() || !options.ok()) {
    return Fail(kName, destination.ok() ? options.status() : destination.status());
  }
  Result<OpenedImage> image =
      OpenImage(command.image, command.platform, command.source_creds, command.access);
  if (!image.ok()) {
    return Fail(kName, image.status().WithContext(command.image));
  }
  // A registry destination is pushed from a layout: the scratch layout a
  // registry image was pulled into, or a new one (the source layout is
  // left as it is).
  std::unique_ptr<ScratchDir> scratch;
  std::string built_dir = destination->dir;
  if (destination->is_registry() && source->is_registry()) {
    built_dir = image->layout.dir();
  } else if (destination->is_registry()) {
    Result<std::unique_ptr<ScratchDir>> made = MakeScratch(command.access);
    if (!made.ok()) {
      return Fail(kName, made.status());
    }
    scratch = std::move(*made);
    built_dir = scratch->path() + "/index";
  }
  Result<OciLayout> built = OciLayout::OpenOrCreate(built_dir);
  if (!built.ok()) {
    return Fail(kName, built.status());
  }
  Result<image::IndexReport> report =
      image::IndexImage(image->layout, image->manifest, *built, *options);
  if (!report.ok()) {
    return Fail(kName, report.status().WithContext(command.image));
  }
  if (Status published = Publish(command, *source, *destination, *image, *built, report->manifest);
      !published.ok()) {
    return Fail(kName, published.WithContext("write to " + destination->ToString()));
  }
  PrintReport(command, *destination, *image, *report);
  return 0;
}

}  // namespace feilong::cli
