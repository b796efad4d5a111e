// Process-wide memory allocator settings for daemons that move bulk data.
#pragma once

#include <cstddef>

namespace feilong {

struct AllocatorSettings {
  // Allocations at least this large get their own mmap(); smaller ones come
  // from the heap and are reused after free.
  size_t mmap_threshold = 4u << 20;  // 4 MiB
  // Free memory at the top of a heap is handed back to the kernel only
  // beyond this much.
  size_t trim_threshold = 32u << 20;  // 32 MiB
};

// Makes freed transfer buffers stay with the process for reuse. Transfers
// allocate and free buffers of 128 KiB to 1 MiB many times a second
// (libcurl's receive buffer, sized on every request; piece write blocks); glibc's
// defaults serve such sizes from fresh mmap()s or trim them off the heap
// when freed, so every reuse faults its pages in again. In the swarm
// benchmark at 100 Mbit/s per host that was ~68,000 page faults a second
// over 16 daemons with 512 KiB pieces (300 with these settings), and it
// took a third of the machine's CPU. Call once at start, before threads.
// Returns false if a setting was not applied (sanitizers' allocators ignore
// them; nothing else changes then).
bool ConfigureAllocatorForTransfers(const AllocatorSettings& settings = {});

}  // namespace feilong
