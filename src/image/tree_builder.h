// TreeBuilder: merges the layers of an image into one Metadata, applying
// the OCI layer rules (image-spec layer.md: "Whiteouts"), the way a
// converter meets them while it streams each layer's tar entries.
//
//   builder.BeginLayer();                      // bottom layer first
//   builder.AddDirectory("etc", attributes);
//   builder.AddRegular("etc/hosts", attributes, size, chunk_indexes);
//   builder.BeginLayer();
//   builder.Remove("etc/hosts");               // a ".wh.hosts" entry
//   builder.MakeOpaque("var/cache");           // a ".wh..wh..opq" entry
//   Result<Metadata> image = builder.Build();
//
// Paths are relative to the image root, '/'-separated; "./", repeated and
// trailing slashes are accepted. A component ".." or a NUL byte, a name
// longer than 255 bytes, or a path through a non-directory is
// InvalidArgument naming the path, and changes nothing: no entry can land
// outside the tree. Missing parent directories are created (0755, root),
// as container runtimes do.
//
// Layer rules: an entry replaces what was at its path (a directory stays a
// directory and keeps its children when a directory replaces it; its
// attributes are the new ones). Remove() and MakeOpaque() act only on what
// lower layers made: an entry of the current layer is not hidden by a
// whiteout of the same layer, whatever their order in the tar.
//
// Build() numbers inodes in a depth-first walk with names in byte order
// and shares strings, so the same operations give the same bytes.
//
// Thread rule: not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "image/metadata.h"

namespace feilong::image {

// Attributes of an entry, as a tar header gives them.
struct Attributes {
  uint32_t mode = 0;  // file type bits are ignored: each Add* sets its own
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  // Extended attributes (key, value); order does not matter.
  std::vector<std::pair<std::string, std::string>> xattrs;
};

class TreeBuilder {
 public:
  // REQUIRES: chunk_size is a valid chunk size (metadata.h).
  explicit TreeBuilder(uint32_t chunk_size = kDefaultChunkSize);
  ~TreeBuilder();
  TreeBuilder(const TreeBuilder&) = delete;
  TreeBuilder& operator=(const TreeBuilder&) = delete;

  // Starts the next layer up. Entries before the first call count as layer 0.
  void BeginLayer();

  // Sets the root directory's attributes ("" or "/" in a tar).
  Status SetRootAttributes(const Attributes& attributes);
  Status AddDirectory(std::string_view path, const Attributes& attributes);
  // A regular file of `size` bytes made of `chunks` (indexes returned by
  // AddChunk, in file order). InvalidArgument unless the chunks' sizes are
  // chunk_size each, the last one the remainder.
  Status AddRegular(std::string_view path, const Attributes& attributes, uint64_t size,
                    std::vector<uint32_t> chunks);
  Status AddSymlink(std::string_view path, const Attributes& attributes, std::string_view target);
  // A character or block device, FIFO or socket: `type` is S_IFCHR,
  // S_IFBLK, S_IFIFO or S_IFSOCK.
  Status AddSpecial(std::string_view path, uint32_t type, const Attributes& attributes,
                    uint64_t rdev = 0);
  // A second name for the non-directory at `target` (a tar hard link).
  // NotFound if there is none; InvalidArgument if it is a directory.
  Status AddHardLink(std::string_view path, std::string_view target);
  // A whiteout: `path` and everything under it, made by lower layers, is
  // gone. Nothing there is not an error.
  Status Remove(std::string_view path);
  // An opaque directory: what lower layers put in directory `path` is gone
  // (applied when the layer ends, so the tar's order does not matter).
  Status MakeOpaque(std::string_view path);

  // Records a data blob and a chunk of it; returns their indexes. The
  // caller deduplicates: a chunk added twice is stored twice. A blob still
  // being written is added with what is known (its index is what chunks
  // need) and completed with SetBlob once written; Build() checks that every
  // chunk lies inside its blob (InvalidArgument otherwise).
  uint32_t AddBlob(const BlobRecord& blob);
  Status SetBlob(uint32_t index, const BlobRecord& blob);
  Result<uint32_t> AddChunk(const ChunkRecord& chunk);

  // Appends `path` to the prefetch list (files read first at run time).
  // NotFound at Build() if nothing is there then.
  void AddPrefetch(std::string_view path);

  // Ends the current layer and returns the merged image; more layers may
  // follow and Build() be called again.
  Result<Metadata> Build();

 private:
  struct Inode;
  struct Node;
  // The directory that holds `path`, and the last component in `name`.
  // Creates missing directories when `create` is set; otherwise nullptr
  // when one is missing or not a directory. InvalidArgument for a bad path
  // or the root.
  Result<Node*> Parent(std::string_view path, bool create, std::string* name);
  Status Place(std::string_view path, std::shared_ptr<Inode> inode);
  Node* Find(std::string_view path);
  // Applies the layer's opaque directories.
  void FinishLayer();

  uint32_t chunk_size_;
  uint32_t layer_ = 0;
  std::unique_ptr<Node> root_;
  std::vector<BlobRecord> blobs_;
  std::vector<ChunkRecord> chunks_;
  std::vector<std::string> prefetch_;
  std::vector<std::string> opaque_;  // of the current layer
};

}  // namespace feilong::image
