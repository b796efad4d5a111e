#include "image/oci_layout.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/fd_io.h"
#include "common/json_field.h"
#include "common/scoped_fd.h"

namespace feilong::image {

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

constexpr std::string_view kLayoutMarker = R"({"imageLayoutVersion":"1.0.0"})";
constexpr int kMaxIndexDepth = 4;

}  // namespace

bool IsIndexType(std::string_view media_type) {
  return media_type == kOciIndexType || media_type == kDockerListType;
}

bool IsManifestType(std::string_view media_type) {
  return media_type == kOciManifestType || media_type == kDockerManifestType;
}

namespace {

// Reads a small file whole. NotFound / IOError naming it.
Result<std::string> ReadSmallFile(const std::string& path, uint64_t max_size) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return errno == ENOENT ? Status::NotFound(path + ": no such file")
                           : Status::FromErrno(errno, "open " + path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Status::FromErrno(errno, "stat " + path);
  }
  if (static_cast<uint64_t>(st.st_size) > max_size) {
    return Status::InvalidArgument(path + " is " + std::to_string(st.st_size) +
                                   " bytes, more than the " + std::to_string(max_size) +
                                   " allowed");
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  FL_RETURN_IF_ERROR(
      PreadFully(fd.get(), {reinterpret_cast<uint8_t*>(data.data()), data.size()}, 0, path));
  return data;
}

// Creates (or truncates) `path` with `bytes`, synced; removes it on failure.
Status WriteSyncedFile(const std::string& path, std::string_view bytes) {
  ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return Status::FromErrno(errno, "create " + path);
  }
  Status written = WriteFully(fd.get(), bytes, path);
  if (written.ok() && ::fsync(fd.get()) != 0) {
    written = Status::FromErrno(errno, "sync " + path);
  }
  if (!written.ok()) {
    ::unlink(path.c_str());
  }
  return written;
}

// Writes `bytes` to `path` through a temporary file and rename, synced.
Status WriteFileAtomically(const std::string& path, std::string_view bytes) {
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  FL_RETURN_IF_ERROR(WriteSyncedFile(temp, bytes));
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    Status status = Status::FromErrno(errno, "rename " + temp + " to " + path);
    ::unlink(temp.c_str());
    return status;
  }
  return Status::Ok();
}

Result<Descriptor> ParseDescriptor(const Json& json, std::string_view where) {
  if (!json.is_object()) {
    return Status::InvalidArgument(std::string(where) + ": a descriptor is not a JSON object");
  }
  auto media_type = json.find("mediaType");
  auto digest = json.find("digest");
  auto size = json.find("size");
  if (media_type == json.end() || !media_type->is_string()) {
    return Status::InvalidArgument(std::string(where) + ": descriptor without a mediaType");
  }
  if (digest == json.end() || !digest->is_string()) {
    return Status::InvalidArgument(std::string(where) + ": descriptor without a digest");
  }
  if (size == json.end() || !size->is_number_unsigned()) {
    return Status::InvalidArgument(std::string(where) + ": descriptor without a valid size");
  }
  Descriptor d;
  d.media_type = media_type->get<std::string>();
  Result<Sha256Digest> parsed = ParseSha256String(digest->get<std::string>());
  if (!parsed.ok()) {
    return Status::InvalidArgument(std::string(where) + ": digest " + digest->get<std::string>() +
                                   " is not sha256:<64 hex digits>");
  }
  d.digest = *parsed;
  d.size = size->get<uint64_t>();
  if (auto it = json.find("artifactType"); it != json.end() && it->is_string()) {
    d.artifact_type = it->get<std::string>();
  }
  if (auto it = json.find("platform"); it != json.end() && it->is_object()) {
    Platform p;
    p.os = JsonString(*it, "os");
    p.architecture = JsonString(*it, "architecture");
    p.variant = JsonString(*it, "variant");
    d.platform = p;
  }
  if (auto it = json.find("annotations"); it != json.end() && it->is_object()) {
    for (const auto& [key, value] : it->items()) {
      if (value.is_string()) {
        d.annotations[key] = value.get<std::string>();
      }
    }
  }
  return d;
}

