#include "storage/piece_store_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <set>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

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
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

constexpr std::string_view kTaskColumns =
    "task_id, url, content_length, piece_length, complete, created_at, accessed_at";

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

// ---- Small POSIX helpers ----

// An owned file descriptor.
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept {
    if (this != &other) {
      Reset(std::exchange(other.fd_, -1));
    }
    return *this;
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { Reset(-1); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

Result<ScopedFd> OpenFile(const std::string& path, int flags, mode_t mode = 0) {
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

}  // namespace

Status ValidateTaskId(std::string_view task_id) {
  bool ok = task_id.size() == 64;
  for (size_t i = 0; ok && i < task_id.size(); ++i) {
    char c = task_id[i];
    ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }
  if (ok) {
    return Status::Ok();
  }
  // Quote at most a prefix: the id may be long or hostile.
  std::string shown(task_id.substr(0, 80));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      c = '?';
    }
  }
  return Status::InvalidArgument("invalid task id '" + shown +
                                 "': want 64 lowercase hex characters");
}

namespace internal {

// The in-memory state of a task that has pins or writers. Writers and pins
// hold it, so a deleted-and-recreated task never mixes with the old one.
struct LiveTask {
  int pins = 0;
  std::set<uint32_t> writing;  // pieces with a live writer
  bool deleted = false;        // the task (this incarnation) was removed

  bool Busy() const { return pins > 0 || !writing.empty(); }
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

  std::mutex mu;
  SqliteDb db;                                                      // guarded by mu
  std::unordered_map<std::string, std::shared_ptr<LiveTask>> live;  // guarded by mu
  uint64_t trash_seq = 0;                                           // guarded by mu

  std::string ContentPath(const std::string& task_id) const {
    return content_dir + "/" + task_id.substr(0, 2) + "/" + task_id;
  }

  // ---- The rest REQUIRES mu held. ----

  Result<std::optional<TaskMeta>> LoadTask(const std::string& task_id) {
    FL_ASSIGN_OR_RETURN(SqliteStatement stmt, db.Prepare("SELECT " + std::string(kTaskColumns) +
                                                         " FROM tasks WHERE task_id = ?1"));
    FL_RETURN_IF_ERROR(stmt.BindText(1, task_id));
    FL_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) {
      return std::optional<TaskMeta>();
    }
    return std::optional<TaskMeta>(ReadTask(stmt));
  }

  Result<TaskMeta> LoadExistingTask(const std::string& task_id) {
    FL_ASSIGN_OR_RETURN(std::optional<TaskMeta> meta, LoadTask(task_id));
    if (!meta) {
      return TaskNotFound(task_id);
    }
    return *std::move(meta);
  }

  static TaskMeta ReadTask(const SqliteStatement& stmt) {
    TaskMeta meta;
    meta.task_id = stmt.ColumnText(0);
    meta.url = stmt.ColumnText(1);
    meta.content_length = static_cast<uint64_t>(stmt.ColumnInt64(2));
    meta.piece_length = static_cast<uint32_t>(stmt.ColumnInt64(3));
    meta.complete = stmt.ColumnInt64(4) != 0;
    meta.created_at_unix = stmt.ColumnInt64(5);
    meta.accessed_at_unix = stmt.ColumnInt64(6);
    return meta;
  }

