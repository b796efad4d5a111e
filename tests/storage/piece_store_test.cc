// PieceStore tests: tasks, pieces, writers, task ids and Open errors.
#include "storage/piece_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/digest.h"
#include "storage/piece_store_file.h"
#include "storage/sqlite_db.h"
#include "storage/test_util.h"

namespace feilong::storage {
namespace {

using testing::FileExists;
using testing::Meta;
using testing::PieceStoreTest;
using testing::ReadPiece;
using testing::TaskId;
using testing::TestBytes;
using testing::WritePiece;

TEST_F(PieceStoreTest, CreateGetListDeleteTask) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string a = TaskId(1);
  std::string b = TaskId(2);
  FL_ASSERT_OK(store->CreateTask(Meta(a, 10000, 4096)));
  clock_.Advance(std::chrono::seconds(5));
  FL_ASSERT_OK(store->CreateTask(Meta(b, 1, 4096)));

  auto meta = store->GetTask(a);
  FL_ASSERT_OK(meta);
  EXPECT_EQ(meta->task_id, a);
  EXPECT_EQ(meta->url, Meta(a, 0, 1).url);
  EXPECT_EQ(meta->content_length, 10000u);
  EXPECT_EQ(meta->piece_length, 4096u);
  EXPECT_EQ(meta->PieceCount(), 3u);
  EXPECT_FALSE(meta->complete);
  EXPECT_EQ(meta->created_at_unix, clock_.NowUnixSeconds() - 5);
  EXPECT_EQ(meta->accessed_at_unix, meta->created_at_unix);

  // The content file is sparse and sized to the content length.
  std::string path = store->ContentPath(a);
  EXPECT_EQ(path, options_.dir + "/content/" + a.substr(0, 2) + "/" + a);
  EXPECT_EQ(std::filesystem::file_size(path), 10000u);

  auto tasks = store->ListTasks();
  FL_ASSERT_OK(tasks);
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ((*tasks)[0].task_id, std::min(a, b));
  EXPECT_EQ((*tasks)[1].task_id, std::max(a, b));

  FL_ASSERT_OK(store->DeleteTask(a));
  EXPECT_TRUE(store->GetTask(a).status().IsNotFound());
  EXPECT_FALSE(FileExists(path));
  EXPECT_TRUE(store->DeleteTask(a).IsNotFound());
  tasks = store->ListTasks();
  FL_ASSERT_OK(tasks);
  ASSERT_EQ(tasks->size(), 1u);
  EXPECT_EQ((*tasks)[0].task_id, b);
}

TEST_F(PieceStoreTest, CreateTaskIsIdempotentAndRejectsOtherGeometry) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 10000, 4096)));
  FL_ASSERT_OK(WritePiece(*store, id, 0, TestBytes(4096, 1)));
  // Same geometry: nothing changes, the recorded piece stays.
  FL_ASSERT_OK(store->CreateTask(Meta(id, 10000, 4096)));
  EXPECT_TRUE(store->HasPiece(id, 0));

  Status s = store->CreateTask(Meta(id, 10001, 4096));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  s = store->CreateTask(Meta(id, 10000, 8192));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(store->GetTask(id)->content_length, 10000u);
}

TEST_F(PieceStoreTest, CreateTaskRejectsBadGeometry) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->CreateTask(Meta(TaskId(1), 100, 0)).IsInvalidArgument());
  // More than 2^32-1 pieces.
  EXPECT_TRUE(store->CreateTask(Meta(TaskId(2), 1ull << 33, 1)).IsInvalidArgument());
  EXPECT_TRUE(store->GetTask(TaskId(1)).status().IsNotFound());
}