Json DescriptorJson(const Descriptor& d) {
  Json json = {{"mediaType", d.media_type}, {"digest", Sha256String(d.digest)}, {"size", d.size}};
  if (!d.artifact_type.empty()) {
    json["artifactType"] = d.artifact_type;
  }
  if (d.platform) {
    json["platform"] = {{"os", d.platform->os}, {"architecture", d.platform->architecture}};
    if (!d.platform->variant.empty()) {
      json["platform"]["variant"] = d.platform->variant;
    }
  }
  if (!d.annotations.empty()) {
    json["annotations"] = d.annotations;
  }
  return json;
}

Result<Json> ParseJson(std::string_view text, std::string_view what) {
  Json json = ParseJsonDocument(text);
  if (json.is_discarded() || !json.is_object()) {
    return Status::InvalidArgument(std::string(what) + " is not a JSON object");
  }
  return json;
}

bool PlatformMatches(const Platform& have, const Platform& want) {
  return have.os == want.os && have.architecture == want.architecture &&
         (want.variant.empty() || have.variant == want.variant);
}

}  // namespace

Result<Platform> Platform::Parse(std::string_view text) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (true) {
    const size_t slash = text.find('/', begin);
    parts.emplace_back(text.substr(begin, slash - begin));
    if (slash == std::string_view::npos) {
      break;
    }
    begin = slash + 1;
  }
  bool valid = parts.size() == 2 || parts.size() == 3;
  for (const std::string& part : parts) {
    valid = valid && !part.empty();
  }
  if (!valid) {
    return Status::InvalidArgument("platform \"" + std::string(text) +
                                   "\" is not OS/ARCH[/VARIANT], e.g. linux/amd64");
  }
  return Platform{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
}

Platform Platform::Host() {
#if defined(__x86_64__)
  return {"linux", "amd64", ""};
#elif defined(__aarch64__)
  return {"linux", "arm64", ""};
#else
  return {"linux", "unknown", ""};
#endif
}

std::string Platform::ToString() const {
  return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
}

bool IsTarLayer(std::string_view media_type) {
  static constexpr std::array<std::string_view, 9> kTypes = {
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.oci.image.layer.nondistributable.v1.tar",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
      "application/vnd.docker.image.rootfs.diff.tar",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  };
  for (std::string_view type : kTypes) {
    if (media_type == type) {
      return true;
    }
  }
  return false;
}

std::string ImageManifest::Encode() const {
  Json json = {{"schemaVersion", 2}, {"mediaType", media_type}, {"config", DescriptorJson(config)}};
  Json layer_list = Json::array();
  for (const Descriptor& layer : layers) {
    layer_list.push_back(DescriptorJson(layer));
  }
  json["layers"] = std::move(layer_list);
  if (subject) {
    json["subject"] = DescriptorJson(*subject);
  }
  if (!artifact_type.empty()) {
    json["artifactType"] = artifact_type;
  }
  if (!annotations.empty()) {
    json["annotations"] = annotations;
  }
  return JsonText(json);
}

Result<ImageManifest> ImageManifest::Parse(std::string_view text) {
  FL_ASSIGN_OR_RETURN(Json json, ParseJson(text, "manifest"));
  auto version = json.find("schemaVersion");
  if (version == json.end() || !version->is_number_integer() || version->get<int64_t>() != 2) {
    return Status::InvalidArgument("manifest: schemaVersion is not 2");
  }
  ImageManifest m;
  m.media_type =
      json.contains("mediaType") ? JsonString(json, "mediaType") : std::string(kOciManifestType);
  if (!IsManifestType(m.media_type)) {
    return Status::InvalidArgument("manifest: media type " + m.media_type +
                                   " is not an image manifest");
  }
  auto config = json.find("config");
  if (config == json.end()) {
    return Status::InvalidArgument("manifest: no config");
  }
  FL_ASSIGN_OR_RETURN(m.config, ParseDescriptor(*config, "manifest config"));
  auto layers = json.find("layers");
  if (layers == json.end() || !layers->is_array()) {
    return Status::InvalidArgument("manifest: no layers array");
  }
  for (size_t i = 0; i < layers->size(); ++i) {
    FL_ASSIGN_OR_RETURN(Descriptor layer,
                        ParseDescriptor((*layers)[i], "manifest layer " + std::to_string(i)));
    m.layers.push_back(std::move(layer));
  }
  if (auto it = json.find("subject"); it != json.end()) {
    FL_ASSIGN_OR_RETURN(m.subject, ParseDescriptor(*it, "manifest subject"));
  }
  if (auto it = json.find("artifactType"); it != json.end() && it->is_string()) {
    m.artifact_type = it->get<std::string>();
  }
  if (auto it = json.find("annotations"); it != json.end() && it->is_object()) {
    for (const auto& [key, value] : it->items()) {
      if (value.is_string()) {
        m.annotations[key] = value.get<std::string>();
      }
    }
  }
  return m;
}