  // The recorded piece, or nullopt.
  Result<std::optional<PieceRecord>> LoadPiece(const std::string& task_id, uint32_t number) {
    FL_ASSIGN_OR_RETURN(SqliteStatement stmt,
                        db.Prepare("SELECT number, byte_offset, byte_length, digest FROM pieces "
                                   "WHERE task_id = ?1 AND number = ?2"));
    FL_RETURN_IF_ERROR(stmt.BindText(1, task_id));
    FL_RETURN_IF_ERROR(stmt.BindInt64(2, number));
    FL_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) {
      return std::optional<PieceRecord>();
    }
    FL_ASSIGN_OR_RETURN(PieceRecord record, ReadPiece(stmt, task_id));
    return std::optional<PieceRecord>(record);
  }

  Result<PieceRecord> ReadPiece(const SqliteStatement& stmt, const std::string& task_id) {
    PieceRecord record;
    record.number = static_cast<uint32_t>(stmt.ColumnInt64(0));
    record.offset = static_cast<uint64_t>(stmt.ColumnInt64(1));
    record.length = static_cast<uint32_t>(stmt.ColumnInt64(2));
    std::span<const uint8_t> digest = stmt.ColumnBlob(3);
    if (digest.size() != record.digest.size()) {
      return Status::Corruption(db.path() + ": " + PieceName(task_id, record.number) + " has a " +
                                std::to_string(digest.size()) + "-byte digest");
    }
    std::memcpy(record.digest.data(), digest.data(), digest.size());
    return record;
  }

  std::shared_ptr<LiveTask> GetLive(const std::string& task_id) {
    std::shared_ptr<LiveTask>& entry = live[task_id];
    if (!entry) {
      entry = std::make_shared<LiveTask>();
    }
    return entry;
  }

  const LiveTask* FindLive(const std::string& task_id) const {
    auto it = live.find(task_id);
    return it == live.end() ? nullptr : it->second.get();
  }

  // Drops the map entry once nothing holds the task.
  void ReleaseLive(const std::string& task_id, const std::shared_ptr<LiveTask>& task) {
    if (task->Busy()) {
      return;
    }
    auto it = live.find(task_id);
    if (it != live.end() && it->second == task) {
      live.erase(it);
    }
  }

  // Removes the tasks' rows (and their pieces) in one transaction.
  Status DeleteRows(const std::vector<std::string>& task_ids) {
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

  // After the task's rows are gone: invalidates its live state and moves its
  // content file into trash/ (or unlinks it if the rename fails).
  Result<Detached> Detach(const std::string& task_id) {
    auto it = live.find(task_id);
    if (it != live.end()) {
      it->second->deleted = true;
      live.erase(it);
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

  // On open: removes what a crash between the steps of CreateTask or
  // DeleteTask left behind.
  Status Recover() {
    for (const std::string& name : ListDir(trash_dir)) {
      ::unlink((trash_dir + "/" + name).c_str());
    }
    std::unordered_set<std::string> ids;
    {
      FL_ASSIGN_OR_RETURN(SqliteStatement stmt, db.Prepare("SELECT task_id FROM tasks"));
      while (true) {
        FL_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) {
          break;
        }
        ids.insert(stmt.ColumnText(0));
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
    std::vector<std::string> lost;
    for (const std::string& id : ids) {
      struct stat st {};
      if (::stat(ContentPath(id).c_str(), &st) != 0 && errno == ENOENT) {
        lost.push_back(id);
      }
    }
    return DeleteRows(lost);
  }
};

namespace {

class FileTaskPin final : public TaskPin {
 public:
  FileTaskPin(std::shared_ptr<StoreCore> core, std::string task_id, std::shared_ptr<LiveTask> live)
      : core_(std::move(core)), task_id_(std::move(task_id)), live_(std::move(live)) {}

  ~FileTaskPin() override {
    std::lock_guard lock(core_->mu);
    --live_->pins;
    core_->ReleaseLive(task_id_, live_);
  }

 private:
  std::shared_ptr<StoreCore> core_;
  std::string task_id_;
  std::shared_ptr<LiveTask> live_;
};

class FilePieceWriter final : public PieceWriter {
 public:
  // `fd` is invalid when the piece is already recorded (`recorded` set): the
  // bytes are then only hashed and compared.
  FilePieceWriter(std::shared_ptr<StoreCore> core, std::string task_id,
                  std::shared_ptr<LiveTask> live, uint32_t number, uint64_t offset, uint32_t length,
                  ScopedFd fd, std::string path, std::optional<Sha256Digest> recorded)
      : core_(std::move(core)),
        task_id_(std::move(task_id)),
        live_(std::move(live)),
        number_(number),
        offset_(offset),
        length_(length),
        fd_(std::move(fd)),
        path_(std::move(path)),
        recorded_(recorded) {}

  ~FilePieceWriter() override {
    fd_.Reset(-1);
    std::lock_guard lock(core_->mu);
    live_->writing.erase(number_);
    core_->ReleaseLive(task_id_, live_);
  }

  Status Append(std::span<const uint8_t> data) override {
    FL_RETURN_IF_ERROR(CheckUsable());
    if (data.size() > length_ - written_) {
      return Status::InvalidArgument(PieceName(task_id_, number_) + ": appending " +
                                     std::to_string(data.size()) + " bytes after " +
                                     std::to_string(written_) + " exceeds its length " +
                                     std::to_string(length_));
    }
    if (fd_.valid()) {
      int err = PwriteAll(fd_.get(), data, offset_ + written_);
      if (err != 0) {
        error_ = Status::FromErrno(err, "write " + PieceName(task_id_, number_) + " to " + path_);
        return error_;
      }
    }
    hasher_.Update(data);
    written_ += data.size();
    return Status::Ok();
  }

  uint64_t written() const override { return written_; }

  Result<Sha256Digest> Commit(const std::optional<Sha256Digest>& expected) override {
    FL_RETURN_IF_ERROR(CheckUsable());
    committed_ = true;
    if (written_ != length_) {
      return Status::InvalidArgument(PieceName(task_id_, number_) + ": commit after " +
                                     std::to_string(written_) + " of " + std::to_string(length_) +
                                     " bytes");
    }
    Sha256Digest digest = hasher_.Finish();
    if (expected && *expected != digest) {
      return Status::Corruption(PieceName(task_id_, number_) + ": digest " + Sha256String(digest) +
                                " does not match the expected " + Sha256String(*expected));
    }
    if (recorded_ && *recorded_ != digest) {
      return Status::Corruption(PieceName(task_id_, number_) + ": digest " + Sha256String(digest) +
                                " differs from the recorded " + Sha256String(*recorded_));
    }
    if (fd_.valid() && core_->options.fsync_pieces && ::fdatasync(fd_.get()) != 0) {
      return Status::FromErrno(errno, "fdatasync " + path_);
    }
    fd_.Reset(-1);

    std::lock_guard lock(core_->mu);
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
    return digest;
  }

 private:
  Status CheckUsable() const {
    if (committed_) {
      return Status::FailedPrecondition(PieceName(task_id_, number_) +
                                        ": writer already committed");
    }
    return error_;
  }

  const std::shared_ptr<StoreCore> core_;
  const std::string task_id_;
  const std::shared_ptr<LiveTask> live_;
  const uint32_t number_;
  const uint64_t offset_;
  const uint32_t length_;
  ScopedFd fd_;
  const std::string path_;
  const std::optional<Sha256Digest> recorded_;

  Sha256Hasher hasher_;
  uint64_t written_ = 0;
  bool committed_ = false;
  Status error_;  // the first I/O error; the writer is unusable after one
};

}  // namespace
}  // namespace internal

using internal::LiveTask;
using internal::StoreCore;

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
  core->db = std::move(db).value();
  {
    std::lock_guard lock(core->mu);
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

  std::lock_guard lock(core_->mu);
  FL_ASSIGN_OR_RETURN(std::optional<TaskMeta> existing, core_->LoadTask(id));
  if (existing) {
    if (existing->content_length == meta.content_length &&
        existing->piece_length == meta.piece_length) {
      return Status::Ok();
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
    auto insert = [&]() -> Status {
      FL_ASSIGN_OR_RETURN(SqliteStatement stmt,
                          core_->db.Prepare("INSERT INTO tasks (" + std::string(kTaskColumns) +
                                            ") VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5)"));
      FL_RETURN_IF_ERROR(stmt.BindText(1, id));
      FL_RETURN_IF_ERROR(stmt.BindText(2, meta.url));
      FL_RETURN_IF_ERROR(stmt.BindInt64(3, static_cast<int64_t>(meta.content_length)));
      FL_RETURN_IF_ERROR(stmt.BindInt64(4, meta.piece_length));
      FL_RETURN_IF_ERROR(stmt.BindInt64(5, now));
      return stmt.Run();
    };
    status = insert();
  }
  if (!status.ok()) {
    ::unlink(path.c_str());
  }
  return status;
}

Result<TaskMeta> FilePieceStore::GetTask(const std::string& task_id) {
  FL_RETURN_IF_ERROR(ValidateTaskId(task_id));
  std::lock_guard lock(core_->mu);
  return core_->LoadExistingTask(task_id);
}

Result<std::vector<TaskMeta>> FilePieceStore::ListTasks() {
  std::lock_guard lock(core_->mu);
  FL_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      core_->db.Prepare("SELECT " + std::string(kTaskColumns) + " FROM tasks ORDER BY task_id"));
  std::vector<TaskMeta> tasks;
  while (true) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) {
      break;
    }
    tasks.push_back(StoreCore::ReadTask(stmt));
  }
  return tasks;
}

