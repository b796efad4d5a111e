#include "common/allocator.h"

#include <malloc.h>

#include <climits>

namespace feilong {

bool ConfigureAllocatorForTransfers(const AllocatorSettings& settings) {
  if (settings.mmap_threshold > INT_MAX || settings.trim_threshold > INT_MAX) {
    return false;
  }
  // Setting either disables glibc's dynamic adjustment of both.
  bool mmap_ok = mallopt(M_MMAP_THRESHOLD, static_cast<int>(settings.mmap_threshold)) == 1;
  bool trim_ok = mallopt(M_TRIM_THRESHOLD, static_cast<int>(settings.trim_threshold)) == 1;
  return mmap_ok && trim_ok;
}

}  // namespace feilong
