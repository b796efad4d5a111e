#include "image/checker.h"

#include <sys/stat.h>

#include <cinttypes>
#include <limits>
#include <map>
#include <utility>

#include "image/layer_reader.h"
#include "image/tree_builder.h"

namespace feilong::image {

namespace {

// Records each distinct chunk's digest and size in one unbounded pseudo
// blob: enough to compare trees without storing any byte.
class DigestSink : public DistinctChunkSink {
 public:
  explicit DigestSink(TreeBuilder& builder) : DistinctChunkSink(builder) {
    builder.AddBlob({Sha256Digest{}, std::numeric_limits<uint64_t>::max(), 0});
  }
};

class TreeComparer {
 public:
  TreeComparer(const Metadata& image, const Metadata& source, size_t limit)
      : a_(image), b_(source), limit_(limit), paths_(source.Paths()) {}

  std::vector<std::string> Run() {
    if (a_.chunk_size != b_.chunk_size) {
      Differ("/", "chunk size " + std::to_string(a_.chunk_size) + " vs " +
                      std::to_string(b_.chunk_size));
    }
    if (a_.inodes.size() != b_.inodes.size()) {
      Differ("/", std::to_string(a_.inodes.size()) + " inodes, the source has " +
                      std::to_string(b_.inodes.size()));
      return differences_;
    }
    // Both trees are numbered by the same deterministic walk, so equal
    // trees have equal inode numbers and the comparison is index by index.
    for (uint32_t i = 0; i < a_.inodes.size() && differences_.size() < limit_; ++i) {
      CompareInode(i);
    }
    return differences_;
  }

 private:
  void Differ(const std::string& path, const std::string& what) {
    if (differences_.size() < limit_) {
      differences_.push_back(path + ": " + what);
    }
  }

  void CompareInode(uint32_t i) {
    const InodeRecord& x = a_.inodes[i];
    const InodeRecord& y = b_.inodes[i];
    const std::string& path = paths_[i];
    auto field = [&](const char* name, uint64_t got, uint64_t want) {
      if (got != want) {
        Differ(path, std::string(name) + " " + std::to_string(got) + ", the source has " +
                         std::to_string(want));
      }
    };
    field("mode", x.mode, y.mode);
    field("uid", x.uid, y.uid);
    field("gid", x.gid, y.gid);
    field("nlink", x.nlink, y.nlink);
    field("mtime", static_cast<uint64_t>(x.mtime_sec), static_cast<uint64_t>(y.mtime_sec));
    field("mtime_nsec", x.mtime_nsec, y.mtime_nsec);
    field("size", x.size, y.size);
    field("rdev", x.rdev, y.rdev);
    if (x.mode != y.mode) {
      return;
    }
    if (S_ISLNK(x.mode) && a_.SymlinkTarget(x) != b_.SymlinkTarget(y)) {
      Differ(path, "symlink target differs");
    }
    CompareXattrs(x, y, path);
    if (S_ISDIR(x.mode)) {
      std::span<const DirentRecord> ea = a_.Entries(x);
      std::span<const DirentRecord> eb = b_.Entries(y);
      if (ea.size() != eb.size()) {
        Differ(path,
               std::to_string(ea.size()) + " entries, the source has " + std::to_string(eb.size()));
        return;
      }
      for (size_t k = 0; k < ea.size(); ++k) {
        if (a_.Name(ea[k]) != b_.Name(eb[k]) || ea[k].inode != eb[k].inode) {
          Differ(path, "entry " + std::string(b_.Name(eb[k])) + " differs");
          return;
        }
      }
    } else if (S_ISREG(x.mode)) {
      std::span<const uint32_t> ca = a_.FileChunks(x);
      std::span<const uint32_t> cb = b_.FileChunks(y);
      for (size_t k = 0; k < ca.size() && k < cb.size(); ++k) {
        if (a_.chunks[ca[k]].digest != b_.chunks[cb[k]].digest) {
          Differ(path, "bytes differ in chunk " + std::to_string(k));
          return;
        }
      }
    }
  }

  void CompareXattrs(const InodeRecord& x, const InodeRecord& y, const std::string& path) {
    if (x.xattr_count != y.xattr_count) {
      Differ(path, std::to_string(x.xattr_count) + " extended attributes, the source has " +
                       std::to_string(y.xattr_count));
      return;
    }
    for (uint32_t k = 0; k < x.xattr_count; ++k) {
      const XattrRecord& xa = a_.xattrs[x.xattr_first + k];
      const XattrRecord& xb = b_.xattrs[y.xattr_first + k];
      if (a_.XattrKey(xa) != b_.XattrKey(xb) || a_.XattrValue(xa) != b_.XattrValue(xb)) {
        Differ(path, "extended attribute " + std::string(b_.XattrKey(xb)) + " differs");
      }
    }
  }

  const Metadata& a_;
  const Metadata& b_;
  const size_t limit_;
  const std::vector<std::string> paths_;
  std::vector<std::string> differences_;
};

}  // namespace

Result<VerifyReport> VerifyImage(const OciLayout& layout, const LazyImage& image,
                                 const std::string& scratch_dir) {
  VerifyReport report;
  for (const Descriptor& blob : image.blobs) {
    FL_RETURN_IF_ERROR(layout.VerifyBlob(blob));
    ++report.blobs;
    report.blob_bytes += blob.size;
  }
  std::unique_ptr<ChunkReader> reader = MakeChunkReader(layout, image, scratch_dir);
  for (uint32_t i = 0; i < image.metadata.chunks.size(); ++i) {
    Result<std::vector<uint8_t>> chunk = reader->Read(i);
    if (!chunk.ok()) {
      return chunk.status().WithContext("chunk " + std::to_string(i));
    }
    ++report.chunks;
  }
  return report;
}

Result<std::vector<std::string>> CompareWithSource(const LazyImage& image, const OciLayout& source,
                                                   const Descriptor& source_manifest,
                                                   size_t limit) {
  FL_ASSIGN_OR_RETURN(ImageManifest manifest, source.ReadManifest(source_manifest));
  TreeBuilder builder(image.metadata.chunk_size);
  DigestSink sink(builder);
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    if (i > 0) {
      builder.BeginLayer();
    }
    FL_RETURN_IF_ERROR(source.VerifyBlob(manifest.layers[i]));
    Result<LayerStats> applied = ApplyLayer(source.BlobPath(manifest.layers[i].digest),
                                            image.metadata.chunk_size, builder, sink);
    if (!applied.ok()) {
      return applied.status().WithContext("source layer " + std::to_string(i));
    }
  }
  FL_ASSIGN_OR_RETURN(Metadata merged, builder.Build());
  return TreeComparer(image.metadata, merged, limit).Run();
}

}  // namespace feilong::image