TEST_F(PieceStoreTest, WritesPieceInSeveralAppendsAndReadsItBack) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 3 * 4096, 4096)));
  std::vector<uint8_t> data = TestBytes(4096, 7);

  auto writer = store->OpenPieceWriter(id, 1);
  FL_ASSERT_OK(writer);
  FL_ASSERT_OK((*writer)->Append(std::span(data).first(100)));
  FL_ASSERT_OK((*writer)->Append(std::span(data).subspan(100, 3000)));
  FL_ASSERT_OK((*writer)->Append(std::span<const uint8_t>()));
  FL_ASSERT_OK((*writer)->Append(std::span(data).subspan(3100)));
  EXPECT_EQ((*writer)->written(), 4096u);
  EXPECT_FALSE(store->HasPiece(id, 1));  // not before Commit
  auto digest = (*writer)->Commit(Sha256(data));
  FL_ASSERT_OK(digest);
  EXPECT_EQ(*digest, Sha256(data));
  // Commit is final.
  EXPECT_EQ((*writer)->Commit(std::nullopt).status().code(), StatusCode::kFailedPrecondition);
  writer->reset();

  EXPECT_TRUE(store->HasPiece(id, 1));
  EXPECT_FALSE(store->HasPiece(id, 0));
  auto read = ReadPiece(*store, id, 1);
  FL_ASSERT_OK(read);
  EXPECT_EQ(*read, data);

  auto handle = store->OpenPiece(id, 1);
  FL_ASSERT_OK(handle);
  EXPECT_EQ(handle->offset, 4096u);
  EXPECT_EQ(handle->length, 4096u);
  EXPECT_EQ(handle->digest, Sha256(data));
  EXPECT_NE(fcntl(handle->fd(), F_GETFD) & FD_CLOEXEC, 0);

  auto pieces = store->ListPieces(id);
  FL_ASSERT_OK(pieces);
  ASSERT_EQ(pieces->size(), 1u);
  EXPECT_EQ((*pieces)[0].number, 1u);
  EXPECT_EQ((*pieces)[0].offset, 4096u);
  EXPECT_EQ((*pieces)[0].length, 4096u);
  EXPECT_EQ((*pieces)[0].digest, Sha256(data));

  EXPECT_TRUE(store->OpenPiece(id, 0).status().IsNotFound());
}

// Serving a piece opens nothing: every handle and writer of a task shares
// one descriptor, closed once the task is gone and the last handle with it.
TEST_F(PieceStoreTest, ReadHandlesShareOneDescriptorClosedWithTheLast) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 200, 100)));
  FL_ASSERT_OK(WritePiece(*store, id, 0, TestBytes(100, 1)));
  FL_ASSERT_OK(WritePiece(*store, id, 1, TestBytes(100, 2)));
  auto first = store->OpenPiece(id, 0);
  auto second = store->OpenPiece(id, 1);
  FL_ASSERT_OK(first);
  FL_ASSERT_OK(second);
  const int fd = first->fd();
  ASSERT_GE(fd, 0);
  EXPECT_EQ(second->fd(), fd);
  PieceReadHandle moved(std::move(*first));
  EXPECT_EQ(moved.fd(), fd);
  FL_ASSERT_OK(store->DeleteTask(id));
  second->file.reset();
  EXPECT_NE(fcntl(fd, F_GETFD), -1);  // `moved` still reads through it
  { PieceReadHandle gone(std::move(moved)); }
  EXPECT_EQ(fcntl(fd, F_GETFD), -1);  // closed
}

// Regression guard for serving without the metadata: once a task is in use,
// its pieces are found even while another connection holds SQLite's write
// lock (the old path waited on that lock for every piece request).
TEST_F(PieceStoreTest, ServingALoadedTaskNeedsNoMetadataLock) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 200, 100)));
  FL_ASSERT_OK(WritePiece(*store, id, 0, TestBytes(100, 1)));
  auto other = SqliteDb::Open(options_.dir + "/metadata.db");
  FL_ASSERT_OK(other);
  FL_ASSERT_OK(other->Exec("BEGIN EXCLUSIVE"));
  auto piece = store->OpenPiece(id, 0);
  FL_ASSERT_OK(piece);
  EXPECT_EQ(piece->digest, Sha256(TestBytes(100, 1)));
  EXPECT_TRUE(store->OpenPiece(id, 1).status().IsNotFound());
  EXPECT_TRUE(store->HasPiece(id, 0));
  FL_ASSERT_OK(other->Exec("COMMIT"));
}

