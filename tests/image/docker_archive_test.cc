#include "image/docker_archive.h"

#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "support/temp_dir.h"
#include "test_layers.h"

namespace feilong::image {
namespace {

using fixture::Entry;

class DockerArchiveTest : public ::testing::Test {
 protected:
  DockerArchiveTest() : layout_(*OciLayout::OpenOrCreate(dir_.Path("layout"))) {
    fixture::WriteLayer(dir_.Path("layer.tar"), {{.name = "file", .data = "layer bytes"}});
    layer_ = *feilong::test::ReadFile(dir_.Path("layer.tar"));
  }

  // An archive of `entries` plus a config, as docker save writes one.
  std::string Archive(std::vector<Entry> entries) {
    entries.push_back({.name = "cfg.json", .data = R"({"architecture":"amd64","os":"linux"})"});
    const std::string path = dir_.Path("archive" + std::to_string(++archives_) + ".tar");
    fixture::WriteLayer(path, entries);
    return path;
  }

  feilong::test::TempDir dir_;
  OciLayout layout_;
  std::string layer_;
  int archives_ = 0;
};

TEST_F(DockerArchiveTest, ALayerRepeatedAsALinkIsFound) {
  const std::string manifest =
      R"([{"Config":"cfg.json","RepoTags":["app:1"],"Layers":["a/layer.tar","b/layer.tar","c/layer.tar"]}])";
  const std::string archive = Archive({
      {.name = "manifest.json", .data = manifest},
      {.name = "a/layer.tar", .data = layer_},
      {.name = "b/layer.tar", .type = AE_IFLNK, .data = "../a/layer.tar"},  // docker save < 25
      {.name = "c/layer.tar", .data = "a/layer.tar", .hard_link = true},
  });
  Result<Descriptor> imported = ImportDockerArchive(archive, "app:1", layout_);
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  ImageManifest m = *layout_.ReadManifest(*imported);
  ASSERT_EQ(m.layers.size(), 3u);
  EXPECT_EQ(m.layers[0].digest, Sha256(layer_));
  EXPECT_EQ(m.layers[2].digest, Sha256(layer_));
  EXPECT_TRUE(layout_.VerifyBlob(m.layers[0]).ok());
  EXPECT_TRUE(std::filesystem::is_empty(dir_.Path("layout/blobs/.ingest")));
}

TEST_F(DockerArchiveTest, NamesAreLookedUpNeverFollowedOnDisk) {
  // A manifest naming files outside the archive, and a link pointing out.
  const std::string archive = Archive({
      {.name = "manifest.json",
       .data = R"([{"Config":"cfg.json","Layers":["../../etc/passwd","escape"]}])"},
      {.name = "escape", .type = AE_IFLNK, .data = "/etc/passwd"},
  });
  Result<Descriptor> imported = ImportDockerArchive(archive, "", layout_);
  EXPECT_TRUE(imported.status().IsCorruption()) << imported.status().ToString();
  EXPECT_NE(imported.status().message().find("lacks ../../etc/passwd"), std::string::npos);
  EXPECT_TRUE(std::filesystem::is_empty(dir_.Path("layout/blobs/.ingest")));
}

TEST_F(DockerArchiveTest, WhatIsNoDockerArchiveIsAClearError) {
  EXPECT_TRUE(ImportDockerArchive(dir_.Path("none.tar"), "", layout_).status().IsNotFound());
  EXPECT_TRUE(ImportDockerArchive(Archive({}), "", layout_).status().IsInvalidArgument());
  const std::string two = Archive(
      {{.name = "manifest.json",
        .data = R"([{"Config":"cfg.json","RepoTags":["docker.io/library/a:1"],"Layers":[]},)"
                R"({"Config":"cfg.json","RepoTags":["b:1"],"Layers":[]}])"}});
  Result<Descriptor> ambiguous = ImportDockerArchive(two, "", layout_);
  EXPECT_TRUE(ambiguous.status().IsInvalidArgument());
  EXPECT_NE(ambiguous.status().message().find("docker.io/library/a:1 b:1"), std::string::npos);
  EXPECT_TRUE(ImportDockerArchive(two, "a:1", layout_).ok());  // as typed, without docker.io
  EXPECT_TRUE(ImportDockerArchive(two, "c:1", layout_).status().IsNotFound());
  const std::string bad = Archive({{.name = "manifest.json", .data = R"({"not":"a list"})"}});
  EXPECT_TRUE(ImportDockerArchive(bad, "", layout_).status().IsCorruption());
}

}  // namespace
}  // namespace feilong::image
