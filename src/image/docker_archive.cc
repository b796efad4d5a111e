#include "image/docker_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/fd_io.h"
#include "common/json_field.h"
#include "common/scoped_fd.h"

namespace feilong::image {

namespace {

using Json = nlohmann::json;

constexpr size_t kReadBlock = 1 << 20;
// An archive may be compressed; what it holds may be at most this many
// times its size (a decompression bomb fills no disk).
constexpr uint64_t kMaxExpansion = 100;
// Links followed to find a file (a link to a link, ...).
constexpr int kMaxLinkHops = 8;

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

// A regular file of the archive, written to the layout's ingest directory.
struct Extracted {
  std::string path;
  Sha256Digest digest{};
  uint64_t size = 0;
};

// Removes the extracted files (those adopted into the layout are gone from
// their temporary paths already).
class ExtractedFiles {
 public:
  ~ExtractedFiles() {
    for (const auto& [name, file] : files) {
      ::unlink(file.path.c_str());
    }
  }
  std::map<std::string, Extracted> files;  // by entry name, without "./"
};

Status ArchiveFailure(archive* a, const std::string& what) {
  const char* text = archive_error_string(a);
  const std::string message = what + ": " + (text != nullptr ? text : "unknown archive error");
  return archive_errno(a) == ENOENT ? Status::NotFound(message) : Status::Corruption(message);
}

Result<Extracted> Extract(archive* a, const std::string& name, OciLayout& into) {
  FL_ASSIGN_OR_RETURN(std::string path, into.IngestPath("archive"));
  ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return Status::FromErrno(errno, "create " + path);
  }
  Extracted file{path, {}, 0};
  Sha256Hasher hasher;
  std::vector<char> buffer(kReadBlock);
  for (;;) {
    const la_ssize_t n = archive_read_data(a, buffer.data(), buffer.size());
    if (n < 0) {
      ::unlink(path.c_str());
      return ArchiveFailure(a, "docker archive entry " + name);
    }
    if (n == 0) {
      break;
    }
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(buffer.data()),
                                         static_cast<size_t>(n));
    hasher.Update(bytes);
    file.size += bytes.size();
    if (Status written = WriteFully(fd.get(), bytes, path); !written.ok()) {
      ::unlink(path.c_str());
      return written;
    }
  }
  file.digest = hasher.Finish();
  return file;
}

// Whether the archive's `tag` is what a user typed as `wanted`: Docker and
// skopeo write "app:1" as "docker.io/library/app:1".
bool SameRepoTag(std::string_view tag, std::string_view wanted) {
  if (tag == wanted) {
    return true;
  }
  for (std::string_view prefix : {"docker.io/library/", "docker.io/"}) {
    if (tag.starts_with(prefix) && tag.substr(prefix.size()) == wanted) {
      return true;
    }
  }
  return false;
}

std::string Clean(std::string_view name) {
  while (name.starts_with("./")) {
    name.remove_prefix(2);
  }
  return std::string(name);
}

// The archive name a symlink at `name` pointing to `target` stands for,
// resolved by text alone ("a/b" -> "../c/d" is "c/d"): a key to look up
// among the archive's entries, never a path on disk.
std::string Lexical(const std::string& name, std::string_view target) {
  std::vector<std::string> parts;
  if (!target.starts_with("/")) {
    std::string_view dir = name;
    const size_t slash = dir.rfind('/');
    dir = slash == std::string_view::npos ? "" : dir.substr(0, slash);
    for (size_t begin = 0; begin < dir.size();) {
      const size_t end = std::min(dir.find('/', begin), dir.size());
      parts.emplace_back(dir.substr(begin, end - begin));
      begin = end + 1;
    }
  }
  for (size_t begin = 0; begin <= target.size();) {
    const size_t end = std::min(target.find('/', begin), target.size());
    const std::string_view part = target.substr(begin, end - begin);
    if (part == "..") {
      if (!parts.empty()) {
        parts.pop_back();
      }
    } else if (!part.empty() && part != ".") {
      parts.emplace_back(part);
    }
    begin = end + 1;
  }
  std::string out;
  for (const std::string& part : parts) {
    out += (out.empty() ? "" : "/") + part;
  }
  return out;
}

}  // namespace

