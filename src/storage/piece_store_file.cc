#include "storage/piece_store_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <limits>
#include <mutex>
#include <system_error>
#include <utility>
#include <vector>

#include "storage/piece_store_internal.h"
#include "storage/sqlite_db.h"

namespace feilong::storage {

namespace {

// ---- Schema ----

// kMigrations[v] upgrades a database from user_version v to v + 1. Append new
// migrations; never edit a released one.
constexpr std::string_view kMigrations[] = {
    // v0 -> v1: tasks and their recorded pieces.
    R"sql(
CREATE TABLE tasks (
  task_id        TEXT PRIMARY KEY NOT NULL,
  url            TEXT NOT NULL,
  content_length INTEGER NOT NULL CHECK (content_length >= 0),
  piece_length   INTEGER NOT NULL CHECK (piece_length > 0),
  complete       INTEGER NOT NULL DEFAULT 0,
  created_at     INTEGER NOT NULL,
  accessed_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tasks_by_access ON tasks (accessed_at, created_at, task_id);
CREATE TABLE pieces (
  task_id     TEXT NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
  number      INTEGER NOT NULL,
  byte_offset INTEGER NOT NULL,
  byte_length INTEGER NOT NULL,
  digest      BLOB NOT NULL,
  PRIMARY KEY (task_id, number)
) WITHOUT ROWID;
)sql",
    // v1 -> v2: private tasks and the key that verifies their grants.
    R"sql(
ALTER TABLE tasks ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN grant_key BLOB NOT NULL DEFAULT x'';
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

Status Migrate(SqliteDb& db) {
  FL_ASSIGN_OR_RETURN(int version, db.UserVersion());
  if (version > kSchemaVersion) {
    return Status::FailedPrecondition(db.path() + " has schema version " + std::to_string(version) +
                                      ", newer than the supported " +
                                      std::to_string(kSchemaVersion));
  }
  while (version < kSchemaVersion) {
    FL_ASSIGN_OR_RETURN(SqliteTransaction tx, SqliteTransaction::Begin(db));
    FL_RETURN_IF_ERROR(db.Exec(kMigrations[version]));
    FL_RETURN_IF_ERROR(db.SetUserVersion(version + 1));
    FL_RETURN_IF_ERROR(tx.Commit());
    ++version;
  }
  return Status::Ok();
}

}  // namespace

using internal::AllocatedBytes;
using internal::kTaskColumns;
using internal::LiveTask;
using internal::MakeDir;
using internal::OpenFile;
using internal::PieceName;
using internal::StatvfsUsage;
using internal::StoreCore;
using internal::SyncDir;
using internal::TaskNotFound;
using internal::TaskView;

// ---- FilePieceStore ----

Result<std::unique_ptr<FilePieceStore>> FilePieceStore::Open(const StoreOptions& options,
                                                             Clock& clock) {
  if (options.dir.empty()) {
    return Status::InvalidArgument("piece store: dir is empty");
  }
  const std::string context = "piece store " + options.dir;
  if (!(options.low_watermark >= 0 && options.low_watermark <= options.high_watermark &&
        options.high_watermark <= 1)) {
    return Status::InvalidArgument(context + ": want 0 <= low_watermark (" +
                                   std::to_string(options.low_watermark) + ") <= high_watermark (" +
                                   std::to_string(options.high_watermark) + ") <= 1");
  }
  if (options.task_ttl.count() < 0) {
    return Status::InvalidArgument(context + ": task_ttl is negative");
  }

  std::string dir = options.dir;
  while (dir.size() > 1 && dir.back() == '/') {
    dir.pop_back();
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Status::FromErrno(ec.value(), context);
  }
  auto core = std::make_shared<StoreCore>(options, clock, dir);
  FL_RETURN_IF_ERROR(MakeDir(core->content_dir).WithContext(context));
  FL_RETURN_IF_ERROR(MakeDir(core->trash_dir).WithContext(context));

  std::string lock_path = dir + "/LOCK";
  auto lock_fd = OpenFile(lock_path, O_RDWR | O_CREAT, 0644);
  if (!lock_fd.ok()) {
    return lock_fd.status().WithContext(context);
  }
  if (::flock(lock_fd->get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::FailedPrecondition(context + ": in use by another piece store (" + lock_path +
                                        " is locked)");
    }
    return Status::FromErrno(errno, "lock " + lock_path).WithContext(context);
  }
  core->lock_fd = std::move(lock_fd).value();

  auto db = SqliteDb::Open(dir + "/metadata.db");
  if (!db.ok()) {
    return db.status().WithContext(context);
  }
  {
    MutexLock lock(core->mu);
    core->db = std::move(db).value();
    FL_RETURN_IF_ERROR(Migrate(core->db).WithContext(context));
    FL_RETURN_IF_ERROR(core->Recover().WithContext(context));
  }
  return std::unique_ptr<FilePieceStore>(new FilePieceStore(std::move(core)));
}

FilePieceStore::FilePieceStore(std::shared_ptr<StoreCore> core) : core_(std::move(core)) {}

FilePieceStore::~FilePieceStore() = default;

std::string FilePieceStore::ContentPath(const std::string& task_id) const {
  if (!ValidateTaskId(task_id).ok()) {
    return "";
  }
  return core_->ContentPath(task_id);
}

Status FilePieceStore::CreateTask(const TaskMeta& meta) {
  const std::string& id = meta.task_id;
  FL_RETURN_IF_ERROR(ValidateTaskId(id));
  if (meta.piece_length == 0) {
    return Status::InvalidArgument("task " + id + ": piece_length is 0");
  }
  if (meta.content_length > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
      (meta.content_length + meta.piece_length - 1) / meta.piece_length >
          std::numeric_limits<uint32_t>::max()) {
    return Status::InvalidArgument("task " + id + ": content_length " +
                                   std::to_string(meta.content_length) + " with piece_length " +
                                   std::to_string(meta.piece_length) + " is too large");
  }

  MutexLock lock(core_->mu);
  FL_ASSIGN_OR_RETURN(std::optional<TaskMeta> existing, core_->LoadTask(id));
  if (existing) {
    if (existing->content_length == meta.content_length &&
        existing->piece_length == meta.piece_length) {
      return meta.private_task ? core_->SetAccess(id, meta.grant_key) : Status::Ok();
    }
    return Status::FailedPrecondition(
        "task " + id + " exists with content_length " + std::to_string(existing->content_length) +
        " and piece_length " + std::to_string(existing->piece_length) + ", not " +
        std::to_string(meta.content_length) + " and " + std::to_string(meta.piece_length));
  }

  // The content file first, then the row: a crash in between leaves a file
  // without a task, which Open() removes.
  std::string sub_dir = core_->content_dir + "/" + id.substr(0, 2);
  FL_RETURN_IF_ERROR(MakeDir(sub_dir));
  std::string path = core_->ContentPath(id);
  FL_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(path, O_RDWR | O_CREAT | O_TRUNC, 0644));
  Status status;
  if (::ftruncate(fd.get(), static_cast<off_t>(meta.content_length)) != 0) {
    status =
        Status::FromErrno(errno, "size " + path + " to " + std::to_string(meta.content_length));
  }
  if (status.ok() && core_->options.fsync_pieces) {
    if (::fsync(fd.get()) != 0) {
      status = Status::FromErrno(errno, "fsync " + path);
    }
    if (status.ok()) {
      status = SyncDir(sub_dir);
    }
    if (status.ok()) {
      status = SyncDir(core_->content_dir);
    }
  }
  fd.Reset(-1);
  if (status.ok()) {
    int64_t now = core_->clock.NowUnixSeconds();
    // The metadata is passed in: the lock analysis does not follow a lambda.
    auto insert = [&](SqliteDb& db) -> Status {
      FL_ASSIGN_OR_RETURN(SqliteStatement stmt,
                          db.Prepare("INSERT INTO tasks (" + std::string(kTaskColumns) +
                                     ") VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5, ?6, ?7)"));
      FL_RETURN_IF_ERROR(stmt.BindText(1, id));
      FL_RETURN_IF_ERROR(stmt.BindText(2, meta.url));
      FL_RETURN_IF_ERROR(stmt.BindInt64(3, static_cast<int64_t>(meta.content_length)));
      FL_RETURN_IF_ERROR(stmt.BindInt64(4, meta.piece_length));
      FL_RETURN_IF_ERROR(stmt.BindInt64(5, now));
      FL_RETURN_IF_ERROR(stmt.BindInt64(6, meta.private_task ? 1 : 0));
      FL_RETURN_IF_ERROR(
          stmt.BindBlob(7, std::span(reinterpret_cast<const uint8_t*>(meta.grant_key.data()),
                                     meta.private_task ? meta.grant_key.size() : 0)));
      return stmt.Run();
    };
    status = insert(core_->db);
  }
  if (!status.ok()) {
    ::unlink(path.c_str());
  }
  return status;
}

Status FilePieceStore::SetTaskAccess(const std::string& task_id, const std::string& grant_key) {
  FL_RETURN_IF_ERROR(ValidateTaskId(task_id));
  MutexLock lock(core_->mu);
  FL_RETURN_IF_ERROR(core_->LoadExistingTask(task_id).status());
  return core_->SetAccess(task_id, grant_key);
}

Result<TaskMeta> FilePieceStore::GetTask(const std::string& task_id) {
  FL_RETURN_IF_ERROR(ValidateTaskId(task_id));
  MutexLock lock(core_->mu);
  return core_->LoadExistingTask(task_id);
}

Result<std::vector<TaskMeta>> FilePieceStore::ListTasks() {
  MutexLock lock(core_->mu);
  FL_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      core_->db.Prepare("SELECT " + std::string(kTaskColumns) + " FROM tasks ORDER BY task_id"));
  std::vector<TaskMeta> tasks;
  while (true) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) {
      break;
    }
    Result<TaskMeta> meta = StoreCore::ReadTask(stmt);
    if (!meta.ok()) {
      return meta.status().WithContext(core_->db.path());
    }
    tasks.push_back(*std::move(meta));
  }
  return tasks;
}

