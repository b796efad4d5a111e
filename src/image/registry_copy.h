// Copies images between a registry and an OCI layout: how `flimage` reads
// and writes `docker://` images. A pull lands in a layout (every blob
// checked against its digest on the way, streamed to disk, never held in
// memory); a push sends a layout's image (blobs the registry lacks, then
// the manifest).
//
// A pushed manifest with a `subject` is linked to it for the OCI referrers
// API: registries that index referrers say so (OCI-Subject header); for
// those that do not, the referrers tag schema of distribution-spec v1.1 is
// kept up to date (an image index tagged `sha256-<hex of the subject>`
// listing every referrer), which is how clients find it there.
//
// Thread rule: one call at a time per client.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "image/oci_layout.h"
#include "source/registry_client.h"

namespace feilong::image {

struct RegistryImage {
  std::string host;        // registry host[:port]
  std::string repository;  // e.g. library/debian
  std::string reference;   // tag or sha256:<hex>
  // "docker://HOST/REPO[:TAG|@DIGEST]" (TAG default: latest). A first
  // component without '.', ':' or "localhost" is a Docker Hub repository.
  static Result<RegistryImage> Parse(std::string_view text);
  std::string ToString() const;
};

// Pulls `image` (for `platform` when it is an index) into `into`; returns
// the manifest's descriptor there (untagged).
Result<Descriptor> PullImage(source::RegistryClient& registry, const RegistryImage& image,
                             const Platform& platform, OciLayout& into);

// The referrer of manifest `subject` in `repository` whose artifact type
// is `artifact_type`: listed by the referrers API where the registry has
// it, else by the referrers tag schema, then fetched, and taken only if
// its own manifest has that artifact type and that subject (ChooseReferrer
// picks among several). NotFound if there is none, Corruption for a list
// that is not an image index or a manifest that fails its digest.
Result<Descriptor> FindReferrer(source::RegistryClient& registry, const std::string& repository,
                                const Sha256Digest& subject, std::string_view artifact_type);

// The entries of a referrers list (an image index) listed with artifact
// type `artifact_type` (digest and media type only). Corruption when
// `listed` is not an image index.
Result<std::vector<Descriptor>> ListedReferrers(std::string_view listed,
                                                std::string_view artifact_type);

// A listed referrer and its fetched manifest.
struct ReferrerCandidate {
  Descriptor descriptor;
  ImageManifest manifest;
};
// The candidate whose manifest has artifact type `artifact_type` and
// subject `subject` (others are skipped); of several, the one with the
// latest `org.opencontainers.image.created` annotation (none sorts
// first), then the highest digest, so that every reader picks the same
// one whatever order the list is in. nullopt if none qualifies.
std::optional<Descriptor> ChooseReferrer(const std::vector<ReferrerCandidate>& candidates,
                                         const Sha256Digest& subject,
                                         std::string_view artifact_type);

// Pushes the image `manifest` of `from` to `to` (its reference a tag, or
// the manifest's digest to push it untagged).
Status PushImage(const OciLayout& from, const Descriptor& manifest,
                 source::RegistryClient& registry, const RegistryImage& to);

}  // namespace feilong::image
