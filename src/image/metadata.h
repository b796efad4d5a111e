// Metadata: the file tree of a lazy image (format v1, docs/image-format.md).
//
// A lazy image is one metadata blob plus data blobs of compressed chunks.
// The metadata holds the merged tree of every layer (whiteouts already
// applied): inodes with their attributes, directory entries, extended
// attributes, and for each regular file the list of chunks that make up its
// bytes. A chunk is a fixed-size slice of one file (the last one shorter),
// compressed on its own and stored at a known range of one data blob, so a
// reader turns any byte range of a file into ranged reads of blobs.
//
// Metadata is a set of flat tables (the records below) over one string pool,
// so that decoding is a bounds-checked copy and lookups are index arithmetic:
//   inode 0 is the root directory; a directory's entries are a contiguous run
//   of `dirents`, sorted by name (bytewise), so a name is found by binary
//   search; a regular file's chunks are a run of `file_chunks`, indexes into
//   `chunks`, in file order (the chunk holding byte `o` is run entry
//   o / chunk_size); identical chunks anywhere in the image share one
//   ChunkRecord.
//
// Decode() accepts only what Encode() can produce: every index, offset and
// length is checked, the tree is a tree (every inode reached from the root,
// directories exactly once, no cycles), names are valid path components, and
// the SHA-256 in the header matches the blob. Errors are Corruption naming what is
// wrong (or InvalidArgument for a newer major version).
//
// Thread rule: a Metadata is a value; const methods may be called from any
// number of threads.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/status.h"

namespace feilong::image {

// Format version written by Encode(); Decode() reads any v1.x. A blob of
// a converted image is 1.0; one whose blobs are source layers (an index,
// BlobKind below) needs 1.1 and says so in its flags.
inline constexpr uint16_t kFormatMajor = 1;
inline constexpr uint16_t kFormatMinor = 0;
inline constexpr uint16_t kIndexFormatMinor = 1;

// Chunk sizes are powers of two in [kMinChunkSize, kMaxChunkSize].
inline constexpr uint32_t kMinChunkSize = 4u << 10;
inline constexpr uint32_t kMaxChunkSize = 16u << 20;
inline constexpr uint32_t kDefaultChunkSize = 1u << 20;

// Longest name of one directory entry, and of a symlink's target.
inline constexpr size_t kMaxNameLength = 255;
inline constexpr size_t kMaxSymlinkLength = 4095;
// Longest extended attribute key and value.
inline constexpr size_t kMaxXattrKeyLength = 255;
inline constexpr size_t kMaxXattrValueLength = 64u << 10;

// How a chunk's bytes are stored in its blob.
enum class Compression : uint8_t { kNone = 0, kZstd = 1, kLz4 = 2 };
// "none", "zstd", "lz4".
std::string_view CompressionName(Compression compression);
// Parses a CompressionName. InvalidArgument otherwise.
Result<Compression> ParseCompression(std::string_view name);

// What a blob is: a data blob of this format, or (format 1.1) a layer of an
// unmodified image that an index points into (docs/image-format.md,
// "Without conversion"). In a layer, a chunk's offset is in the layer's
// tar stream: its bytes for kLayerTar, its decompressed bytes otherwise.
enum class BlobKind : uint8_t { kData = 0, kLayerTar = 1, kLayerGzip = 2, kLayerZstd = 3 };
// "data", "tar", "tar+gzip", "tar+zstd".
std::string_view BlobKindName(BlobKind kind);
// Whether chunk offsets in a blob of `kind` are offsets of its own bytes
// (so the blob's size bounds them).
inline bool OffsetsInBlobBytes(BlobKind kind) {
  return kind == BlobKind::kData || kind == BlobKind::kLayerTar;
}

struct BlobRecord {
  Sha256Digest digest{};  // of the whole blob, as stored in the registry
  uint64_t size = 0;      // bytes
  uint32_t chunk_count = 0;
  BlobKind kind = BlobKind::kData;  // all kData, or all source layers
  friend bool operator==(const BlobRecord&, const BlobRecord&) = default;
};

struct ChunkRecord {
  Sha256Digest digest{};           // of the uncompressed bytes
  uint64_t compressed_offset = 0;  // in the blob
  uint32_t compressed_size = 0;
  uint32_t uncompressed_size = 0;  // in (0, chunk_size]
  uint32_t blob_index = 0;
  // kNone in a source layer: the bytes are in its tar stream as they are.
  Compression compression = Compression::kNone;
  friend bool operator==(const ChunkRecord&, const ChunkRecord&) = default;
};

struct InodeRecord {
  uint32_t mode = 0;  // file type and permission bits, as st_mode
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  // Regular file: its length; symlink: the target's length; otherwise 0.
  uint64_t size = 0;
  uint64_t rdev = 0;  // character and block devices
  // Directory: its run of dirents; regular file: its run of file_chunks;
  // symlink: the target's offset in the string pool (count unused, 0).
  uint32_t first = 0;
  uint32_t count = 0;
  uint32_t xattr_first = 0;
  uint32_t xattr_count = 0;
  friend bool operator==(const InodeRecord&, const InodeRecord&) = default;
};

struct DirentRecord {
  uint32_t name_offset = 0;  // in the string pool
  uint16_t name_length = 0;
  uint32_t inode = 0;
  friend bool operator==(const DirentRecord&, const DirentRecord&) = default;
};

struct XattrRecord {
  uint32_t key_offset = 0;  // in the string pool
  uint16_t key_length = 0;
  uint32_t value_offset = 0;
  uint32_t value_length = 0;
  friend bool operator==(const XattrRecord&, const XattrRecord&) = default;
};

// The tables of one image. Built by TreeBuilder (tree_builder.h) or decoded;
// fields are public so tools can read them, but only Decode() checks them.
struct Metadata {
  uint32_t chunk_size = kDefaultChunkSize;
  std::vector<BlobRecord> blobs;
  std::vector<ChunkRecord> chunks;
  std::vector<uint32_t> file_chunks;  // indexes into `chunks`
  std::vector<InodeRecord> inodes;    // [0] is the root directory
  std::vector<DirentRecord> dirents;
  std::vector<XattrRecord> xattrs;
  std::vector<uint32_t> prefetch;  // inodes to read first, in order
  std::string strings;             // names, symlink targets, xattr keys and values

