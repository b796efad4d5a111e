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

#include <string>

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
// is `artifact_type` (the last one listed): from the referrers API where
// the registry has it, else from the referrers tag schema. NotFound if
// there is none.
Result<Descriptor> FindReferrer(source::RegistryClient& registry, const std::string& repository,
                                const Sha256Digest& subject, std::string_view artifact_type);

// Pushes the image `manifest` of `from` to `to` (its reference a tag, or
// the manifest's digest to push it untagged).
Status PushImage(const OciLayout& from, const Descriptor& manifest,
                 source::RegistryClient& registry, const RegistryImage& to);

}  // namespace feilong::image
