// flimage: makes and reads lazy images (docs/image-format.md).
//
// Images are named as skopeo names them: `oci:DIR[:REF]`, an OCI image
// layout directory and a tag or manifest digest in it (REF may be left out
// when the layout holds one image), `docker://HOST/REPO[:TAG|@DIGEST]`, an
// image in a registry, pulled into a scratch layout under the work
// directory first (and a converted image pushed from one), or, as a source
// only, `docker-archive:FILE[:REPO:TAG]` (`docker save` output), imported
// into a scratch layout.
//
// Exit codes (also in `flimage --help`):
//   0 success; 1 failure (not found, unreadable or corrupt input, refused
//   credentials, I/O error);
//   2 bad usage or input that is not what the command takes;
//   3 `check` found the image different from its source.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "image/checkpoint_table.h"
#include "image/metadata.h"
#include "image/registry_copy.h"

namespace feilong::cli {

struct ImageName {
  std::string dir;                // of a layout
  std::string archive;            // a docker archive's path
  std::string reference;          // layout: tag, sha256:... or ""; archive: REPO:TAG or ""
  image::RegistryImage registry;  // when host is set
  bool reference_given = false;   // a tag or digest was named
  bool is_registry() const { return !registry.host.empty(); }
  bool is_archive() const { return !archive.empty(); }
  // "oci:DIR[:REF]" or "docker://...". InvalidArgument naming the accepted
  // forms otherwise.
  static Result<ImageName> Parse(std::string_view text);
  std::string ToString() const;
};

// How registries are reached.
struct RegistryAccess {
  bool plain_http = false;            // http:// (a local test registry)
  bool insecure = false;              // no TLS certificate check
  std::string work_dir = "/var/tmp";  // scratch layouts of pulls and pushes
  std::string ca_file;                // PEM bundle for registries; empty: the system's
};

struct ConvertCommand {
  std::string source;
  // Default REF: the source's tag (or "latest") + "-feilong", the tag by
  // which tools find a converted image where there is no referrers API.
  std::string destination;
  std::string platform;  // OS/ARCH[/VARIANT]; default: this host's
  uint64_t chunk_size = image::kDefaultChunkSize;
  std::string compression = "zstd";
  std::vector<std::string> prefetch;  // paths and patterns
  std::string prefetch_file;          // one path or pattern per line
  std::vector<std::string> chunk_dicts;
  bool progress = false;
  std::string source_creds;       // USER:PASSWORD for the source and dictionaries
  std::string destination_creds;  // for a registry destination
  RegistryAccess access;
};

struct CheckCommand {
  std::string image;
  // `image` is an unmodified image: read it through its index (found by
  // the referrers API or tag schema, or in its layout).
  bool index = false;
  std::string source;  // compared with when set
  std::string platform;
  std::string creds;  // USER:PASSWORD for registry images
  RegistryAccess access;
};

struct InspectCommand {
  std::string image;
  // `image` is an unmodified image: read it through its index (found by
  // the referrers API or tag schema, or in its layout).
  bool index = false;
  std::string platform;
  bool tree = false;
  std::string creds;  // USER:PASSWORD for registry images
  RegistryAccess access;
};

struct UnpackCommand {
  std::string image;
  // `image` is an unmodified image: read it through its index (found by
  // the referrers API or tag schema, or in its layout).
  bool index = false;
  std::string platform;
  std::string output;  // "-": standard output
  std::string creds;   // USER:PASSWORD for registry images
  RegistryAccess access;
};

struct IndexCommand {
  std::string image;
  // Default: the image's own layout or repository, REF the image's tag (or
  // "latest") + "-feilong-index". Elsewhere, the image is copied there too.
  std::string destination;
  std::string platform;  // OS/ARCH[/VARIANT]; default: this host's
  uint64_t chunk_size = image::kDefaultChunkSize;
  uint64_t checkpoint_spacing = image::kDefaultCheckpointSpacing;  // bytes of tar stream
  std::vector<std::string> prefetch;                               // paths and patterns
  std::string prefetch_file;                                       // one path or pattern per line
  std::string source_creds;       // USER:PASSWORD for the image's registry
  std::string destination_creds;  // for another registry destination
  RegistryAccess access;
};

// Each returns the process exit code, after printing results on stdout
// and errors on stderr.
int RunConvert(const ConvertCommand& command);
int RunCheck(const CheckCommand& command);
int RunInspect(const InspectCommand& command);
int RunUnpack(const UnpackCommand& command);
int RunIndex(const IndexCommand& command);

}  // namespace feilong::cli
