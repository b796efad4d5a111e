#include "support/fake_piece_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "support/temp_dir.h"

namespace feilong::test {

namespace {
Status NotInFake(const char* what) {
  return Status::Internal(std::string("FakePieceStore does not implement ") + what);
}
}  // namespace

FakePieceStore::FakePieceStore(std::string dir) : dir_(std::move(dir)) {}

void FakePieceStore::AddTask(const std::string& task_id, const std::string& content,
                             uint32_t piece_length,
                             const std::optional<std::vector<uint32_t>>& pieces) {
  Task task;
  task.meta.task_id = task_id;
  task.meta.url = "http://origin.test/" + task_id;
  task.meta.content_length = content.size();
  task.meta.piece_length = piece_length;
  task.content = content;
  if (pieces.has_value()) {
    task.pieces.insert(pieces->begin(), pieces->end());
  } else {
    for (uint32_t i = 0; i < task.meta.PieceCount(); ++i) {
      task.pieces.insert(i);
    }
  }
  task.meta.complete = task.pieces.size() == task.meta.PieceCount();
  if (!WriteFile(ContentPath(task_id), content).ok()) {
    std::abort();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  tasks_[task_id] = std::move(task);
}

void FakePieceStore::FailOpenPiece(Status status) {
  std::lock_guard<std::mutex> lock(mutex_);
  open_piece_error_ = std::move(status);
}

Status FakePieceStore::CreateTask(const storage::TaskMeta& meta) {
  AddTask(meta.task_id, std::string(meta.content_length, '\0'), meta.piece_length,
          std::vector<uint32_t>{});
  return Status::Ok();
}

Result<storage::TaskMeta> FakePieceStore::GetTask(const std::string& task_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) {
    return Status::NotFound("task " + task_id);
  }
  return it->second.meta;
}

Result<std::vector<storage::TaskMeta>> FakePieceStore::ListTasks() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<storage::TaskMeta> out;
  for (const auto& [id, task] : tasks_) {
    out.push_back(task.meta);
  }
  return out;
}

Status FakePieceStore::DeleteTask(const std::string& /*task_id*/) {
  return NotInFake("DeleteTask");
}
Status FakePieceStore::Touch(const std::string& /*task_id*/) { return Status::Ok(); }
Status FakePieceStore::SetTaskAccess(const std::string& task_id, const std::string& grant_key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) {
    return Status::NotFound("task " + task_id);
  }
  it->second.meta.private_task = true;
  if (!grant_key.empty()) {
    it->second.meta.grant_key = grant_key;
  }
  return Status::Ok();
}

Status FakePieceStore::MarkComplete(const std::string& /*task_id*/) {
  return NotInFake("MarkComplete");
}

Result<std::vector<storage::PieceRecord>> FakePieceStore::ListPieces(const std::string& task_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) {
    return Status::NotFound("task " + task_id);
  }
  std::vector<storage::PieceRecord> out;
  const Task& task = it->second;
  for (uint32_t number : task.pieces) {
    storage::PieceRecord record;
    record.number = number;
    record.offset = task.meta.PieceOffset(number);
    record.length = task.meta.PieceSize(number);
    record.digest = Sha256(std::string_view(task.content).substr(record.offset, record.length));
    out.push_back(record);
  }
  return out;
}

bool FakePieceStore::HasPiece(const std::string& task_id, uint32_t number) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = tasks_.find(task_id);
  return it != tasks_.end() && it->second.pieces.count(number) > 0;
}

Result<std::unique_ptr<storage::PieceWriter>> FakePieceStore::OpenPieceWriter(
    const std::string& /*task_id*/, uint32_t /*number*/) {
  return NotInFake("OpenPieceWriter");
}

Result<storage::PieceReadHandle> FakePieceStore::OpenPiece(const std::string& task_id,
                                                           uint32_t number) {
  storage::PieceReadHandle handle;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!open_piece_error_.ok()) {
      return open_piece_error_;
    }
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) {
      return Status::NotFound("task " + task_id);
    }
    const Task& task = it->second;
    if (task.pieces.count(number) == 0) {
      return Status::NotFound("piece " + std::to_string(number) + " of task " + task_id);
    }
    handle.offset = task.meta.PieceOffset(number);
    handle.length = task.meta.PieceSize(number);
    handle.digest = Sha256(std::string_view(task.content).substr(handle.offset, handle.length));
    handle.private_task = task.meta.private_task;
    handle.grant_key = task.meta.grant_key;
  }
  int fd = ::open(ContentPath(task_id).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::FromErrno(errno, "open content of " + task_id);
  }
  handle.file = std::make_shared<const ScopedFd>(fd);
  return handle;
}

std::string FakePieceStore::ContentPath(const std::string& task_id) const {
  return dir_ + "/" + task_id;
}

Result<std::unique_ptr<storage::TaskPin>> FakePieceStore::Pin(const std::string& /*task_id*/) {
  return NotInFake("Pin");
}

Result<storage::PieceStore::GcReport> FakePieceStore::Gc() { return GcReport{}; }

MemoryPieceWriter::MemoryPieceWriter(uint64_t length, std::optional<uint64_t> fail_after)
    : length_(length), fail_after_(fail_after) {}

Status MemoryPieceWriter::Append(std::span<const uint8_t> data) {
  if (data_.size() + data.size() > length_) {
    return Status::InvalidArgument("append past the piece's " + std::to_string(length_) + " bytes");
  }
  if (fail_after_.has_value() && data_.size() + data.size() > *fail_after_) {
    return Status::IOError("injected write failure");
  }
  data_.append(reinterpret_cast<const char*>(data.data()), data.size());
  return Status::Ok();
}

Result<Sha256Digest> MemoryPieceWriter::Commit(const std::optional<Sha256Digest>& expected) {
  if (data_.size() != length_) {
    return Status::InvalidArgument("commit after " + std::to_string(data_.size()) + " of " +
                                   std::to_string(length_) + " bytes");
  }
  Sha256Digest digest = Sha256(std::string_view(data_));
  if (expected.has_value() && *expected != digest) {
    return Status::Corruption("digest mismatch");
  }
  committed_ = true;
  return digest;
}

}  // namespace feilong::test