Result<OciLayout> OciLayout::Open(const std::string& dir) {
  Result<std::string> marker = ReadSmallFile(dir + "/oci-layout", 4096);
  if (!marker.ok()) {
    return Status::InvalidArgument(dir +
                                   " is not an OCI image layout (no readable oci-layout file)");
  }
  FL_ASSIGN_OR_RETURN(Json json, ParseJson(*marker, dir + "/oci-layout"));
  if (JsonString(json, "imageLayoutVersion") != "1.0.0") {
    return Status::InvalidArgument(dir + "/oci-layout: imageLayoutVersion is not 1.0.0");
  }
  return OciLayout(dir);
}

Result<OciLayout> OciLayout::OpenOrCreate(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir + "/oci-layout", ec)) {
    return Open(dir);
  }
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    return Status::InvalidArgument(dir + " exists and is neither empty nor an OCI image layout");
  }
  fs::create_directories(dir + "/blobs/sha256", ec);
  if (ec) {
    return Status::IOError("create " + dir + "/blobs/sha256: " + ec.message());
  }
  Json index = {{"schemaVersion", 2},
                {"mediaType", std::string(kOciIndexType)},
                {"manifests", Json::array()}};
  FL_RETURN_IF_ERROR(WriteFileAtomically(dir + "/index.json", JsonText(index)));
  FL_RETURN_IF_ERROR(WriteFileAtomically(dir + "/oci-layout", kLayoutMarker));
  return OciLayout(dir);
}

std::string OciLayout::BlobPath(const Sha256Digest& digest) const {
  return dir_ + "/blobs/sha256/" + HexEncode(digest);
}

Result<std::string> OciLayout::ReadBlob(const Descriptor& descriptor, uint64_t max_size) const {
  const std::string path = BlobPath(descriptor.digest);
  if (descriptor.size > max_size) {
    return Status::InvalidArgument("blob " + Sha256String(descriptor.digest) + " is " +
                                   std::to_string(descriptor.size) + " bytes, more than the " +
                                   std::to_string(max_size) + " allowed");
  }
  Result<std::string> data = ReadSmallFile(path, max_size);
  if (!data.ok()) {
    if (data.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("blob " + Sha256String(descriptor.digest) + " is not in " + dir_);
    }
    return data.status();
  }
  if (data->size() != descriptor.size || Sha256(*data) != descriptor.digest) {
    return Status::Corruption("blob " + Sha256String(descriptor.digest) + " in " + dir_ +
                              " does not match its digest or size");
  }
  return data;
}

Status OciLayout::VerifyBlob(const Descriptor& descriptor) const {
  const std::string path = BlobPath(descriptor.digest);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return Status::NotFound("blob " + Sha256String(descriptor.digest) + " is not in " + dir_);
    }
    return Status::FromErrno(errno, "stat " + path);
  }
  if (static_cast<uint64_t>(st.st_size) != descriptor.size) {
    return Status::Corruption("blob " + Sha256String(descriptor.digest) + " is " +
                              std::to_string(st.st_size) + " bytes, its descriptor says " +
                              std::to_string(descriptor.size));
  }
  FL_ASSIGN_OR_RETURN(Sha256Digest digest, Sha256File(path));
  if (digest != descriptor.digest) {
    return Status::Corruption("blob " + Sha256String(descriptor.digest) + " in " + dir_ +
                              " has digest " + Sha256String(digest));
  }
  return Status::Ok();
}

