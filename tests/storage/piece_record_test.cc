// Metadata rows read back from disk (storage/piece_record.h), alone and
// through a store whose database was damaged behind its back.
#include "storage/piece_record.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "storage/piece_store.h"
#include "storage/sqlite_db.h"
#include "storage/test_util.h"

namespace feilong::storage {
namespace {

using testing::FileExists;
using testing::Meta;
using testing::PieceStoreTest;
using testing::TaskId;
using testing::TestBytes;
using testing::WritePiece;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kTwo32 = int64_t{1} << 32;

TaskRow GoodTask() {
  TaskRow row;
  row.task_id = std::string(64, 'a');
  row.url = "https://example.com/x";
  row.content_length = 25;
  row.piece_length = 10;
  row.complete = 2;
  row.created_at = -5;
  row.accessed_at = 7;
  return row;
}

TEST(PieceRecordTest, DecodesAGoodTaskRow) {
  auto meta = DecodeTaskRow(GoodTask());
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->content_length, 25u);
  EXPECT_EQ(meta->piece_length, 10u);
  EXPECT_TRUE(meta->complete);
  EXPECT_EQ(meta->created_at_unix, -5);
  EXPECT_EQ(meta->PieceCount(), 3u);

  TaskRow edge = GoodTask();
  edge.piece_length = kTwo32 - 1;  // the largest piece length
  edge.content_length = kInt64Max;
  EXPECT_TRUE(DecodeTaskRow(edge).ok());
}

TEST(PieceRecordTest, RejectsBadTaskRowsAsCorruption) {
  std::vector<TaskRow> bad(8, GoodTask());
  bad[0].task_id = "../victim";
  bad[1].task_id = std::string(64, 'A');
  bad[2].content_length = -1;
  bad[3].piece_length = 0;
  bad[4].piece_length = -4096;
  bad[5].piece_length = kTwo32;  // was truncated to 0: a division by zero
  bad[6].piece_length = kTwo32 + 10;
  bad[7].piece_length = 1;  // more than UINT32_MAX pieces
  bad[7].content_length = kTwo32 + 1;
  for (size_t i = 0; i < bad.size(); ++i) {
    auto meta = DecodeTaskRow(bad[i]);
    ASSERT_FALSE(meta.ok()) << i;
    EXPECT_TRUE(meta.status().IsCorruption()) << i << " " << meta.status().ToString();
  }
}

TEST(PieceRecordTest, DecodesAndRejectsPieceRows) {
  std::vector<uint8_t> digest(32, 9);
  PieceRow row{3, 30, 10, digest};
  auto record = DecodePieceRow(row, "t");
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->number, 3u);
  EXPECT_EQ(record->offset, 30u);
  EXPECT_EQ(record->length, 10u);
  EXPECT_EQ(record->digest[31], 9);

  std::vector<uint8_t> short_digest(31, 9);
  std::vector<PieceRow> bad = {
      {-1, 0, 10, digest},         {kTwo32, 0, 10, digest},
      {0, -1, 10, digest},         {0, 0, 0, digest},
      {0, 0, kTwo32 + 10, digest}, {0, kInt64Max, 1, digest},
      {0, 0, 10, short_digest},    {0, 0, 10, {}},
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    auto r = DecodePieceRow(bad[i], "t");
    ASSERT_FALSE(r.ok()) << i;
    EXPECT_TRUE(r.status().IsCorruption()) << i << " " << r.status().ToString();
  }
}

// A store whose metadata.db is changed behind its back, through a second
// connection (the schema's CHECK constraints off, as a damaged file would
// not honour them either).
class DamagedStoreTest : public PieceStoreTest {
 protected:
  void Damage(const std::string& sql) {
    auto db = SqliteDb::Open(options_.dir + "/metadata.db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE(db->Exec("PRAGMA ignore_check_constraints=ON").ok());
    ASSERT_TRUE(db->Exec(sql).ok()) << sql;
  }
};

// Regression (found by tests/fuzz/piece_record_fuzz): a piece_length over
// UINT32_MAX passes the schema's CHECK (> 0) but was truncated to 0, and
// TaskMeta::PieceCount() then divided by zero (SIGFPE) in OpenPieceWriter.
TEST_F(DamagedStoreTest, HugePieceLengthIsCorruptionNotADivisionByZero) {
  std::string id = TaskId(1);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 20, 10)));
  Damage("UPDATE tasks SET piece_length = 4294967296");
  auto writer = store->OpenPieceWriter(id, 1);
  ASSERT_FALSE(writer.ok());
  EXPECT_TRUE(writer.status().IsCorruption()) << writer.status().ToString();
  EXPECT_TRUE(store->GetTask(id).status().IsCorruption());
  EXPECT_TRUE(store->ListTasks().status().IsCorruption());
  EXPECT_FALSE(store->MarkComplete(id).ok());
}

// Regression: a byte_length over UINT32_MAX was truncated (2^32 + 10 read as
// 10) and served as a valid piece.
TEST_F(DamagedStoreTest, HugePieceLengthInAPieceRowIsCorruption) {
  std::string id = TaskId(1);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 10, 10)));
  FL_ASSERT_OK(WritePiece(*store, id, 0, TestBytes(10, 1)));
  store.reset();  // a store that is open keeps what it has read in memory
  Damage("UPDATE pieces SET byte_length = 4294967306");
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto piece = store->OpenPiece(id, 0);
  ASSERT_FALSE(piece.ok());
  EXPECT_TRUE(piece.status().IsCorruption()) << piece.status().ToString();
  EXPECT_TRUE(store->ListPieces(id).status().IsCorruption());
}