Result<Descriptor> ImportDockerArchive(const std::string& path, std::string_view reference,
                                       OciLayout& into) {
  std::unique_ptr<archive, ArchiveFree> a(archive_read_new());
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_all(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), kReadBlock) != ARCHIVE_OK) {
    return ArchiveFailure(a.get(), "docker archive " + path);
  }
  struct stat archive_stat {};
  const uint64_t budget = ::stat(path.c_str(), &archive_stat) == 0
                              ? kMaxExpansion * static_cast<uint64_t>(archive_stat.st_size)
                              : 0;
  ExtractedFiles extracted;
  std::map<std::string, std::string> links;  // entry name -> the name it stands for
  uint64_t extracted_bytes = 0;
  archive_entry* entry = nullptr;
  for (;;) {
    const int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) {
      break;
    }
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return ArchiveFailure(a.get(), "docker archive " + path);
    }
    const char* raw_name = archive_entry_pathname(entry);
    if (raw_name == nullptr) {
      return Status::Corruption("docker archive " + path + " has an entry without a name");
    }
    const std::string name = Clean(raw_name);
    // docker save (before v25) writes a layer that appears twice as a
    // symlink to the first copy.
    if (const char* target = archive_entry_hardlink(entry); target != nullptr) {
      links[name] = Clean(target);
      continue;
    }
    if (archive_entry_filetype(entry) == AE_IFLNK && archive_entry_symlink(entry) != nullptr) {
      links[name] = Lexical(name, archive_entry_symlink(entry));
      continue;
    }
    if (archive_entry_filetype(entry) != AE_IFREG) {
      continue;
    }
    FL_ASSIGN_OR_RETURN(Extracted file, Extract(a.get(), name, into));
    extracted_bytes += file.size;
    if (auto old = extracted.files.find(name); old != extracted.files.end()) {
      ::unlink(old->second.path.c_str());
    }
    extracted.files[name] = std::move(file);
    if (extracted_bytes > budget) {
      return Status::Corruption("docker archive " + path + " expands to more than " +
                                std::to_string(kMaxExpansion) + " times its size");
    }
  }

  auto named = [&](const std::string& wanted) -> Result<const Extracted*> {
    std::string name = Clean(wanted);
    for (int hops = 0; hops < kMaxLinkHops; ++hops) {
      auto link = links.find(name);
      if (link == links.end()) {
        break;
      }
      name = link->second;
    }
    auto it = extracted.files.find(name);
    if (it == extracted.files.end()) {
      return Status::Corruption("docker archive " + path + " lacks " + wanted +
                                ", which its manifest.json names");
    }
    return &it->second;
  };
  auto manifest_file = extracted.files.find("manifest.json");
  if (manifest_file == extracted.files.end()) {
    return Status::InvalidArgument(path + " is not a docker archive (no manifest.json)");
  }
  if (manifest_file->second.size > kMaxDocumentSize) {
    return Status::InvalidArgument(path + ": manifest.json is too large");
  }
  std::string manifest_text;
  {
    std::ifstream in(manifest_file->second.path, std::ios::binary);
    manifest_text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const Json images = ParseJsonDocument(manifest_text);
  if (!images.is_array() || images.empty()) {
    return Status::Corruption(path + ": manifest.json is not a list of images");
  }
  const Json* image = nullptr;
  std::string tags;
  for (const Json& candidate : images) {
    if (!candidate.is_object() || !candidate.contains("RepoTags") ||
        !candidate["RepoTags"].is_array()) {
      continue;
    }
    for (const Json& tag : candidate["RepoTags"]) {
      if (tag.is_string()) {
        tags += " " + tag.get<std::string>();
        if (image == nullptr && SameRepoTag(tag.get<std::string>(), reference)) {
          image = &candidate;
        }
      }
    }
  }
  if (reference.empty()) {
    if (images.size() != 1) {
      return Status::InvalidArgument(path + " holds " + std::to_string(images.size()) +
                                     " images; name one:" + tags);
    }
    image = &images[0];
  }
  if (image == nullptr) {
    return Status::NotFound("no image " + std::string(reference) + " in " + path +
                            "; there are:" + (tags.empty() ? " none" : tags));
  }
  if (!image->is_object() || !(*image).contains("Config") || !(*image)["Config"].is_string() ||
      !(*image).contains("Layers") || !(*image)["Layers"].is_array()) {
    return Status::Corruption(path + ": an image in manifest.json lacks Config or Layers");
  }
  ImageManifest manifest;
  manifest.media_type = std::string(kOciManifestType);
  FL_ASSIGN_OR_RETURN(const Extracted* config, named((*image)["Config"].get<std::string>()));
  FL_ASSIGN_OR_RETURN(manifest.config,
                      into.Adopt(config->path, config->digest, config->size, kOciConfigType));
  for (const Json& layer : (*image)["Layers"]) {
    if (!layer.is_string()) {
      return Status::Corruption(path + ": a layer in manifest.json is not a file name");
    }
    FL_ASSIGN_OR_RETURN(const Extracted* file, named(layer.get<std::string>()));
    // The same layer twice in one image is one blob, adopted once.
    Descriptor d{"application/vnd.oci.image.layer.v1.tar", file->digest, file->size, {}, {}, {}};
    if (!into.VerifyBlob(d).ok()) {
      FL_RETURN_IF_ERROR(into.Adopt(file->path, file->digest, file->size, d.media_type).status());
    }
    manifest.layers.push_back(std::move(d));
  }
  return into.PutBlob(manifest.Encode(), kOciManifestType);
}

}  // namespace feilong::image