  // Whether the blobs are the layers of an unmodified image (format 1.1).
  bool IsIndex() const { return !blobs.empty() && blobs[0].kind != BlobKind::kData; }

  // The bytes of the metadata blob. REQUIRES: the tables are consistent
  // (as TreeBuilder makes them); Decode(Encode()) gives them back.
  std::string Encode() const;
  static Result<Metadata> Decode(std::span<const uint8_t> bytes);
  static Result<Metadata> Decode(std::string_view bytes);

  // Name of a dirent, target of a symlink inode, key and value of an xattr.
  std::string_view Name(const DirentRecord& dirent) const;
  std::string_view SymlinkTarget(const InodeRecord& inode) const;
  std::string_view XattrKey(const XattrRecord& xattr) const;
  std::string_view XattrValue(const XattrRecord& xattr) const;

  // The entries of directory `dir` and the chunk indexes of file `file`.
  // REQUIRES: the inode is of that type.
  std::span<const DirentRecord> Entries(const InodeRecord& dir) const;
  std::span<const uint32_t> FileChunks(const InodeRecord& file) const;

  // The inode named `name` in directory `dir` (binary search); nullopt when
  // there is none or `dir` is not a directory.
  std::optional<uint32_t> LookupIn(uint32_t dir, std::string_view name) const;
  // The inode at `path` ("/a/b", "a/b"; "" and "/" are the root), without
  // following symlinks. NotFound or InvalidArgument naming the path.
  Result<uint32_t> Lookup(std::string_view path) const;
  // The path of every inode, by inode number: "/" for the root, "/a/b"
  // below it; an inode with several names gets the first one reached.
  // REQUIRES: a tree (as Build and Decode make).
  std::vector<std::string> Paths() const;
};

}  // namespace feilong::image
