// In-memory stand-ins for the storage interface, for tests of code that only
// reads pieces (the piece server) or writes one piece (the piece client).
//
// FakePieceStore keeps task metadata in memory and each task's content in a
// file under a directory of the test's choosing (so OpenPiece returns a real
// descriptor that sendfile(2) can use). Only the calls the data plane needs
// are real: CreateTask (via AddTask), GetTask, ListTasks, HasPiece,
// ListPieces, OpenPiece, ContentPath, SetTaskAccess; the others return Internal.
//
// MemoryPieceWriter collects one piece's bytes in memory.
//
// Thread rule: FakePieceStore is thread-safe; MemoryPieceWriter is not.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "storage/piece_store.h"

namespace feilong::test {

class FakePieceStore final : public storage::PieceStore {
 public:
  // `dir` must exist and outlive the store.
  explicit FakePieceStore(std::string dir);

  // Adds a task holding `content` split in `piece_length` pieces and records
  // `pieces` (all of them when unset). Aborts on a file error.
  void AddTask(const std::string& task_id, const std::string& content, uint32_t piece_length,
               const std::optional<std::vector<uint32_t>>& pieces = std::nullopt);
  // Makes every later call of OpenPiece fail with `status` (OK clears it).
  void FailOpenPiece(Status status);

  Status CreateTask(const storage::TaskMeta& meta) override;
  Result<storage::TaskMeta> GetTask(const std::string& task_id) override;
  Result<std::vector<storage::TaskMeta>> ListTasks() override;
  Status DeleteTask(const std::string& task_id) override;
  Status Touch(const std::string& task_id) override;
  Status SetTaskAccess(const std::string& task_id, const std::string& grant_key) override;
  Status MarkComplete(const std::string& task_id) override;
  Result<std::vector<storage::PieceRecord>> ListPieces(const std::string& task_id) override;
  bool HasPiece(const std::string& task_id, uint32_t number) override;
  Result<std::unique_ptr<storage::PieceWriter>> OpenPieceWriter(const std::string& task_id,
                                                                uint32_t number) override;
  Result<storage::PieceReadHandle> OpenPiece(const std::string& task_id, uint32_t number) override;
  std::string ContentPath(const std::string& task_id) const override;
  Result<std::unique_ptr<storage::TaskPin>> Pin(const std::string& task_id) override;
  Result<GcReport> Gc() override;

 private:
  struct Task {
    storage::TaskMeta meta;
    std::string content;
    std::set<uint32_t> pieces;
  };

  const std::string dir_;
  std::mutex mutex_;
  std::map<std::string, Task> tasks_;  // guarded by mutex_
  Status open_piece_error_;            // guarded by mutex_
};

class MemoryPieceWriter final : public storage::PieceWriter {
 public:
  // A writer for a piece of `length` bytes. With `fail_after`, the Append
  // that would go past that many bytes fails with IOError.
  explicit MemoryPieceWriter(uint64_t length, std::optional<uint64_t> fail_after = std::nullopt);

  Status Append(std::span<const uint8_t> data) override;
  uint64_t written() const override { return data_.size(); }
  Result<Sha256Digest> Commit(const std::optional<Sha256Digest>& expected) override;

  const std::string& data() const { return data_; }
  bool committed() const { return committed_; }

 private:
  uint64_t length_;
  std::optional<uint64_t> fail_after_;
  std::string data_;
  bool committed_ = false;
};

}  // namespace feilong::test
