// A small RAII wrapper over the SQLite C API: a connection (SqliteDb), prepared
// statements (SqliteStatement) and transactions (SqliteTransaction).
//
// Every failure becomes a Status whose message names the operation and carries
// sqlite3_errmsg(), e.g. "sqlite prepare 'SELECT ...' on /x/metadata.db: no
// such table: tasks". SQLite result codes map to status codes:
//   SQLITE_FULL, SQLITE_NOMEM             -> ResourceExhausted
//   SQLITE_CORRUPT, SQLITE_NOTADB         -> Corruption
//   SQLITE_BUSY, SQLITE_LOCKED            -> Unavailable
//   SQLITE_CONSTRAINT                     -> FailedPrecondition
//   SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_READONLY -> IOError
//   anything else                         -> Internal
//
// Thread rule: a SqliteDb and its statements are NOT thread-safe (the
// connection is opened with SQLITE_OPEN_NOMUTEX); the owner serializes all
// use, e.g. with one mutex around the connection and its statements.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace feilong::storage {

// A prepared statement. Move-only; finalized by the destructor.
// REQUIRES: destroyed before the SqliteDb it came from.
class SqliteStatement {
 public:
  SqliteStatement() = default;
  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement& operator=(SqliteStatement&& other) noexcept;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  ~SqliteStatement();

  // Bind a parameter; `index` is 1-based as in SQLite. Text and blobs are
  // copied (SQLITE_TRANSIENT). Internal on a bad index.
  Status BindInt64(int index, int64_t value);
  Status BindText(int index, std::string_view value);
  Status BindBlob(int index, std::span<const uint8_t> value);
  Status BindNull(int index);

  // Runs the statement to its next row: true when a row is available (read it
  // with Column*), false when the statement is done.
  Result<bool> Step();
  // Steps until done, ignoring rows (for INSERT/UPDATE/DELETE).
  Status Run();
  // Rewinds the statement and clears its bindings, for reuse.
  Status Reset();

  // Columns of the current row; `col` is 0-based. REQUIRES: the last Step()
  // returned true. Blob and text views are valid until the next Step/Reset.
  int64_t ColumnInt64(int col) const;
  std::string ColumnText(int col) const;
  std::span<const uint8_t> ColumnBlob(int col) const;
  bool ColumnIsNull(int col) const;

 private:
  friend class SqliteDb;
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Status Error(int rc, std::string_view op) const;

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

struct SqliteOptions {
  // How long a statement waits for a lock held by another connection before
  // failing with SQLITE_BUSY (Unavailable). Default: 5 s.
  std::chrono::milliseconds busy_timeout{5000};
  // PRAGMA synchronous=NORMAL in WAL mode: commits survive a process crash;
  // the last commits may be lost (never corrupted) on power loss. When false,
  // synchronous=FULL. Default: true.
  bool synchronous_normal = true;
};

// One connection to a database file. Move-only; closed by the destructor.
class SqliteDb {
 public:
  // Opens (creating if missing) the database at `path` in WAL mode with
  // foreign keys enforced. IOError naming the path if it cannot be opened.
  static Result<SqliteDb> Open(const std::string& path, const SqliteOptions& options = {});

  SqliteDb() = default;
  SqliteDb(SqliteDb&& other) noexcept;
  SqliteDb& operator=(SqliteDb&& other) noexcept;
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  ~SqliteDb();

  // Runs one or more `;`-separated statements that return no rows needed.
  Status Exec(std::string_view sql);
  // Compiles one statement. REQUIRES: the statement is destroyed before *this.
  Result<SqliteStatement> Prepare(std::string_view sql);

  // PRAGMA user_version: the schema version of the file (0 when new).
  Result<int> UserVersion();
  Status SetUserVersion(int version);

  // Rows changed by the most recent INSERT/UPDATE/DELETE.
  int64_t Changes() const;
  const std::string& path() const { return path_; }
  // The raw handle, for calls this wrapper does not cover.
  sqlite3* handle() const { return db_; }

 private:
  Status Error(int rc, std::string_view op) const;

  sqlite3* db_ = nullptr;
  std::string path_;
};

// A transaction (BEGIN IMMEDIATE, so a writer never fails on lock upgrade):
// rolled back by the destructor unless Commit() succeeded.
// REQUIRES: at most one open transaction per connection; destroyed before the
// SqliteDb.
class SqliteTransaction {
 public:
  static Result<SqliteTransaction> Begin(SqliteDb& db);

  SqliteTransaction(SqliteTransaction&& other) noexcept;
  SqliteTransaction& operator=(SqliteTransaction&&) = delete;
  SqliteTransaction(const SqliteTransaction&) = delete;
  SqliteTransaction& operator=(const SqliteTransaction&) = delete;
  ~SqliteTransaction();

  // COMMIT. On failure the transaction is rolled back by the destructor.
  Status Commit();

 private:
  explicit SqliteTransaction(SqliteDb* db) : db_(db) {}
  SqliteDb* db_ = nullptr;  // null once committed or moved from
};

// The Status for SQLite result code `rc`: "<op>: <errmsg>" (see the mapping above).
Status SqliteStatus(int rc, std::string_view op, std::string_view errmsg);

}  // namespace feilong::storage
