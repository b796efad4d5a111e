#include "sim/sim_store.h"

namespace feilong::sim {

namespace {

class NoPin final : public storage::TaskPin {};

Status Unknown(const std::string& task_id) { return Status::NotFound("task " + task_id); }

}  // namespace

void SimStore::Record(const std::string& task_id, uint32_t number, const Sha256Digest& digest) {
  auto it = tasks_.find(task_id);
  if (it != tasks_.end() && number < it->second.meta.PieceCount()) {
    it->second.pieces[number] = digest;
  }
}

bool SimStore::Holds(const std::string& task_id, uint32_t number) const {
  auto it = tasks_.find(task_id);
  return it != tasks_.end() && it->second.pieces.count(number) != 0;
}

uint32_t SimStore::HeldCount(const std::string& task_id) const {
  auto it = tasks_.find(task_id);
  return it == tasks_.end() ? 0 : static_cast<uint32_t>(it->second.pieces.size());
}

Status SimStore::CreateTask(const storage::TaskMeta& meta) {
  auto [it, added] = tasks_.try_emplace(meta.task_id, Task{meta, {}});
  if (!added && (it->second.meta.content_length != meta.content_length ||
                 it->second.meta.piece_length != meta.piece_length)) {
    return Status::AlreadyExists("task " + meta.task_id + " exists with another geometry");
  }
  return Status::Ok();
}

Result<storage::TaskMeta> SimStore::GetTask(const std::string& task_id) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) {
    return Unknown(task_id);
  }
  return it->second.meta;
}

Result<std::vector<storage::TaskMeta>> SimStore::ListTasks() {
  std::vector<storage::TaskMeta> all;
  for (const auto& [id, task] : tasks_) {
    all.push_back(task.meta);
  }
  return all;
}

Status SimStore::DeleteTask(const std::string& task_id) {
  tasks_.erase(task_id);
  return Status::Ok();
}

Status SimStore::Touch(const std::string& task_id) {
  return tasks_.count(task_id) ? Status::Ok() : Unknown(task_id);
}

Status SimStore::SetTaskAccess(const std::string& task_id, const std::string& grant_key) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) {
    return Unknown(task_id);
  }
  it->second.meta.private_task = true;
  it->second.meta.grant_key = grant_key;
  return Status::Ok();
}

Status SimStore::MarkComplete(const std::string& task_id) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) {
    return Unknown(task_id);
  }
  if (it->second.pieces.size() != it->second.meta.PieceCount()) {
    return Status::FailedPrecondition("task " + task_id + " is not whole");
  }
  it->second.meta.complete = true;
  return Status::Ok();
}

Result<std::vector<storage::PieceRecord>> SimStore::ListPieces(const std::string& task_id) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) {
    return Unknown(task_id);
  }
  std::vector<storage::PieceRecord> pieces;
  for (const auto& [number, digest] : it->second.pieces) {
    storage::PieceRecord record;
    record.number = number;
    record.length = it->second.meta.PieceSize(number);
    record.digest = digest;
    pieces.push_back(record);
  }
  return pieces;
}

bool SimStore::HasPiece(const std::string& task_id, uint32_t number) {
  return Holds(task_id, number);
}

Result<std::unique_ptr<storage::PieceWriter>> SimStore::OpenPieceWriter(const std::string&,
                                                                        uint32_t) {
  return Status::FailedPrecondition("the simulated store holds no bytes");
}

Result<storage::PieceReadHandle> SimStore::OpenPiece(const std::string&, uint32_t) {
  return Status::FailedPrecondition("the simulated store holds no bytes");
}

std::string SimStore::ContentPath(const std::string&) const { return ""; }

Result<std::unique_ptr<storage::TaskPin>> SimStore::Pin(const std::string& task_id) {
  if (!tasks_.count(task_id)) {
    return Unknown(task_id);
  }
  return std::unique_ptr<storage::TaskPin>(std::make_unique<NoPin>());
}

Result<storage::PieceStore::GcReport> SimStore::Gc() { return GcReport{}; }

}  // namespace feilong::sim
