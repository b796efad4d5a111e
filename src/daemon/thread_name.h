// Names the calling thread (as shown by top -H and /proc/<pid>/task), so
// per-thread CPU use tells transfers, downloads and stream readers apart.
#pragma once

#include <pthread.h>

namespace feilong::daemon {

// REQUIRES: `name` is at most 15 characters (the kernel's limit).
inline void SetThreadName(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace feilong::daemon
