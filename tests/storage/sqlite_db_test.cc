#include "storage/sqlite_db.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/test_util.h"

namespace feilong::storage {
namespace {

using testing::IsOk;
using testing::TempDir;

class SqliteDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = SqliteDb::Open(path_);
    ASSERT_TRUE(IsOk(db));
    db_ = std::move(db).value();
    FL_ASSERT_OK(db_.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, name TEXT, data BLOB)"));
  }

  Result<int64_t> Count() {
    FL_ASSIGN_OR_RETURN(SqliteStatement stmt, db_.Prepare("SELECT COUNT(*) FROM t"));
    FL_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) {
      return Status::Internal("no row");
    }
    return stmt.ColumnInt64(0);
  }

  TempDir tmp_;
  std::string path_ = tmp_.path() + "/test.db";
  SqliteDb db_;
};

TEST_F(SqliteDbTest, BindStepAndColumnsRoundTrip) {
  auto insert = db_.Prepare("INSERT INTO t (k, name, data) VALUES (?1, ?2, ?3)");
  FL_ASSERT_OK(insert);
  const std::vector<uint8_t> blob = {0, 1, 2, 255};
  FL_ASSERT_OK(insert->BindInt64(1, 1LL << 40));
  FL_ASSERT_OK(insert->BindText(2, std::string("a\0b", 3)));
  FL_ASSERT_OK(insert->BindBlob(3, blob));
  FL_ASSERT_OK(insert->Run());
  EXPECT_EQ(db_.Changes(), 1);
  // Reuse after Reset, with NULL and an empty blob.
  FL_ASSERT_OK(insert->Reset());
  FL_ASSERT_OK(insert->BindInt64(1, -5));
  FL_ASSERT_OK(insert->BindNull(2));
  FL_ASSERT_OK(insert->BindBlob(3, std::span<const uint8_t>()));
  FL_ASSERT_OK(insert->Run());

  auto select = db_.Prepare("SELECT k, name, data FROM t ORDER BY k");
  FL_ASSERT_OK(select);
  auto row = select->Step();
  FL_ASSERT_OK(row);
  ASSERT_TRUE(*row);
  EXPECT_EQ(select->ColumnInt64(0), -5);
  EXPECT_TRUE(select->ColumnIsNull(1));
  EXPECT_FALSE(select->ColumnIsNull(2));  // an empty blob, not NULL
  EXPECT_TRUE(select->ColumnBlob(2).empty());
  row = select->Step();
  FL_ASSERT_OK(row);
  ASSERT_TRUE(*row);
  EXPECT_EQ(select->ColumnInt64(0), 1LL << 40);
  EXPECT_EQ(select->ColumnText(1), std::string("a\0b", 3));
  auto data = select->ColumnBlob(2);
  EXPECT_EQ(std::vector<uint8_t>(data.begin(), data.end()), blob);
  row = select->Step();
  FL_ASSERT_OK(row);
  EXPECT_FALSE(*row);
}

TEST_F(SqliteDbTest, TransactionRollsBackUnlessCommitted) {
  {
    auto tx = SqliteTransaction::Begin(db_);
    FL_ASSERT_OK(tx);
    FL_ASSERT_OK(db_.Exec("INSERT INTO t (k) VALUES (1)"));
  }
  EXPECT_EQ(*Count(), 0);
  {
    auto tx = SqliteTransaction::Begin(db_);
    FL_ASSERT_OK(tx);
    FL_ASSERT_OK(db_.Exec("INSERT INTO t (k) VALUES (2)"));
    FL_ASSERT_OK(tx->Commit());
    EXPECT_EQ(tx->Commit().code(), StatusCode::kFailedPrecondition);
  }
  EXPECT_EQ(*Count(), 1);
}

TEST_F(SqliteDbTest, ErrorsNameTheOperationAndSqliteMessage) {
  auto bad = db_.Prepare("SELECT * FROM missing_table");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("prepare"), std::string::npos) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("no such table: missing_table"), std::string::npos);
  EXPECT_NE(bad.status().message().find(path_), std::string::npos);

  FL_ASSERT_OK(db_.Exec("INSERT INTO t (k) VALUES (1)"));
  auto dup = db_.Prepare("INSERT INTO t (k) VALUES (1)");
  FL_ASSERT_OK(dup);
  Status s = dup->Run();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("UNIQUE constraint failed"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("step"), std::string::npos) << s.ToString();

  Status e = db_.Exec("NOT SQL");
  EXPECT_FALSE(e.ok());
  EXPECT_NE(e.message().find("exec"), std::string::npos) << e.ToString();
  EXPECT_NE(e.message().find("syntax error"), std::string::npos) << e.ToString();
}

TEST_F(SqliteDbTest, OpensInWalModeWithForeignKeys) {
  auto mode = db_.Prepare("PRAGMA journal_mode");
  FL_ASSERT_OK(mode);
  ASSERT_TRUE(*mode->Step());
  EXPECT_EQ(mode->ColumnText(0), "wal");
  auto fk = db_.Prepare("PRAGMA foreign_keys");
  FL_ASSERT_OK(fk);
  ASSERT_TRUE(*fk->Step());
  EXPECT_EQ(fk->ColumnInt64(0), 1);
  auto sync = db_.Prepare("PRAGMA synchronous");
  FL_ASSERT_OK(sync);
  ASSERT_TRUE(*sync->Step());
  EXPECT_EQ(sync->ColumnInt64(0), 1);  // NORMAL
}

TEST_F(SqliteDbTest, UserVersionPersists) {
  EXPECT_EQ(*db_.UserVersion(), 0);
  FL_ASSERT_OK(db_.SetUserVersion(3));
  db_ = SqliteDb();
  auto reopened = SqliteDb::Open(path_);
  FL_ASSERT_OK(reopened);
  EXPECT_EQ(*reopened->UserVersion(), 3);
}

TEST(SqliteDbOpenTest, UnopenableFileIsIOErrorNamingThePath) {
  TempDir tmp;
  std::string path = tmp.path() + "/no/such/dir/x.db";
  auto db = SqliteDb::Open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kIOError) << db.status().ToString();
  EXPECT_NE(db.status().message().find(path), std::string::npos) << db.status().ToString();
}

}  // namespace
}  // namespace feilong::storage