Status FilePieceStore::DeleteTask(const std::string& task_id) {
  FL_RETURN_IF_ERROR(ValidateTaskId(task_id));
  internal::Detached detached;
  {
    MutexLock lock(core_->mu);
    FL_ASSIGN_OR_RETURN(std::optional<TaskMeta> meta, core_->LoadTask(task_id));
    if (!meta) {
      return TaskNotFound(task_id);
    }
    const LiveTask* live = core_->FindLive(task_id);
    if (live != nullptr && live->pins > 0) {
      return Status::FailedPrecondition("task " + task_id + " is pinned (" +
                                        std::to_string(live->pins) + " pins)");
    }
    FL_RETURN_IF_ERROR(core_->DeleteRows({task_id}));
    FL_ASSIGN_OR_RETURN(detached, core_->Detach(task_id));
  }
  if (!detached.trash_path.empty()) {
    ::unlink(detached.trash_path.c_str());  // a failure is retried by the next Open()
  }
  return Status::Ok();
}

Status FilePieceStore::Touch(const std::string& task_id) {
  FL_RETURN_IF_ERROR(ValidateTaskId(task_id));
  MutexLock lock(core_->mu);
  FL_ASSIGN_OR_RETURN(SqliteStatement stmt,
                      core_->db.Prepare("UPDATE tasks SET accessed_at = ?1 WHERE task_id = ?2"));
  FL_RETURN_IF_ERROR(stmt.BindInt64(1, core_->clock.NowUnixSeconds()));
  FL_RETURN_IF_ERROR(stmt.BindText(2, task_id));
  FL_RETURN_IF_ERROR(stmt.Run());
  if (core_->db.Changes() == 0) {
    return TaskNotFound(task_id);
  }
  return Status::Ok();
}

