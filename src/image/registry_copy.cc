#include "image/registry_copy.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <utility>

#include "common/fd_io.h"
#include "common/json_field.h"
#include "common/scoped_fd.h"

namespace feilong::image {

namespace {

constexpr int kMaxIndexDepth = 4;

const std::vector<std::string_view> kManifestTypes = {kOciManifestType, kOciIndexType,
                                                      kDockerManifestType, kDockerListType};

// The media type of a fetched manifest: the body's own when it names one.
std::string MediaTypeOf(const source::FetchedManifest& fetched) {
  nlohmann::json json = ParseJsonDocument(fetched.body);
  if (json.is_object() && json.contains("mediaType") && json["mediaType"].is_string()) {
    return json["mediaType"].get<std::string>();
  }
  return fetched.media_type;
}

// Streams blob `d` of `repository` into `into`, checked, unless it is there.
Status PullBlob(source::RegistryClient& registry, const std::string& repository,
                const Descriptor& d, OciLayout& into) {
  if (into.VerifyBlob(d).ok()) {
    return Status::Ok();
  }
  FL_ASSIGN_OR_RETURN(std::string path, into.IngestPath("pull"));
  ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return Status::FromErrno(errno, "create " + path);
  }
  Sha256Hasher hasher;
  uint64_t size = 0;
  Status pulled = registry.GetBlob(
      repository, Sha256String(d.digest), [&](std::span<const uint8_t> bytes) -> Status {
        size += bytes.size();
        if (size > d.size) {
          return Status::Corruption("blob " + Sha256String(d.digest) + " is longer than its " +
                                    std::to_string(d.size) + " bytes");
        }
        hasher.Update(bytes);
        return WriteFully(fd.get(), bytes, path);
      });
  if (pulled.ok() && (size != d.size || hasher.Finish() != d.digest)) {
    pulled = Status::Corruption("blob " + Sha256String(d.digest) + " from " + registry.host() +
                                " does not match its digest or size");
  }
  if (pulled.ok() && ::fsync(fd.get()) != 0) {
    pulled = Status::FromErrno(errno, "sync " + path);
  }
  if (!pulled.ok()) {
    ::unlink(path.c_str());
    return pulled;
  }
  return into.Adopt(path, d.digest, d.size, d.media_type).status();
}

// The manifest `reference` of `repository`, checked against the digest when
// the reference is one, stored in `into`.
Result<Descriptor> PullManifest(source::RegistryClient& registry, const std::string& repository,
                                const std::string& reference, OciLayout& into) {
  FL_ASSIGN_OR_RETURN(
      source::FetchedManifest fetched,
      registry.GetManifest(repository, reference, kManifestTypes, kMaxDocumentSize));
  const std::string media_type = MediaTypeOf(fetched);
  if (!IsIndexType(media_type) && !IsManifestType(media_type)) {
    return Status::InvalidArgument(registry.host() + "/" + repository + ":" + reference +
                                   " is neither an image nor an index: " + media_type);
  }
  if (reference.starts_with("sha256:") && Sha256String(Sha256(fetched.body)) != reference) {
    return Status::Corruption("manifest " + reference + " from " + registry.host() +
                              " does not match its digest");
  }
  return into.PutBlob(fetched.body, media_type);
}

// Names as distribution-spec defines them, so that nothing in them can
// change the meaning of a URL (no "..", '?', '#', '@' or spaces).
bool ValidHost(std::string_view host) {
  static const std::regex kHost(
      R"(([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?)"
      R"(|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?)");
  return std::regex_match(host.begin(), host.end(), kHost);
}

bool ValidRepository(std::string_view repository) {
  static const std::regex kRepository(
      R"([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*)");
  return repository.size() <= 255 &&
         std::regex_match(repository.begin(), repository.end(), kRepository);
}

bool ValidTag(std::string_view tag) {
  static const std::regex kTag(R"([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})");
  return std::regex_match(tag.begin(), tag.end(), kTag);
}

std::string ReferrersTag(const Sha256Digest& subject) { return "sha256-" + HexEncode(subject); }

}  // namespace

