// OCI image layouts (image-spec image-layout.md) and the documents in them:
// where `flimage` reads source images and writes converted ones.
//
// A layout is a directory with an `oci-layout` marker, `index.json` naming
// manifests (a tag is the `org.opencontainers.image.ref.name` annotation),
// and content-addressed blobs under `blobs/sha256/`. Every blob read through
// OciLayout is checked against its descriptor's size and digest; every blob
// written lands under its digest by rename, so a reader never sees half a
// blob and an interrupted write leaves only a temporary file in
// `blobs/.ingest/`.
//
// Docker schema-2 manifests and manifest lists are read as their OCI
// equivalents (skopeo and registries hand out both).
//
// Thread rule: an OciLayout is not thread-safe; two processes writing one
// layout may lose each other's index.json entries (blobs stay consistent).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/status.h"

namespace feilong::image {

inline constexpr std::string_view kOciManifestType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndexType = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfigType = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kDockerManifestType =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerListType =
    "application/vnd.docker.distribution.manifest.list.v2+json";
// A lazy image (docs/image-format.md): data blobs and one metadata blob.
inline constexpr std::string_view kFeilongBlobType = "application/vnd.feilong.image.blob.v1";
// The metadata blob, zstd-compressed (chunk_codec.h: CompressMetadata).
inline constexpr std::string_view kFeilongMetadataType =
    "application/vnd.feilong.image.metadata.v1+zstd";
// An index of an unmodified image (docs/image-format.md, "Without
// conversion"): the artifact type of its manifest, and its second blob.
inline constexpr std::string_view kFeilongIndexArtifactType =
    "application/vnd.feilong.image.index.v1+json";
inline constexpr std::string_view kFeilongCheckpointsType =
    "application/vnd.feilong.image.checkpoints.v1+zstd";
// The config of an artifact that needs none (image-spec manifest.md).
inline constexpr std::string_view kOciEmptyType = "application/vnd.oci.empty.v1+json";
// Manifest annotation of a lazy image: its format version.
inline constexpr std::string_view kFeilongFormatAnnotation = "dev.feilong.image.format";
inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";
inline constexpr std::string_view kCreatedAnnotation = "org.opencontainers.image.created";

// Largest manifest, index or config read into memory.
inline constexpr uint64_t kMaxDocumentSize = 4u << 20;

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;  // empty: any
  // "linux/amd64", "linux/arm64/v8". InvalidArgument otherwise.
  static Result<Platform> Parse(std::string_view text);
  // The platform this binary was built for, e.g. linux/amd64.
  static Platform Host();
  std::string ToString() const;
  friend bool operator==(const Platform&, const Platform&) = default;
};

struct Descriptor {
  std::string media_type;
  Sha256Digest digest{};
  uint64_t size = 0;
  std::string artifact_type;
  std::optional<Platform> platform;
  std::map<std::string, std::string> annotations;
};

bool IsIndexType(std::string_view media_type);     // OCI index or Docker list
bool IsManifestType(std::string_view media_type);  // OCI or Docker schema 2

// The manifest for `platform` in the image index `index` (JSON). NotFound
// naming `what` and the platforms there are when none matches.
Result<Descriptor> ChooseFromIndex(std::string_view index, const Platform& platform,
                                   const std::string& what);

// Whether `media_type` is a layer this code reads as a tar archive
// (uncompressed, gzip or zstd; OCI or Docker; distributable or not).
bool IsTarLayer(std::string_view media_type);

// An image manifest (OCI, or Docker schema 2 read as OCI).
struct ImageManifest {
  std::string media_type;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::optional<Descriptor> subject;
  std::string artifact_type;
  std::map<std::string, std::string> annotations;

  // Canonical JSON (keys sorted, no spaces): the same manifest gives the
  // same bytes.
  std::string Encode() const;
  // InvalidArgument naming what is missing or malformed.
  static Result<ImageManifest> Parse(std::string_view json);
};

class OciLayout {
 public:
  // An existing layout; InvalidArgument if `dir` is none.
  static Result<OciLayout> Open(const std::string& dir);
  // Opens `dir`, or makes an empty layout there (the directory may exist
  // but must then be empty or a layout).
  static Result<OciLayout> OpenOrCreate(const std::string& dir);

  const std::string& dir() const { return dir_; }
  std::string BlobPath(const Sha256Digest& digest) const;

  // The whole blob, which must be at most `max_size` bytes; NotFound if
  // absent, Corruption if its size or digest is not the descriptor's.
  Result<std::string> ReadBlob(const Descriptor& descriptor,
                               uint64_t max_size = kMaxDocumentSize) const;
  // Streams the blob file through SHA-256: Ok if size and digest match.
  Status VerifyBlob(const Descriptor& descriptor) const;

  // The image manifest named by `reference`: a tag in index.json, a
  // "sha256:..." digest of a manifest in it, or "" when index.json names
  // exactly one. An image index (also nested) is resolved to the manifest
  // for `platform`. NotFound naming the reference (and the platforms there
  // are, when none matches).
  Result<Descriptor> Resolve(std::string_view reference, const Platform& platform) const;
  // The last manifest in index.json whose subject is `subject` and whose
  // artifact type is `artifact_type`: a layout's stand-in for the
  // referrers API. NotFound if there is none.
  Result<Descriptor> FindReferrer(const Sha256Digest& subject,
                                  std::string_view artifact_type) const;
  // Reads and parses the manifest `descriptor` points at.
  Result<ImageManifest> ReadManifest(const Descriptor& descriptor) const;

  // A new path under blobs/.ingest/ to write a blob into (then Adopt it).
  Result<std::string> IngestPath(std::string_view name);
  // Writes `bytes` as a blob (nothing to do if it is there, whole).
  Result<Descriptor> PutBlob(std::string_view bytes, std::string_view media_type);
  // Moves the finished file `path` (on the layout's filesystem) to its
  // place as the blob `digest` of `size` bytes, replacing what is there.
  // The caller vouches for the digest. `path` is gone afterwards, also on
  // failure.
  Result<Descriptor> Adopt(const std::string& path, const Sha256Digest& digest, uint64_t size,
                           std::string_view media_type);
  // Puts the blob of `other` (another layout) here, by hard link where it
  // can and by copy otherwise. Checks it on the way.
  Status CopyBlobFrom(const OciLayout& other, const Descriptor& descriptor);

  // Names `manifest` `tag` in index.json, replacing what had that name.
  Status Tag(const Descriptor& manifest, std::string_view tag);

 private:
  explicit OciLayout(std::string dir) : dir_(std::move(dir)) {}
  Result<std::vector<Descriptor>> ReadIndex() const;

  std::string dir_;
};

}  // namespace feilong::image
