#include "storage/piece_store.h"

#include <utility>

#include "storage/piece_store_file.h"

namespace feilong::storage {

Result<std::unique_ptr<PieceStore>> PieceStore::Open(const StoreOptions& options, Clock& clock) {
  FL_ASSIGN_OR_RETURN(std::unique_ptr<FilePieceStore> store, FilePieceStore::Open(options, clock));
  return std::unique_ptr<PieceStore>(std::move(store));
}

}  // namespace feilong::storage