// A complete task's file may be made read-only (outputs are hard links to
// it, chmod 0444), so a daemon that is not root must still open it to serve:
// a task whose pieces are all recorded is opened read-only.
TEST_F(PieceStoreTest, ACompleteTaskIsOpenedReadOnly) {
  std::string id = TaskId(1);
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    FL_ASSERT_OK(store->CreateTask(Meta(id, 200, 100)));
    FL_ASSERT_OK(WritePiece(*store, id, 0, TestBytes(100, 1)));
    FL_ASSERT_OK(WritePiece(*store, id, 1, TestBytes(100, 2)));
    FL_ASSERT_OK(store->MarkComplete(id));
    ASSERT_EQ(::chmod(store->ContentPath(id).c_str(), 0444), 0);
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto handle = store->OpenPiece(id, 1);
  FL_ASSERT_OK(handle);
  EXPECT_EQ(fcntl(handle->fd(), F_GETFL) & O_ACCMODE, O_RDONLY);
  auto read = ReadPiece(*store, id, 0);
  FL_ASSERT_OK(read);
  EXPECT_EQ(*read, TestBytes(100, 1));
  // Writing a recorded piece again only compares its bytes: no descriptor needed.
  FL_ASSERT_OK(WritePiece(*store, id, 1, TestBytes(100, 2)));
}

// Listing a task that is not being served reads the metadata: listing every
// task must not open their files (nor push the served ones' views out).
TEST_F(PieceStoreTest, ListingATaskNotInUseOpensNothing) {
  std::string id = TaskId(1);
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    FL_ASSERT_OK(store->CreateTask(Meta(id, 200, 100)));
    FL_ASSERT_OK(WritePiece(*store, id, 1, TestBytes(100, 1)));
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto pieces = store->ListPieces(id);
  FL_ASSERT_OK(pieces);
  ASSERT_EQ(pieces->size(), 1u);
  EXPECT_EQ((*pieces)[0].number, 1u);
  EXPECT_EQ((*pieces)[0].offset, 100u);
  const std::string content = store->ContentPath(id);
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    EXPECT_NE(std::filesystem::read_symlink(entry.path(), ec).string(), content);
  }
  // Once served, the listing comes from the view and says the same.
  FL_ASSERT_OK(store->OpenPiece(id, 1));
  auto again = store->ListPieces(id);
  FL_ASSERT_OK(again);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].offset, 100u);
  EXPECT_EQ((*again)[0].digest, (*pieces)[0].digest);
}

// Every task read keeps a view with an open descriptor, but only so many:
// a store serving more tasks than that evicts the least recently read and
// reloads them when asked again.
TEST_F(PieceStoreTest, OpenDescriptorsStayBoundedAcrossManyTasks) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string content_dir = options_.dir + "/content/";
  auto open_content_fds = [&] {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      auto target = std::filesystem::read_symlink(entry.path(), ec);
      if (!ec && target.string().rfind(content_dir, 0) == 0) {
        ++count;
      }
    }
    return count;
  };
  constexpr int kTasks = 300;
  for (int i = 0; i < kTasks; ++i) {
    std::string id = TaskId(i + 1);
    FL_ASSERT_OK(store->CreateTask(Meta(id, 10, 10)));
    FL_ASSERT_OK(WritePiece(*store, id, 0, TestBytes(10, i)));
  }
  for (int i = 0; i < kTasks; ++i) {
    auto read = ReadPiece(*store, TaskId(i + 1), 0);
    FL_ASSERT_OK(read);
    EXPECT_EQ(*read, TestBytes(10, i));
  }
  EXPECT_GT(open_content_fds(), 0);
  EXPECT_LE(open_content_fds(), 256);
  auto first_again = ReadPiece(*store, TaskId(1), 0);
  FL_ASSERT_OK(first_again);
  EXPECT_EQ(*first_again, TestBytes(10, 0));
}

