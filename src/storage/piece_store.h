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
// Task ids: every method taking a task id first checks that it is exactly 64
// lowercase hex characters (a SHA-256 in hex) and returns InvalidArgument
// otherwise. A task id is a key, never a path.
//
// One process per directory: Open() takes an exclusive lock on <dir>/LOCK;
// a second Open() of the same directory (from any process, or the same one)
// fails with FailedPrecondition until the first store is destroyed.
//
// Thread rule: all methods are safe to call from any thread. Writers and pins
// may be used from other threads than the one that created them, and may even
// outlive the store (they keep its internals alive; the directory lock is
// released once the store and all of them are gone).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/digest.h"
#include "common/scoped_fd.h"
#include "common/status.h"

namespace feilong::storage {

// Usage of the file system that holds the store.
struct DiskUsage {
  uint64_t capacity_bytes = 0;  // total size of the file system
  uint64_t used_bytes = 0;      // capacity minus what an unprivileged user can still write
};

struct StoreOptions {
  // Root directory; created (with parents) if missing. REQUIRES: non-empty.
  std::string dir;
  // fdatasync the content file before a piece is recorded. Protects against
  // power loss, not only process crashes. Default: false.
  bool fsync_pieces = false;
  // A task not accessed (created or touched) for this long is removed by
  // Gc(), finished or not, unless pinned. Default: 6 h.
  std::chrono::seconds task_ttl{6 * 3600};
  // When the store's file system is fuller than `high_watermark` (fraction of
  // capacity), Gc() evicts least recently used tasks until it is at most
  // `low_watermark` full. Defaults: 0.80 and 0.60.
  // REQUIRES: 0 <= low_watermark <= high_watermark <= 1 (else Open() fails
  // with InvalidArgument).
  double high_watermark = 0.80;
  double low_watermark = 0.60;
  // Test seam: reports the usage of the file system holding `dir` to Gc().
  // Null (the default) means statvfs(dir). Tests set it to get deterministic
  // watermark eviction independent of the real disk. Called without the
  // store's lock held, from the thread calling Gc().
  std::function<Result<DiskUsage>()> disk_usage;
};

struct TaskMeta {
  std::string task_id;           // 64 lowercase hex chars
  std::string url;               // for List/Stat only; never used as a path
  uint64_t content_length = 0;   // bytes
  uint32_t piece_length = 0;     // bytes; > 0
  bool complete = false;         // every piece is recorded
  int64_t created_at_unix = 0;   // seconds; set by CreateTask() from Clock::NowUnixSeconds()
  int64_t accessed_at_unix = 0;  // seconds; set by CreateTask() and Touch()
  // A private task (access/grant.h): its pieces go only to peers holding a
  // grant that `grant_key` (the scheduler's Ed25519 public key) verifies;
  // while the key is empty, to nobody. Once private, always private.
  bool private_task = false;
  std::string grant_key;