Status FilePieceStore::MarkComplete(const std::string& task_id) {
  FL_RETURN_IF_ERROR(ValidateTaskId(task_id));
  MutexLock lock(core_->mu);
  FL_ASSIGN_OR_RETURN(TaskMeta meta, core_->LoadExistingTask(task_id));
  FL_ASSIGN_OR_RETURN(SqliteStatement count,
                      core_->db.Prepare("SELECT COUNT(*) FROM pieces WHERE task_id = ?1"));
  FL_RETURN_IF_ERROR(count.BindText(1, task_id));
  FL_ASSIGN_OR_RETURN(bool row, count.Step());
  int64_t recorded = row ? count.ColumnInt64(0) : 0;
  if (recorded != int64_t{meta.PieceCount()}) {
    return Status::FailedPrecondition("task " + task_id + " has " + std::to_string(recorded) +
                                      " of " + std::to_string(meta.PieceCount()) + " pieces");
  }
  FL_ASSIGN_OR_RETURN(SqliteStatement update,
                      core_->db.Prepare("UPDATE tasks SET complete = 1 WHERE task_id = ?1"));
  FL_RETURN_IF_ERROR(update.BindText(1, task_id));
  return update.Run();
}

Result<std::vector<PieceRecord>> FilePieceStore::ListPieces(const std::string& task_id) {
  FL_RETURN_IF_ERROR(ValidateTaskId(task_id));
  {
    ReaderLock lock(core_->views_mu);
    if (const TaskView* view = core_->FindView(task_id)) {
      std::vector<PieceRecord> pieces;
      for (uint32_t number = 0; number < view->PieceCount(); ++number) {
        if (const std::optional<Sha256Digest>& digest = view->recorded[number]) {
          pieces.push_back({number, view->PieceOffset(number), view->PieceSize(number), *digest});
        }
      }
      return pieces;
    }
  }
  // Not in use: read the metadata rather than load a view, so listing every
  // task (ListTasks) does not push the views of the tasks being served out.
  MutexLock lock(core_->mu);
  FL_ASSIGN_OR_RETURN(std::optional<TaskMeta> meta, core_->LoadTask(task_id));
  if (!meta) {
    return TaskNotFound(task_id);
  }
  return core_->LoadPieces(task_id);
}

