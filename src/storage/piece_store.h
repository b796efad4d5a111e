// PieceStore: the pieces of every task a peer holds, on local disk.
//
// Layout: one sparse content file per task (pieces written at their offsets)
// under <dir>/content/<id[0:2]>/<id>, and the metadata (tasks, pieces with
// their SHA-256 digests) in an embedded SQLite database in WAL mode at
// <dir>/metadata.db.
//
// Crash safety: a piece is recorded in the metadata only after all of its
// bytes were written (and, with `fsync_pieces`, synced), and only if they
// matched the expected digest. After a crash (kill -9) the store reopens and
// serves exactly the recorded pieces; partially written pieces are invisible.
//
// Thread rule: all methods are safe to call from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/digest.h"
#include "common/status.h"

namespace feilong::storage {

struct StoreOptions {
  // Root directory; created if missing. REQUIRES: non-empty.
  std::string dir;
  // fdatasync the content file before a piece is recorded. Protects against
  // power loss, not only process crashes. Default: false.
  bool fsync_pieces = false;
  // A finished task not accessed for this long is removed by Gc(). Default: 6 h.
  std::chrono::seconds task_ttl{6 * 3600};
  // When the store's file system is fuller than `high_watermark` (fraction of
  // capacity), Gc() evicts least recently used tasks until it is at most
  // `low_watermark` full. Defaults: 0.80 and 0.60.
  double high_watermark = 0.80;
  double low_watermark = 0.60;
};

struct TaskMeta {
  std::string task_id;           // 64 lowercase hex chars
  std::string url;               // for List/Stat only; never used as a path
  uint64_t content_length = 0;   // bytes
  uint32_t piece_length = 0;     // bytes; > 0
  bool complete = false;         // every piece is recorded
  int64_t created_at_unix = 0;   // seconds
  int64_t accessed_at_unix = 0;  // seconds; updated by Touch()

  uint32_t PieceCount() const {
    return content_length == 0 ? 0 : static_cast<uint32_t>((content_length + piece_length - 1) / piece_length);
  }
  // REQUIRES: number < PieceCount()
  uint64_t PieceOffset(uint32_t number) const { return uint64_t{number} * piece_length; }
  uint32_t PieceSize(uint32_t number) const {
    uint64_t rest = content_length - PieceOffset(number);
    return static_cast<uint32_t>(rest < piece_length ? rest : piece_length);
  }
};

struct PieceRecord {
  uint32_t number = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  Sha256Digest digest{};
};

// An open read-only view of one recorded piece, for sendfile/pread. Holds the
// content file open, so the bytes stay readable even if the task is deleted.
struct PieceReadHandle {
  int fd = -1;  // owned; closed by the destructor
  uint64_t offset = 0;
  uint32_t length = 0;
  Sha256Digest digest{};

  PieceReadHandle() = default;
  PieceReadHandle(PieceReadHandle&& other) noexcept;
  PieceReadHandle& operator=(PieceReadHandle&& other) noexcept;
  PieceReadHandle(const PieceReadHandle&) = delete;
  PieceReadHandle& operator=(const PieceReadHandle&) = delete;
  ~PieceReadHandle();
};

// Streams one piece into the content file while hashing it. Commit() records
// the piece if the bytes match; destroying an uncommitted writer discards it.
// Not thread-safe: one writer is used by one thread at a time.
class PieceWriter {
 public:
  virtual ~PieceWriter() = default;
  // Appends the next bytes of the piece. InvalidArgument if more than the
  // piece's length is written; IOError / ResourceExhausted (disk full) naming
  // the file otherwise.
  virtual Status Append(std::span<const uint8_t> data) = 0;
  // Bytes appended so far.
  virtual uint64_t written() const = 0;
  // REQUIRES: written() == the piece's length, else InvalidArgument.
  // If `expected` is set and differs from the bytes' digest: Corruption, and
  // nothing is recorded. Otherwise records the piece and returns its digest.
  virtual Result<Sha256Digest> Commit(const std::optional<Sha256Digest>& expected) = 0;
};

// Keeps a task from being removed by Gc() or DeleteTask() while alive.
class TaskPin {
 public:
  virtual ~TaskPin() = default;
};

class PieceStore {
 public:
  virtual ~PieceStore() = default;

  // Opens (creating if needed) a store. Errors name the directory: e.g. an
  // unwritable directory gives IOError "piece store /x: Permission denied".
  static Result<std::unique_ptr<PieceStore>> Open(const StoreOptions& options,
                                                  Clock& clock = SteadyClock::Default());

  // Creates the task's metadata and content file (sparse, sized to
  // content_length). Idempotent when a task with the same geometry exists;
  // FailedPrecondition if it exists with another length or piece length.
  virtual Status CreateTask(const TaskMeta& meta) = 0;
  // NotFound if the task is not in the store.
  virtual Result<TaskMeta> GetTask(const std::string& task_id) = 0;
  virtual Result<std::vector<TaskMeta>> ListTasks() = 0;
  // Removes the task's metadata and content. FailedPrecondition while pinned.
  virtual Status DeleteTask(const std::string& task_id) = 0;
  // Updates accessed_at_unix (for TTL and LRU eviction).
  virtual Status Touch(const std::string& task_id) = 0;
  // Marks the task complete. FailedPrecondition unless every piece is recorded.
  virtual Status MarkComplete(const std::string& task_id) = 0;

  // Recorded pieces of the task, ordered by number.
  virtual Result<std::vector<PieceRecord>> ListPieces(const std::string& task_id) = 0;
  virtual bool HasPiece(const std::string& task_id, uint32_t number) = 0;
  // A writer for piece `number`. NotFound (task), InvalidArgument (number out
  // of range). Writing a piece that is already recorded is allowed and
  // replaces nothing until Commit (which then succeeds without change).
  virtual Result<std::unique_ptr<PieceWriter>> OpenPieceWriter(const std::string& task_id,
                                                               uint32_t number) = 0;
  // NotFound if the task or the piece is not recorded.
  virtual Result<PieceReadHandle> OpenPiece(const std::string& task_id, uint32_t number) = 0;

  // Path of the task's content file (for hard links to an output). The file
  // holds valid bytes only at recorded pieces.
  virtual std::string ContentPath(const std::string& task_id) const = 0;

  // Pins the task against removal. NotFound if the task does not exist.
  virtual Result<std::unique_ptr<TaskPin>> Pin(const std::string& task_id) = 0;

  struct GcReport {
    uint32_t tasks_removed = 0;
    uint64_t bytes_freed = 0;
  };
  // Removes expired tasks and, above the high watermark, least recently used
  // unpinned tasks down to the low watermark. Incomplete tasks that are not
  // pinned count as expired after the TTL too.
  virtual Result<GcReport> Gc() = 0;
};

}  // namespace feilong::storage