Result<std::vector<Descriptor>> OciLayout::ReadIndex() const {
  FL_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(dir_ + "/index.json", kMaxDocumentSize));
  FL_ASSIGN_OR_RETURN(Json json, ParseJson(text, dir_ + "/index.json"));
  auto manifests = json.find("manifests");
  if (manifests == json.end() || !manifests->is_array()) {
    return Status::InvalidArgument(dir_ + "/index.json has no manifests array");
  }
  std::vector<Descriptor> result;
  for (const Json& entry : *manifests) {
    // An entry this build cannot use (another digest algorithm, ...) does
    // not make the others unusable.
    if (Result<Descriptor> d = ParseDescriptor(entry, dir_ + "/index.json"); d.ok()) {
      result.push_back(std::move(*d));
    }
  }
  return result;
}

Result<Descriptor> OciLayout::FindReferrer(const Sha256Digest& subject,
                                           std::string_view artifact_type) const {
  FL_ASSIGN_OR_RETURN(std::vector<Descriptor> entries, ReadIndex());
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (!IsManifestType(it->media_type)) {
      continue;
    }
    Result<ImageManifest> manifest = ReadManifest(*it);
    if (manifest.ok() && manifest->artifact_type == artifact_type && manifest->subject &&
        manifest->subject->digest == subject) {
      return *it;
    }
  }
  return Status::NotFound("no " + std::string(artifact_type) + " of " + Sha256String(subject) +
                          " in " + dir_);
}

Result<Descriptor> OciLayout::Resolve(std::string_view reference, const Platform& platform) const {
  FL_ASSIGN_OR_RETURN(std::vector<Descriptor> entries, ReadIndex());
  std::optional<Descriptor> found;
  if (reference.empty()) {
    if (entries.size() != 1) {
      std::string names;
      for (const Descriptor& d : entries) {
        auto tag = d.annotations.find(std::string(kRefNameAnnotation));
        names += " " + (tag != d.annotations.end() ? tag->second : Sha256String(d.digest));
      }
      return Status::InvalidArgument(dir_ + " holds " + std::to_string(entries.size()) +
                                     " images; name one:" + names);
    }
    found = entries.front();
  } else {
    const bool by_digest = reference.starts_with("sha256:");
    for (const Descriptor& d : entries) {
      auto tag = d.annotations.find(std::string(kRefNameAnnotation));
      if (by_digest ? Sha256String(d.digest) == reference
                    : tag != d.annotations.end() && tag->second == reference) {
        found = d;
        break;
      }
    }
    if (!found) {
      return Status::NotFound("no image " + std::string(reference) + " in " + dir_);
    }
  }
  for (int depth = 0; depth < kMaxIndexDepth; ++depth) {
    if (IsManifestType(found->media_type)) {
      return *found;
    }
    if (!IsIndexType(found->media_type)) {
      return Status::InvalidArgument(std::string(reference) + " in " + dir_ +
                                     " is neither an image nor an index: " + found->media_type);
    }
    FL_ASSIGN_OR_RETURN(std::string text, ReadBlob(*found));
    FL_ASSIGN_OR_RETURN(Descriptor match,
                        ChooseFromIndex(text, platform, std::string(reference) + " in " + dir_));
    found = std::move(match);
  }
  return Status::InvalidArgument("image indexes nested more than " +
                                 std::to_string(kMaxIndexDepth) + " deep in " + dir_);
}

Result<Descriptor> ChooseFromIndex(std::string_view index, const Platform& platform,
                                   const std::string& what) {
  FL_ASSIGN_OR_RETURN(Json json, ParseJson(index, "image index of " + what));
  auto manifests = json.find("manifests");
  if (manifests == json.end() || !manifests->is_array()) {
    return Status::InvalidArgument("image index of " + what + " has no manifests array");
  }
  std::optional<Descriptor> match;
  std::string available;
  for (const Json& entry : *manifests) {
    Result<Descriptor> parsed = ParseDescriptor(entry, "image index of " + what);
    if (!parsed.ok()) {
      continue;  // e.g. a sha512 digest: the other platforms stay usable
    }
    Descriptor& d = *parsed;
    if (!d.platform) {
      continue;
    }
    available += " " + d.platform->ToString();
    if (!match && PlatformMatches(*d.platform, platform)) {
      match = std::move(d);
    }
  }
  if (!match) {
    return Status::NotFound("no image for platform " + platform.ToString() + " in " + what +
                            "; there are:" + (available.empty() ? " none" : available));
  }
  return *match;
}

