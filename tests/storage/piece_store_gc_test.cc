// PieceStore tests: pins, TTL and watermark garbage collection.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/digest.h"
#include "storage/piece_store.h"
#include "storage/test_util.h"

namespace feilong::storage {
namespace {

using testing::AllocatedBytes;
using testing::FileExists;
using testing::Meta;
using testing::PieceStoreTest;
using testing::TaskId;
using testing::TestBytes;
using testing::WritePiece;

TEST_F(PieceStoreTest, PinsBlockDeleteUntilTheLastIsReleased) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 10, 10)));
  auto pin1 = store->Pin(id);
  FL_ASSERT_OK(pin1);
  auto pin2 = store->Pin(id);
  FL_ASSERT_OK(pin2);
  EXPECT_EQ(store->DeleteTask(id).code(), StatusCode::kFailedPrecondition);
  pin1->reset();
  EXPECT_EQ(store->DeleteTask(id).code(), StatusCode::kFailedPrecondition);
  pin2->reset();
  FL_ASSERT_OK(store->DeleteTask(id));
  EXPECT_TRUE(store->GetTask(id).status().IsNotFound());
}

TEST_F(PieceStoreTest, PinAndWriterMayOutliveTheStore) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 10, 10)));
  auto pin = store->Pin(id);
  FL_ASSERT_OK(pin);
  auto writer = store->OpenPieceWriter(id, 0);
  FL_ASSERT_OK(writer);
  store.reset();
  FL_EXPECT_OK((*writer)->Append(TestBytes(10, 1)));
  FL_EXPECT_OK((*writer)->Commit(std::nullopt));
  writer->reset();
  pin->reset();
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->HasPiece(id, 0));
}

TEST_F(PieceStoreTest, GcRemovesTasksNotAccessedWithinTheTtl) {
  options_.task_ttl = std::chrono::hours(1);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string old_task = TaskId(1);
  std::string touched = TaskId(2);
  std::string pinned = TaskId(3);
  FL_ASSERT_OK(store->CreateTask(Meta(old_task, 4096, 4096)));
  FL_ASSERT_OK(WritePiece(*store, old_task, 0, TestBytes(4096, 1)));
  FL_ASSERT_OK(store->CreateTask(Meta(touched, 10, 10)));
  FL_ASSERT_OK(store->CreateTask(Meta(pinned, 10, 10)));
  auto pin = store->Pin(pinned);
  FL_ASSERT_OK(pin);

  clock_.Advance(std::chrono::minutes(30));
  FL_ASSERT_OK(store->Touch(touched));
  auto report = store->Gc();
  FL_ASSERT_OK(report);
  EXPECT_EQ(report->tasks_removed, 0u);

  clock_.Advance(std::chrono::minutes(30));  // old_task: exactly the TTL
  std::string old_path = store->ContentPath(old_task);
  uint64_t old_bytes = AllocatedBytes(old_path);
  report = store->Gc();
  FL_ASSERT_OK(report);
  EXPECT_EQ(report->tasks_removed, 1u);
  EXPECT_EQ(report->bytes_freed, old_bytes);
  EXPECT_TRUE(store->GetTask(old_task).status().IsNotFound());
  EXPECT_FALSE(FileExists(old_path));
  FL_EXPECT_OK(store->GetTask(touched));
  FL_EXPECT_OK(store->GetTask(pinned));  // expired but pinned

  clock_.Advance(std::chrono::minutes(31));
  report = store->Gc();
  FL_ASSERT_OK(report);
  EXPECT_EQ(report->tasks_removed, 1u);
  EXPECT_TRUE(store->GetTask(touched).status().IsNotFound());
  FL_EXPECT_OK(store->GetTask(pinned));

  pin->reset();
  report = store->Gc();
  FL_ASSERT_OK(report);
  EXPECT_EQ(report->tasks_removed, 1u);
  EXPECT_TRUE(store->ListTasks()->empty());
  EXPECT_TRUE(std::filesystem::is_empty(options_.dir + "/trash"));
}

TEST_F(PieceStoreTest, GcSkipsTasksWithALiveWriter) {
  options_.task_ttl = std::chrono::hours(1);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 4096, 4096)));
  auto writer = store->OpenPieceWriter(id, 0);
  FL_ASSERT_OK(writer);
  clock_.Advance(std::chrono::hours(2));
  EXPECT_EQ(store->Gc()->tasks_removed, 0u);
  writer->reset();
  EXPECT_EQ(store->Gc()->tasks_removed, 1u);
}

