// flimage: makes and reads lazy images (docs/image-format.md).
//
// Images are named as skopeo names them: `oci:DIR[:REF]`, an OCI image
// layout directory and a tag or manifest digest in it (REF may be left out
// when the layout holds one image).
//
// Exit codes (also in `flimage --help`):
//   0 success; 1 failure (unreadable or corrupt input, I/O error);
//   2 bad usage or input that is not what the command takes;
//   3 `check` found the image different from its source.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace feilong::cli {

struct ImageName {
  std::string dir;
  std::string reference;  // tag, "sha256:..." or empty
  // "oci:DIR[:REF]". InvalidArgument naming the accepted forms otherwise.
  static Result<ImageName> Parse(std::string_view text);
  std::string ToString() const;
};

struct ConvertCommand {
  std::string source;
  // Default REF: the source's tag (or "latest") + "-feilong", the tag by
  // which tools find a converted image where there is no referrers API.
  std::string destination;
  std::string platform;  // OS/ARCH[/VARIANT]; default: this host's
  uint64_t chunk_size = 1u << 20;
  std::string compression = "zstd";
  std::vector<std::string> prefetch;  // paths and patterns
  std::string prefetch_file;          // one path or pattern per line
  std::vector<std::string> chunk_dicts;
  bool progress = false;
};

struct CheckCommand {
  std::string image;
  std::string source;  // compared with when set
  std::string platform;
};

struct InspectCommand {
  std::string image;
  std::string platform;
  bool tree = false;
};

struct UnpackCommand {
  std::string image;
  std::string platform;
  std::string output;  // "-": standard output
};

// Each returns the process exit code, after printing results on stdout
// and errors on stderr.
int RunConvert(const ConvertCommand& command);
int RunCheck(const CheckCommand& command);
int RunInspect(const InspectCommand& command);
int RunUnpack(const UnpackCommand& command);

}  // namespace feilong::cli
