// SimStore: a PieceStore that keeps only what a simulated host knows about
// its tasks (geometry, which pieces it holds and their digests), no bytes,
// so a swarm of a hundred hosts with a GiB each fits in memory. Pieces are
// recorded by the simulated transfers (Record), never through a writer.
//
// Thread rule: single-threaded, like the simulation that owns it.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "storage/piece_store.h"

namespace feilong::sim {

class SimStore final : public storage::PieceStore {
 public:
  // Records piece `number` of a task created before.
  void Record(const std::string& task_id, uint32_t number, const Sha256Digest& digest);
  bool Holds(const std::string& task_id, uint32_t number) const;
  uint32_t HeldCount(const std::string& task_id) const;

  Status CreateTask(const storage::TaskMeta& meta) override;
  Result<storage::TaskMeta> GetTask(const std::string& task_id) override;
  Result<std::vector<storage::TaskMeta>> ListTasks() override;
  Status DeleteTask(const std::string& task_id) override;
  Status Touch(const std::string& task_id) override;
  Status SetTaskAccess(const std::string& task_id, const std::string& grant_key) override;
  Status MarkComplete(const std::string& task_id) override;
  Result<std::vector<storage::PieceRecord>> ListPieces(const std::string& task_id) override;
  bool HasPiece(const std::string& task_id, uint32_t number) override;
  // The simulation moves no bytes: these fail with FailedPrecondition.
  Result<std::unique_ptr<storage::PieceWriter>> OpenPieceWriter(const std::string& task_id,
                                                                uint32_t number) override;
  Result<storage::PieceReadHandle> OpenPiece(const std::string& task_id, uint32_t number) override;
  std::string ContentPath(const std::string& task_id) const override;
  Result<std::unique_ptr<storage::TaskPin>> Pin(const std::string& task_id) override;
  Result<GcReport> Gc() override;

 private:
  struct Task {
    storage::TaskMeta meta;
    std::map<uint32_t, Sha256Digest> pieces;
  };
  std::map<std::string, Task> tasks_;
};

}  // namespace feilong::sim
