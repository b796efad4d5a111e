#include "storage/piece_store_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

namespace feilong::storage::internal {

// ---- Small POSIX helpers ----

Result<ScopedFd> OpenFile(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    return Status::FromErrno(errno, "open " + path);
  }
  return ScopedFd(fd);
}

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "create directory " + path);
  }
  return Status::Ok();
}

Status SyncDir(const std::string& path) {
  FL_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(path, O_RDONLY | O_DIRECTORY));
  if (::fsync(fd.get()) != 0) {
    return Status::FromErrno(errno, "fsync " + path);
  }
  return Status::Ok();
}

// Writes all of `data` at `offset`, retrying on EINTR and short writes.
// Returns 0 or an errno value.
int PwriteAll(int fd, std::span<const uint8_t> data, uint64_t offset) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    if (n == 0) {
      return EIO;  // no progress; should not happen for a regular file
    }
    data = data.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return 0;
}

// Allocated bytes of the file at `path` (0 if it cannot be stat'ed).
uint64_t AllocatedBytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return 0;
  }
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

// Names of the entries of `dir` except "." and ".." (empty if unreadable).
std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return names;
  }
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name != "." && name != "..") {
      names.emplace_back(name);
    }
  }
  ::closedir(d);
  return names;
}

Result<DiskUsage> StatvfsUsage(const std::string& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) {
    return Status::FromErrno(errno, "statvfs " + dir);
  }
  DiskUsage usage;
  usage.capacity_bytes = uint64_t{st.f_blocks} * st.f_frsize;
  uint64_t available = uint64_t{st.f_bavail} * st.f_frsize;
  usage.used_bytes = usage.capacity_bytes > available ? usage.capacity_bytes - available : 0;
  return usage;
}

std::string PieceName(const std::string& task_id, uint32_t number) {
  return "piece " + std::to_string(number) + " of task " + task_id;
}

Status TaskNotFound(const std::string& task_id) {
  return Status::NotFound("task " + task_id + " is not in the piece store");
}

// ---- StoreCore ----

Result<std::optional<TaskMeta>> StoreCore::LoadTask(const std::string& task_id) {
  FL_ASSIGN_OR_RETURN(SqliteStatement stmt, db.Prepare("SELECT " + std::string(kTaskColumns) +
                                                       " FROM tasks WHERE task_id = ?1"));
  FL_RETURN_IF_ERROR(stmt.BindText(1, task_id));
  FL_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) {
    return std::optional<TaskMeta>();
  }
  Result<TaskMeta> meta = ReadTask(stmt);
  if (!meta.ok()) {
    return meta.status().WithContext(db.path());
  }
  return std::optional<TaskMeta>(*std::move(meta));
}

Result<TaskMeta> StoreCore::LoadExistingTask(const std::string& task_id) {
  FL_ASSIGN_OR_RETURN(std::optional<TaskMeta> meta, LoadTask(task_id));
  if (!meta) {
    return TaskNotFound(task_id);
  }
  return *std::move(meta);
}

Result<TaskMeta> StoreCore::ReadTask(const SqliteStatement& stmt) {
  TaskRow row;
  row.task_id = stmt.ColumnText(0);
  row.url = stmt.ColumnText(1);
  row.content_length = stmt.ColumnInt64(2);
  row.piece_length = stmt.ColumnInt64(3);
  row.complete = stmt.ColumnInt64(4);
  row.created_at = stmt.ColumnInt64(5);
  row.accessed_at = stmt.ColumnInt64(6);
  row.private_task = stmt.ColumnInt64(7);
  std::span<const uint8_t> key = stmt.ColumnBlob(8);
  row.grant_key.assign(reinterpret_cast<const char*>(key.data()), key.size());
  return DecodeTaskRow(row);
}

Status StoreCore::SetAccess(const std::string& task_id, const std::string& grant_key) {
  FL_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db.Prepare(grant_key.empty()
                     ? "UPDATE tasks SET private = 1 WHERE task_id = ?1"
                     : "UPDATE tasks SET private = 1, grant_key = ?2 WHERE task_id = ?1"));
  FL_RETURN_IF_ERROR(stmt.BindText(1, task_id));
  if (!grant_key.empty()) {
    FL_RETURN_IF_ERROR(stmt.BindBlob(
        2, std::span(reinterpret_cast<const uint8_t*>(grant_key.data()), grant_key.size())));
  }
  FL_RETURN_IF_ERROR(stmt.Run());
  SetViewAccess(task_id, grant_key);
  return Status::Ok();
}