bool FilePieceStore::HasPiece(const std::string& task_id, uint32_t number) {
  if (ValidateTaskId(task_id).ok()) {
    // A loaded view answers without making a handle (the mirror asks on
    // every progress change).
    ReaderLock lock(core_->views_mu);
    if (const TaskView* view = core_->FindView(task_id)) {
      return number < view->PieceCount() && view->recorded[number].has_value();
    }
  }
  return OpenPiece(task_id, number).ok();
}

Result<std::unique_ptr<PieceWriter>> FilePieceStore::OpenPieceWriter(const std::string& task_id,
                                                                     uint32_t number) {
  FL_RETURN_IF_ERROR(ValidateTaskId(task_id));
  MutexLock lock(core_->mu);
  FL_ASSIGN_OR_RETURN(std::shared_ptr<TaskView> view, core_->LoadView(task_id));
  if (number >= view->PieceCount()) {
    return Status::InvalidArgument(PieceName(task_id, number) + " is out of range: the task has " +
                                   std::to_string(view->PieceCount()) + " pieces");
  }
  const LiveTask* existing = core_->FindLive(task_id);
  if (existing != nullptr && existing->writing.contains(number)) {
    return Status::FailedPrecondition(PieceName(task_id, number) + " is already being written");
  }
  const std::optional<Sha256Digest> recorded = view->recorded[number];
  std::shared_ptr<LiveTask> live = core_->GetLive(task_id);
  live->writing.insert(number);
  return std::unique_ptr<PieceWriter>(new internal::FilePieceWriter(
      core_, task_id, std::move(live), number, view->PieceOffset(number), view->PieceSize(number),
      recorded ? nullptr : view->file, core_->ContentPath(task_id), recorded));
}

