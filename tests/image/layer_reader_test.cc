#include "image/layer_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <map>
#include <string>
#include <vector>

#include "support/temp_dir.h"
#include "test_layers.h"

namespace feilong::image {
namespace {

using fixture::Entry;
using fixture::Filter;
using fixture::WriteLayer;

constexpr uint32_t kChunk = 4096;

// Keeps chunks in memory, each distinct one once, registered in the builder.
class MemorySink : public ChunkSink {
 public:
  explicit MemorySink(TreeBuilder& builder) : builder_(builder) {
    blob_ = builder_.AddBlob({.size = uint64_t{1} << 40});
  }

  Result<uint32_t> Put(std::span<const uint8_t> data, std::optional<uint64_t>) override {
    const Sha256Digest digest = Sha256(data);
    if (auto it = index_.find(digest); it != index_.end()) {
      return it->second;
    }
    FL_ASSIGN_OR_RETURN(uint32_t index,
                        builder_.AddChunk({.digest = digest,
                                           .compressed_offset = offset_,
                                           .compressed_size = static_cast<uint32_t>(data.size()),
                                           .uncompressed_size = static_cast<uint32_t>(data.size()),
                                           .blob_index = blob_}));
    offset_ += data.size();
    index_.emplace(digest, index);
    bytes_[index].assign(data.begin(), data.end());
    return index;
  }

  // The bytes of the file at `path`, from its chunks.
  std::string Content(const Metadata& m, const std::string& path) const {
    std::string out;
    for (uint32_t chunk : m.FileChunks(m.inodes[*m.Lookup(path)])) {
      out += bytes_.at(chunk);
    }
    return out;
  }

  size_t distinct() const { return bytes_.size(); }

 private:
  TreeBuilder& builder_;
  uint32_t blob_ = 0;
  uint64_t offset_ = 0;
  std::map<Sha256Digest, uint32_t> index_;
  std::map<uint32_t, std::string> bytes_;
};

class LayerReaderTest : public ::testing::Test {
 protected:
  Result<LayerStats> Apply(const std::vector<Entry>& entries, Filter filter = Filter::kNone) {
    const std::string path = dir_.Path("layer" + std::to_string(++layers_) + ".tar");
    WriteLayer(path, entries, filter);
    if (layers_ > 1) {
      builder_.BeginLayer();
    }
    return ApplyLayer(path, kChunk, builder_, sink_);
  }

