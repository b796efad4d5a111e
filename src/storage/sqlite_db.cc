#include "storage/sqlite_db.h"

#include <algorithm>
#include <string>
#include <utility>

namespace feilong::storage {

namespace {

// Shortens SQL for error messages: the first line, at most 60 characters.
std::string Abbreviate(std::string_view sql) {
  constexpr size_t kMax = 60;
  size_t start = sql.find_first_not_of(" \t\n");
  if (start == std::string_view::npos) {
    return "";
  }
  sql.remove_prefix(start);
  size_t end = sql.find('\n');
  bool cut = end != std::string_view::npos || sql.size() > kMax;
  sql = sql.substr(0, std::min(end, kMax));
  return std::string(sql) + (cut ? "..." : "");
}

}  // namespace

Status SqliteStatus(int rc, std::string_view op, std::string_view errmsg) {
  std::string message = std::string(op) + ": " + std::string(errmsg);
  switch (rc & 0xff) {  // primary result code
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return Status::ResourceExhausted(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(message));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(std::move(message));
    case SQLITE_CONSTRAINT:
      return Status::FailedPrecondition(std::move(message));
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return Status::IOError(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

// ---- SqliteStatement ----

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

SqliteStatement& SqliteStatement::operator=(SqliteStatement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }

Status SqliteStatement::Error(int rc, std::string_view op) const {
  const char* sql = stmt_ != nullptr ? sqlite3_sql(stmt_) : nullptr;
  std::string what =
      "sqlite " + std::string(op) + " '" + Abbreviate(sql != nullptr ? sql : "") + "'";
  const char* file = db_ != nullptr ? sqlite3_db_filename(db_, "main") : nullptr;
  if (file != nullptr && *file != '\0') {
    what += " on ";
    what += file;
  }
  return SqliteStatus(rc, what, db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
}

Status SqliteStatement::BindInt64(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  return rc == SQLITE_OK ? Status::Ok() : Error(rc, "bind");
}

Status SqliteStatement::BindText(int index, std::string_view value) {
  int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return rc == SQLITE_OK ? Status::Ok() : Error(rc, "bind");
}

Status SqliteStatement::BindBlob(int index, std::span<const uint8_t> value) {
  // A null pointer would bind NULL instead of an empty blob.
  static const uint8_t kEmpty = 0;
  const void* data = value.empty() ? &kEmpty : value.data();
  int rc = sqlite3_bind_blob64(stmt_, index, data, value.size(), SQLITE_TRANSIENT);
  return rc == SQLITE_OK ? Status::Ok() : Error(rc, "bind");
}

Status SqliteStatement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  return rc == SQLITE_OK ? Status::Ok() : Error(rc, "bind");
}

Result<bool> SqliteStatement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  Status status = Error(rc, "step");
  sqlite3_reset(stmt_);  // leaves the statement reusable
  return status;
}

Status SqliteStatement::Run() {
  while (true) {
    FL_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) {
      return Status::Ok();
    }
  }
}

Status SqliteStatement::Reset() {
  sqlite3_clear_bindings(stmt_);
  int rc = sqlite3_reset(stmt_);
  return rc == SQLITE_OK ? Status::Ok() : Error(rc, "reset");
}

int64_t SqliteStatement::ColumnInt64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string SqliteStatement::ColumnText(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  int size = sqlite3_column_bytes(stmt_, col);
  if (text == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

std::span<const uint8_t> SqliteStatement::ColumnBlob(int col) const {
  const void* blob = sqlite3_column_blob(stmt_, col);
  int size = sqlite3_column_bytes(stmt_, col);
  if (blob == nullptr) {
    return {};
  }
  return {static_cast<const uint8_t*>(blob), static_cast<size_t>(size)};
}

bool SqliteStatement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

// ---- SqliteDb ----

Result<SqliteDb> SqliteDb::Open(const std::string& path, const SqliteOptions& options) {
  SqliteDb db;
  db.path_ = path;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db.db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    // db_ may be set even on failure; its message is the best explanation.
    Status status = db.Error(rc, "open");
    return status;
  }
  sqlite3_extended_result_codes(db.db_, 1);
  rc = sqlite3_busy_timeout(db.db_, static_cast<int>(options.busy_timeout.count()));
  if (rc != SQLITE_OK) {
    return db.Error(rc, "busy_timeout");
  }
  // journal_mode answers with the mode in effect; anything but WAL means the
  // file system or the file refused it.
  FL_ASSIGN_OR_RETURN(SqliteStatement wal, db.Prepare("PRAGMA journal_mode=WAL"));
  FL_ASSIGN_OR_RETURN(bool row, wal.Step());
  std::string mode = row ? wal.ColumnText(0) : "";
  if (mode != "wal") {
    return Status::IOError("sqlite open " + path + ": cannot enable WAL mode (journal_mode is '" +
                           mode + "')");
  }
  wal = SqliteStatement();
  FL_RETURN_IF_ERROR(db.Exec(options.synchronous_normal ? "PRAGMA synchronous=NORMAL"
                                                        : "PRAGMA synchronous=FULL"));
  FL_RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys=ON"));
  return db;
}

SqliteDb::SqliteDb(SqliteDb&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

SqliteDb& SqliteDb::operator=(SqliteDb&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

SqliteDb::~SqliteDb() { sqlite3_close_v2(db_); }

Status SqliteDb::Error(int rc, std::string_view op) const {
  std::string what = "sqlite " + std::string(op) + " " + path_;
  return SqliteStatus(rc, what, db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
}

Status SqliteDb::Exec(std::string_view sql) {
  std::string text(sql);  // sqlite3_exec needs a NUL-terminated string
  char* errmsg = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &errmsg);
  if (rc == SQLITE_OK) {
    return Status::Ok();
  }
  std::string message = errmsg != nullptr ? errmsg : sqlite3_errstr(rc);
  sqlite3_free(errmsg);
  return SqliteStatus(rc, "sqlite exec '" + Abbreviate(sql) + "' on " + path_, message);
}

Result<SqliteStatement> SqliteDb::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqliteStatus(rc, "sqlite prepare '" + Abbreviate(sql) + "' on " + path_,
                        sqlite3_errmsg(db_));
  }
  if (stmt == nullptr) {  // only whitespace or comments
    return Status::Internal("sqlite prepare '" + Abbreviate(sql) + "': empty statement");
  }
  return SqliteStatement(db_, stmt);
}

Result<int> SqliteDb::UserVersion() {
  FL_ASSIGN_OR_RETURN(SqliteStatement stmt, Prepare("PRAGMA user_version"));
  FL_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) {
    return Status::Internal("sqlite PRAGMA user_version on " + path_ + ": no row");
  }
  return static_cast<int>(stmt.ColumnInt64(0));
}

Status SqliteDb::SetUserVersion(int version) {
  // PRAGMA arguments cannot be bound; an int is safe to format.
  return Exec("PRAGMA user_version=" + std::to_string(version));
}

int64_t SqliteDb::Changes() const { return sqlite3_changes64(db_); }

// ---- SqliteTransaction ----

Result<SqliteTransaction> SqliteTransaction::Begin(SqliteDb& db) {
  FL_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  return SqliteTransaction(&db);
}

SqliteTransaction::SqliteTransaction(SqliteTransaction&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)) {}

SqliteTransaction::~SqliteTransaction() {
  if (db_ != nullptr && sqlite3_get_autocommit(db_->handle()) == 0) {
    // Best effort: a failed rollback leaves nothing better to do; SQLite rolls
    // back a pending transaction on close anyway.
    (void)db_->Exec("ROLLBACK");
  }
}

Status SqliteTransaction::Commit() {
  if (db_ == nullptr) {
    return Status::FailedPrecondition("sqlite transaction already finished");
  }
  Status status = db_->Exec("COMMIT");
  if (status.ok()) {
    db_ = nullptr;
  }
  return status;
}

}  // namespace feilong::storage
