// Fuzzes the OCI documents flimage reads from layouts and registries
// (image/oci_layout.h): ImageManifest::Parse on an image manifest, and
// ChooseFromIndex on an image index, both JSON from anyone who serves one.
//
// Invariants checked besides "no crash, no sanitizer report":
//   - refusals are InvalidArgument (a manifest) or InvalidArgument/NotFound
//     (an index), never anything else;
//   - an accepted manifest encodes to JSON that parses back and encodes to
//     the same bytes (the canonical form is a fixed point);
//   - a chosen manifest matches the platform asked for.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "image/oci_layout.h"

using feilong::Result;
using feilong::image::ChooseFromIndex;
using feilong::image::Descriptor;
using feilong::image::ImageManifest;
using feilong::image::Platform;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view json(reinterpret_cast<const char*>(data), size);
  Result<ImageManifest> manifest = ImageManifest::Parse(json);
  if (!manifest.ok()) {
    FUZZ_CHECK(manifest.status().IsInvalidArgument(), manifest.status().ToString());
  } else {
    const std::string encoded = manifest->Encode();
    Result<ImageManifest> again = ImageManifest::Parse(encoded);
    FUZZ_CHECK(again.ok(), "encoded manifest does not parse: " << again.status().ToString());
    FUZZ_CHECK(again->Encode() == encoded, "encoding is not canonical: " << encoded);
    FUZZ_CHECK(again->layers.size() == manifest->layers.size(), "layers lost");
  }

  const Platform wanted{"linux", "arm64", ""};
  Result<Descriptor> chosen = ChooseFromIndex(json, wanted, "fuzz input");
  if (!chosen.ok()) {
    FUZZ_CHECK(chosen.status().IsInvalidArgument() || chosen.status().IsNotFound(),
               chosen.status().ToString());
    return 0;
  }
  FUZZ_CHECK(chosen->platform && chosen->platform->os == "linux" &&
                 chosen->platform->architecture == "arm64",
             "chose a manifest of another platform");
  return 0;
}
