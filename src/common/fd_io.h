// Whole reads and writes on a file descriptor: the loops around read(2),
// pread(2) and write(2) that short transfers and EINTR require.
//
// Thread rule: free functions; the caller owns the descriptor.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "common/status.h"

namespace feilong {

// Writes all of `bytes`. IOError (ResourceExhausted when the disk is full)
// naming `what`.
Status WriteFully(int fd, std::span<const uint8_t> bytes, std::string_view what);
Status WriteFully(int fd, std::string_view bytes, std::string_view what);

// Fills `buffer` from `offset` (pread). IOError naming `what`, or
// Corruption when the file ends first.
Status PreadFully(int fd, std::span<uint8_t> buffer, uint64_t offset, std::string_view what);

}  // namespace feilong