TEST_F(PieceStoreTest, LargePieceFromSmallAndLargeAppendsReadsBackExactly) {
  // Appends are buffered into large writes: bytes must land at their place
  // whether they come in tiny reads, reads that straddle a buffer's end, or
  // reads larger than the buffer.
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  constexpr uint32_t kPiece = (1u << 20) + 3;
  FL_ASSERT_OK(store->CreateTask(Meta(id, 3ull * kPiece, kPiece)));
  std::vector<uint8_t> data = TestBytes(kPiece, 11);
  auto writer = store->OpenPieceWriter(id, 2);
  FL_ASSERT_OK(writer);
  size_t at = 0;
  for (size_t size : {size_t{1}, size_t{300} << 10, size_t{7}, size_t{600} << 10, size_t{2048}}) {
    FL_ASSERT_OK((*writer)->Append(std::span(data).subspan(at, size)));
    at += size;
  }
  FL_ASSERT_OK((*writer)->Append(std::span(data).subspan(at)));
  FL_ASSERT_OK((*writer)->Commit(Sha256(data)));
  writer->reset();
  auto read = ReadPiece(*store, id, 2);
  FL_ASSERT_OK(read);
  EXPECT_EQ(*read, data);
  EXPECT_FALSE(store->HasPiece(id, 1));
}

TEST_F(PieceStoreTest, InterleavedWritersWithMidSizeAppendsKeepTheirBytesApart) {
  // Writers share the store's spare buffers: two writers at once, then a
  // third after them, each with appends that straddle the buffer's end.
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(2);
  constexpr uint32_t kPiece = 1u << 20;
  FL_ASSERT_OK(store->CreateTask(Meta(id, 3ull * kPiece, kPiece)));
  std::vector<std::vector<uint8_t>> data;
  for (uint32_t n = 0; n < 3; ++n) {
    data.push_back(TestBytes(kPiece, 20 + n));
  }
  auto append_all = [&](std::vector<PieceWriter*> writers, std::vector<uint32_t> numbers) {
    constexpr size_t kChunk = 100 << 10;
    for (size_t at = 0; at < kPiece; at += kChunk) {
      for (size_t i = 0; i < writers.size(); ++i) {
        auto chunk = std::span(data[numbers[i]]).subspan(at, std::min<size_t>(kChunk, kPiece - at));
        FL_ASSERT_OK(writers[i]->Append(chunk));
      }
    }
  };
  auto first = store->OpenPieceWriter(id, 0);
  auto second = store->OpenPieceWriter(id, 1);
  FL_ASSERT_OK(first);
  FL_ASSERT_OK(second);
  append_all({first->get(), second->get()}, {0, 1});
  FL_ASSERT_OK((*first)->Commit(Sha256(data[0])));
  FL_ASSERT_OK((*second)->Commit(Sha256(data[1])));
  first->reset();
  second->reset();
  auto third = store->OpenPieceWriter(id, 2);
  FL_ASSERT_OK(third);
  append_all({third->get()}, {2});
  FL_ASSERT_OK((*third)->Commit(Sha256(data[2])));
  third->reset();
  for (uint32_t n = 0; n < 3; ++n) {
    auto read = ReadPiece(*store, id, n);
    FL_ASSERT_OK(read);
    EXPECT_EQ(*read, data[n]) << "piece " << n;
  }
}

TEST_F(PieceStoreTest, OverLengthAppendIsInvalidArgument) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 8192, 4096)));
  std::vector<uint8_t> data = TestBytes(4097, 3);
  auto writer = store->OpenPieceWriter(id, 0);
  FL_ASSERT_OK(writer);
  FL_ASSERT_OK((*writer)->Append(std::span(data).first(4000)));
  Status s = (*writer)->Append(std::span(data).subspan(4000));
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_EQ((*writer)->written(), 4000u);  // nothing of the rejected append
  // The writer is still usable with the right bytes.
  FL_ASSERT_OK((*writer)->Append(std::span(data).subspan(4000, 96)));
  FL_ASSERT_OK((*writer)->Commit(Sha256(std::span(data).first(4096))));
  EXPECT_TRUE(store->HasPiece(id, 0));
}

