// Encoding and checking of the metadata blob; the byte layout is specified in
// docs/image-format.md ("Metadata blob"), which this file follows field by field.
#include "image/metadata.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "image/wire.h"

namespace feilong::image {

using wire::kChunkRecordSize;
using wire::Padded;
using wire::Reader;
using wire::Writer;

namespace {

constexpr char kMagic[8] = {'F', 'L', 'I', 'M', 'E', 'T', 'A', '\0'};
constexpr size_t kHeaderSize = 128;
constexpr size_t kDigestOffset = 56;
constexpr size_t kBlobRecordSize = 48;
constexpr size_t kInodeRecordSize = 64;
constexpr size_t kDirentRecordSize = 12;
constexpr size_t kXattrRecordSize = 16;
constexpr size_t kIndexSize = 4;
// Header flag: the blobs are source layers (format 1.1).
constexpr uint32_t kFlagSourceLayers = 1;

Status Bad(const std::string& what) { return Status::Corruption("image metadata: " + what); }

bool IsPowerOfTwo(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

bool ValidFileType(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR:
    case S_IFREG:
    case S_IFLNK:
    case S_IFCHR:
    case S_IFBLK:
    case S_IFIFO:
    case S_IFSOCK:
      return true;
    default:
      return false;
  }
}

bool ValidName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxNameLength && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

bool InPool(uint64_t offset, uint64_t length, size_t pool) {
  return offset <= pool && length <= pool - offset;
}

// Sizes of the body's sections, in order, before padding.
struct Layout {
  size_t blobs, chunks, file_chunks, inodes, dirents, xattrs, prefetch, strings;
  size_t BodySize() const {
    return Padded(blobs) + Padded(chunks) + Padded(file_chunks) + Padded(inodes) + Padded(dirents) +
           Padded(xattrs) + Padded(prefetch) + Padded(strings);
  }
};

}  // namespace

std::string_view CompressionName(Compression compression) {
  switch (compression) {
    case Compression::kNone:
      return "none";
    case Compression::kZstd:
      return "zstd";
    case Compression::kLz4:
      return "lz4";
  }
  return "unknown";
}

std::string_view BlobKindName(BlobKind kind) {
  switch (kind) {
    case BlobKind::kData:
      return "data";
    case BlobKind::kLayerTar:
      return "tar";
    case BlobKind::kLayerGzip:
      return "tar+gzip";
    case BlobKind::kLayerZstd:
      return "tar+zstd";
  }
  return "unknown";
}

Result<Compression> ParseCompression(std::string_view name) {
  for (Compression c : {Compression::kNone, Compression::kZstd, Compression::kLz4}) {
    if (name == CompressionName(c)) {
      return c;
    }
  }
  return Status::InvalidArgument("unknown compression \"" + std::string(name) +
                                 "\" (expected zstd, lz4 or none)");
}

std::string Metadata::Encode() const {
  std::string body;
  Writer w(body);
  for (const BlobRecord& b : blobs) {
    w.Bytes(b.digest);
    w.U64(b.size);
    w.U32(b.chunk_count);
    w.U8(static_cast<uint8_t>(b.kind));
    w.Zeros(3);
  }
  w.PadTo8();
  for (const ChunkRecord& c : chunks) {
    wire::PutChunk(w, c);
  }
  w.PadTo8();
  for (uint32_t index : file_chunks) {
    w.U32(index);
  }
  w.PadTo8();
  for (const InodeRecord& i : inodes) {
    w.U32(i.mode);
    w.U32(i.uid);
    w.U32(i.gid);
    w.U32(i.nlink);
    w.I64(i.mtime_sec);
    w.U32(i.mtime_nsec);
    w.U32(0);
    w.U64(i.size);
    w.U64(i.rdev);
    w.U32(i.first);
    w.U32(i.count);
    w.U32(i.xattr_first);
    w.U32(i.xattr_count);
  }
  w.PadTo8();
  for (const DirentRecord& d : dirents) {
    w.U32(d.name_offset);
    w.U16(d.name_length);
    w.U16(0);
    w.U32(d.inode);
  }
  w.PadTo8();
  for (const XattrRecord& x : xattrs) {
    w.U32(x.key_offset);
    w.U16(x.key_length);
    w.U16(0);
    w.U32(x.value_offset);
    w.U32(x.value_length);
  }
  w.PadTo8();
  for (uint32_t inode : prefetch) {
    w.U32(inode);
  }
  w.PadTo8();
  body += strings;
  w.PadTo8();

  std::string out;
  out.reserve(kHeaderSize + body.size());
  Writer h(out);
  h.Bytes(std::span(reinterpret_cast<const uint8_t*>(kMagic), sizeof kMagic));
  h.U16(kFormatMajor);
  h.U16(IsIndex() ? kIndexFormatMinor : kFormatMinor);
  h.U32(IsIndex() ? kFlagSourceLayers : 0);
  h.U32(chunk_size);
  h.U32(static_cast<uint32_t>(blobs.size()));
  h.U32(static_cast<uint32_t>(chunks.size()));
  h.U32(static_cast<uint32_t>(file_chunks.size()));
  h.U32(static_cast<uint32_t>(inodes.size()));
  h.U32(static_cast<uint32_t>(dirents.size()));
  h.U32(static_cast<uint32_t>(xattrs.size()));
  h.U32(static_cast<uint32_t>(prefetch.size()));
  h.U64(strings.size());
  h.Zeros(kHeaderSize - out.size());  // the digest goes at kDigestOffset
  out += body;
  const Sha256Digest digest = wire::DigestWithFieldZeroed(
      std::span(reinterpret_cast<const uint8_t*>(out.data()), out.size()), kDigestOffset);
  std::memcpy(out.data() + kDigestOffset, digest.data(), digest.size());
  return out;
}

Result<Metadata> Metadata::Decode(std::string_view bytes) {
  return Decode(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

Result<Metadata> Metadata::Decode(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderSize) {
    return Bad("only " + std::to_string(bytes.size()) + " bytes, shorter than the " +
               std::to_string(kHeaderSize) + "-byte header");
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return Bad("wrong magic: not a Feilong image metadata blob");
  }
  Reader r(bytes);
  const uint16_t major = r.U16(8);
  if (major != kFormatMajor) {
    return Status::InvalidArgument("image metadata: format version " + std::to_string(major) + "." +
                                   std::to_string(r.U16(10)) + " (this build reads " +
                                   std::to_string(kFormatMajor) + ".x)");
  }
  const uint32_t flags = r.U32(12);
  if ((flags & ~kFlagSourceLayers) != 0) {
    return Status::InvalidArgument("image metadata: unknown flags " + std::to_string(flags) +
                                   " (written by a newer flimage)");
  }
  if (flags != 0 && (r.U16(10) < kIndexFormatMinor || r.U32(20) == 0)) {
    return Bad("source layers need format 1.1 and at least one blob");
  }
  Metadata m;
  m.chunk_size = r.U32(16);
  if (!IsPowerOfTwo(m.chunk_size) || m.chunk_size < kMinChunkSize || m.chunk_size > kMaxChunkSize) {
    return Bad("chunk size " + std::to_string(m.chunk_size) +
               " is not a power of two in [4 KiB, 16 MiB]");
  }
  const uint64_t counts[7] = {r.U32(20), r.U32(24), r.U32(28), r.U32(32),
                              r.U32(36), r.U32(40), r.U32(44)};
  const uint64_t string_bytes = r.U64(48);
  if (wire::DigestWithFieldZeroed(bytes, kDigestOffset) != r.Digest(kDigestOffset)) {
    return Bad("digest does not match the header (damaged or truncated)");
  }
  if (!r.AllZero(kDigestOffset + 32, kHeaderSize - kDigestOffset - 32)) {
    return Bad("reserved header bytes are not zero");
  }
  // Every count is below 2^32 and the string pool is checked against the
  // actual size first, so these products and sums cannot overflow.
  const size_t available = bytes.size() - kHeaderSize;
  if (string_bytes > available) {
    return Bad("string pool of " + std::to_string(string_bytes) + " bytes exceeds the blob");
  }
  Layout layout{counts[0] * kBlobRecordSize,   counts[1] * kChunkRecordSize,
                counts[2] * kIndexSize,        counts[3] * kInodeRecordSize,
                counts[4] * kDirentRecordSize, counts[5] * kXattrRecordSize,
                counts[6] * kIndexSize,        static_cast<size_t>(string_bytes)};
  if (layout.BodySize() != available) {
    return Bad("the header's table sizes add up to " + std::to_string(layout.BodySize()) +
               " bytes, the blob has " + std::to_string(available) + " after the header");
  }

  size_t at = kHeaderSize;
  auto section_end = [&](size_t size) {
    size_t end = at + size;
    bool padding_zero = r.AllZero(end, Padded(size) - size);
    at += Padded(size);
    return padding_zero;
  };
  bool padding_zero = true;

  m.blobs.resize(counts[0]);
  for (size_t i = 0; i < m.blobs.size(); ++i) {
    size_t p = at + i * kBlobRecordSize;
    const uint8_t kind = r.U8(p + 44);
    const bool layer = kind >= static_cast<uint8_t>(BlobKind::kLayerTar) &&
                       kind <= static_cast<uint8_t>(BlobKind::kLayerZstd);
    if (!r.AllZero(p + 45, 3) || (kind != 0 && !layer) ||
        layer != ((flags & kFlagSourceLayers) != 0)) {
      return Bad("blob " + std::to_string(i) + ": kind " + std::to_string(kind) +
                 " does not fit the header's flags, or reserved bytes are not zero");
    }
    m.blobs[i] = {r.Digest(p), r.U64(p + 32), r.U32(p + 40), static_cast<BlobKind>(kind)};
  }
  padding_zero &= section_end(layout.blobs);

  m.chunks.resize(counts[1]);
  for (size_t i = 0; i < m.chunks.size(); ++i) {
    const std::string name = "chunk " + std::to_string(i);
    if (!wire::GetChunk(r, at + i * kChunkRecordSize, &m.chunks[i])) {
      return Bad(name + ": unknown compression or reserved bytes not zero");
    }
    const ChunkRecord& c = m.chunks[i];
    if (c.blob_index >= m.blobs.size()) {
      return Bad(name + ": blob " + std::to_string(c.blob_index) + " of " +
                 std::to_string(m.blobs.size()));
    }
    if (c.uncompressed_size == 0 || c.uncompressed_size > m.chunk_size || c.compressed_size == 0) {
      return Bad(name + ": size " + std::to_string(c.uncompressed_size) +
                 " outside (0, chunk size]");
    }
    if (c.compression == Compression::kNone && c.compressed_size != c.uncompressed_size) {
      return Bad(name + ": stored uncompressed but its two sizes differ");
    }
    // In a compressed layer the range is checked against its decompressed
    // size, which the index's checkpoint table holds (checkpoint_table.h).
    const BlobRecord& blob = m.blobs[c.blob_index];
    const uint64_t limit =
        OffsetsInBlobBytes(blob.kind) ? blob.size : std::numeric_limits<uint64_t>::max();
    if (c.compressed_offset > limit || c.compressed_size > limit - c.compressed_offset ||
        (blob.kind != BlobKind::kData && c.compression != Compression::kNone)) {
      return Bad(name + ": range ends past its blob's " + std::to_string(blob.size) +
                 " bytes, or a source layer's chunk is compressed");
    }
  }
  padding_zero &= section_end(layout.chunks);

  m.file_chunks.resize(counts[2]);
  for (size_t i = 0; i < m.file_chunks.size(); ++i) {
    m.file_chunks[i] = r.U32(at + i * kIndexSize);
    if (m.file_chunks[i] >= m.chunks.size()) {
      return Bad("file chunk list entry " + std::to_string(i) + " names chunk " +
                 std::to_string(m.file_chunks[i]) + " of " + std::to_string(m.chunks.size()));
    }
  }
  padding_zero &= section_end(layout.file_chunks);

  m.inodes.resize(counts[3]);
  for (size_t i = 0; i < m.inodes.size(); ++i) {
    size_t p = at + i * kInodeRecordSize;
    InodeRecord& n = m.inodes[i];
    n.mode = r.U32(p);
    n.uid = r.U32(p + 4);
    n.gid = r.U32(p + 8);
    n.nlink = r.U32(p + 12);
    n.mtime_sec = static_cast<int64_t>(r.U64(p + 16));
    n.mtime_nsec = r.U32(p + 24);
    n.size = r.U64(p + 32);
    n.rdev = r.U64(p + 40);
    n.first = r.U32(p + 48);
    n.count = r.U32(p + 52);
    n.xattr_first = r.U32(p + 56);
    n.xattr_count = r.U32(p + 60);
    if (r.U32(p + 28) != 0) {
      return Bad("inode " + std::to_string(i) + ": reserved bytes are not zero");
    }
  }
  padding_zero &= section_end(layout.inodes);

  m.dirents.resize(counts[4]);
  for (size_t i = 0; i < m.dirents.size(); ++i) {
    size_t p = at + i * kDirentRecordSize;
    m.dirents[i] = {r.U32(p), r.U16(p + 4), r.U32(p + 8)};
    if (r.U16(p + 6) != 0) {
      return Bad("dirent " + std::to_string(i) + ": reserved bytes are not zero");
    }
  }
  padding_zero &= section_end(layout.dirents);

  m.xattrs.resize(counts[5]);
  for (size_t i = 0; i < m.xattrs.size(); ++i) {
    size_t p = at + i * kXattrRecordSize;
    m.xattrs[i] = {r.U32(p), r.U16(p + 4), r.U32(p + 8), r.U32(p + 12)};
    if (r.U16(p + 6) != 0) {
      return Bad("xattr " + std::to_string(i) + ": reserved bytes are not zero");
    }
  }
  padding_zero &= section_end(layout.xattrs);

  m.prefetch.resize(counts[6]);
  for (size_t i = 0; i < m.prefetch.size(); ++i) {
    m.prefetch[i] = r.U32(at + i * kIndexSize);
  }
  padding_zero &= section_end(layout.prefetch);

  m.strings.assign(reinterpret_cast<const char*>(bytes.data() + at), layout.strings);
  padding_zero &= section_end(layout.strings);
  if (!padding_zero) {
    return Bad("padding between tables is not zero");
  }

  // Pool references.
  const size_t pool = m.strings.size();
  for (size_t i = 0; i < m.xattrs.size(); ++i) {
    const XattrRecord& x = m.xattrs[i];
    if (x.key_length == 0 || x.key_length > kMaxXattrKeyLength ||
        x.value_length > kMaxXattrValueLength || !InPool(x.key_offset, x.key_length, pool) ||
        !InPool(x.value_offset, x.value_length, pool)) {
      return Bad("xattr " + std::to_string(i) + ": key or value out of bounds");
    }
  }

  // Inodes by type.
  if (m.inodes.empty() || (m.inodes[0].mode & S_IFMT) != S_IFDIR) {
    return Bad("inode 0 is not a directory (the root)");
  }
  for (size_t i = 0; i < m.inodes.size(); ++i) {
    const InodeRecord& n = m.inodes[i];
    const std::string name = "inode " + std::to_string(i);
    if (!ValidFileType(n.mode)) {
      return Bad(name + ": unknown file type in mode " + std::to_string(n.mode));
    }
    if (n.mtime_nsec >= 1'000'000'000u) {
      return Bad(name + ": nanoseconds out of range");
    }
    if (uint64_t{n.xattr_first} + n.xattr_count > m.xattrs.size()) {
      return Bad(name + ": xattrs out of bounds");
    }
    for (uint32_t k = 1; k < n.xattr_count; ++k) {
      if (!(m.XattrKey(m.xattrs[n.xattr_first + k - 1]) <
            m.XattrKey(m.xattrs[n.xattr_first + k]))) {
        return Bad(name + ": xattr keys not sorted or repeated");
      }
    }
    const uint32_t type = n.mode & S_IFMT;
    if (type == S_IFDIR) {
      if (uint64_t{n.first} + n.count > m.dirents.size() || n.size != 0) {
        return Bad(name + ": directory entries out of bounds");
      }
    } else if (type == S_IFREG) {
      const uint64_t want_chunks = n.size / m.chunk_size + (n.size % m.chunk_size != 0);
      if (uint64_t{n.first} + n.count > m.file_chunks.size() || n.count != want_chunks) {
        return Bad(name + ": " + std::to_string(n.count) + " chunks for " + std::to_string(n.size) +
                   " bytes");
      }
      for (uint32_t k = 0; k < n.count; ++k) {
        const ChunkRecord& c = m.chunks[m.file_chunks[n.first + k]];
        const uint64_t want = std::min<uint64_t>(m.chunk_size, n.size - uint64_t{k} * m.chunk_size);
        if (c.uncompressed_size != want) {
          return Bad(name + ": chunk " + std::to_string(k) + " holds " +
                     std::to_string(c.uncompressed_size) + " bytes where the file needs " +
                     std::to_string(want));
        }
      }
    } else if (type == S_IFLNK) {
      if (n.size == 0 || n.size > kMaxSymlinkLength || n.count != 0 ||
          !InPool(n.first, n.size, pool)) {
        return Bad(name + ": symlink target out of bounds");
      }
    } else if (n.size != 0 || n.first != 0 || n.count != 0) {
      return Bad(name + ": a special file with data");
    }
    if (type != S_IFCHR && type != S_IFBLK && n.rdev != 0) {
      return Bad(name + ": a device number on a file that is no device");
    }
  }

  // The tree: walk from the root; every directory reached once, every inode
  // and every dirent reached, names valid and sorted within each directory.
  std::vector<uint32_t> references(m.inodes.size(), 0);
  std::vector<bool> dirent_owned(m.dirents.size(), false);
  std::vector<uint32_t> pending{0};
  references[0] = 1;
  size_t dirents_seen = 0;
  while (!pending.empty()) {
    const uint32_t dir = pending.back();
    pending.pop_back();
    const InodeRecord& d = m.inodes[dir];
    dirents_seen += d.count;
    std::string_view previous;
    for (uint32_t k = 0; k < d.count; ++k) {
      const std::string name =
          "directory inode " + std::to_string(dir) + " entry " + std::to_string(k);
      if (dirent_owned[d.first + k]) {
        return Bad(name + ": belongs to two directories");
      }
      dirent_owned[d.first + k] = true;
      const DirentRecord& e = m.dirents[d.first + k];
      if (!InPool(e.name_offset, e.name_length, pool) || !ValidName(m.Name(e))) {
        return Bad(name + ": invalid name");
      }
      if (k > 0 && !(previous < m.Name(e))) {
        return Bad(name + ": names not sorted or repeated");
      }
      previous = m.Name(e);
      if (e.inode == 0 || e.inode >= m.inodes.size()) {
        return Bad(name + ": inode " + std::to_string(e.inode) + " out of bounds");
      }
      if ((m.inodes[e.inode].mode & S_IFMT) == S_IFDIR) {
        if (references[e.inode] != 0) {
          return Bad(name + ": directory inode " + std::to_string(e.inode) + " reached twice");
        }
        pending.push_back(e.inode);
      }
      ++references[e.inode];
    }
  }
  if (dirents_seen != m.dirents.size()) {
    return Bad(std::to_string(m.dirents.size() - dirents_seen) +
               " directory entries belong to no directory");
  }
  for (size_t i = 0; i < m.inodes.size(); ++i) {
    if (references[i] == 0) {
      return Bad("inode " + std::to_string(i) + " is in no directory");
    }
    if ((m.inodes[i].mode & S_IFMT) != S_IFDIR && m.inodes[i].nlink != references[i]) {
      return Bad("inode " + std::to_string(i) + ": link count " +
                 std::to_string(m.inodes[i].nlink) + " but " + std::to_string(references[i]) +
                 " names");
    }
  }
  for (size_t i = 0; i < m.prefetch.size(); ++i) {
    if (m.prefetch[i] >= m.inodes.size()) {
      return Bad("prefetch entry " + std::to_string(i) + " out of bounds");
    }
  }
  return m;
}

std::string_view Metadata::Name(const DirentRecord& dirent) const {
  return std::string_view(strings).substr(dirent.name_offset, dirent.name_length);
}

std::string_view Metadata::SymlinkTarget(const InodeRecord& inode) const {
  return std::string_view(strings).substr(inode.first, inode.size);
}

std::string_view Metadata::XattrKey(const XattrRecord& xattr) const {
  return std::string_view(strings).substr(xattr.key_offset, xattr.key_length);
}

std::string_view Metadata::XattrValue(const XattrRecord& xattr) const {
  return std::string_view(strings).substr(xattr.value_offset, xattr.value_length);
}

std::span<const DirentRecord> Metadata::Entries(const InodeRecord& dir) const {
  return std::span(dirents).subspan(dir.first, dir.count);
}

std::span<const uint32_t> Metadata::FileChunks(const InodeRecord& file) const {
  return std::span(file_chunks).subspan(file.first, file.count);
}

std::optional<uint32_t> Metadata::LookupIn(uint32_t dir, std::string_view name) const {
  if (dir >= inodes.size() || (inodes[dir].mode & S_IFMT) != S_IFDIR) {
    return std::nullopt;
  }
  std::span<const DirentRecord> entries = Entries(inodes[dir]);
  auto it =
      std::lower_bound(entries.begin(), entries.end(), name,
                       [this](const DirentRecord& e, std::string_view n) { return Name(e) < n; });
  if (it == entries.end() || Name(*it) != name) {
    return std::nullopt;
  }
  return it->inode;
}

Result<uint32_t> Metadata::Lookup(std::string_view path) const {
  uint32_t inode = 0;
  std::string_view rest = path;
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    std::string_view component = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (component.empty()) {
      continue;
    }
    if (!ValidName(component)) {
      return Status::InvalidArgument("path \"" + std::string(path) + "\": invalid component \"" +
                                     std::string(component) + "\"");
    }
    std::optional<uint32_t> next = LookupIn(inode, component);
    if (!next) {
      return Status::NotFound("path \"" + std::string(path) + "\" is not in the image");
    }
    inode = *next;
  }
  return inode;
}

std::vector<std::string> Metadata::Paths() const {
  std::vector<std::string> paths(inodes.size());
  if (inodes.empty()) {
    return paths;
  }
  std::vector<bool> named(inodes.size(), false);
  std::vector<uint32_t> stack = {0};
  paths[0] = "/";
  named[0] = true;
  while (!stack.empty()) {
    const uint32_t dir = stack.back();
    stack.pop_back();
    for (const DirentRecord& d : Entries(inodes[dir])) {
      if (named[d.inode]) {
        continue;
      }
      named[d.inode] = true;
      paths[d.inode] = (dir == 0 ? "" : paths[dir]) + "/" + std::string(Name(d));
      if (S_ISDIR(inodes[d.inode].mode)) {
        stack.push_back(d.inode);
      }
    }
  }
  return paths;
}

}  // namespace feilong::image