Result<RegistryImage> RegistryImage::Parse(std::string_view text) {
  constexpr std::string_view kScheme = "docker://";
  const std::string original(text);
  if (!text.starts_with(kScheme)) {
    return Status::InvalidArgument("image \"" + original + "\" is not docker://HOST/REPO[:TAG]");
  }
  text.remove_prefix(kScheme.size());
  RegistryImage image;
  const size_t slash = text.find('/');
  const std::string_view first = text.substr(0, slash);
  if (slash != std::string_view::npos &&
      (first.find_first_of(".:") != std::string_view::npos || first == "localhost")) {
    image.host = std::string(first);
    text.remove_prefix(slash + 1);
  } else {
    image.host = "registry-1.docker.io";
    if (slash == std::string_view::npos) {
      image.repository = "library/";
    }
  }
  std::string_view name = text;
  if (const size_t at = text.find('@'); at != std::string_view::npos) {
    name = text.substr(0, at);
    image.reference = std::string(text.substr(at + 1));
    if (!ParseSha256String(image.reference).ok()) {
      return Status::InvalidArgument("image \"" + original + "\": digest is not sha256:<hex>");
    }
  } else if (const size_t colon = text.rfind(':');
             colon != std::string_view::npos && text.find('/', colon) == std::string_view::npos) {
    name = text.substr(0, colon);
    image.reference = std::string(text.substr(colon + 1));
  } else {
    image.reference = "latest";
  }
  image.repository += std::string(name);
  if (!ValidHost(image.host)) {
    // Not echoed: it may hold a password someone put in the name.
    return Status::InvalidArgument(
        "the registry in a docker:// image name is not HOST[:PORT] (credentials go in --creds, "
        "not in the name)");
  }
  if (!ValidRepository(image.repository) ||
      !(image.reference.starts_with("sha256:") || ValidTag(image.reference))) {
    return Status::InvalidArgument("image \"" + original +
                                   "\" is not docker://HOST/REPO[:TAG|@DIGEST] (repository "
                                   "path components are lowercase [a-z0-9] joined by . _ __ "
                                   "or -; a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})");
  }
  return image;
}

std::string RegistryImage::ToString() const {
  return "docker://" + host + "/" + repository + (reference.starts_with("sha256:") ? "@" : ":") +
         reference;
}

Result<Descriptor> PullImage(source::RegistryClient& registry, const RegistryImage& image,
                             const Platform& platform, OciLayout& into) {
  FL_ASSIGN_OR_RETURN(Descriptor manifest,
                      PullManifest(registry, image.repository, image.reference, into));
  for (int depth = 0; IsIndexType(manifest.media_type); ++depth) {
    if (depth == kMaxIndexDepth) {
      return Status::InvalidArgument(image.ToString() + ": image indexes nested too deep");
    }
    FL_ASSIGN_OR_RETURN(std::string index, into.ReadBlob(manifest));
    FL_ASSIGN_OR_RETURN(Descriptor chosen, ChooseFromIndex(index, platform, image.ToString()));
    FL_ASSIGN_OR_RETURN(
        manifest, PullManifest(registry, image.repository, Sha256String(chosen.digest), into));
  }
  FL_ASSIGN_OR_RETURN(ImageManifest parsed, into.ReadManifest(manifest));
  FL_RETURN_IF_ERROR(PullBlob(registry, image.repository, parsed.config, into));
  for (const Descriptor& layer : parsed.layers) {
    FL_RETURN_IF_ERROR(PullBlob(registry, image.repository, layer, into));
  }
  return manifest;
}

Status PushImage(const OciLayout& from, const Descriptor& manifest,
                 source::RegistryClient& registry, const RegistryImage& to) {
  FL_ASSIGN_OR_RETURN(std::string bytes, from.ReadBlob(manifest));
  FL_ASSIGN_OR_RETURN(ImageManifest parsed, ImageManifest::Parse(bytes));
  std::vector<Descriptor> blobs = parsed.layers;
  blobs.push_back(parsed.config);
  for (const Descriptor& blob : blobs) {
    const std::string digest = Sha256String(blob.digest);
    FL_ASSIGN_OR_RETURN(bool present, registry.HasBlob(to.repository, digest));
    if (!present) {
      FL_RETURN_IF_ERROR(from.VerifyBlob(blob));
      FL_RETURN_IF_ERROR(registry.PushBlob(to.repository, digest, from.BlobPath(blob.digest)));
    }
  }
  FL_ASSIGN_OR_RETURN(
      std::string indexed_subject,
      registry.PutManifest(to.repository, to.reference, manifest.media_type, bytes));
  if (!parsed.subject || !indexed_subject.empty()) {
    return Status::Ok();
  }
  // The referrers tag schema: an index of every referrer of the subject.
  const std::string tag = ReferrersTag(parsed.subject->digest);
  nlohmann::json index = {{"schemaVersion", 2},
                          {"mediaType", std::string(kOciIndexType)},
                          {"manifests", nlohmann::json::array()}};
  Result<source::FetchedManifest> existing =
      registry.GetManifest(to.repository, tag, {kOciIndexType}, kMaxDocumentSize);
  if (existing.ok()) {
    nlohmann::json old = ParseJsonDocument(existing->body);
    if (old.is_object() && old.contains("manifests") && old["manifests"].is_array()) {
      for (const nlohmann::json& entry : old["manifests"]) {
        if (entry.is_object() && JsonString(entry, "digest") != Sha256String(manifest.digest)) {
          index["manifests"].push_back(entry);
        }
      }
    }
  } else if (!existing.status().IsNotFound()) {
    return existing.status();
  }
  nlohmann::json entry = {{"mediaType", manifest.media_type},
                          {"digest", Sha256String(manifest.digest)},
                          {"size", manifest.size},
                          {"artifactType", parsed.artifact_type.empty() ? parsed.config.media_type
                                                                        : parsed.artifact_type}};
  if (!parsed.annotations.empty()) {
    entry["annotations"] = parsed.annotations;
  }
  index["manifests"].push_back(std::move(entry));
  return registry.PutManifest(to.repository, tag, std::string(kOciIndexType), JsonText(index))
      .status();
}

