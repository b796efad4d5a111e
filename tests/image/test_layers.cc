#include "test_layers.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/digest.h"

namespace feilong::image::fixture {

void WriteLayer(const std::string& path, const std::vector<Entry>& entries, Filter filter) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (filter == Filter::kGzip) {
    archive_write_add_filter_gzip(a);
  } else if (filter == Filter::kZstd) {
    archive_write_add_filter_zstd(a);
  }
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK) << archive_error_string(a);
  for (const Entry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    archive_entry_set_perm(entry, e.perm);
    archive_entry_set_mtime(entry, 1700000000, 0);
    if (e.hard_link) {
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_hardlink(entry, e.data.c_str());
    } else {
      archive_entry_set_filetype(entry, e.type);
      if (e.type == AE_IFREG) {
        archive_entry_set_size(entry, static_cast<la_int64_t>(e.data.size()));
      } else if (e.type == AE_IFLNK) {
        archive_entry_set_symlink(entry, e.data.c_str());
      }
      archive_entry_set_rdev(entry, e.rdev);
    }
    for (const auto& [key, value] : e.xattrs) {
      archive_entry_xattr_add_entry(entry, key.c_str(), value.data(), value.size());
    }
    ASSERT_EQ(archive_write_header(a, entry), ARCHIVE_OK) << archive_error_string(a);
    if (!e.hard_link && e.type == AE_IFREG && !e.data.empty()) {
      ASSERT_EQ(archive_write_data(a, e.data.data(), e.data.size()),
                static_cast<la_ssize_t>(e.data.size()));
    }
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
}

Descriptor AddImage(OciLayout& layout, const std::string& tag, const std::vector<Layer>& layers) {
  ImageManifest manifest;
  manifest.media_type = std::string(kOciManifestType);
  std::string diff_ids;
  for (const Layer& layer : layers) {
    const std::string path = *layout.IngestPath("test-layer");
    WriteLayer(path, layer.entries, layer.filter);
    const Sha256Digest digest = *Sha256File(path);
    const uint64_t size = std::filesystem::file_size(path);
    const char* type = layer.filter == Filter::kGzip ? "application/vnd.oci.image.layer.v1.tar+gzip"
                       : layer.filter == Filter::kZstd
                           ? "application/vnd.oci.image.layer.v1.tar+zstd"
                           : "application/vnd.oci.image.layer.v1.tar";
    manifest.layers.push_back(*layout.Adopt(path, digest, size, type));
    diff_ids += std::string(diff_ids.empty() ? "" : ",") + "\"" + Sha256String(digest) + "\"";
  }
  const std::string config = R"({"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},)"
                             R"("history":[{"created_by":"test"}],"rootfs":{"type":"layers",)"
                             R"("diff_ids":[)" +
                             diff_ids + "]}}";
  manifest.config = *layout.PutBlob(config, kOciConfigType);
  Descriptor descriptor = *layout.PutBlob(manifest.Encode(), kOciManifestType);
  EXPECT_TRUE(layout.Tag(descriptor, tag).ok());
  return descriptor;
}

}  // namespace feilong::image::fixture
