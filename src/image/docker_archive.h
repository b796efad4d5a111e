// ImportDockerArchive: an image from a `docker save` / `skopeo copy
// docker-archive:` tar into an OCI layout, so `flimage` converts it like any
// other image.
//
// The archive is read once, in order: every regular file in it is streamed
// to a temporary file in the layout (hashed on the way), then its
// `manifest.json` says which file is the config and which are the layers
// (bottom first). Entry names are only looked up, never used as paths, so
// an archive cannot write outside the layout. Layers are taken as they are
// (uncompressed tar, or compressed: the layer reader detects it).
//
// Thread rule: one call per layout at a time.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "image/oci_layout.h"

namespace feilong::image {

// Imports the image named `reference` in the archive at `path` (one of its
// RepoTags, e.g. "app:1"; "" when the archive holds one image) into `into`;
// returns its new manifest's descriptor (untagged). NotFound for a missing
// archive or image, Corruption for a damaged archive or one whose
// manifest.json names files it lacks.
Result<Descriptor> ImportDockerArchive(const std::string& path, std::string_view reference,
                                       OciLayout& into);

}  // namespace feilong::image