Result<std::vector<Descriptor>> ListedReferrers(std::string_view listed,
                                                std::string_view artifact_type) {
  nlohmann::json index = ParseJsonDocument(listed);
  if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array()) {
    return Status::Corruption("the referrers list is not an image index");
  }
  std::vector<Descriptor> found;
  for (const nlohmann::json& entry : index["manifests"]) {
    Result<Sha256Digest> digest = ParseSha256String(JsonString(entry, "digest"));
    if (entry.is_object() && digest.ok() && JsonString(entry, "artifactType") == artifact_type) {
      found.push_back(Descriptor{JsonString(entry, "mediaType"), *digest, 0, {}, {}, {}});
    }
  }
  return found;
}

std::optional<Descriptor> ChooseReferrer(const std::vector<ReferrerCandidate>& candidates,
                                         const Sha256Digest& subject,
                                         std::string_view artifact_type) {
  const ReferrerCandidate* chosen = nullptr;
  auto created = [](const ReferrerCandidate& c) {
    auto it = c.manifest.annotations.find(std::string(kCreatedAnnotation));
    return it != c.manifest.annotations.end() ? it->second : std::string();
  };
  for (const ReferrerCandidate& c : candidates) {
    if (c.manifest.artifact_type != artifact_type || !c.manifest.subject ||
        c.manifest.subject->digest != subject) {
      continue;  // listed under the wrong type, or about another image
    }
    if (chosen == nullptr || std::pair(created(c), c.descriptor.digest) >
                                 std::pair(created(*chosen), chosen->descriptor.digest)) {
      chosen = &c;
    }
  }
  return chosen != nullptr ? std::optional<Descriptor>(chosen->descriptor) : std::nullopt;
}

Result<Descriptor> FindReferrer(source::RegistryClient& registry, const std::string& repository,
                                const Sha256Digest& subject, std::string_view artifact_type) {
  Result<std::string> listed = registry.GetReferrers(repository, Sha256String(subject),
                                                     std::string(artifact_type), kMaxDocumentSize);
  if (listed.status().IsNotFound()) {
    Result<source::FetchedManifest> tagged =
        registry.GetManifest(repository, ReferrersTag(subject), {kOciIndexType}, kMaxDocumentSize);
    listed = tagged.ok() ? Result<std::string>(std::move(tagged->body))
                         : Result<std::string>(tagged.status());
  }
  const std::string what = "referrer of type " + std::string(artifact_type) + " of " +
                           registry.host() + "/" + repository + "@" + Sha256String(subject);
  if (!listed.ok()) {
    return listed.status().IsNotFound() ? Status::NotFound("no " + what) : listed.status();
  }
  Result<std::vector<Descriptor>> listed_referrers = ListedReferrers(*listed, artifact_type);
  if (!listed_referrers.ok()) {
    return listed_referrers.status().WithContext(what);
  }
  // The list is only the registry's (or whoever pushed the tag's) word:
  // each candidate's own manifest must say what it is and what it is about.
  std::vector<ReferrerCandidate> candidates;
  for (const Descriptor& listed_one : *listed_referrers) {
    Result<source::FetchedManifest> fetched = registry.GetManifest(
        repository, Sha256String(listed_one.digest), {kOciManifestType}, kMaxDocumentSize);
    if (fetched.status().IsNotFound()) {
      continue;  // listed, since deleted
    }
    FL_RETURN_IF_ERROR(fetched.status());
    if (Sha256(fetched->body) != listed_one.digest) {
      return Status::Corruption(what + ": manifest " + Sha256String(listed_one.digest) +
                                " does not match its digest");
    }
    Result<ImageManifest> manifest = ImageManifest::Parse(fetched->body);
    if (manifest.ok()) {
      candidates.push_back(
          {Descriptor{MediaTypeOf(*fetched), listed_one.digest, fetched->body.size(), {}, {}, {}},
           std::move(*manifest)});
    }
  }
  std::optional<Descriptor> chosen = ChooseReferrer(candidates, subject, artifact_type);
  if (!chosen) {
    return Status::NotFound("no " + what);
  }
  return *chosen;
}

}  // namespace feilong::image
