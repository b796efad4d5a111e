#include "image/unpacker.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace feilong::image {

namespace {

struct WriterFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

Status ArchiveFailure(archive* a, const std::string& what) {
  const char* text = archive_error_string(a);
  return Status::IOError(what + ": " + (text != nullptr ? text : "unknown archive error"));
}

class TarWriter {
 public:
  TarWriter(const Metadata& metadata, ChunkReader& chunks) : m_(metadata), chunks_(chunks) {}

  Status Open(const std::string& output) {
    a_.reset(archive_write_new());
    // Names are bytes in the image, whatever the locale: written as they
    // are (hdrcharset=BINARY), not converted to UTF-8 from the C locale,
    // which fails on any byte above 127.
    if (a_ == nullptr || archive_write_set_format_pax_restricted(a_.get()) != ARCHIVE_OK ||
        archive_write_set_format_option(a_.get(), "pax", "hdrcharset", "BINARY") != ARCHIVE_OK) {
      return Status::Internal("libarchive cannot write PAX archives with binary names");
    }
    output_ = output == "-" ? "standard output" : output;
    if (archive_write_open_filename(a_.get(), output == "-" ? nullptr : output.c_str()) !=
        ARCHIVE_OK) {
      return ArchiveFailure(a_.get(), "open " + output_);
    }
    return Status::Ok();
  }

  // Writes every inode, depth first; no recursion, so any depth is fine.
  Status WriteTree() {
    std::vector<std::pair<uint32_t, std::string>> stack = {{0, "./"}};
    while (!stack.empty()) {
      auto [inode, path] = std::move(stack.back());
      stack.pop_back();
      FL_RETURN_IF_ERROR(WriteEntry(inode, path));
      const InodeRecord& record = m_.inodes[inode];
      if (S_ISDIR(record.mode)) {
        const std::string prefix = inode == 0 ? "" : path + "/";
        std::span<const DirentRecord> entries = m_.Entries(record);
        for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
          stack.emplace_back(it->inode, prefix + std::string(m_.Name(*it)));
        }
      }
    }
    return Status::Ok();
  }

  Status Close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) {
      return ArchiveFailure(a_.get(), "finish " + output_);
    }
    return Status::Ok();
  }

  const UnpackStats& stats() const { return stats_; }

 private:
  Status WriteEntry(uint32_t inode, const std::string& path) {
    const InodeRecord& record = m_.inodes[inode];
    std::unique_ptr<archive_entry, EntryFree> entry(archive_entry_new());
    archive_entry_set_pathname(entry.get(), path.c_str());
    archive_entry_set_mode(entry.get(), record.mode);
    archive_entry_set_uid(entry.get(), record.uid);
    archive_entry_set_gid(entry.get(), record.gid);
    archive_entry_set_mtime(entry.get(), record.mtime_sec, record.mtime_nsec);
    for (uint32_t i = 0; i < record.xattr_count; ++i) {
      const XattrRecord& x = m_.xattrs[record.xattr_first + i];
      const std::string key(m_.XattrKey(x));
      std::string_view value = m_.XattrValue(x);
      archive_entry_xattr_add_entry(entry.get(), key.c_str(), value.data(), value.size());
    }
    bool write_data = false;
    if (!S_ISDIR(record.mode) && record.nlink > 1) {
      auto [first, inserted] = first_names_.try_emplace(inode, path);
      if (!inserted) {
        archive_entry_set_hardlink(entry.get(), first->second.c_str());
        archive_entry_set_size(entry.get(), 0);
        return WriteHeader(entry.get(), path);
      }
    }
    if (S_ISREG(record.mode)) {
      archive_entry_set_size(entry.get(), static_cast<la_int64_t>(record.size));
      write_data = true;
    } else if (S_ISLNK(record.mode)) {
      archive_entry_set_symlink(entry.get(), std::string(m_.SymlinkTarget(record)).c_str());
    } else if (S_ISCHR(record.mode) || S_ISBLK(record.mode)) {
      archive_entry_set_rdev(entry.get(), static_cast<dev_t>(record.rdev));
    }
    FL_RETURN_IF_ERROR(WriteHeader(entry.get(), path));
    if (write_data) {
      for (uint32_t chunk : m_.FileChunks(record)) {
        FL_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, chunks_.Read(chunk));
        if (archive_write_data(a_.get(), bytes.data(), bytes.size()) !=
            static_cast<la_ssize_t>(bytes.size())) {
          return ArchiveFailure(a_.get(), "write " + path + " to " + output_);
        }
        stats_.file_bytes += bytes.size();
      }
    }
    return Status::Ok();
  }

  Status WriteHeader(archive_entry* entry, const std::string& path) {
    if (archive_write_header(a_.get(), entry) != ARCHIVE_OK) {
      return ArchiveFailure(a_.get(), "write the entry of " + path + " to " + output_);
    }
    ++stats_.entries;
    return Status::Ok();
  }

  const Metadata& m_;
  ChunkReader& chunks_;
  std::unique_ptr<archive, WriterFree> a_;
  std::string output_;
  std::map<uint32_t, std::string> first_names_;  // inode with several names -> first
  UnpackStats stats_;
};

}  // namespace

Result<UnpackStats> UnpackToTar(const Metadata& metadata, ChunkReader& chunks,
                                const std::string& output) {
  TarWriter writer(metadata, chunks);
  FL_RETURN_IF_ERROR(writer.Open(output));
  FL_RETURN_IF_ERROR(writer.WriteTree());
  FL_RETURN_IF_ERROR(writer.Close());
  return writer.stats();
}

}  // namespace feilong::image