Status FilePieceStore::DeleteTask(const std::string& task_id) {
  FL_RETURN_IF_ERROR(ValidateTaskId(task_id));
  internal::Detached detached;
  {
    std::lock_guard lock(core_->mu);
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
  std::lock_guard lock(core_->mu);
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
  std::lock_guard lock(core_->mu);
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
  std::lock_guard lock(core_->mu);
  FL_ASSIGN_OR_RETURN(std::optional<TaskMeta> meta, core_->LoadTask(task_id));
  if (!meta) {
    return TaskNotFound(task_id);
  }
  FL_ASSIGN_OR_RETURN(SqliteStatement stmt,
                      core_->db.Prepare("SELECT number, byte_offset, byte_length, digest FROM "
                                        "pieces WHERE task_id = ?1 ORDER BY number"));
  FL_RETURN_IF_ERROR(stmt.BindText(1, task_id));
  std::vector<PieceRecord> pieces;
  while (true) {
    FL_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) {
      break;
    }
    FL_ASSIGN_OR_RETURN(PieceRecord record, core_->ReadPiece(stmt, task_id));
    pieces.push_back(record);
  }
  return pieces;
}

bool FilePieceStore::HasPiece(const std::string& task_id, uint32_t number) {
  if (!ValidateTaskId(task_id).ok()) {
    return false;
  }
  std::lock_guard lock(core_->mu);
  auto piece = core_->LoadPiece(task_id, number);
  return piece.ok() && piece->has_value();
}

