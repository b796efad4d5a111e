// FileTaskPin and FilePieceWriter: the pins and piece writers handed out by
// FilePieceStore. Content bytes are written here, outside the store mutex.
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <string>

#include "storage/piece_store_internal.h"

namespace feilong::storage::internal {

namespace {
// Appended bytes are written once this many are buffered (and at Commit);
// a page-cache write costs about as much per byte from 16 KiB up.
constexpr size_t kWriteBlock = 64 * 1024;
// An append at least this large, with nothing buffered, is written as it
// comes: no copy (a transport reading 64 KiB at a time rarely needs one).
constexpr size_t kDirectWrite = 64 * 1024;
// Spare write buffers a store keeps (4 MiB). A writer holds one only while
// it gathers small appends, and gives it back at each write: hundreds of
// transfers waiting on the network hold none (with 256 KiB buffers kept
// for a piece's life, 100 downloads' ~700 transfers put a child's peak RSS
// at 160-200 MiB).
constexpr size_t kSpareBuffers = 64;
}  // namespace

std::vector<uint8_t> StoreCore::TakeWriteBuffer() {
  {
    MutexLock lock(buffers_mu);
    if (!spare_buffers.empty()) {
      std::vector<uint8_t> buffer = std::move(spare_buffers.back());
      spare_buffers.pop_back();
      return buffer;
    }
  }
  std::vector<uint8_t> buffer;
  buffer.reserve(kWriteBlock);
  return buffer;
}

void StoreCore::ReturnWriteBuffer(std::vector<uint8_t> buffer) {
  buffer.clear();
  MutexLock lock(buffers_mu);
  if (spare_buffers.size() < kSpareBuffers) {
    spare_buffers.push_back(std::move(buffer));
  }
}

FileTaskPin::~FileTaskPin() {
  MutexLock lock(core_->mu);
  --live_->pins;
  core_->ReleaseLive(task_id_, live_);
}

FilePieceWriter::~FilePieceWriter() {
  file_.reset();
  pending_.clear();
  ReleaseBuffer();
  MutexLock lock(core_->mu);
  live_->writing.erase(number_);
  core_->ReleaseLive(task_id_, live_);
}

Status FilePieceWriter::Append(std::span<const uint8_t> data) {
  FL_RETURN_IF_ERROR(CheckUsable());
  if (data.size() > length_ - written_) {
    return Status::InvalidArgument(PieceName(task_id_, number_) + ": appending " +
                                   std::to_string(data.size()) + " bytes after " +
                                   std::to_string(written_) + " exceeds its length " +
                                   std::to_string(length_));
  }
  if (data.empty()) {
    return Status::Ok();
  }
  hasher_.Update(data);
  if (file_ && pending_.size() + data.size() > kWriteBlock) {
    FL_RETURN_IF_ERROR(Flush());  // before written_ counts `data`
  }
  written_ += data.size();
  if (!file_) {
    return Status::Ok();
  }
  if (pending_.empty() && data.size() >= kDirectWrite) {
    return WriteAt(data, offset_ + written_ - data.size());  // large already: no copy
  }
  if (pending_.capacity() == 0) {
    pending_ = core_->TakeWriteBuffer();
  }
  pending_.insert(pending_.end(), data.begin(), data.end());  // stays within kWriteBlock
  if (pending_.size() == kWriteBlock) {
    return Flush();
  }
  return Status::Ok();
}

void FilePieceWriter::ReleaseBuffer() {
  if (pending_.capacity() != 0) {
    core_->ReturnWriteBuffer(std::move(pending_));
    pending_ = {};
  }
}

Status FilePieceWriter::Flush() {
  if (pending_.empty() || !file_) {
    return Status::Ok();
  }
  Status s = WriteAt(pending_, offset_ + written_ - pending_.size());
  pending_.clear();
  ReleaseBuffer();
  return s;
}

Status FilePieceWriter::WriteAt(std::span<const uint8_t> data, uint64_t file_offset) {
  int err = PwriteAll(file_->get(), data, file_offset);
  if (err != 0) {
    error_ = Status::FromErrno(err, "write " + PieceName(task_id_, number_) + " to " + path_);
    return error_;
  }
  return Status::Ok();
}

Result<Sha256Digest> FilePieceWriter::Commit(const std::optional<Sha256Digest>& expected) {
  FL_RETURN_IF_ERROR(CheckUsable());
  committed_ = true;
  if (written_ != length_) {
    return Status::InvalidArgument(PieceName(task_id_, number_) + ": commit after " +
                                   std::to_string(written_) + " of " + std::to_string(length_) +
                                   " bytes");
  }
  FL_RETURN_IF_ERROR(Flush());
  ReleaseBuffer();
  Sha256Digest digest = hasher_.Finish();
  if (expected && *expected != digest) {
    return Status::Corruption(PieceName(task_id_, number_) + ": digest " + Sha256String(digest) +
                              " does not match the expected " + Sha256String(*expected));
  }
  if (recorded_ && *recorded_ != digest) {
    return Status::Corruption(PieceName(task_id_, number_) + ": digest " + Sha256String(digest) +
                              " differs from the recorded " + Sha256String(*recorded_));
  }
  if (file_ && core_->options.fsync_pieces && ::fdatasync(file_->get()) != 0) {
    return Status::FromErrno(errno, "fdatasync " + path_);
  }
  file_.reset();

  MutexLock lock(core_->mu);
  if (live_->deleted) {
    return Status::NotFound("task " + task_id_ + " was deleted while " +
                            PieceName(task_id_, number_) + " was being written");
  }
  if (recorded_) {
    return digest;  // already recorded with these bytes: nothing changes
  }
  FL_ASSIGN_OR_RETURN(SqliteStatement stmt,
                      core_->db.Prepare("INSERT INTO pieces (task_id, number, byte_offset, "
                                        "byte_length, digest) VALUES (?1, ?2, ?3, ?4, ?5) "
                                        "ON CONFLICT (task_id, number) DO NOTHING"));
  FL_RETURN_IF_ERROR(stmt.BindText(1, task_id_));
  FL_RETURN_IF_ERROR(stmt.BindInt64(2, number_));
  FL_RETURN_IF_ERROR(stmt.BindInt64(3, static_cast<int64_t>(offset_)));
  FL_RETURN_IF_ERROR(stmt.BindInt64(4, length_));
  FL_RETURN_IF_ERROR(stmt.BindBlob(5, digest));
  FL_RETURN_IF_ERROR(stmt.Run());
  core_->RecordInView(task_id_, number_, digest);
  return digest;
}

Status FilePieceWriter::CheckUsable() const {
  if (committed_) {
    return Status::FailedPrecondition(PieceName(task_id_, number_) + ": writer already committed");
  }
  return error_;
}

}  // namespace feilong::storage::internal