  test::TempDir dir_;
  TreeBuilder builder_{kChunk};
  MemorySink sink_{builder_};
  int layers_ = 0;
};

TEST_F(LayerReaderTest, LayersMergeWithWhiteoutsOpaqueDirectoriesAndHardLinks) {
  const std::string big(3 * kChunk + 10, 'x');
  Result<LayerStats> base = Apply({
      {.name = "etc/", .type = AE_IFDIR, .perm = 0755},
      {.name = "etc/hosts", .data = "127.0.0.1 localhost\n", .xattrs = {{"user.tag", "base"}}},
      {.name = "etc/old", .data = "old"},
      {.name = "var/cache/", .type = AE_IFDIR, .perm = 0755},
      {.name = "var/cache/stale", .data = "stale"},
      {.name = "usr/bin/tool", .data = big, .perm = 0755},
      {.name = "usr/bin/tool-link", .data = "usr/bin/tool", .hard_link = true},
      {.name = "bin", .type = AE_IFLNK, .data = "usr/bin"},
      {.name = "dev/null", .type = AE_IFCHR, .perm = 0666, .rdev = makedev(1, 3)},
  });
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  EXPECT_EQ(base->files, 4u);
  Result<LayerStats> top = Apply(
      {
          {.name = "etc/.wh.old"},
          {.name = "var/cache/.wh..wh..opq"},
          {.name = "var/cache/fresh", .data = "fresh"},
          {.name = "/etc/motd", .data = "hello"},  // absolute: from the root
      },
      Filter::kGzip);
  ASSERT_TRUE(top.ok()) << top.status().ToString();
  EXPECT_EQ(top->whiteouts, 2u);

  Result<Metadata> built = builder_.Build();
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  Result<Metadata> m = Metadata::Decode(built->Encode());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->Lookup("etc/old").status().IsNotFound());
  EXPECT_TRUE(m->Lookup("var/cache/stale").status().IsNotFound());
  EXPECT_EQ(sink_.Content(*m, "var/cache/fresh"), "fresh");
  EXPECT_EQ(sink_.Content(*m, "etc/motd"), "hello");
  EXPECT_EQ(sink_.Content(*m, "etc/hosts"), "127.0.0.1 localhost\n");
  EXPECT_EQ(sink_.Content(*m, "usr/bin/tool"), big);
  EXPECT_EQ(*m->Lookup("usr/bin/tool-link"), *m->Lookup("usr/bin/tool"));
  EXPECT_EQ(m->inodes[*m->Lookup("usr/bin/tool")].nlink, 2u);
  EXPECT_EQ(m->inodes[*m->Lookup("usr/bin/tool")].mode, S_IFREG | 0755u);
  EXPECT_EQ(m->SymlinkTarget(m->inodes[*m->Lookup("bin")]), "usr/bin");
  EXPECT_EQ(m->inodes[*m->Lookup("dev/null")].rdev, makedev(1, 3));
  const InodeRecord& hosts = m->inodes[*m->Lookup("etc/hosts")];
  ASSERT_EQ(hosts.xattr_count, 1u);
  EXPECT_EQ(m->XattrKey(m->xattrs[hosts.xattr_first]), "user.tag");
  EXPECT_EQ(m->XattrValue(m->xattrs[hosts.xattr_first]), "base");
}

TEST_F(LayerReaderTest, RepeatedChunksAreStoredOnceAcrossFilesAndLayers) {
  const std::string zeros(64 * kChunk, '\0');  // a large, mostly empty file
  ASSERT_TRUE(
      Apply({{.name = "a", .data = zeros}, {.name = "b", .data = zeros}}, Filter::kZstd).ok());
  ASSERT_TRUE(Apply({{.name = "c", .data = zeros + "tail"}}).ok());
  EXPECT_EQ(sink_.distinct(), 2u);  // a zero chunk and "tail"
  Metadata m = *builder_.Build();
  EXPECT_EQ(sink_.Content(m, "c"), zeros + "tail");
}

TEST_F(LayerReaderTest, EntriesThatWouldLeaveTheTreeAreRefusedByName) {
  Result<LayerStats> dotdot = Apply({{.name = "../../etc/passwd", .data = "x"}});
  ASSERT_FALSE(dotdot.ok());
  EXPECT_TRUE(dotdot.status().IsInvalidArgument()) << dotdot.status().ToString();
  EXPECT_NE(dotdot.status().message().find("../../etc/passwd"), std::string::npos);

  Result<LayerStats> through_link = Apply({
      {.name = "escape", .type = AE_IFLNK, .data = "/etc"},
      {.name = "escape/passwd", .data = "owned"},
  });
  ASSERT_FALSE(through_link.ok());
  EXPECT_TRUE(through_link.status().IsInvalidArgument()) << through_link.status().ToString();
}

TEST_F(LayerReaderTest, ATruncatedOrForeignLayerIsCorruption) {
  const std::string path = dir_.Path("full.tar.gz");
  WriteLayer(path, {{.name = "file", .data = std::string(100000, 'q')}}, Filter::kGzip);
  Result<std::string> bytes = test::ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(test::WriteFile(dir_.Path("cut.tar.gz"), bytes->substr(0, bytes->size() / 2)).ok());
  Result<LayerStats> cut = ApplyLayer(dir_.Path("cut.tar.gz"), kChunk, builder_, sink_);
  ASSERT_FALSE(cut.ok());
  EXPECT_TRUE(cut.status().IsCorruption()) << cut.status().ToString();

  ASSERT_TRUE(test::WriteFile(dir_.Path("noise"), std::string(5000, 'n')).ok());
  EXPECT_TRUE(ApplyLayer(dir_.Path("noise"), kChunk, builder_, sink_).status().IsCorruption());
  EXPECT_TRUE(ApplyLayer(dir_.Path("missing"), kChunk, builder_, sink_).status().IsNotFound());
}

}  // namespace
}  // namespace feilong::image
