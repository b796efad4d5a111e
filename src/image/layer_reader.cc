#include "image/layer_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <cerrno>
#include <map>
#include <memory>
#include <string_view>
#include <vector>

namespace feilong::image {

Result<uint32_t> DistinctChunkSink::Put(std::span<const uint8_t> data,
                                        std::optional<uint64_t> stream_offset) {
  const Sha256Digest digest = Sha256(data);
  if (auto it = known_.find(digest); it != known_.end()) {
    return it->second;
  }
  ChunkRecord chunk;
  chunk.digest = digest;
  chunk.compressed_size = static_cast<uint32_t>(data.size());
  chunk.uncompressed_size = static_cast<uint32_t>(data.size());
  Place(chunk, stream_offset);
  FL_ASSIGN_OR_RETURN(uint32_t index, builder_.AddChunk(chunk));
  known_.emplace(digest, index);
  return index;
}

void DistinctChunkSink::Place(ChunkRecord&, std::optional<uint64_t>) {}

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr size_t kReadBlock = 1 << 20;

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

std::string ArchiveError(archive* a) {
  const char* text = archive_error_string(a);
  return text != nullptr ? text : "unknown archive error";
}

// What a libarchive failure means for `what`: a missing or unreadable file,
// or bytes that are no valid layer. libarchive's errno values for damaged
// data vary (EILSEQ, EINVAL, ...), so only those that name the file itself
// count as local errors.
Status ArchiveStatus(archive* a, const std::string& what) {
  const int err = archive_errno(a);
  if (err == ENOENT) {
    return Status::NotFound(what + ": no such file");
  }
  if (err == EACCES || err == EPERM || err == EIO || err == EISDIR || err == ENOMEM) {
    return Status::FromErrno(err, what + ": " + ArchiveError(a));
  }
  return Status::Corruption(what + ": " + ArchiveError(a));
}

// "/a/b" and "./a/b" name the same entry as "a/b".
std::string Relative(std::string_view name) {
  while (name.starts_with("/") || name.starts_with("./")) {
    name.remove_prefix(name.starts_with("/") ? 1 : 2);
  }
  return std::string(name);
}

Attributes AttributesOf(archive_entry* entry) {
  Attributes a;
  a.mode = static_cast<uint32_t>(archive_entry_perm(entry)) & 07777u;
  a.uid = static_cast<uint32_t>(archive_entry_uid(entry));
  a.gid = static_cast<uint32_t>(archive_entry_gid(entry));
  a.mtime_sec = archive_entry_mtime(entry);
  const long nsec = archive_entry_mtime_nsec(entry);
  a.mtime_nsec = nsec >= 0 && nsec < 1'000'000'000 ? static_cast<uint32_t>(nsec) : 0;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  // PAX headers may carry one attribute twice (LIBARCHIVE.xattr.* and
  // SCHILY.xattr.*); the last one read wins.
  std::map<std::string, std::string> unique;
  archive_entry_xattr_reset(entry);
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
    unique[name] = std::string(static_cast<const char*>(value), size);
  }
  a.xattrs.assign(unique.begin(), unique.end());
  return a;
}

// Reads a regular file's bytes, cut into chunks for `sink`.
Result<std::vector<uint32_t>> ReadChunks(archive* a, archive_entry* entry, const std::string& what,
                                         std::vector<uint8_t>& chunk, ChunkSink& sink,
                                         uint64_t* total) {
  // A sparse file's bytes are not where its header says: its holes are
  // not in the stream.
  const bool contiguous = archive_entry_sparse_count(entry) == 0;
  const uint64_t data_start = static_cast<uint64_t>(archive_filter_bytes(a, 0));
  std::vector<uint32_t> chunks;
  *total = 0;
  size_t filled = 0;
  while (true) {
    la_ssize_t n = archive_read_data(a, chunk.data() + filled, chunk.size() - filled);
    if (n < 0) {
      return ArchiveStatus(a, what);
    }
    filled += static_cast<size_t>(n);
    *total += static_cast<uint64_t>(n);
    if (filled == chunk.size() || (n == 0 && filled > 0)) {
      const uint64_t offset = data_start + *total - filled;
      FL_ASSIGN_OR_RETURN(uint32_t index,
                          sink.Put(std::span(chunk.data(), filled),
                                   contiguous ? std::optional(offset) : std::nullopt));
      chunks.push_back(index);
      filled = 0;
    }
    if (n == 0) {
      return chunks;
    }
  }
}

// Applies one entry that is no whiteout and no hard link.
Status ApplyNode(archive* a, archive_entry* entry, const std::string& name, const std::string& what,
                 std::vector<uint8_t>& chunk, TreeBuilder& builder, ChunkSink& sink,
                 LayerStats& stats) {
  const Attributes attributes = AttributesOf(entry);
  switch (archive_entry_filetype(entry)) {
    case AE_IFDIR:
      return builder.AddDirectory(name, attributes);
    case AE_IFLNK: {
      const char* link = archive_entry_symlink(entry);
      return builder.AddSymlink(name, attributes, link != nullptr ? link : "");
    }
    case AE_IFCHR:
    case AE_IFBLK:
      return builder.AddSpecial(name, archive_entry_filetype(entry) == AE_IFCHR ? S_IFCHR : S_IFBLK,
                                attributes, archive_entry_rdev(entry));
    case AE_IFIFO:
      return builder.AddSpecial(name, S_IFIFO, attributes);
    case AE_IFSOCK:
      return builder.AddSpecial(name, S_IFSOCK, attributes);
    case AE_IFREG: {
      const int64_t declared = archive_entry_size(entry);
      uint64_t total = 0;
      FL_ASSIGN_OR_RETURN(std::vector<uint32_t> chunks,
                          ReadChunks(a, entry, what, chunk, sink, &total));
      if (declared >= 0 && total != static_cast<uint64_t>(declared)) {
        return Status::Corruption(what + ": " + std::to_string(total) + " bytes of " +
                                  std::to_string(declared) + " (truncated layer)");
      }
      ++stats.files;
      stats.file_bytes += total;
      return builder.AddRegular(name, attributes, total, std::move(chunks));
    }
    default:
      return Status::Corruption(what + ": unknown file type");
  }
}

