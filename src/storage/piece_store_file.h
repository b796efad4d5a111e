// FilePieceStore: the PieceStore of piece_store.h on a local directory.
//
//   <dir>/LOCK                     flock'ed by the open store (one per directory)
//   <dir>/metadata.db (+ -wal, -shm)  SQLite: tables `tasks` and `pieces`
//   <dir>/content/<id[0:2]>/<id>   sparse content file of each task
//   <dir>/trash/                   content files being deleted; emptied on Open
//
// How the guarantees of piece_store.h are kept:
// - Crash safety: a piece row is inserted only after the writer's pwrite()s
//   returned (and fdatasync with fsync_pieces); a task row only after its
//   content file exists with its full size. A process crash loses no written
//   page, and WAL commits survive it, so the rows never outrun the bytes.
// - Deletion first removes the rows, then renames the content file into
//   trash/ under the lock, and unlinks it after releasing the lock (unlinking
//   a large file can take long). A crash between the steps leaves files that
//   the next Open() removes.
// - Concurrency: one mutex guards the connection and the in-memory state
//   (pins, pieces being written). A task in use also has a view in memory
//   (recorded digests, one open descriptor of its content file; at most 256,
//   least recently read evicted), changed under that mutex and a shared one:
//   OpenPiece of a loaded task takes only the shared one, so a piece GET
//   waits for no commit, SQLite or open(2). Content bytes are written
//   outside both, through the view's descriptor.
//
// Thread rule: as PieceStore, every method is safe from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"
#include "common/task_id.h"
#include "storage/piece_store.h"

namespace feilong::storage {

namespace internal {
struct StoreCore;  // defined in piece_store_internal.h
}  // namespace internal

class FilePieceStore final : public PieceStore {
 public:
  // As PieceStore::Open.
  static Result<std::unique_ptr<FilePieceStore>> Open(const StoreOptions& options, Clock& clock);

  ~FilePieceStore() override;
  FilePieceStore(const FilePieceStore&) = delete;
  FilePieceStore& operator=(const FilePieceStore&) = delete;

  Status CreateTask(const TaskMeta& meta) override;
  Result<TaskMeta> GetTask(const std::string& task_id) override;
  Result<std::vector<TaskMeta>> ListTasks() override;
  Status DeleteTask(const std::string& task_id) override;
  Status Touch(const std::string& task_id) override;
  Status SetTaskAccess(const std::string& task_id, const std::string& grant_key) override;
  Status MarkComplete(const std::string& task_id) override;

  Result<std::vector<PieceRecord>> ListPieces(const std::string& task_id) override;
  bool HasPiece(const std::string& task_id, uint32_t number) override;
  Result<std::unique_ptr<PieceWriter>> OpenPieceWriter(const std::string& task_id,
                                                       uint32_t number) override;
  Result<PieceReadHandle> OpenPiece(const std::string& task_id, uint32_t number) override;

  std::string ContentPath(const std::string& task_id) const override;

  Result<std::unique_ptr<TaskPin>> Pin(const std::string& task_id) override;

  Result<GcReport> Gc() override;

 private:
  explicit FilePieceStore(std::shared_ptr<internal::StoreCore> core);

  // Shared with live writers and pins, so they stay valid after the store.
  std::shared_ptr<internal::StoreCore> core_;
};

}  // namespace feilong::storage