TEST_F(PieceStoreTest, CommitWithWrongDigestIsCorruptionAndRecordsNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 8192, 4096)));
  auto result = WritePiece(*store, id, 0, TestBytes(4096, 1), Sha256("something else"));
  EXPECT_TRUE(result.status().IsCorruption()) << result.status().ToString();
  EXPECT_FALSE(store->HasPiece(id, 0));
  EXPECT_TRUE(store->OpenPiece(id, 0).status().IsNotFound());
  EXPECT_TRUE(store->ListPieces(id)->empty());
  // The piece can be written again, correctly.
  FL_ASSERT_OK(WritePiece(*store, id, 0, TestBytes(4096, 1), Sha256(TestBytes(4096, 1))));
  EXPECT_TRUE(store->HasPiece(id, 0));
}

TEST_F(PieceStoreTest, CommitBeforeAllBytesIsInvalidArgument) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 8192, 4096)));
  auto writer = store->OpenPieceWriter(id, 0);
  FL_ASSERT_OK(writer);
  FL_ASSERT_OK((*writer)->Append(TestBytes(4095, 1)));
  EXPECT_TRUE((*writer)->Commit(std::nullopt).status().IsInvalidArgument());
  EXPECT_FALSE(store->HasPiece(id, 0));
}

TEST_F(PieceStoreTest, UncommittedWriterRecordsNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 8192, 4096)));
  {
    auto writer = store->OpenPieceWriter(id, 0);
    FL_ASSERT_OK(writer);
    FL_ASSERT_OK((*writer)->Append(TestBytes(4096, 1)));
  }
  EXPECT_FALSE(store->HasPiece(id, 0));
  EXPECT_TRUE(store->ListPieces(id)->empty());
  // Its slot is free again.
  FL_ASSERT_OK(WritePiece(*store, id, 0, TestBytes(4096, 1)));
}

TEST_F(PieceStoreTest, LastPieceIsShorter) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 2 * 4096 + 10, 4096)));
  auto writer = store->OpenPieceWriter(id, 2);
  FL_ASSERT_OK(writer);
  EXPECT_TRUE((*writer)->Append(TestBytes(11, 1)).IsInvalidArgument());
  FL_ASSERT_OK((*writer)->Append(TestBytes(10, 1)));
  FL_ASSERT_OK((*writer)->Commit(Sha256(TestBytes(10, 1))));
  auto read = ReadPiece(*store, id, 2);
  FL_ASSERT_OK(read);
  EXPECT_EQ(*read, TestBytes(10, 1));
  auto handle = store->OpenPiece(id, 2);
  FL_ASSERT_OK(handle);
  EXPECT_EQ(handle->offset, 8192u);
  EXPECT_EQ(handle->length, 10u);
}

TEST_F(PieceStoreTest, EmptyTaskHasNoPiecesAndCompletes) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 0, 4096)));
  EXPECT_EQ(store->GetTask(id)->PieceCount(), 0u);
  EXPECT_EQ(std::filesystem::file_size(store->ContentPath(id)), 0u);
  EXPECT_TRUE(store->OpenPieceWriter(id, 0).status().IsInvalidArgument());
  FL_ASSERT_OK(store->MarkComplete(id));
  EXPECT_TRUE(store->GetTask(id)->complete);
}

TEST_F(PieceStoreTest, MarkCompleteNeedsEveryPiece) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 3 * 1000 - 1, 1000)));
  EXPECT_EQ(store->MarkComplete(id).code(), StatusCode::kFailedPrecondition);
  FL_ASSERT_OK(WritePiece(*store, id, 0, TestBytes(1000, 0)));
  FL_ASSERT_OK(WritePiece(*store, id, 2, TestBytes(999, 2)));
  Status s = store->MarkComplete(id);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("2 of 3"), std::string::npos) << s.message();
  EXPECT_FALSE(store->GetTask(id)->complete);
  FL_ASSERT_OK(WritePiece(*store, id, 1, TestBytes(1000, 1)));
  FL_ASSERT_OK(store->MarkComplete(id));
  FL_ASSERT_OK(store->MarkComplete(id));  // idempotent
  EXPECT_TRUE(store->GetTask(id)->complete);
  EXPECT_TRUE(store->MarkComplete(TaskId(9)).IsNotFound());
}

