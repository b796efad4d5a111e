// Internals of FilePieceStore shared by its source files: small POSIX
// helpers, the shared StoreCore state, and the pin and writer classes.
// Not part of the public API; include only from src/storage.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/digest.h"
#include "common/mutex.h"
#include "common/scoped_fd.h"
#include "common/status.h"
#include "storage/piece_record.h"
#include "storage/piece_store.h"
#include "storage/piece_store_file.h"
#include "storage/sqlite_db.h"

namespace feilong::storage::internal {

inline constexpr std::string_view kTaskColumns =
    "task_id, url, content_length, piece_length, complete, created_at, accessed_at, private, "
    "grant_key";

// ---- Small POSIX helpers ----

Result<ScopedFd> OpenFile(const std::string& path, int flags, mode_t mode = 0);

Status MakeDir(const std::string& path);

Status SyncDir(const std::string& path);

// Writes all of `data` at `offset`, retrying on EINTR and short writes.
// Returns 0 or an errno value.
int PwriteAll(int fd, std::span<const uint8_t> data, uint64_t offset);

// Allocated bytes of the file at `path` (0 if it cannot be stat'ed).
uint64_t AllocatedBytes(const std::string& path);

// Names of the entries of `dir` except "." and ".." (empty if unreadable).
std::vector<std::string> ListDir(const std::string& dir);

Result<DiskUsage> StatvfsUsage(const std::string& dir);

std::string PieceName(const std::string& task_id, uint32_t number);

Status TaskNotFound(const std::string& task_id);

// ---- Shared store state ----

// The in-memory state of a task that has pins or writers. Writers and pins
// hold it, so a deleted-and-recreated task never mixes with the old one.
struct LiveTask {
  int pins = 0;
  std::set<uint32_t> writing;  // pieces with a live writer
  bool deleted = false;        // the task (this incarnation) was removed

  bool Busy() const { return pins > 0 || !writing.empty(); }
};

// What reading and writing a task's pieces needs, kept in memory for the
// tasks in use, so that serving a piece touches neither SQLite nor open(2)
// and opening a writer opens nothing.
struct TaskView {
  uint64_t content_length = 0;
  uint32_t piece_length = 0;
  bool private_task = false;
  std::string grant_key;
  // The content file, read and written positionally by every handle and
  // writer of the task (they hold it, so eviction or deletion never closes
  // it under them). Read-only when every piece was recorded at load (no
  // writer needs it then).
  std::shared_ptr<const ScopedFd> file;
  std::vector<std::optional<Sha256Digest>> recorded;  // indexed by piece number
  std::atomic<uint64_t> last_used{0};                 // StoreCore::view_clock when last read

  uint32_t PieceCount() const { return static_cast<uint32_t>(recorded.size()); }
  // REQUIRES: number < PieceCount()
  uint64_t PieceOffset(uint32_t number) const { return uint64_t{number} * piece_length; }
  uint32_t PieceSize(uint32_t number) const {
    return static_cast<uint32_t>(
        std::min<uint64_t>(piece_length, content_length - PieceOffset(number)));
  }
};

// A content file moved out of the way, to unlink outside the lock.
struct Detached {
  std::string trash_path;  // empty if nothing is left to unlink
  uint64_t allocated_bytes = 0;
};

struct StoreCore {
  StoreCore(const StoreOptions& opts, Clock& clk, std::string root)
      : options(opts),
        clock(clk),
        dir(std::move(root)),
        content_dir(dir + "/content"),
        trash_dir(dir + "/trash") {}

  const StoreOptions options;
  Clock& clock;
  const std::string dir;  // options.dir without trailing slashes
  const std::string content_dir;
  const std::string trash_dir;

  ScopedFd lock_fd;  // declared before `db`: the lock is released after the db closes

  Mutex mu;  // taken before views_mu when both are
  SqliteDb db FL_GUARDED_BY(mu);
  std::unordered_map<std::string, std::shared_ptr<LiveTask>> live FL_GUARDED_BY(mu);
  uint64_t trash_seq FL_GUARDED_BY(mu) = 0;

  // Views of the tasks in use, at most kMaxViews (each holds a descriptor);
  // the least recently read goes first. The map and the views' contents
  // change only with both mu and views_mu (exclusive) held, so a view's
  // contents may be read under either; the piece-serving path takes only
  // views_mu, shared.
  static constexpr size_t kMaxViews = 256;
  SharedMutex views_mu;
  std::unordered_map<std::string, std::shared_ptr<TaskView>> views FL_GUARDED_BY(views_mu);
  std::atomic<uint64_t> view_clock{0};

  // The task's view if it is loaded, else null.
  TaskView* FindView(const std::string& task_id) FL_REQUIRES_SHARED(views_mu);

  // A handle on recorded piece `number`, or NotFound. REQUIRES: mu or
  // views_mu held (it reads the view's contents).
  Result<PieceReadHandle> HandleFor(const TaskView& view, const std::string& task_id,
                                    uint32_t number) const;

  // Writers' buffers, kept for the next writers: a fresh buffer per piece
  // means fresh pages to fault in, which costs more than the copy itself.
  std::vector<uint8_t> TakeWriteBuffer();
  void ReturnWriteBuffer(std::vector<uint8_t> buffer);
  Mutex buffers_mu;
  std::vector<std::vector<uint8_t>> spare_buffers FL_GUARDED_BY(buffers_mu);

  std::string ContentPath(const std::string& task_id) const {
    return content_dir + "/" + task_id.substr(0, 2) + "/" + task_id;
  }

  // ---- The rest needs mu held. ----

