// PieceStore tests: persistence across reopen, process kills (fork + SIGKILL)
// and recovery of interrupted creates and deletes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/digest.h"
#include "storage/piece_store.h"
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

TEST_F(PieceStoreTest, PersistsAcrossReopen) {
  std::string id = TaskId(1);
  std::vector<uint8_t> p0 = TestBytes(4096, 10);
  std::vector<uint8_t> p2 = TestBytes(5, 12);
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    FL_ASSERT_OK(store->CreateTask(Meta(id, 2 * 4096 + 5, 4096)));
    FL_ASSERT_OK(WritePiece(*store, id, 0, p0));
    FL_ASSERT_OK(WritePiece(*store, id, 2, p2));
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto meta = store->GetTask(id);
  FL_ASSERT_OK(meta);
  EXPECT_EQ(meta->content_length, 2u * 4096 + 5);
  auto pieces = store->ListPieces(id);
  FL_ASSERT_OK(pieces);
  ASSERT_EQ(pieces->size(), 2u);
  EXPECT_EQ((*pieces)[0].number, 0u);
  EXPECT_EQ((*pieces)[1].number, 2u);
  EXPECT_EQ((*pieces)[1].digest, Sha256(p2));
  EXPECT_EQ(*ReadPiece(*store, id, 0), p0);
  EXPECT_EQ(*ReadPiece(*store, id, 2), p2);
  EXPECT_FALSE(store->HasPiece(id, 1));
}

TEST_F(PieceStoreTest, FsyncPiecesWritesAndPersists) {
  options_.fsync_pieces = true;
  std::string id = TaskId(1);
  std::vector<uint8_t> data = TestBytes(4096, 3);
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    FL_ASSERT_OK(store->CreateTask(Meta(id, 4096, 4096)));
    FL_ASSERT_OK(WritePiece(*store, id, 0, data, Sha256(data)));
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*ReadPiece(*store, id, 0), data);
}

TEST_F(PieceStoreTest, KillDuringWriteKeepsOnlyCompletePieces) {
  std::string id = TaskId(1);
  std::vector<uint8_t> p0 = TestBytes(65536, 1);
  std::vector<uint8_t> p1 = TestBytes(65536, 2);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: no gtest assertions; exit codes tell the parent what failed.
    auto store = PieceStore::Open(options_, clock_);
    if (!store.ok() || !(*store)->CreateTask(Meta(id, 3 * 65536, 65536)).ok()) {
      ::_exit(2);
    }
    if (!WritePiece(**store, id, 0, p0, Sha256(p0)).ok()) {
      ::_exit(3);
    }
    auto writer = (*store)->OpenPieceWriter(id, 1);
    if (!writer.ok() || !(*writer)->Append(std::span(p1).first(p1.size() / 2)).ok()) {
      ::_exit(4);
    }
    ::raise(SIGKILL);
    ::_exit(5);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);

  auto store = OpenStore();  // the lock died with the child
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->HasPiece(id, 0));
  auto read = ReadPiece(*store, id, 0);
  FL_ASSERT_OK(read);
  EXPECT_EQ(*read, p0);
  EXPECT_FALSE(store->HasPiece(id, 1));
  auto pieces = store->ListPieces(id);
  FL_ASSERT_OK(pieces);
  EXPECT_EQ(pieces->size(), 1u);
  // The interrupted piece can be written again.
  FL_ASSERT_OK(WritePiece(*store, id, 1, p1, Sha256(p1)));
}

// Kills a child at many points of a stream of appends and commits: every
// piece recorded afterwards must hold exactly its bytes.
TEST_F(PieceStoreTest, KillAtAnyPointNeverExposesIncompletePieces) {
  constexpr uint32_t kPieces = 6;
  constexpr uint32_t kPieceLength = 16384;
  constexpr size_t kChunk = 4096;
  std::string id = TaskId(1);
  const int total_steps = static_cast<int>(kPieces * (kPieceLength / kChunk + 1));
  for (int kill_at = 0; kill_at <= total_steps; kill_at += 3) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = PieceStore::Open(options_, clock_);
      if (!store.ok() ||
          !(*store)->CreateTask(Meta(id, kPieces * kPieceLength, kPieceLength)).ok()) {
        ::_exit(2);
      }
      int step = 0;
      for (uint32_t n = 0; n < kPieces; ++n) {
        std::vector<uint8_t> data = TestBytes(kPieceLength, n);
        auto writer = (*store)->OpenPieceWriter(id, n);
        if (!writer.ok()) {
          ::_exit(3);
        }
        for (size_t off = 0; off < data.size(); off += kChunk) {
          if (step++ == kill_at) {
            ::raise(SIGKILL);
          }
          if (!(*writer)->Append(std::span(data).subspan(off, kChunk)).ok()) {
            ::_exit(4);
          }
        }
        if (step++ == kill_at) {
          ::raise(SIGKILL);
        }
        // A recorded piece (from an earlier round) is only verified.
        if (!(*writer)->Commit(Sha256(data)).ok()) {
          ::_exit(5);
        }
      }
      ::raise(SIGKILL);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "kill_at " << kill_at << ": exit " << WEXITSTATUS(status);

    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    auto pieces = store->ListPieces(id);
    FL_ASSERT_OK(pieces);
    for (const PieceRecord& piece : *pieces) {
      auto read = ReadPiece(*store, id, piece.number);
      FL_ASSERT_OK(read);
      EXPECT_EQ(*read, TestBytes(kPieceLength, piece.number)) << "kill_at " << kill_at;
    }
    // Kills are cumulative over the rounds: pieces only ever accumulate.
    EXPECT_GE(pieces->size(), std::min<size_t>(kPieces, kill_at / (kPieceLength / kChunk + 1)));
  }
}

TEST_F(PieceStoreTest, OpenRemovesLeftoversOfInterruptedCreatesAndDeletes) {
  std::string kept = TaskId(1);
  std::string orphan = TaskId(2);
  std::string lost = TaskId(3);
  std::string orphan_path;
  std::string lost_path;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    FL_ASSERT_OK(store->CreateTask(Meta(kept, 10, 10)));
    FL_ASSERT_OK(store->CreateTask(Meta(lost, 10, 10)));
    orphan_path = store->ContentPath(orphan);
    lost_path = store->ContentPath(lost);
  }
  // A content file whose row never made it, and a row whose file is gone.
  std::filesystem::create_directories(std::filesystem::path(orphan_path).parent_path());
  std::ofstream(orphan_path) << "junk";
  std::filesystem::remove(lost_path);
  std::ofstream(options_.dir + "/trash/" + kept + ".7") << "junk";
  std::string unrelated = options_.dir + "/content/README";
  std::ofstream(unrelated) << "not ours";

  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(FileExists(orphan_path));
  EXPECT_TRUE(store->GetTask(lost).status().IsNotFound());
  FL_EXPECT_OK(store->GetTask(kept));
  EXPECT_TRUE(FileExists(store->ContentPath(kept)));
  EXPECT_TRUE(std::filesystem::is_empty(options_.dir + "/trash"));
  EXPECT_TRUE(FileExists(unrelated));
}

}  // namespace
}  // namespace feilong::storage
