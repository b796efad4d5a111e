#include "storage/piece_store.h"

#include <unistd.h>

#include <utility>

#include "storage/piece_store_file.h"

namespace feilong::storage {

PieceReadHandle::PieceReadHandle(PieceReadHandle&& other) noexcept
    : fd(std::exchange(other.fd, -1)),
      offset(other.offset),
      length(other.length),
      digest(other.digest),
      private_task(other.private_task),
      grant_key(std::move(other.grant_key)) {}

PieceReadHandle& PieceReadHandle::operator=(PieceReadHandle&& other) noexcept {
  if (this != &other) {
    if (fd >= 0) {
      ::close(fd);
    }
    fd = std::exchange(other.fd, -1);
    offset = other.offset;
    length = other.length;
    digest = other.digest;
    private_task = other.private_task;
    grant_key = std::move(other.grant_key);
  }
  return *this;
}

PieceReadHandle::~PieceReadHandle() {
  if (fd >= 0) {
    ::close(fd);
  }
}

Result<std::unique_ptr<PieceStore>> PieceStore::Open(const StoreOptions& options, Clock& clock) {
  FL_ASSIGN_OR_RETURN(std::unique_ptr<FilePieceStore> store, FilePieceStore::Open(options, clock));
  return std::unique_ptr<PieceStore>(std::move(store));
}

}  // namespace feilong::storage