TEST_F(PieceStoreTest, UnknownTaskAndOutOfRangePiece) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  EXPECT_TRUE(store->OpenPieceWriter(id, 0).status().IsNotFound());
  EXPECT_TRUE(store->OpenPiece(id, 0).status().IsNotFound());
  EXPECT_TRUE(store->ListPieces(id).status().IsNotFound());
  EXPECT_TRUE(store->Touch(id).IsNotFound());
  EXPECT_TRUE(store->Pin(id).status().IsNotFound());
  EXPECT_FALSE(store->HasPiece(id, 0));
  FL_ASSERT_OK(store->CreateTask(Meta(id, 8192, 4096)));
  EXPECT_TRUE(store->OpenPieceWriter(id, 2).status().IsInvalidArgument());
  FL_EXPECT_OK(store->OpenPieceWriter(id, 1));
}

TEST_F(PieceStoreTest, TouchUpdatesAccessTime) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 1, 1)));
  int64_t created = clock_.NowUnixSeconds();
  clock_.Advance(std::chrono::seconds(42));
  FL_ASSERT_OK(store->Touch(id));
  auto meta = store->GetTask(id);
  FL_ASSERT_OK(meta);
  EXPECT_EQ(meta->created_at_unix, created);
  EXPECT_EQ(meta->accessed_at_unix, created + 42);
}

TEST_F(PieceStoreTest, InvalidTaskIdsAreRejected) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string valid = TaskId(1);
  std::string upper = valid;
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  std::string with_slash = valid;
  with_slash[10] = '/';
  const std::vector<std::string> bad = {
      "",
      "../etc",
      "../../../../../../etc/passwd",
      upper,
      valid.substr(0, 63),
      valid + "0",
      with_slash,
      std::string(62, 'a') + "..",
      std::string(63, 'a') + std::string(1, '\0'),
      std::string(64, 'g'),
  };
  for (const std::string& id : bad) {
    SCOPED_TRACE("id '" + id + "'");
    EXPECT_TRUE(store->CreateTask(Meta(id, 10, 10)).IsInvalidArgument());
    EXPECT_TRUE(store->GetTask(id).status().IsInvalidArgument());
    EXPECT_TRUE(store->DeleteTask(id).IsInvalidArgument());
    EXPECT_TRUE(store->Touch(id).IsInvalidArgument());
    EXPECT_TRUE(store->MarkComplete(id).IsInvalidArgument());
    EXPECT_TRUE(store->ListPieces(id).status().IsInvalidArgument());
    EXPECT_TRUE(store->OpenPieceWriter(id, 0).status().IsInvalidArgument());
    EXPECT_TRUE(store->OpenPiece(id, 0).status().IsInvalidArgument());
    EXPECT_TRUE(store->Pin(id).status().IsInvalidArgument());
    EXPECT_FALSE(store->HasPiece(id, 0));
    EXPECT_EQ(store->ContentPath(id), "");
  }
  EXPECT_TRUE(store->ListTasks()->empty());
  // Nothing was created outside the content tree.
  EXPECT_FALSE(FileExists(options_.dir + "/etc"));
  FL_EXPECT_OK(ValidateTaskId(valid));
}

TEST_F(PieceStoreTest, OpenUnderARegularFileNamesThePath) {
  std::string file = tmp_.path() + "/file";
  std::ofstream(file) << "not a directory";
  options_.dir = file + "/sub";
  auto store = PieceStore::Open(options_, clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(options_.dir), std::string::npos)
      << store.status().ToString();
  EXPECT_NE(store.status().message().find("Not a directory"), std::string::npos)
      << store.status().ToString();
}

TEST_F(PieceStoreTest, OpenUnwritableDirectoryNamesThePath) {
  std::string dir = tmp_.path() + "/readonly";
  ASSERT_EQ(::mkdir(dir.c_str(), 0500), 0);
  // Root ignores permission bits.
  if (::access(dir.c_str(), W_OK) == 0) {
    ::chmod(dir.c_str(), 0700);
    GTEST_SKIP() << "running with privileges that bypass permission bits";
  }
  options_.dir = dir + "/store";
  auto store = PieceStore::Open(options_, clock_);
  ::chmod(dir.c_str(), 0700);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(options_.dir), std::string::npos)
      << store.status().ToString();
  EXPECT_NE(store.status().message().find("Permission denied"), std::string::npos)
      << store.status().ToString();
}