class WatermarkGcTest : public PieceStoreTest {
 protected:
  static constexpr uint32_t kSize = 4 * 4096;

  // Creates tasks 1..count with increasing access times, each fully written.
  void CreateTasks(PieceStore& store, int count) {
    for (int i = 1; i <= count; ++i) {
      std::string id = TaskId(i);
      FL_ASSERT_OK(store.CreateTask(Meta(id, kSize, 4096)));
      for (uint32_t n = 0; n < 4; ++n) {
        FL_ASSERT_OK(WritePiece(store, id, n, TestBytes(4096, n)));
      }
      clock_.Advance(std::chrono::seconds(1));
    }
  }

  DiskUsage usage_;
};

TEST_F(WatermarkGcTest, EvictsLeastRecentlyUsedFirstAndNeverPinned) {
  options_.high_watermark = 0.75;
  options_.low_watermark = 0.5;
  options_.disk_usage = [this]() -> Result<DiskUsage> { return usage_; };
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  CreateTasks(*store, 5);  // 1 is the least recently used, 5 the most
  // Task 2 becomes the most recently used.
  FL_ASSERT_OK(store->Touch(TaskId(2)));
  const uint64_t s = AllocatedBytes(store->ContentPath(TaskId(1)));
  ASSERT_GT(s, 0u);
  for (int i = 2; i <= 5; ++i) {
    ASSERT_EQ(AllocatedBytes(store->ContentPath(TaskId(i))), s);
  }
  auto pin = store->Pin(TaskId(1));  // the LRU task, pinned
  FL_ASSERT_OK(pin);

  // 7/8 full: above 0.75; getting to 0.5 (4s) needs 3s freed.
  usage_ = {8 * s, 7 * s};
  auto report = store->Gc();
  FL_ASSERT_OK(report);
  EXPECT_EQ(report->tasks_removed, 3u);
  EXPECT_EQ(report->bytes_freed, 3 * s);
  // LRU order without the pinned task 1: 3, 4, 5, 2.
  FL_EXPECT_OK(store->GetTask(TaskId(1)));
  FL_EXPECT_OK(store->GetTask(TaskId(2)));
  EXPECT_TRUE(store->GetTask(TaskId(3)).status().IsNotFound());
  EXPECT_TRUE(store->GetTask(TaskId(4)).status().IsNotFound());
  EXPECT_TRUE(store->GetTask(TaskId(5)).status().IsNotFound());

  // Still "full" (the seam does not move): only unpinned task 2 can go.
  report = store->Gc();
  FL_ASSERT_OK(report);
  EXPECT_EQ(report->tasks_removed, 1u);
  FL_EXPECT_OK(store->GetTask(TaskId(1)));
  EXPECT_EQ(store->ListTasks()->size(), 1u);
}

TEST_F(WatermarkGcTest, NothingIsEvictedAtOrBelowTheHighWatermark) {
  options_.high_watermark = 0.75;
  options_.low_watermark = 0.5;
  options_.disk_usage = [this]() -> Result<DiskUsage> { return usage_; };
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  CreateTasks(*store, 3);
  usage_ = {100, 75};
  auto report = store->Gc();
  FL_ASSERT_OK(report);
  EXPECT_EQ(report->tasks_removed, 0u);
  EXPECT_EQ(store->ListTasks()->size(), 3u);

  // A failing usage probe fails Gc and removes nothing.
  store.reset();
  options_.disk_usage = []() -> Result<DiskUsage> { return Status::IOError("probe broke"); };
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto failed = store->Gc();
  EXPECT_EQ(failed.status().code(), StatusCode::kIOError);
  EXPECT_EQ(store->ListTasks()->size(), 3u);
}

TEST_F(PieceStoreTest, GcWithRealStatvfsRuns) {
  options_.disk_usage = nullptr;
  options_.high_watermark = 1.0;  // never evict the test's tasks for real
  options_.low_watermark = 1.0;
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  FL_ASSERT_OK(store->CreateTask(Meta(TaskId(1), 10, 10)));
  auto report = store->Gc();
  FL_ASSERT_OK(report);
  EXPECT_EQ(report->tasks_removed, 0u);
}

}  // namespace
}  // namespace feilong::storage
