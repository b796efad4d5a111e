#include "cli/flimage.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <utility>

#include "cli/flimage_common.h"
#include "image/checker.h"
#include "image/converter.h"
#include "image/lazy_image.h"
#include "image/oci_layout.h"
#include "image/registry_copy.h"
#include "image/unpacker.h"
#include "source/registry_client.h"

namespace feilong::cli {

namespace {

using image::Descriptor;
using image::OciLayout;

// Progress is redrawn at most every this many bytes of file data.
constexpr uint64_t kProgressStep = 32u << 20;

void DrawProgress(const image::ConvertProgress& p) {
  std::fprintf(stderr, "\rlayer %zu/%zu (%s compressed): %s of files%s", p.layer + 1, p.layers,
               Bytes(p.layer_size).c_str(), Bytes(p.file_bytes).c_str(),
               p.layer_done ? ", done\n" : "   ");
  std::fflush(stderr);
}

// The data blobs of a converted image, or the layers an index points into.
void PrintBlobs(const image::LazyImage& lazy) {
  const image::Metadata& m = lazy.metadata;
  std::vector<uint64_t> chunks_per_blob(m.blobs.size());
  for (const image::ChunkRecord& chunk : m.chunks) {
    ++chunks_per_blob[chunk.blob_index];
  }
  if (lazy.IsIndex()) {
    const image::Descriptor& table = lazy.manifest.layers[1];
    std::printf("checkpoints %s %s\n", Sha256String(table.digest).c_str(),
                Bytes(table.size).c_str());
  }
  for (size_t i = 0; i < m.blobs.size(); ++i) {
    const char* kind = lazy.IsIndex() ? "layer" : "blob";
    std::printf("%-5s %-5zu %s %s, %" PRIu64 " of its %u chunks used", kind, i,
                Sha256String(m.blobs[i].digest).c_str(), Bytes(m.blobs[i].size).c_str(),
                chunks_per_blob[i], m.blobs[i].chunk_count);
    if (lazy.IsIndex()) {
      const image::LayerCheckpoints& layer = lazy.checkpoints.layers[i];
      const std::string_view name = image::BlobKindName(layer.kind);
      std::printf("; %.*s, stream %s, %zu checkpoints%s", static_cast<int>(name.size()),
                  name.data(), Bytes(layer.stream_size).c_str(), layer.checkpoints.size(),
                  layer.whole ? "; one zstd frame: read from its start" : "");
    }
    std::printf("\n");
  }
}

}  // namespace

Result<ImageName> ImageName::Parse(std::string_view text) {
  ImageName name;
  if (text.starts_with("docker://")) {
    FL_ASSIGN_OR_RETURN(name.registry, image::RegistryImage::Parse(text));
    const std::string_view last = text.substr(text.rfind('/') + 1);
    name.reference_given = last.find_first_of(":@") != std::string_view::npos;
    return name;
  }
  constexpr std::string_view kArchive = "docker-archive:";
  if (text.starts_with(kArchive)) {
    text.remove_prefix(kArchive.size());
    const size_t colon = text.find(':');
    name.archive = std::string(text.substr(0, colon));
    name.reference = colon == std::string_view::npos ? "" : std::string(text.substr(colon + 1));
    name.reference_given = !name.reference.empty();
    if (name.archive.empty()) {
      return Status::InvalidArgument("image \"docker-archive:" + std::string(text) +
                                     "\" has no file");
    }
    return name;
  }
  constexpr std::string_view kOci = "oci:";
  if (!text.starts_with(kOci) || text.size() == kOci.size()) {
    return Status::InvalidArgument("image \"" + std::string(text) +
                                   "\" is not oci:DIR[:REF] (an OCI image layout), "
                                   "docker://HOST/REPO[:TAG] (a registry) or "
                                   "docker-archive:FILE[:REPO:TAG]");
  }
  text.remove_prefix(kOci.size());
  // A digest reference has a colon of its own: oci:DIR:sha256:<hex>.
  const size_t colon = text.find(':');
  name.dir = std::string(text.substr(0, colon));
  if (colon != std::string_view::npos) {
    name.reference = std::string(text.substr(colon + 1));
    if (name.reference.empty()) {
      return Status::InvalidArgument("image \"oci:" + std::string(text) + "\" has an empty REF");
    }
  }
  if (name.dir.empty()) {
    return Status::InvalidArgument("image \"oci:" + std::string(text) + "\" has no directory");
  }
  name.reference_given = !name.reference.empty();
  return name;
}

std::string ImageName::ToString() const {
  if (is_registry()) {
    return registry.ToString();
  }
  if (is_archive()) {
    return "docker-archive:" + archive + (reference.empty() ? "" : ":" + reference);
  }
  return "oci:" + dir + (reference.empty() ? "" : ":" + reference);
}

int RunConvert(const ConvertCommand& command) {
  const char* kName = "convert";
  Result<ImageName> source_name = ImageName::Parse(command.source);
  Result<ImageName> destination_name = ImageName::Parse(command.destination);
  if (!source_name.ok() || !destination_name.ok()) {
    return Fail(kName, source_name.ok() ? destination_name.status() : source_name.status());
  }
  const std::string& destination_reference = destination_name->is_registry()
                                                 ? destination_name->registry.reference
                                                 : destination_name->reference;
  if (destination_reference.starts_with("sha256:")) {
    return Fail(kName, Status::InvalidArgument("a destination is named by a tag, not a digest"));
  }
  if (destination_name->is_archive()) {
    return Fail(kName, Status::InvalidArgument("a docker archive can only be a source; write "
                                               "to oci:DIR or docker://"));
  }
  image::ConvertOptions options;
  if (command.chunk_size > image::kMaxChunkSize || command.chunk_size < image::kMinChunkSize ||
      (command.chunk_size & (command.chunk_size - 1)) != 0) {
    return Fail(kName, Status::InvalidArgument("chunk size " + std::to_string(command.chunk_size) +
                                               " is not a power of two from 4 KiB to 16 MiB"));
  }
  options.chunk_size = static_cast<uint32_t>(command.chunk_size);
  Result<image::Compression> compression = image::ParseCompression(command.compression);
  if (!compression.ok()) {
    return Fail(kName, compression.status());
  }
  options.compression = *compression;
  options.prefetch = command.prefetch;
  if (!command.prefetch_file.empty()) {
    Result<std::vector<std::string>> lines = ReadLines(command.prefetch_file);
    if (!lines.ok()) {
      return Fail(kName, lines.status());
    }
    options.prefetch.insert(options.prefetch.end(), lines->begin(), lines->end());
  }
  Result<OpenedImage> source =
      OpenImage(command.source, command.platform, command.source_creds, command.access);
  if (!source.ok()) {
    return Fail(kName, source.status().WithContext(command.source));
  }
  std::vector<OpenedImage> dictionaries;
  dictionaries.reserve(command.chunk_dicts.size());
  for (const std::string& dict : command.chunk_dicts) {
    Result<OpenedImage> opened =
        OpenImage(dict, command.platform, command.source_creds, command.access);
    if (!opened.ok()) {
      return Fail(kName, opened.status().WithContext("chunk dictionary " + dict));
    }
    dictionaries.push_back(std::move(*opened));
  }
  for (const OpenedImage& dict : dictionaries) {
    options.dictionaries.push_back({&dict.layout, dict.manifest});
  }
  // A registry destination gets the image through a scratch layout.
  std::unique_ptr<ScratchDir> scratch;
  std::string destination_dir = destination_name->dir;
  if (destination_name->is_registry()) {
    Result<std::unique_ptr<ScratchDir>> made = MakeScratch(command.access);
    if (!made.ok()) {
      return Fail(kName, made.status());
    }
    scratch = std::move(*made);
    destination_dir = scratch->path() + "/converted";
  }
  Result<OciLayout> destination = OciLayout::OpenOrCreate(destination_dir);
  if (!destination.ok()) {
    return Fail(kName, destination.status());
  }
  image::ConvertProgressFn progress;
  uint64_t drawn = 0;
  if (command.progress) {
    progress = [&drawn](const image::ConvertProgress& p) {
      if (p.layer_done || p.file_bytes < drawn || p.file_bytes - drawn >= kProgressStep) {
        drawn = p.layer_done ? 0 : p.file_bytes;
        DrawProgress(p);
      }
    };
  }
  Result<image::ConvertReport> report =
      image::ConvertImage(source->layout, source->manifest, *destination, options, progress);
  if (!report.ok()) {
    if (command.progress) {
      std::fputc('\n', stderr);
    }
    return Fail(kName, report.status());
  }
  std::string tag = destination_name->is_registry() ? destination_name->registry.reference
                                                    : destination_name->reference;
  if (!destination_name->reference_given) {
    std::string from =
        source_name->is_registry() ? source_name->registry.reference : source_name->reference;
    if (source_name->is_archive()) {
      from = from.substr(from.rfind(':') + 1);  // REPO:TAG
    }
    tag = (from.empty() || from.starts_with("sha256:") ? "latest" : from) + "-feilong";
  }
  ImageName written = *destination_name;
  if (destination_name->is_registry()) {
    written.registry.reference = tag;
    source::RegistryClient client = MakeClient(written, command.destination_creds, command.access);
    if (Status pushed = image::PushImage(*destination, report->manifest, client, written.registry);
        !pushed.ok()) {
      return Fail(kName, pushed.WithContext("push to " + written.ToString()));
    }
  } else {
    written.reference = tag;
    if (Status tagged = destination->Tag(report->manifest, tag); !tagged.ok()) {
      return Fail(kName, tagged);
    }
  }
  for (const std::string& missing : report->prefetch_missing) {
    std::fprintf(stderr, "flimage convert: prefetch entry %s names nothing in the image\n",
                 missing.c_str());
  }
  const uint64_t stored = report->data_blob_bytes + report->metadata_bytes;
  std::printf("%s -> %s\n", command.source.c_str(), written.ToString().c_str());
  std::printf("manifest  %s\n", Sha256String(report->manifest.digest).c_str());
  std::printf("source    %s in layers, %s of files, %" PRIu64 " entries\n",
              Bytes(report->source_layer_bytes).c_str(), Bytes(report->file_bytes).c_str(),
              report->entries);
  std::printf("chunks    %" PRIu64 " stored, %" PRIu64 " reused\n", report->chunks_stored,
              report->chunks_reused);
  std::printf("written   %s (data %s, metadata %s)\n", Bytes(stored).c_str(),
              Bytes(report->data_blob_bytes).c_str(), Bytes(report->metadata_bytes).c_str());
  return 0;
}

int RunCheck(const CheckCommand& command) {
  const char* kName = "check";
  Result<OpenedLazyImage> opened =
      OpenLazyImage(command.image, command.platform, command.creds, command.access, command.index);
  if (!opened.ok()) {
    return Fail(kName, opened.status().WithContext(command.image));
  }
  Result<image::VerifyReport> verified =
      image::VerifyImage(opened->opened.layout, opened->image, command.access.work_dir);
  if (!verified.ok()) {
    return Fail(kName, verified.status().WithContext(command.image));
  }
  std::printf("ok: %zu inodes, %" PRIu64 " %s (%s), %" PRIu64 " chunks verified\n",
              opened->image.metadata.inodes.size(), verified->blobs,
              opened->image.IsIndex() ? "source layers" : "data blobs",
              Bytes(verified->blob_bytes).c_str(), verified->chunks);
  if (command.source.empty()) {
    return 0;
  }
  Result<OpenedImage> source =
      OpenImage(command.source, command.platform, command.creds, command.access);
  if (!source.ok()) {
    return Fail(kName, source.status().WithContext(command.source));
  }
  Result<std::vector<std::string>> differences =
      image::CompareWithSource(opened->image, source->layout, source->manifest);
  if (!differences.ok()) {
    return Fail(kName, differences.status());
  }
  if (!differences->empty()) {
    for (const std::string& line : *differences) {
      std::printf("differs: %s\n", line.c_str());
    }
    return kExitDifferent;
  }
  std::printf("same as %s: tree, metadata and bytes\n", command.source.c_str());
  return 0;
}

int RunInspect(const InspectCommand& command) {
  Result<OpenedLazyImage> opened =
      OpenLazyImage(command.image, command.platform, command.creds, command.access, command.index);
  if (!opened.ok()) {
    return Fail("inspect", opened.status().WithContext(command.image));
  }
  const image::LazyImage& lazy = opened->image;
  const image::Metadata& m = lazy.metadata;
  std::map<std::string, uint64_t> types;
  uint64_t file_bytes = 0;
  uint64_t chunk_references = 0;
  uint64_t extra_names = 0;
  for (const image::InodeRecord& inode : m.inodes) {
    const char* type = S_ISDIR(inode.mode)   ? "directories"
                       : S_ISREG(inode.mode) ? "files"
                       : S_ISLNK(inode.mode) ? "symlinks"
                                             : "other";
    ++types[type];
    if (S_ISREG(inode.mode)) {
      file_bytes += inode.size;
      chunk_references += inode.count;
      extra_names += inode.nlink > 1 ? inode.nlink - 1 : 0;
    }
  }
  uint64_t distinct_bytes = 0;
  uint64_t stored_bytes = 0;
  std::map<std::string_view, uint64_t> by_compression;
  for (const image::ChunkRecord& chunk : m.chunks) {
    distinct_bytes += chunk.uncompressed_size;
    stored_bytes += chunk.compressed_size;
    ++by_compression[image::CompressionName(chunk.compression)];
  }
  std::printf("image       %s (format %s)\n", Sha256String(lazy.manifest_descriptor.digest).c_str(),
              lazy.manifest.annotations.at(std::string(image::kFeilongFormatAnnotation)).c_str());
  if (lazy.manifest.subject) {
    std::printf("source      %s\n", Sha256String(lazy.manifest.subject->digest).c_str());
  }
  std::printf("chunk size  %s\n", Bytes(m.chunk_size).c_str());
  std::printf("inodes      %zu:", m.inodes.size());
  for (const auto& [type, count] : types) {
    std::printf(" %" PRIu64 " %s", count, type.c_str());
  }
  std::printf("; %" PRIu64 " extra hard-link names\n", extra_names);
  std::printf("file bytes  %s in %" PRIu64 " chunk references\n", Bytes(file_bytes).c_str(),
              chunk_references);
  std::printf("chunks      %zu distinct, %s uncompressed, %s stored (", m.chunks.size(),
              Bytes(distinct_bytes).c_str(), Bytes(stored_bytes).c_str());
  const char* separator = "";
  for (const auto& [name, count] : by_compression) {
    std::printf("%s%.*s %" PRIu64, separator, static_cast<int>(name.size()), name.data(), count);
    separator = ", ";
  }
  std::printf(")\n");
  std::printf("dedup       %.2fx (file bytes / distinct chunk bytes)\n",
              distinct_bytes == 0
                  ? 1.0
                  : static_cast<double>(file_bytes) / static_cast<double>(distinct_bytes));
  std::printf("metadata    %s %s\n", Sha256String(lazy.metadata_descriptor.digest).c_str(),
              Bytes(lazy.metadata_descriptor.size).c_str());
  PrintBlobs(lazy);
  const std::vector<std::string> paths = m.Paths();
  for (uint32_t inode : m.prefetch) {
    std::printf("prefetch    %s\n", paths[inode].c_str());
  }
  if (command.tree) {
    std::vector<size_t> by_path(m.inodes.size());
    for (size_t i = 0; i < by_path.size(); ++i) {
      by_path[i] = i;
    }
    std::sort(by_path.begin(), by_path.end(),
              [&paths](size_t a, size_t b) { return paths[a] < paths[b]; });
    for (size_t i : by_path) {
      const image::InodeRecord& inode = m.inodes[i];
      std::printf("%07o %u:%u %12" PRIu64 " %s%s%s\n", inode.mode, inode.uid, inode.gid, inode.size,
                  paths[i].c_str(), S_ISLNK(inode.mode) ? " -> " : "",
                  S_ISLNK(inode.mode) ? std::string(m.SymlinkTarget(inode)).c_str() : "");
    }
  }
  return 0;
}

int RunUnpack(const UnpackCommand& command) {
  Result<OpenedLazyImage> opened =
      OpenLazyImage(command.image, command.platform, command.creds, command.access, command.index);
  if (!opened.ok()) {
    return Fail("unpack", opened.status().WithContext(command.image));
  }
  std::unique_ptr<image::ChunkReader> reader =
      image::MakeChunkReader(opened->opened.layout, opened->image, command.access.work_dir);
  // A file is written beside the output and renamed over it when whole, so
  // a failure leaves what was there; standard output, devices and pipes are
  // written as they are.
  struct stat st {};
  const bool to_file =
      command.output != "-" && (::stat(command.output.c_str(), &st) != 0 || S_ISREG(st.st_mode));
  const std::string target =
      to_file ? command.output + ".flimage-" + std::to_string(::getpid()) : command.output;
  Result<image::UnpackStats> stats = image::UnpackToTar(opened->image.metadata, *reader, target);
  if (stats.ok() && to_file && std::rename(target.c_str(), command.output.c_str()) != 0) {
    stats = Status::FromErrno(errno, "rename " + target + " to " + command.output);
  }
  if (!stats.ok()) {
    if (to_file) {
      std::remove(target.c_str());
    }
    return Fail("unpack", stats.status());
  }
  if (command.output != "-") {
    std::printf("%s: %" PRIu64 " entries, %s of files\n", command.output.c_str(), stats->entries,
                Bytes(stats->file_bytes).c_str());
  }
  return 0;
}

}  // namespace feilong::cli