TEST_F(PieceStoreTest, OpenRejectsBadOptions) {
  StoreOptions options = options_;
  options.dir = "";
  EXPECT_TRUE(PieceStore::Open(options, clock_).status().IsInvalidArgument());
  options = options_;
  options.low_watermark = 0.9;
  options.high_watermark = 0.8;
  EXPECT_TRUE(PieceStore::Open(options, clock_).status().IsInvalidArgument());
  options = options_;
  options.high_watermark = 1.5;
  EXPECT_TRUE(PieceStore::Open(options, clock_).status().IsInvalidArgument());
}

TEST_F(PieceStoreTest, SecondOpenOfTheSameDirectoryFails) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto second = PieceStore::Open(options_, clock_);
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition) << second.status().ToString();
  store.reset();
  FL_EXPECT_OK(PieceStore::Open(options_, clock_));
}

TEST_F(PieceStoreTest, NewerSchemaVersionIsRefused) {
  ASSERT_NE(OpenStore(), nullptr);
  {
    auto db = SqliteDb::Open(options_.dir + "/metadata.db");
    FL_ASSERT_OK(db);
    FL_ASSERT_OK(db->SetUserVersion(1000));
  }
  auto store = PieceStore::Open(options_, clock_);
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status().ToString();
  EXPECT_NE(store.status().message().find("1000"), std::string::npos);
}

TEST_F(PieceStoreTest, OnlyOneWriterPerPieceAtATime) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 20, 10)));
  auto first = store->OpenPieceWriter(id, 0);
  FL_ASSERT_OK(first);
  EXPECT_EQ(store->OpenPieceWriter(id, 0).status().code(), StatusCode::kFailedPrecondition);
  FL_EXPECT_OK(store->OpenPieceWriter(id, 1));  // another piece is fine
  first->reset();
  FL_EXPECT_OK(store->OpenPieceWriter(id, 0));
}

TEST_F(PieceStoreTest, RewritingARecordedPieceChangesNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  std::vector<uint8_t> data = TestBytes(4096, 1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 4096, 4096)));
  FL_ASSERT_OK(WritePiece(*store, id, 0, data));
  // Same bytes: success, no change.
  auto again = WritePiece(*store, id, 0, data);
  FL_ASSERT_OK(again);
  EXPECT_EQ(*again, Sha256(data));
  // Other bytes: Corruption, and the recorded bytes are untouched.
  auto other = WritePiece(*store, id, 0, TestBytes(4096, 2));
  EXPECT_TRUE(other.status().IsCorruption()) << other.status().ToString();
  EXPECT_EQ(*ReadPiece(*store, id, 0), data);
  EXPECT_EQ(store->ListPieces(id)->at(0).digest, Sha256(data));
}

TEST_F(PieceStoreTest, CommitAfterDeleteIsNotFoundAndRecreatedTaskIsClean) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 4096, 4096)));
  auto writer = store->OpenPieceWriter(id, 0);
  FL_ASSERT_OK(writer);
  FL_ASSERT_OK((*writer)->Append(TestBytes(4096, 1)));
  FL_ASSERT_OK(store->DeleteTask(id));
  FL_ASSERT_OK(store->CreateTask(Meta(id, 4096, 4096)));
  EXPECT_TRUE((*writer)->Commit(std::nullopt).status().IsNotFound());
  EXPECT_FALSE(store->HasPiece(id, 0));
  // The new incarnation accepts a writer for the same piece even while the
  // old one is alive.
  FL_EXPECT_OK(WritePiece(*store, id, 0, TestBytes(4096, 2)));
  EXPECT_EQ(*ReadPiece(*store, id, 0), TestBytes(4096, 2));
}