Result<ImageManifest> OciLayout::ReadManifest(const Descriptor& descriptor) const {
  FL_ASSIGN_OR_RETURN(std::string text, ReadBlob(descriptor));
  return ImageManifest::Parse(text);
}

Result<std::string> OciLayout::IngestPath(std::string_view name) {
  std::error_code ec;
  fs::create_directories(dir_ + "/blobs/.ingest", ec);
  if (ec) {
    return Status::IOError("create " + dir_ + "/blobs/.ingest: " + ec.message());
  }
  static std::atomic<uint64_t> counter{0};
  return dir_ + "/blobs/.ingest/" + std::string(name) + "." + std::to_string(::getpid()) + "." +
         std::to_string(counter.fetch_add(1));
}

Result<Descriptor> OciLayout::PutBlob(std::string_view bytes, std::string_view media_type) {
  Descriptor d{std::string(media_type), Sha256(bytes), bytes.size(), {}, {}, {}};
  if (VerifyBlob(d).ok()) {
    return d;
  }
  FL_ASSIGN_OR_RETURN(const std::string temp, IngestPath("put"));
  FL_RETURN_IF_ERROR(WriteSyncedFile(temp, bytes));
  return Adopt(temp, d.digest, d.size, media_type);
}

Result<Descriptor> OciLayout::Adopt(const std::string& path, const Sha256Digest& digest,
                                    uint64_t size, std::string_view media_type) {
  // Renamed over whatever is there: an identical blob is replaced by an
  // identical one, a damaged one is repaired.
  const std::string target = BlobPath(digest);
  std::error_code ec;
  fs::create_directories(dir_ + "/blobs/sha256", ec);
  if (::rename(path.c_str(), target.c_str()) != 0) {
    Status failed = Status::FromErrno(errno, "rename " + path + " to " + target);
    ::unlink(path.c_str());
    return failed;
  }
  return Descriptor{std::string(media_type), digest, size, {}, {}, {}};
}

Status OciLayout::CopyBlobFrom(const OciLayout& other, const Descriptor& descriptor) {
  if (VerifyBlob(descriptor).ok()) {
    return Status::Ok();
  }
  FL_RETURN_IF_ERROR(other.VerifyBlob(descriptor));
  const std::string source = other.BlobPath(descriptor.digest);
  FL_ASSIGN_OR_RETURN(const std::string temp, IngestPath("copy"));
  if (::link(source.c_str(), temp.c_str()) != 0) {
    std::error_code ec;
    fs::copy_file(source, temp, ec);
    if (ec) {
      ::unlink(temp.c_str());
      return Status::IOError("copy " + source + " to " + temp + ": " + ec.message());
    }
  }
  return Adopt(temp, descriptor.digest, descriptor.size, descriptor.media_type).status();
}

Status OciLayout::Tag(const Descriptor& manifest, std::string_view tag) {
  const std::string path = dir_ + "/index.json";
  FL_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, kMaxDocumentSize));
  FL_ASSIGN_OR_RETURN(Json index, ParseJson(text, path));
  Json kept = Json::array();
  if (auto it = index.find("manifests"); it != index.end() && it->is_array()) {
    for (const Json& entry : *it) {
      if (entry.is_object() && entry.contains("annotations") &&
          JsonString(entry["annotations"], kRefNameAnnotation) == tag) {
        continue;
      }
      kept.push_back(entry);
    }
  }
  Descriptor named = manifest;
  named.annotations[std::string(kRefNameAnnotation)] = std::string(tag);
  kept.push_back(DescriptorJson(named));
  index["manifests"] = std::move(kept);
  return WriteFileAtomically(path, JsonText(index));
}

}  // namespace feilong::image