  uint32_t PieceCount() const {
    return content_length == 0
               ? 0
               : static_cast<uint32_t>((content_length + piece_length - 1) / piece_length);
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

// An open view of one recorded piece, for sendfile/pread. Shares the
// store's open descriptor of the task's content file (reads are positional,
// so sharing is safe), which keeps the bytes readable even if the task is
// deleted. Only read through it. A default handle has fd() == -1.
struct PieceReadHandle {
  std::shared_ptr<const ScopedFd> file;
  uint64_t offset = 0;
  uint32_t length = 0;
  Sha256Digest digest{};
  // The task's access (see TaskMeta): check a grant before sending a byte.
  bool private_task = false;
  std::string grant_key;

  int fd() const { return file ? file->get() : -1; }
};

// Streams one piece into the content file (positional writes at the piece's
// offset) while hashing it. Commit() records the piece if the bytes match;
// destroying an uncommitted writer discards it (its bytes may remain in the
// content file but are never served).
// Not thread-safe: one writer is used by one thread at a time.
class PieceWriter {
 public:
  virtual ~PieceWriter() = default;
  // Appends the next bytes of the piece. InvalidArgument (nothing written) if
  // more than the piece's length would be written; IOError /
  // ResourceExhausted (disk full) naming the file otherwise. After an I/O
  // error the writer is unusable: later calls return that error again.
  virtual Status Append(std::span<const uint8_t> data) = 0;
  // Bytes appended so far.
  virtual uint64_t written() const = 0;
  // REQUIRES: written() == the piece's length, else InvalidArgument.
  // If `expected` is set and differs from the bytes' digest: Corruption, and
  // nothing is recorded. Otherwise syncs (with `fsync_pieces`), records the
  // piece and returns its digest. NotFound if the task was deleted meanwhile.
  // Commit is final: any later call returns FailedPrecondition.
  virtual Result<Sha256Digest> Commit(const std::optional<Sha256Digest>& expected) = 0;
};

// Keeps a task from being removed by Gc() or DeleteTask() while alive.
// Pins are counted: the task is unpinned when its last pin is destroyed.
class TaskPin {
 public:
  virtual ~TaskPin() = default;
};

class PieceStore {
 public:
  virtual ~PieceStore() = default;

  // Opens (creating if needed) a store. Errors name the directory: e.g. an
  // unwritable directory gives IOError "piece store /x: Permission denied";
  // FailedPrecondition if another store holds the directory or its metadata
  // was written by a newer schema version; InvalidArgument for bad options.
  // On open, content files without a task and tasks without a content file
  // (left by a crash between the two steps of a create or delete) are removed.
  // `clock` must outlive the store; its NowUnixSeconds() gives timestamps.
  static Result<std::unique_ptr<PieceStore>> Open(const StoreOptions& options,
                                                  Clock& clock = SteadyClock::Default());

  // Creates the task's metadata and content file (sparse, sized to
  // content_length). Uses meta's task_id, url, content_length,
  // piece_length, private_task and grant_key; the timestamps come from the
  // clock, `complete` starts false. Idempotent when a task with the same
  // geometry exists (nothing changes, except that a private `meta` makes it
  // private as SetTaskAccess does);
  // FailedPrecondition if it exists with another length or piece length;
  // InvalidArgument if piece_length is 0 or the task would have more than
  // 2^32-1 pieces.
  virtual Status CreateTask(const TaskMeta& meta) = 0;
  // NotFound if the task is not in the store.
  virtual Result<TaskMeta> GetTask(const std::string& task_id) = 0;
  // All tasks, ordered by task id.
  virtual Result<std::vector<TaskMeta>> ListTasks() = 0;
  // Removes the task's metadata and content. NotFound if absent;
  // FailedPrecondition while pinned. Open writers of the task then fail to
  // commit (NotFound); open read handles stay readable.
  virtual Status DeleteTask(const std::string& task_id) = 0;
  // Updates accessed_at_unix to now (for TTL and LRU eviction). NotFound if absent.
  virtual Status Touch(const std::string& task_id) = 0;
  // Makes the task private (for good) and, when `grant_key` is not empty,
  // records it as the key that verifies grants for the task. NotFound if
  // absent.
  virtual Status SetTaskAccess(const std::string& task_id, const std::string& grant_key) = 0;
  // Marks the task complete (idempotent). NotFound if absent;
  // FailedPrecondition unless every piece is recorded.
  virtual Status MarkComplete(const std::string& task_id) = 0;

  // Recorded pieces of the task, ordered by number. NotFound if absent.
  virtual Result<std::vector<PieceRecord>> ListPieces(const std::string& task_id) = 0;
  // False also for an unknown task, an invalid id or a metadata error.
  virtual bool HasPiece(const std::string& task_id, uint32_t number) = 0;
  // A writer for piece `number`. NotFound (task), InvalidArgument (number out
  // of range), FailedPrecondition while another writer of the same piece is
  // alive (at most one writer per piece at a time). Writing a piece that is
  // already recorded is allowed and replaces nothing: the bytes are only
  // hashed, and Commit succeeds without change if they equal the recorded
  // piece (Corruption otherwise).
  virtual Result<std::unique_ptr<PieceWriter>> OpenPieceWriter(const std::string& task_id,
                                                               uint32_t number) = 0;
  // NotFound if the task or the piece is not recorded.
  virtual Result<PieceReadHandle> OpenPiece(const std::string& task_id, uint32_t number) = 0;

  // Path of the task's content file (for hard links to an output). The file
  // holds valid bytes only at recorded pieces. Empty for an invalid task id.
  virtual std::string ContentPath(const std::string& task_id) const = 0;

  // Pins the task against removal. NotFound if the task does not exist.
  virtual Result<std::unique_ptr<TaskPin>> Pin(const std::string& task_id) = 0;

  struct GcReport {
    uint32_t tasks_removed = 0;
    uint64_t bytes_freed = 0;
  };
  // Removes expired tasks (now - accessed_at_unix >= task_ttl) and, when the
  // file system is fuller than the high watermark, least recently accessed
  // tasks (ties: older created_at, then task id) until the bytes freed
  // (allocated blocks of the removed content files) bring it down to the low
  // watermark. Incomplete tasks that are not pinned count as expired after the
  // TTL too. Never removes a pinned task or one with a live PieceWriter.
  // bytes_freed counts allocated blocks, not content_length (files are sparse).
  // Errors: those of `disk_usage` / statvfs and of the metadata; files that
  // fail to unlink are left for the next Open().
  virtual Result<GcReport> Gc() = 0;
};

}  // namespace feilong::storage