// Applies every entry of the open archive `a`, named `layer` in errors.
Result<LayerStats> ApplyEntries(archive* a, const std::string& layer, uint32_t chunk_size,
                                TreeBuilder& builder, ChunkSink& sink) {
  LayerStats stats;
  std::vector<uint8_t> chunk(chunk_size);
  archive_entry* entry = nullptr;
  while (true) {
    int got = archive_read_next_header(a, &entry);
    if (got == ARCHIVE_EOF) {
      return stats;
    }
    if (got < ARCHIVE_WARN) {
      return ArchiveStatus(a, layer + " after " + std::to_string(stats.entries) + " entries");
    }
    const char* raw_name = archive_entry_pathname(entry);
    if (raw_name == nullptr) {
      return Status::Corruption(layer + ": an entry without a name");
    }
    ++stats.entries;
    const std::string name = Relative(raw_name);
    const std::string what = layer + " entry \"" + name + "\"";
    std::string_view trimmed = name;
    while (trimmed.ends_with('/')) {
      trimmed.remove_suffix(1);
    }
    const size_t slash = trimmed.rfind('/');
    const std::string dir(slash == std::string_view::npos ? "" : trimmed.substr(0, slash));
    const std::string_view base = trimmed.substr(slash == std::string_view::npos ? 0 : slash + 1);

    Status applied;
    if (base == kOpaqueMarker) {
      ++stats.whiteouts;
      applied = builder.MakeOpaque(dir);
    } else if (base.starts_with(kWhiteoutPrefix)) {
      ++stats.whiteouts;
      const std::string hidden(base.substr(kWhiteoutPrefix.size()));
      applied = builder.Remove(dir.empty() ? hidden : dir + "/" + hidden);
    } else if (const char* target = archive_entry_hardlink(entry); target != nullptr) {
      applied = builder.AddHardLink(name, Relative(target));
    } else {
      applied = ApplyNode(a, entry, name, what, chunk, builder, sink, stats);
      if (!applied.ok() && !applied.IsInvalidArgument() && !applied.IsNotFound()) {
        return applied;  // the archive or the sink failed: already named
      }
    }
    if (!applied.ok()) {
      return applied.WithContext(what);
    }
  }
}

struct StreamClient {
  LayerDecoder* stream;
  std::vector<uint8_t> buffer;
  Status status;
};

la_ssize_t ReadStream(archive* a, void* client_data, const void** buffer) {
  auto* client = static_cast<StreamClient*>(client_data);
  Result<size_t> n = client->stream->Read(client->buffer);
  if (!n.ok()) {
    client->status = n.status();
    archive_set_error(a, EIO, "%s", n.status().message().c_str());
    return -1;
  }
  *buffer = client->buffer.data();
  return static_cast<la_ssize_t>(*n);
}

}  // namespace

Result<LayerStats> ApplyLayer(const std::string& path, uint32_t chunk_size, TreeBuilder& builder,
                              ChunkSink& sink) {
  std::unique_ptr<archive, ArchiveFree> reader(archive_read_new());
  if (reader == nullptr) {
    return Status::Internal("libarchive: cannot allocate a reader");
  }
  archive_read_support_filter_gzip(reader.get());
  archive_read_support_filter_zstd(reader.get());
  archive_read_support_format_tar(reader.get());
  if (archive_read_open_filename(reader.get(), path.c_str(), kReadBlock) != ARCHIVE_OK) {
    return ArchiveStatus(reader.get(), "layer " + path);
  }
  return ApplyEntries(reader.get(), "layer " + path, chunk_size, builder, sink);
}

Result<LayerStats> ApplyLayerStream(LayerDecoder& stream, const std::string& name,
                                    uint32_t chunk_size, TreeBuilder& builder, ChunkSink& sink) {
  std::unique_ptr<archive, ArchiveFree> reader(archive_read_new());
  if (reader == nullptr) {
    return Status::Internal("libarchive: cannot allocate a reader");
  }
  archive_read_support_format_tar(reader.get());
  StreamClient client{&stream, std::vector<uint8_t>(kReadBlock), Status::Ok()};
  const bool opened =
      archive_read_open(reader.get(), &client, nullptr, ReadStream, nullptr) == ARCHIVE_OK;
  Result<LayerStats> stats = opened ? ApplyEntries(reader.get(), name, chunk_size, builder, sink)
                                    : Result<LayerStats>(ArchiveStatus(reader.get(), name));
  if (!client.status.ok()) {
    return client.status;  // what the archive made of it names less
  }
  return stats;
}

}  // namespace feilong::image