// A piece row that decodes but does not sit where the task's geometry puts
// the piece is Corruption, never served at the row's offset.
TEST_F(DamagedStoreTest, APieceRowOutsideTheTasksGeometryIsCorruption) {
  std::string id = TaskId(1);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 20, 10)));
  FL_ASSERT_OK(WritePiece(*store, id, 0, TestBytes(10, 1)));
  store.reset();
  Damage("UPDATE pieces SET byte_offset = 5");
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto piece = store->OpenPiece(id, 0);
  ASSERT_FALSE(piece.ok());
  EXPECT_TRUE(piece.status().IsCorruption()) << piece.status().ToString();
}

// Opening a store drops task rows that do not decode, with their pieces and
// content file, so one bad row does not break ListTasks for good.
TEST_F(DamagedStoreTest, OpenDropsUndecodableTaskRows) {
  std::string good = TaskId(1);
  std::string bad = TaskId(2);
  std::string bad_path;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    FL_ASSERT_OK(store->CreateTask(Meta(good, 10, 10)));
    FL_ASSERT_OK(store->CreateTask(Meta(bad, 10, 10)));
    FL_ASSERT_OK(WritePiece(*store, bad, 0, TestBytes(10, 2)));
    bad_path = store->ContentPath(bad);
  }
  ASSERT_TRUE(FileExists(bad_path));
  Damage("UPDATE tasks SET piece_length = -4096 WHERE task_id = '" + bad + "'");
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto tasks = store->ListTasks();
  ASSERT_TRUE(tasks.ok()) << tasks.status().ToString();
  ASSERT_EQ(tasks->size(), 1u);
  EXPECT_EQ((*tasks)[0].task_id, good);
  EXPECT_TRUE(store->GetTask(bad).status().IsNotFound());
  EXPECT_FALSE(FileExists(bad_path));
}

// Regression: Gc() turned the task id of a row into a path unchecked, so a
// row whose id was "../victim" made it move <dir>/../victim to the trash
// and delete it.
TEST_F(DamagedStoreTest, GcNeverFollowsAMalformedTaskIdOutOfTheStore) {
  std::string victim = tmp_.path() + "/victim";
  { std::ofstream(victim) << "not the store's"; }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Damage(
      "INSERT INTO tasks (task_id, url, content_length, piece_length, complete, created_at, "
      "accessed_at) VALUES ('../victim', 'u', 0, 1, 0, 0, -1000000000)");
  auto report = store->Gc();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(FileExists(victim));
  // The next open drops the row.
  store.reset();
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->ListTasks().ok());
  EXPECT_TRUE(FileExists(victim));
}

TEST_F(PieceStoreTest, APrivateTaskAndItsGrantKeyOutliveAReopen) {
  const std::string id = TaskId(1);
  const std::string key(32, '\x07');
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    FL_ASSERT_OK(store->CreateTask(Meta(id, 20, 10)));
    FL_ASSERT_OK(WritePiece(*store, id, 0, TestBytes(10, 1)));
    EXPECT_FALSE(store->GetTask(id)->private_task);
    EXPECT_FALSE(store->OpenPiece(id, 0)->private_task);

    // Private before the scheduler's key is known: nobody may read it yet.
    FL_ASSERT_OK(store->SetTaskAccess(id, ""));
    auto piece = store->OpenPiece(id, 0);
    ASSERT_TRUE(piece.ok());
    EXPECT_TRUE(piece->private_task);
    EXPECT_TRUE(piece->grant_key.empty());

    FL_ASSERT_OK(store->SetTaskAccess(id, key));
    FL_ASSERT_OK(store->SetTaskAccess(id, ""));  // keeps the key
    // Creating it again as public changes nothing.
    FL_ASSERT_OK(store->CreateTask(Meta(id, 20, 10)));
    EXPECT_TRUE(store->SetTaskAccess(TaskId(2), key).IsNotFound());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto meta = store->GetTask(id);
  ASSERT_TRUE(meta.ok());
  EXPECT_TRUE(meta->private_task);
  EXPECT_EQ(meta->grant_key, key);
  auto piece = store->OpenPiece(id, 0);
  ASSERT_TRUE(piece.ok());
  EXPECT_EQ(piece->grant_key, key);

  TaskMeta fresh = Meta(TaskId(3), 20, 10);
  fresh.private_task = true;
  fresh.grant_key = key;
  FL_ASSERT_OK(store->CreateTask(fresh));
  EXPECT_TRUE(store->GetTask(TaskId(3))->private_task);
  EXPECT_EQ(store->GetTask(TaskId(3))->grant_key, key);
}

// A store written before private tasks existed (schema v1) opens with its
// tasks public and their pieces served as before.
TEST_F(DamagedStoreTest, AVersionOneStoreIsMigratedWithItsTasksPublic) {
  const std::string id = TaskId(1);
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    FL_ASSERT_OK(store->CreateTask(Meta(id, 20, 10)));
    FL_ASSERT_OK(WritePiece(*store, id, 0, TestBytes(10, 1)));
  }
  Damage("ALTER TABLE tasks DROP COLUMN private");
  Damage("ALTER TABLE tasks DROP COLUMN grant_key");
  Damage("PRAGMA user_version=1");
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto meta = store->GetTask(id);
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_FALSE(meta->private_task);
  EXPECT_TRUE(store->HasPiece(id, 0));
  FL_ASSERT_OK(store->SetTaskAccess(id, std::string(32, 'k')));
}

}  // namespace
}  // namespace feilong::storage