TaskView* StoreCore::FindView(const std::string& task_id) {
  auto it = views.find(task_id);
  if (it == views.end()) {
    return nullptr;
  }
  it->second->last_used.store(++view_clock, std::memory_order_relaxed);
  return it->second.get();
}

Result<PieceReadHandle> StoreCore::HandleFor(const TaskView& view, const std::string& task_id,
                                             uint32_t number) const {
  if (number >= view.PieceCount() || !view.recorded[number]) {
    return Status::NotFound(PieceName(task_id, number) + " is not recorded");
  }
  PieceReadHandle handle;
  handle.file = view.file;
  handle.offset = view.PieceOffset(number);
  handle.length = view.PieceSize(number);
  handle.digest = *view.recorded[number];
  handle.private_task = view.private_task;
  handle.grant_key = view.grant_key;
  return handle;
}

Result<std::shared_ptr<TaskView>> StoreCore::LoadView(const std::string& task_id) {
  {
    ReaderLock lock(views_mu);
    if (auto it = views.find(task_id); it != views.end()) {
      it->second->last_used.store(++view_clock, std::memory_order_relaxed);
      return it->second;
    }
  }
  // Loaded from the metadata under mu; published under views_mu.
  FL_ASSIGN_OR_RETURN(TaskMeta meta, LoadExistingTask(task_id));
  auto view = std::make_shared<TaskView>();
  view->content_length = meta.content_length;
  view->piece_length = meta.piece_length;
  view->private_task = meta.private_task;
  view->grant_key = std::move(meta.grant_key);
  view->recorded.resize(meta.PieceCount());
  {
    FL_ASSIGN_OR_RETURN(std::vector<PieceRecord> pieces, LoadPieces(task_id));
    for (const PieceRecord& record : pieces) {
      if (record.number >= view->PieceCount() ||
          record.offset != view->PieceOffset(record.number) ||
          record.length != view->PieceSize(record.number)) {
        return Status::Corruption(db.path() + ": " + PieceName(task_id, record.number) +
                                  " is recorded at offset " + std::to_string(record.offset) +
                                  " with length " + std::to_string(record.length) +
                                  ", outside the task's geometry");
      }
      view->recorded[record.number] = record.digest;
    }
  }
  // A task with every piece recorded is only read, and its file may be
  // read-only (outputs hard-linked to it are made 0444): open it so.
  const bool complete = std::all_of(view->recorded.begin(), view->recorded.end(),
                                    [](const auto& digest) { return digest.has_value(); });
  FL_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(ContentPath(task_id), complete ? O_RDONLY : O_RDWR));
  view->file = std::make_shared<const ScopedFd>(std::move(fd));
  view->last_used.store(++view_clock, std::memory_order_relaxed);

  MutexLock lock(views_mu);
  if (views.size() >= kMaxViews) {
    auto oldest = views.begin();
    for (auto it = views.begin(); it != views.end(); ++it) {
      if (it->second->last_used.load(std::memory_order_relaxed) <
          oldest->second->last_used.load(std::memory_order_relaxed)) {
        oldest = it;
      }
    }
    views.erase(oldest);
  }
  views.emplace(task_id, view);
  return view;
}

void StoreCore::RecordInView(const std::string& task_id, uint32_t number,
                             const Sha256Digest& digest) {
  MutexLock lock(views_mu);
  auto it = views.find(task_id);
  if (it != views.end() && number < it->second->PieceCount()) {
    it->second->recorded[number] = digest;
  }
}

void StoreCore::SetViewAccess(const std::string& task_id, const std::string& grant_key) {
  MutexLock lock(views_mu);
  auto it = views.find(task_id);
  if (it != views.end()) {
    it->second->private_task = true;
    if (!grant_key.empty()) {
      it->second->grant_key = grant_key;
    }
  }
}

Result<std::vector<PieceRecord>> StoreCore::LoadPieces(const std::string& task_id) {
  FL_ASSIGN_OR_RETURN(SqliteStatement stmt,
                      db.Prepare("SELECT number, byte_offset, byte_length, digest FROM pieces "
                                 "WHERE task_id = ?1 ORDER BY number"));
  FL_RETURN_IF_ERROR(stmt.BindText(1, task_id));
  std::vector<PieceRecord> pieces;
  while (true) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) {
      break;
    }
    FL_ASSIGN_OR_RETURN(PieceRecord record, ReadPiece(stmt, task_id));
    pieces.push_back(record);
  }
  return pieces;
}

