#include "image/metadata.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <functional>
#include <string>

#include "image/tree_builder.h"

namespace feilong::image {
namespace {

// A small image: /etc (dir), /etc/hosts (two chunks of 4 KiB chunking),
// /etc/link (a hard link to it), /bin -> usr/bin.
Metadata SmallImage() {
  TreeBuilder b(4096);
  uint32_t blob = b.AddBlob({.digest = Sha256("blob"), .size = 9000, .chunk_count = 2});
  uint32_t c0 = *b.AddChunk({.digest = Sha256("0"),
                             .compressed_offset = 0,
                             .compressed_size = 300,
                             .uncompressed_size = 4096,
                             .blob_index = blob,
                             .compression = Compression::kZstd});
  uint32_t c1 = *b.AddChunk({.digest = Sha256("1"),
                             .compressed_offset = 300,
                             .compressed_size = 10,
                             .uncompressed_size = 10,
                             .blob_index = blob});
  Attributes a{.mode = 0644,
               .uid = 0,
               .gid = 0,
               .mtime_sec = 1,
               .mtime_nsec = 0,
               .xattrs = {{"user.k", "v"}}};
  EXPECT_TRUE(b.AddRegular("etc/hosts", a, 4106, {c0, c1}).ok());
  EXPECT_TRUE(b.AddHardLink("etc/link", "etc/hosts").ok());
  EXPECT_TRUE(b.AddSymlink("bin", a, "usr/bin").ok());
  b.AddPrefetch("etc/hosts");
  return *b.Build();
}

// Decode must refuse `m` (encoded as is) as Corruption mentioning `what`.
void ExpectRefused(const Metadata& m, const std::string& what) {
  Result<Metadata> decoded = Metadata::Decode(m.Encode());
  ASSERT_FALSE(decoded.ok()) << "accepted an image with " << what;
  EXPECT_TRUE(decoded.status().IsCorruption()) << decoded.status().ToString();
  EXPECT_NE(decoded.status().message().find(what), std::string::npos)
      << decoded.status().ToString();
}

TEST(MetadataTest, EncodeAndDecodeAgree) {
  Metadata m = SmallImage();
  std::string bytes = m.Encode();
  EXPECT_EQ(bytes.size() % 8, 0u);
  Result<Metadata> decoded = Metadata::Decode(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->chunk_size, 4096u);
  EXPECT_EQ(decoded->blobs, m.blobs);
  EXPECT_EQ(decoded->chunks, m.chunks);
  EXPECT_EQ(decoded->file_chunks, m.file_chunks);
  EXPECT_EQ(decoded->inodes, m.inodes);
  EXPECT_EQ(decoded->dirents, m.dirents);
  EXPECT_EQ(decoded->xattrs, m.xattrs);
  EXPECT_EQ(decoded->prefetch, m.prefetch);
  EXPECT_EQ(decoded->strings, m.strings);
  EXPECT_EQ(decoded->Encode(), bytes);
}

TEST(MetadataTest, EverySingleBitFlipIsRefused) {
  const std::string bytes = SmallImage().Encode();
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 10 || i == 11) {
      continue;  // the minor version: any 1.x is read
    }
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = bytes;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      Result<Metadata> decoded = Metadata::Decode(damaged);
      ASSERT_FALSE(decoded.ok()) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(MetadataTest, TruncatedOrForeignBytesAreRefused) {
  const std::string bytes = SmallImage().Encode();
  for (size_t size : {size_t{0}, size_t{10}, size_t{127}, size_t{128}, bytes.size() - 8}) {
    Result<Metadata> decoded = Metadata::Decode(bytes.substr(0, size));
    ASSERT_FALSE(decoded.ok()) << size;
    EXPECT_TRUE(decoded.status().IsCorruption()) << decoded.status().ToString();
  }
  EXPECT_TRUE(Metadata::Decode(std::string(256, 'x')).status().IsCorruption());
}

TEST(MetadataTest, ANewerMajorVersionOrUnknownFlagsAreInvalidArgument) {
  std::string bytes = SmallImage().Encode();
  std::string newer = bytes;
  newer[8] = 2;
  Result<Metadata> decoded = Metadata::Decode(newer);
  EXPECT_TRUE(decoded.status().IsInvalidArgument()) << decoded.status().ToString();
  EXPECT_NE(decoded.status().message().find("version 2.0"), std::string::npos);
  std::string flagged = bytes;
  flagged[12] = 2;  // 1 is "source layers"
  EXPECT_TRUE(Metadata::Decode(flagged).status().IsInvalidArgument());
}

TEST(MetadataTest, SourceLayerBlobsAreFormat11) {
  Metadata m = SmallImage();
  m.blobs[0].kind = BlobKind::kLayerGzip;
  for (ChunkRecord& chunk : m.chunks) {
    chunk.compression = Compression::kNone;  // bytes of the layer's stream
    chunk.compressed_size = chunk.uncompressed_size;
  }
  m.chunks[0].compressed_offset = uint64_t{1} << 40;  // a stream is larger than its blob
  const std::string bytes = m.Encode();
  EXPECT_EQ(bytes[10], 1);  // minor version
  EXPECT_EQ(bytes[12], 1);  // the flag
  Result<Metadata> decoded = Metadata::Decode(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(decoded->IsIndex());
  EXPECT_EQ(decoded->blobs, m.blobs);
  EXPECT_EQ(decoded->chunks, m.chunks);

  Metadata compressed = m;
  compressed.chunks[0].compression = Compression::kZstd;
  ExpectRefused(compressed, "compressed");
  Metadata tar = m;
  tar.blobs[0].kind = BlobKind::kLayerTar;  // offsets in its own bytes again
  ExpectRefused(tar, "range ends past");
}

// Tables that Encode writes faithfully but that are no valid image: the
// body digest is right, so only the structural checks can refuse them.
TEST(MetadataTest, TablesThatAreNoTreeAreRefused) {
  const Metadata good = SmallImage();
  const uint32_t etc = *good.Lookup("etc");
  const uint32_t hosts = *good.Lookup("etc/hosts");
  const InodeRecord& root = good.inodes[0];
  const uint32_t root_etc_dirent =
      root.first + (good.Name(good.dirents[root.first]) == "etc" ? 0 : 1);

  struct Case {
    std::string what;
    std::function<void(Metadata&)> damage;
  };
  const std::vector<Case> cases = {
      {"inode 0 is not a directory", [](Metadata& m) { m.inodes[0].mode = S_IFREG | 0644; }},
      {"reached twice",
       [&](Metadata& m) { m.dirents[m.inodes[etc].first].inode = etc; }},  // etc inside itself
      {"out of bounds", [&](Metadata& m) { m.dirents[root_etc_dirent].inode = 0; }},
      {"invalid name",
       [&](Metadata& m) {
         m.strings += "a/b";
         m.dirents[root_etc_dirent].name_offset = static_cast<uint32_t>(m.strings.size() - 3);
         m.dirents[root_etc_dirent].name_length = 3;
       }},
      {"invalid name",
       [&](Metadata& m) {
         m.strings += "..";
         m.dirents[root_etc_dirent].name_offset = static_cast<uint32_t>(m.strings.size() - 2);
         m.dirents[root_etc_dirent].name_length = 2;
       }},
      {"not sorted",
       [&](Metadata& m) { std::swap(m.dirents[root.first], m.dirents[root.first + 1]); }},
      {"link count", [&](Metadata& m) { m.inodes[hosts].nlink = 1; }},
      {"chunks for", [&](Metadata& m) { m.inodes[hosts].size = 9000; }},
      {"chunks for",
       [&](Metadata& m) {
         m.inodes[hosts].size = ~uint64_t{0} - 5;  // rounding up to chunks must not wrap to 0
         m.inodes[hosts].count = 0;
       }},
      {"holds", [&](Metadata& m) { std::swap(m.file_chunks[0], m.file_chunks[1]); }},
      {"ends past its blob", [](Metadata& m) { m.chunks[0].compressed_offset = 8800; }},
      {"blob 3", [](Metadata& m) { m.chunks[0].blob_index = 3; }},
      {"two sizes differ", [](Metadata& m) { m.chunks[1].compressed_size = 11; }},
      {"chunk size", [](Metadata& m) { m.chunk_size = 4095; }},
      {"in no directory",
       [](Metadata& m) {
         InodeRecord orphan;
         orphan.mode = S_IFIFO | 0600;
         orphan.nlink = 1;
         m.inodes.push_back(orphan);
       }},
      {"belong to no directory", [](Metadata& m) { m.dirents.push_back(m.dirents.back()); }},
      {"symlink target",
       [](Metadata& m) {
         for (InodeRecord& i : m.inodes) {
           if ((i.mode & S_IFMT) == S_IFLNK) {
             i.size = m.strings.size() + 1;
           }
         }
       }},
      {"no device", [&](Metadata& m) { m.inodes[hosts].rdev = 5; }},
      {"xattr 0", [](Metadata& m) { m.xattrs[0].value_offset = 1u << 30; }},
      {"prefetch entry 0", [](Metadata& m) { m.prefetch[0] = 99; }},
      {"xattr keys not sorted or repeated",
       [](Metadata& m) {
         for (InodeRecord& i : m.inodes) {
           if (i.xattr_count == 1 && i.xattr_first == 0) {
             i.xattr_count = 2;  // both records are "user.k"
           }
         }
       }},
  };
  for (const Case& c : cases) {
    Metadata damaged = good;
    c.damage(damaged);
    SCOPED_TRACE(c.what);
    ExpectRefused(damaged, c.what);
  }
}

TEST(MetadataTest, LookupFollowsPathsButNotSymlinks) {
  Metadata m = SmallImage();
  EXPECT_EQ(*m.Lookup(""), 0u);
  EXPECT_EQ(*m.Lookup("/"), 0u);
  Result<uint32_t> hosts = m.Lookup("/etc//hosts");
  ASSERT_TRUE(hosts.ok());
  EXPECT_EQ(m.inodes[*hosts].size, 4106u);
  EXPECT_TRUE(m.Lookup("etc/missing").status().IsNotFound());
  EXPECT_TRUE(m.Lookup("bin/ls").status().IsNotFound());  // bin is a symlink
  EXPECT_TRUE(m.Lookup("etc/../etc").status().IsInvalidArgument());
  EXPECT_FALSE(m.LookupIn(*hosts, "x").has_value());
}

TEST(MetadataTest, CompressionNamesRoundTrip) {
  for (Compression c : {Compression::kNone, Compression::kZstd, Compression::kLz4}) {
    EXPECT_EQ(*ParseCompression(CompressionName(c)), c);
  }
  EXPECT_TRUE(ParseCompression("gzip").status().IsInvalidArgument());
}

}  // namespace
}  // namespace feilong::image
