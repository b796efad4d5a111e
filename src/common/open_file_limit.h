// The process's limit on open descriptors. A busy fld holds a descriptor
// per piece connection (up to upload.max_connections), per transfer in
// flight (download.max_transfers), per task served (up to 256 store views),
// plus gRPC's and SQLite's; systemd starts services with a soft limit of
// 1024 (and a hard one far above), meant to be raised by programs that, like
// this one, never use select(2).
#pragma once

#include <cstdint>

#include "common/status.h"

namespace feilong {

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit
// in force afterwards. IOError if the limit cannot be read or set.
Result<uint64_t> RaiseOpenFileLimit();

}  // namespace feilong