Result<std::unique_ptr<PieceWriter>> FilePieceStore::OpenPieceWriter(const std::string& task_id,
                                                                     uint32_t number) {
  FL_RETURN_IF_ERROR(ValidateTaskId(task_id));
  std::lock_guard lock(core_->mu);
  FL_ASSIGN_OR_RETURN(TaskMeta meta, core_->LoadExistingTask(task_id));
  if (number >= meta.PieceCount()) {
    return Status::InvalidArgument(PieceName(task_id, number) + " is out of range: the task has " +
                                   std::to_string(meta.PieceCount()) + " pieces");
  }
  const LiveTask* existing = core_->FindLive(task_id);
  if (existing != nullptr && existing->writing.contains(number)) {
    return Status::FailedPrecondition(PieceName(task_id, number) + " is already being written");
  }
  FL_ASSIGN_OR_RETURN(std::optional<PieceRecord> recorded, core_->LoadPiece(task_id, number));
  std::string path = core_->ContentPath(task_id);
  ScopedFd fd;
  std::optional<Sha256Digest> recorded_digest;
  if (recorded) {
    recorded_digest = recorded->digest;
  } else {
    FL_ASSIGN_OR_RETURN(fd, OpenFile(path, O_WRONLY));
  }
  std::shared_ptr<LiveTask> live = core_->GetLive(task_id);
  live->writing.insert(number);
  return std::unique_ptr<PieceWriter>(new internal::FilePieceWriter(
      core_, task_id, std::move(live), number, meta.PieceOffset(number), meta.PieceSize(number),
      std::move(fd), std::move(path), recorded_digest));
}

Result<PieceReadHandle> FilePieceStore::OpenPiece(const std::string& task_id, uint32_t number) {
  FL_RETURN_IF_ERROR(ValidateTaskId(task_id));
  std::lock_guard lock(core_->mu);
  FL_ASSIGN_OR_RETURN(std::optional<PieceRecord> record, core_->LoadPiece(task_id, number));
  if (!record) {
    return Status::NotFound(PieceName(task_id, number) + " is not recorded");
  }
  // Opened under the lock, so a concurrent delete cannot swap the file.
  FL_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(core_->ContentPath(task_id), O_RDONLY));
  PieceReadHandle handle;
  handle.fd = fd.Release();
  handle.offset = record->offset;
  handle.length = record->length;
  handle.digest = record->digest;
  return handle;
}

Result<std::unique_ptr<TaskPin>> FilePieceStore::Pin(const std::string& task_id) {
  FL_RETURN_IF_ERROR(ValidateTaskId(task_id));
  std::lock_guard lock(core_->mu);
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
    std::lock_guard lock(core_->mu);
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