Result<PieceReadHandle> FilePieceStore::OpenPiece(const std::string& task_id, uint32_t number) {
  FL_RETURN_IF_ERROR(ValidateTaskId(task_id));
  {
    // The hot path: a loaded view, under the views' shared lock only.
    ReaderLock lock(core_->views_mu);
    if (const TaskView* view = core_->FindView(task_id)) {
      return core_->HandleFor(*view, task_id, number);
    }
  }
  MutexLock lock(core_->mu);
  FL_ASSIGN_OR_RETURN(std::shared_ptr<TaskView> view, core_->LoadView(task_id));
  return core_->HandleFor(*view, task_id, number);
}

Result<std::unique_ptr<TaskPin>> FilePieceStore::Pin(const std::string& task_id) {
  FL_RETURN_IF_ERROR(ValidateTaskId(task_id));
  MutexLock lock(core_->mu);
  FL_ASSIGN_OR_RETURN(std::optional<TaskMeta> meta, core_->LoadTask(task_id));
  if (!meta) {
    return TaskNotFound(task_id);
  }
  std::shared_ptr<LiveTask> live = core_->GetLive(task_id);
  ++live->pins;
  return std::unique_ptr<TaskPin>(new internal::FileTaskPin(core_, task_id, std::move(live)));
}

Result<PieceStore::GcReport> FilePieceStore::Gc() {
  // Disk usage first, without the lock (statvfs or the test seam).
  Result<DiskUsage> usage =
      core_->options.disk_usage ? core_->options.disk_usage() : StatvfsUsage(core_->dir);
  if (!usage.ok()) {
    return usage.status().WithContext("piece store " + core_->dir + ": gc");
  }

  GcReport report;
  std::vector<internal::Detached> detached;
  {
    MutexLock lock(core_->mu);
    const int64_t cutoff = core_->clock.NowUnixSeconds() - core_->options.task_ttl.count();

    struct Candidate {
      std::string id;
      bool expired;
    };
    std::vector<Candidate> candidates;  // unpinned, without writers; LRU first
    {
      FL_ASSIGN_OR_RETURN(SqliteStatement stmt,
                          core_->db.Prepare("SELECT task_id, accessed_at FROM tasks "
                                            "ORDER BY accessed_at, created_at, task_id"));
      while (true) {
        FL_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) {
          break;
        }
        std::string id = stmt.ColumnText(0);
        if (!ValidateTaskId(id).ok()) {
          continue;  // never a path: Open() drops such rows
        }
        const LiveTask* live = core_->FindLive(id);
        if (live != nullptr && live->Busy()) {
          continue;
        }
        candidates.push_back({std::move(id), stmt.ColumnInt64(1) <= cutoff});
      }
    }

    std::vector<std::string> victims;
    uint64_t planned = 0;  // allocated bytes of the victims' content files
    for (const Candidate& c : candidates) {
      if (c.expired) {
        victims.push_back(c.id);
        planned += AllocatedBytes(core_->ContentPath(c.id));
      }
    }
    const double capacity = static_cast<double>(usage->capacity_bytes);
    const double used = static_cast<double>(usage->used_bytes);
    if (usage->capacity_bytes > 0 && used > core_->options.high_watermark * capacity) {
      const double target = core_->options.low_watermark * capacity;
      for (const Candidate& c : candidates) {
        if (used - static_cast<double>(planned) <= target) {
          break;
        }
        if (!c.expired) {
          victims.push_back(c.id);
          planned += AllocatedBytes(core_->ContentPath(c.id));
        }
      }
    }

    FL_RETURN_IF_ERROR(core_->DeleteRows(victims));
    for (const std::string& id : victims) {
      ++report.tasks_removed;
      // A file that cannot be moved or removed stays an orphan for Open().
      Result<internal::Detached> d = core_->Detach(id);
      if (d.ok()) {
        report.bytes_freed += d->allocated_bytes;
        detached.push_back(std::move(d).value());
      }
    }
  }
  for (const internal::Detached& d : detached) {
    if (!d.trash_path.empty()) {
      ::unlink(d.trash_path.c_str());
    }
  }
  return report;
}

}  // namespace feilong::storage