TEST_F(PieceStoreTest, ReadHandleSurvivesDelete) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  std::vector<uint8_t> data = TestBytes(4096, 1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, 4096, 4096)));
  FL_ASSERT_OK(WritePiece(*store, id, 0, data));
  auto handle = store->OpenPiece(id, 0);
  FL_ASSERT_OK(handle);
  FL_ASSERT_OK(store->DeleteTask(id));
  std::vector<uint8_t> out(4096);
  ASSERT_EQ(::pread(handle->fd(), out.data(), out.size(), 0), 4096);
  EXPECT_EQ(out, data);
}

TEST_F(PieceStoreTest, WriteOnAFullDiskIsResourceExhaustedNamingTheFile) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  // /dev/full fails every write with ENOSPC.
  auto on_full_disk = [&](const std::string& id, uint32_t piece_length) {
    FL_EXPECT_OK(store->CreateTask(Meta(id, 2ull * piece_length, piece_length)));
    std::string path = store->ContentPath(id);
    std::filesystem::remove(path);
    std::filesystem::create_symlink("/dev/full", path);
    return path;
  };

  // Small appends are buffered: the error comes with Commit at the latest.
  std::string small_path = on_full_disk(TaskId(1), 4096);
  auto small = store->OpenPieceWriter(TaskId(1), 0);
  FL_ASSERT_OK(small);
  FL_ASSERT_OK((*small)->Append(TestBytes(100, 1)));
  FL_ASSERT_OK((*small)->Append(TestBytes(4096 - 100, 2)));
  auto committed = (*small)->Commit(std::nullopt);
  ASSERT_FALSE(committed.ok());
  EXPECT_EQ(committed.status().code(), StatusCode::kResourceExhausted)
      << committed.status().ToString();
  EXPECT_NE(committed.status().message().find(small_path), std::string::npos);
  EXPECT_FALSE(store->HasPiece(TaskId(1), 0));

  // A large append is written at once, and the writer stays failed.
  std::string large_path = on_full_disk(TaskId(2), 1u << 20);
  auto large = store->OpenPieceWriter(TaskId(2), 1);
  FL_ASSERT_OK(large);
  Status s = (*large)->Append(TestBytes(1u << 20, 3));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_NE(s.message().find(large_path), std::string::npos) << s.message();
  EXPECT_EQ((*large)->Append(TestBytes(1, 1)).code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE((*large)->Commit(std::nullopt).ok());
  EXPECT_FALSE(store->HasPiece(TaskId(2), 1));
}

TEST_F(PieceStoreTest, ConcurrentWritersOfDifferentPieces) {
  constexpr int kThreads = 4;
  constexpr uint32_t kPieces = 32;
  constexpr uint32_t kPieceLength = 16384;
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string id = TaskId(1);
  FL_ASSERT_OK(store->CreateTask(Meta(id, kPieces * kPieceLength - 100, kPieceLength)));
  const TaskMeta meta = *store->GetTask(id);

  std::atomic<int> failures{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint32_t n = static_cast<uint32_t>(t); n < kPieces; n += kThreads) {
        std::vector<uint8_t> data = TestBytes(meta.PieceSize(n), n);
        if (!WritePiece(*store, id, n, data, Sha256(data), 1000 + 37 * t).ok()) {
          ++failures;
        }
      }
    });
  }
  // A reader racing the writers sees only complete pieces.
  std::thread reader([&] {
    while (!done.load()) {
      auto pieces = store->ListPieces(id);
      if (!pieces.ok()) {
        ++failures;
        continue;
      }
      for (const PieceRecord& p : *pieces) {
        auto read = ReadPiece(*store, id, p.number);
        if (!read.ok() || *read != TestBytes(meta.PieceSize(p.number), p.number)) {
          ++failures;
        }
      }
    }
  });
  for (auto& th : threads) {
    th.join();
  }
  done = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);

  auto pieces = store->ListPieces(id);
  FL_ASSERT_OK(pieces);
  ASSERT_EQ(pieces->size(), kPieces);
  for (uint32_t n = 0; n < kPieces; ++n) {
    EXPECT_EQ((*pieces)[n].number, n);
    EXPECT_EQ(*ReadPiece(*store, id, n), TestBytes(meta.PieceSize(n), n));
  }
  FL_EXPECT_OK(store->MarkComplete(id));
}

}  // namespace
}  // namespace feilong::storage