Result<PieceRecord> StoreCore::ReadPiece(const SqliteStatement& stmt, const std::string& task_id) {
  PieceRow row;
  row.number = stmt.ColumnInt64(0);
  row.byte_offset = stmt.ColumnInt64(1);
  row.byte_length = stmt.ColumnInt64(2);
  row.digest = stmt.ColumnBlob(3);
  Result<PieceRecord> record = DecodePieceRow(row, task_id);
  if (!record.ok()) {
    return record.status().WithContext(db.path());
  }
  return record;
}

std::shared_ptr<LiveTask> StoreCore::GetLive(const std::string& task_id) {
  std::shared_ptr<LiveTask>& entry = live[task_id];
  if (!entry) {
    entry = std::make_shared<LiveTask>();
  }
  return entry;
}

const LiveTask* StoreCore::FindLive(const std::string& task_id) const {
  auto it = live.find(task_id);
  return it == live.end() ? nullptr : it->second.get();
}

void StoreCore::ReleaseLive(const std::string& task_id, const std::shared_ptr<LiveTask>& task) {
  if (task->Busy()) {
    return;
  }
  auto it = live.find(task_id);
  if (it != live.end() && it->second == task) {
    live.erase(it);
  }
}

Status StoreCore::DeleteRows(const std::vector<std::string>& task_ids) {
  if (task_ids.empty()) {
    return Status::Ok();
  }
  FL_ASSIGN_OR_RETURN(SqliteTransaction tx, SqliteTransaction::Begin(db));
  FL_ASSIGN_OR_RETURN(SqliteStatement stmt, db.Prepare("DELETE FROM tasks WHERE task_id = ?1"));
  for (const std::string& id : task_ids) {
    FL_RETURN_IF_ERROR(stmt.Reset());
    FL_RETURN_IF_ERROR(stmt.BindText(1, id));
    FL_RETURN_IF_ERROR(stmt.Run());
  }
  return tx.Commit();
}

Result<Detached> StoreCore::Detach(const std::string& task_id) {
  auto it = live.find(task_id);
  if (it != live.end()) {
    it->second->deleted = true;
    live.erase(it);
  }
  {
    MutexLock lock(views_mu);
    views.erase(task_id);
  }
  Detached result;
  std::string path = ContentPath(task_id);
  result.allocated_bytes = AllocatedBytes(path);
  std::string trash = trash_dir + "/" + task_id + "." + std::to_string(trash_seq++);
  if (::rename(path.c_str(), trash.c_str()) == 0) {
    result.trash_path = std::move(trash);
    return result;
  }
  if (errno == ENOENT) {
    result.allocated_bytes = 0;
    return result;
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno(errno, "remove " + path);
  }
  return result;
}

Status StoreCore::Recover() {
  for (const std::string& name : ListDir(trash_dir)) {
    ::unlink((trash_dir + "/" + name).c_str());
  }
  std::unordered_set<std::string> ids;
  // Rows DecodeTaskRow rejects (a damaged database): dropped below, and
  // their content files (if the id is well formed) go with the orphans.
  std::vector<std::string> lost;
  {
    FL_ASSIGN_OR_RETURN(SqliteStatement stmt,
                        db.Prepare("SELECT " + std::string(kTaskColumns) + " FROM tasks"));
    while (true) {
      FL_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) {
        break;
      }
      Result<TaskMeta> meta = ReadTask(stmt);
      if (meta.ok()) {
        ids.insert(meta->task_id);
      } else {
        lost.push_back(stmt.ColumnText(0));
      }
    }
  }
  // Content files without a task: a crash inside CreateTask (file made,
  // row not yet) or DeleteTask (row gone, file not yet).
  for (const std::string& sub : ListDir(content_dir)) {
    std::string sub_dir = content_dir + "/" + sub;
    for (const std::string& name : ListDir(sub_dir)) {
      if (ValidateTaskId(name).ok() && name.compare(0, 2, sub) == 0 && !ids.contains(name)) {
        ::unlink((sub_dir + "/" + name).c_str());
      }
    }
  }
  // Tasks without a content file: their pieces cannot be served.
  for (const std::string& id : ids) {
    struct stat st {};
    if (::stat(ContentPath(id).c_str(), &st) != 0 && errno == ENOENT) {
      lost.push_back(id);
    }
  }
  return DeleteRows(lost);
}

}  // namespace feilong::storage::internal
