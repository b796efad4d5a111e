#include "image/tree_builder.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <string>
#include <vector>

namespace feilong::image {
namespace {

constexpr uint32_t kChunk = 4096;

Attributes Attrs(uint32_t mode, uint32_t uid = 0) {
  Attributes a;
  a.mode = mode;
  a.uid = uid;
  a.gid = uid;
  a.mtime_sec = 1700000000;
  a.mtime_nsec = 5;
  return a;
}

// Sorted "path type" lines of everything in the image, e.g. "a/b d".
std::vector<std::string> Listing(const Metadata& m) {
  std::vector<std::string> lines;
  std::vector<std::pair<uint32_t, std::string>> pending{{0, ""}};
  while (!pending.empty()) {
    auto [dir, prefix] = pending.back();
    pending.pop_back();
    for (const DirentRecord& e : m.Entries(m.inodes[dir])) {
      std::string path = prefix + std::string(m.Name(e));
      const uint32_t type = m.inodes[e.inode].mode & S_IFMT;
      char letter = type == S_IFDIR ? 'd' : type == S_IFREG ? 'f' : type == S_IFLNK ? 'l' : 's';
      lines.push_back(path + " " + letter);
      if (type == S_IFDIR) {
        pending.emplace_back(e.inode, path + "/");
      }
    }
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

class TreeBuilderTest : public ::testing::Test {
 protected:
  TreeBuilderTest() : builder_(kChunk) {
    blob_ = builder_.AddBlob({.digest = Sha256("blob"), .size = 1 << 20, .chunk_count = 3});
  }

  // A chunk of `size` bytes (stored uncompressed) at `offset` of the blob.
  uint32_t Chunk(uint32_t size, uint64_t offset) {
    Result<uint32_t> index = builder_.AddChunk({.digest = Sha256(std::to_string(offset)),
                                                .compressed_offset = offset,
                                                .compressed_size = size,
                                                .uncompressed_size = size,
                                                .blob_index = blob_});
    EXPECT_TRUE(index.ok()) << index.status().ToString();
    return index.value_or(0);
  }

  Metadata Build() {
    Result<Metadata> m = builder_.Build();
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? *m : Metadata{};
  }

  TreeBuilder builder_;
  uint32_t blob_ = 0;
};

TEST_F(TreeBuilderTest, BuildsATreeThatDecodesBackTheSame) {
  const uint32_t full = Chunk(kChunk, 0);
  const uint32_t tail = Chunk(100, kChunk);
  Attributes with_xattrs = Attrs(04755, 1000);
  with_xattrs.xattrs = {{"user.b", "2"}, {"security.capability", std::string("\0\1", 2)}};
  ASSERT_TRUE(builder_.AddDirectory("./", Attrs(0700)).ok());
  ASSERT_TRUE(builder_.AddDirectory("usr/bin", Attrs(0755)).ok());
  ASSERT_TRUE(builder_.AddRegular("usr/bin/tool", with_xattrs, kChunk + 100, {full, tail}).ok());
  ASSERT_TRUE(builder_.AddHardLink("usr/bin/tool-again", "usr/bin/tool").ok());
  ASSERT_TRUE(builder_.AddRegular("empty", Attrs(0644), 0, {}).ok());
  ASSERT_TRUE(builder_.AddSymlink("lib", Attrs(0777), "usr/lib").ok());
  ASSERT_TRUE(builder_.AddSpecial("dev/null", S_IFCHR, Attrs(0666), makedev(1, 3)).ok());
  ASSERT_TRUE(builder_.AddSpecial("run/fifo", S_IFIFO, Attrs(0600)).ok());
  builder_.AddPrefetch("usr/bin/tool");

  Metadata m = Build();
  Result<Metadata> decoded = Metadata::Decode(m.Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->inodes, m.inodes);
  EXPECT_EQ(decoded->dirents, m.dirents);
  EXPECT_EQ(decoded->chunks, m.chunks);
  EXPECT_EQ(decoded->strings, m.strings);

  EXPECT_EQ(m.inodes[0].mode, S_IFDIR | 0700u);
  Result<uint32_t> tool = decoded->Lookup("/usr/bin/tool");
  ASSERT_TRUE(tool.ok());
  const InodeRecord& t = decoded->inodes[*tool];
  EXPECT_EQ(t.mode, S_IFREG | 04755u);
  EXPECT_EQ(t.uid, 1000u);
  EXPECT_EQ(t.nlink, 2u);
  EXPECT_EQ(t.size, uint64_t{kChunk} + 100);
  EXPECT_EQ(std::vector<uint32_t>(decoded->FileChunks(t).begin(), decoded->FileChunks(t).end()),
            (std::vector<uint32_t>{full, tail}));
  EXPECT_EQ(*decoded->Lookup("usr/bin/tool-again"), *tool);
  ASSERT_EQ(t.xattr_count, 2u);
  EXPECT_EQ(decoded->XattrKey(decoded->xattrs[t.xattr_first]), "security.capability");
  EXPECT_EQ(decoded->XattrValue(decoded->xattrs[t.xattr_first]), std::string("\0\1", 2));
  EXPECT_EQ(decoded->SymlinkTarget(decoded->inodes[*decoded->Lookup("lib")]), "usr/lib");
  EXPECT_EQ(decoded->inodes[*decoded->Lookup("dev/null")].rdev, makedev(1, 3));
  EXPECT_EQ(decoded->inodes[*decoded->Lookup("dev")].mode, S_IFDIR | 0755u);  // made implicitly
  EXPECT_EQ(decoded->inodes[*decoded->Lookup("usr")].nlink, 3u);
  EXPECT_EQ(decoded->prefetch, std::vector<uint32_t>{*tool});
}

TEST_F(TreeBuilderTest, WhiteoutsRemoveOnlyWhatLowerLayersMade) {
  ASSERT_TRUE(builder_.AddRegular("a/x", Attrs(0644), 0, {}).ok());
  ASSERT_TRUE(builder_.AddRegular("a/y", Attrs(0644), 0, {}).ok());
  ASSERT_TRUE(builder_.AddRegular("b/deep/file", Attrs(0644), 0, {}).ok());
  builder_.BeginLayer();
  ASSERT_TRUE(builder_.Remove("a/x").ok());
  ASSERT_TRUE(builder_.Remove("b").ok());  // a whole directory
  ASSERT_TRUE(builder_.AddRegular("a/z", Attrs(0644), 0, {}).ok());
  ASSERT_TRUE(builder_.Remove("a/z").ok());      // same layer: stays
  ASSERT_TRUE(builder_.Remove("nothing").ok());  // nothing there: fine
  EXPECT_EQ(Listing(Build()), (std::vector<std::string>{"a d", "a/y f", "a/z f"}));
}

TEST_F(TreeBuilderTest, AnOpaqueDirectoryHidesLowerEntriesWhateverTheTarOrder) {
  ASSERT_TRUE(builder_.AddRegular("d/old", Attrs(0644), 0, {}).ok());
  ASSERT_TRUE(builder_.AddRegular("d/sub/deep", Attrs(0644), 0, {}).ok());
  ASSERT_TRUE(builder_.AddRegular("other/kept", Attrs(0644), 0, {}).ok());
  builder_.BeginLayer();
  ASSERT_TRUE(builder_.AddRegular("d/new", Attrs(0644), 0, {}).ok());
  ASSERT_TRUE(builder_.MakeOpaque("d").ok());  // after an entry of its own layer
  ASSERT_TRUE(builder_.AddDirectory("d/sub", Attrs(0700)).ok());
  builder_.BeginLayer();
  ASSERT_TRUE(builder_.AddRegular("d/top", Attrs(0644), 0, {}).ok());
  EXPECT_EQ(Listing(Build()), (std::vector<std::string>{"d d", "d/new f", "d/sub d", "d/top f",
                                                        "other d", "other/kept f"}));
}

TEST_F(TreeBuilderTest, AnEntryReplacesWhatWasThereButADirectoryKeepsItsEntries) {
  ASSERT_TRUE(builder_.AddRegular("dir/file", Attrs(0644), 0, {}).ok());
  ASSERT_TRUE(builder_.AddRegular("path", Attrs(0644), 0, {}).ok());
  builder_.BeginLayer();
  ASSERT_TRUE(builder_.AddDirectory("dir", Attrs(0711, 7)).ok());
  ASSERT_TRUE(builder_.AddSymlink("path", Attrs(0777), "elsewhere").ok());
  Metadata m = Build();
  EXPECT_EQ(Listing(m), (std::vector<std::string>{"dir d", "dir/file f", "path l"}));
  EXPECT_EQ(m.inodes[*m.Lookup("dir")].mode, S_IFDIR | 0711u);
  EXPECT_EQ(m.inodes[*m.Lookup("dir")].uid, 7u);
}

TEST_F(TreeBuilderTest, PathsThatLeaveTheRootAreRefusedAndChangeNothing) {
  ASSERT_TRUE(builder_.AddRegular("file", Attrs(0644), 0, {}).ok());
  const std::string nul("a\0b", 3);
  for (const std::string& bad :
       {std::string("../etc/passwd"), std::string("a/../../b"), std::string("a/.."), nul,
        std::string(256, 'n'), std::string("file/child")}) {
    Status added = builder_.AddRegular(bad, Attrs(0644), 0, {});
    EXPECT_TRUE(added.IsInvalidArgument()) << bad << ": " << added.ToString();
    EXPECT_TRUE(builder_.AddSymlink(bad, Attrs(0777), "x").IsInvalidArgument()) << bad;
  }
  EXPECT_TRUE(builder_.Remove("../file").IsInvalidArgument());
  EXPECT_TRUE(builder_.AddHardLink("link", "../file").IsInvalidArgument());
  EXPECT_TRUE(builder_.AddHardLink("link", "missing").IsNotFound());
  ASSERT_TRUE(builder_.AddDirectory("dir", Attrs(0755)).ok());
  EXPECT_TRUE(builder_.AddHardLink("link", "dir").IsInvalidArgument());
  EXPECT_TRUE(builder_.AddRegular("./", Attrs(0644), 0, {}).IsInvalidArgument());
  EXPECT_EQ(Listing(Build()), (std::vector<std::string>{"dir d", "file f"}));
}

TEST_F(TreeBuilderTest, AFileWhoseChunksDoNotAddUpIsRefused) {
  const uint32_t full = Chunk(kChunk, 0);
  const uint32_t tail = Chunk(100, kChunk);
  EXPECT_TRUE(builder_.AddRegular("short", Attrs(0644), kChunk + 100, {full}).IsInvalidArgument());
  EXPECT_TRUE(
      builder_.AddRegular("order", Attrs(0644), kChunk + 100, {tail, full}).IsInvalidArgument());
  EXPECT_TRUE(builder_.AddRegular("unknown", Attrs(0644), 100, {99}).IsInvalidArgument());
  EXPECT_TRUE(builder_.AddRegular("huge", Attrs(0644), ~uint64_t{0} - 5, {}).IsInvalidArgument());
  EXPECT_TRUE(builder_.AddChunk({.compressed_size = 10, .uncompressed_size = kChunk + 1})
                  .status()
                  .IsInvalidArgument());
  EXPECT_TRUE(builder_.AddChunk({.compressed_size = 10, .uncompressed_size = 10, .blob_index = 5})
                  .status()
                  .IsInvalidArgument());
  Attributes huge_xattr = Attrs(0644);
  huge_xattr.xattrs = {{std::string(70000, 'k'), "v"}};
  EXPECT_TRUE(builder_.AddRegular("x", huge_xattr, 0, {}).IsInvalidArgument());
  Attributes twice = Attrs(0644);
  twice.xattrs = {{"user.a", "1"}, {"user.a", "2"}};
  EXPECT_TRUE(builder_.AddRegular("y", twice, 0, {}).IsInvalidArgument());
}

TEST_F(TreeBuilderTest, TheSameTreeGivesTheSameBytesWhateverTheOrderOfEntries) {
  auto build = [](bool reversed) {
    TreeBuilder b(kChunk);
    std::vector<std::string> names = {"z/1", "a/2", "m", "a/1", "b"};
    if (reversed) {
      std::reverse(names.begin(), names.end());
    }
    for (const std::string& n : names) {
      EXPECT_TRUE(b.AddRegular(n, Attrs(0644), 0, {}).ok());
    }
    return b.Build()->Encode();
  };
  EXPECT_EQ(build(false), build(true));
}

TEST_F(TreeBuilderTest, ABlobIsCompletedAfterItsChunksAndBuildChecksTheyFit) {
  TreeBuilder b(kChunk);
  const uint32_t blob = b.AddBlob({});  // still being written: size unknown
  Result<uint32_t> chunk = b.AddChunk({.compressed_offset = 0,
                                       .compressed_size = 100,
                                       .uncompressed_size = 100,
                                       .blob_index = blob});
  ASSERT_TRUE(chunk.ok()) << chunk.status().ToString();
  ASSERT_TRUE(b.AddRegular("f", Attrs(0644), 100, {*chunk}).ok());
  EXPECT_TRUE(b.Build().status().IsInvalidArgument());  // the blob has no bytes yet
  EXPECT_TRUE(b.SetBlob(blob + 1, {.size = 100}).IsInvalidArgument());
  ASSERT_TRUE(b.SetBlob(blob, {.digest = Sha256("written"), .size = 164, .chunk_count = 1}).ok());
  Result<Metadata> m = b.Build();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->blobs[blob].size, 164u);
  EXPECT_TRUE(Metadata::Decode(m->Encode()).ok());
}

TEST_F(TreeBuilderTest, APrefetchPathThatIsNotThereFailsTheBuild) {
  builder_.AddPrefetch("missing/file");
  EXPECT_TRUE(builder_.Build().status().IsNotFound());
}

}  // namespace
}  // namespace feilong::image