  Result<std::optional<TaskMeta>> LoadTask(const std::string& task_id) FL_REQUIRES(mu);

  Result<TaskMeta> LoadExistingTask(const std::string& task_id) FL_REQUIRES(mu);
  // Marks an existing task private and records a non-empty `grant_key`.
  Status SetAccess(const std::string& task_id, const std::string& grant_key) FL_REQUIRES(mu);

  // The task of the current row of a SELECT of kTaskColumns; Corruption
  // for a row DecodeTaskRow rejects.
  static Result<TaskMeta> ReadTask(const SqliteStatement& stmt);

  // The task's view, loaded from the metadata and opened if needed (evicting
  // the least recently read view beyond kMaxViews). NotFound for an unknown
  // task; Corruption if a piece row does not fit the task's geometry.
  Result<std::shared_ptr<TaskView>> LoadView(const std::string& task_id) FL_REQUIRES(mu)
      FL_EXCLUDES(views_mu);

  // Records `number` in the task's view, if one is loaded.
  void RecordInView(const std::string& task_id, uint32_t number, const Sha256Digest& digest)
      FL_REQUIRES(mu) FL_EXCLUDES(views_mu);

  // Updates the loaded view after SetAccess.
  void SetViewAccess(const std::string& task_id, const std::string& grant_key) FL_REQUIRES(mu)
      FL_EXCLUDES(views_mu);

  // The recorded pieces of the task, by number (none for an unknown task).
  Result<std::vector<PieceRecord>> LoadPieces(const std::string& task_id) FL_REQUIRES(mu);

  // The piece of the current row of a SELECT of number, byte_offset,
  // byte_length, digest; Corruption for a row DecodePieceRow rejects.
  Result<PieceRecord> ReadPiece(const SqliteStatement& stmt, const std::string& task_id)
      FL_REQUIRES(mu);

  std::shared_ptr<LiveTask> GetLive(const std::string& task_id) FL_REQUIRES(mu);

  const LiveTask* FindLive(const std::string& task_id) const FL_REQUIRES(mu);

  // Drops the map entry once nothing holds the task.
  void ReleaseLive(const std::string& task_id, const std::shared_ptr<LiveTask>& task)
      FL_REQUIRES(mu);

  // Removes the tasks' rows (and their pieces) in one transaction.
  Status DeleteRows(const std::vector<std::string>& task_ids) FL_REQUIRES(mu);

  // After the task's rows are gone: invalidates its live state and view, and
  // moves its content file into trash/ (or unlinks it if the rename fails).
  Result<Detached> Detach(const std::string& task_id) FL_REQUIRES(mu) FL_EXCLUDES(views_mu);

  // On open: removes what a crash between the steps of CreateTask or
  // DeleteTask left behind, and task rows DecodeTaskRow rejects (with
  // their pieces and, for a well-formed id, their content file).
  Status Recover() FL_REQUIRES(mu);
};

// ---- Pins and writers (piece_writer_file.cc) ----

class FileTaskPin final : public TaskPin {
 public:
  FileTaskPin(std::shared_ptr<StoreCore> core, std::string task_id, std::shared_ptr<LiveTask> live)
      : core_(std::move(core)), task_id_(std::move(task_id)), live_(std::move(live)) {}

  ~FileTaskPin() override;

 private:
  std::shared_ptr<StoreCore> core_;
  std::string task_id_;
  std::shared_ptr<LiveTask> live_;
};

class FilePieceWriter final : public PieceWriter {
 public:
  // `file` (the task's content file) is null when the piece is already
  // recorded (`recorded` set): the bytes are then only hashed and compared.
  FilePieceWriter(std::shared_ptr<StoreCore> core, std::string task_id,
                  std::shared_ptr<LiveTask> live, uint32_t number, uint64_t offset, uint32_t length,
                  std::shared_ptr<const ScopedFd> file, std::string path,
                  std::optional<Sha256Digest> recorded)
      : core_(std::move(core)),
        task_id_(std::move(task_id)),
        live_(std::move(live)),
        number_(number),
        offset_(offset),
        length_(length),
        file_(std::move(file)),
        path_(std::move(path)),
        recorded_(recorded) {}

  ~FilePieceWriter() override;

  Status Append(std::span<const uint8_t> data) override;

  uint64_t written() const override { return written_; }

  Result<Sha256Digest> Commit(const std::optional<Sha256Digest>& expected) override;

 private:
  Status CheckUsable() const;
  // Writes the buffered bytes at their place in the file.
  Status Flush();
  // Gives the buffer back to the store (nothing may be pending).
  void ReleaseBuffer();
  Status WriteAt(std::span<const uint8_t> data, uint64_t file_offset);

  const std::shared_ptr<StoreCore> core_;
  const std::string task_id_;
  const std::shared_ptr<LiveTask> live_;
  const uint32_t number_;
  const uint64_t offset_;
  const uint32_t length_;
  std::shared_ptr<const ScopedFd> file_;
  const std::string path_;
  const std::optional<Sha256Digest> recorded_;

  Sha256Hasher hasher_;
  // Bytes appended but not yet written: a network read gives a few KiB at a
  // time, and a page-cache write costs about five times more per byte at
  // 2 KiB than at 16 KiB and up, so they go to the file in large blocks.
  // Its memory is the store's (TakeWriteBuffer), held only from the first
  // byte gathered until the block is written.
  std::vector<uint8_t> pending_;
  uint64_t written_ = 0;
  bool committed_ = false;
  Status error_;  // the first I/O error; the writer is unusable after one
};

}  // namespace feilong::storage::internal
