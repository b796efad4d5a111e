// Test helpers: image layers (tar archives) and OCI layouts made on the
// spot, so image tests describe their input next to what they expect.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "image/oci_layout.h"

namespace feilong::image::fixture {

// One tar entry to write.
struct Entry {
  std::string name;
  mode_t type = 0100000;  // AE_IFREG
  std::string data;       // regular file content, or symlink/hard link target
  uint32_t perm = 0644;
  std::vector<std::pair<std::string, std::string>> xattrs;
  dev_t rdev = 0;
  bool hard_link = false;
};

enum class Filter { kNone, kGzip, kZstd };

// Writes `entries` as a PAX tar at `path`, compressed with `filter`
// (gtest assertions on failure).
void WriteLayer(const std::string& path, const std::vector<Entry>& entries,
                Filter filter = Filter::kNone);

struct Layer {
  std::vector<Entry> entries;
  Filter filter = Filter::kNone;
};

// Adds an image of `layers` (bottom first) to `layout`, tagged `tag`, with a
// minimal linux/amd64 config; returns its manifest's descriptor.
Descriptor AddImage(OciLayout& layout, const std::string& tag, const std::vector<Layer>& layers);

}  // namespace feilong::image::fixture
