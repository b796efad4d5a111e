// Test helpers for files: a self-removing temporary directory, deterministic
// random content, whole-file reads and writes, and a free TCP port.
//
// Thread rule: TempDir is not thread-safe (create and destroy on one thread;
// reading path() from several is fine). The free functions are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace feilong::test {

// A fresh directory (mkdtemp under $TMPDIR, else /tmp), removed with all its
// contents by the destructor. Aborts if it cannot be created.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string Path(std::string_view name) const;

 private:
  std::string path_;
};

// `size` pseudo-random bytes; the same (size, seed) always gives the same bytes.
std::string RandomBytes(size_t size, uint64_t seed);

// Creates or truncates `path` and writes `data`. IOError naming the path.
Status WriteFile(const std::string& path, std::string_view data);

// Writes RandomBytes(size, seed) to `path` (regenerate them to compare).
Status WriteRandomFile(const std::string& path, size_t size, uint64_t seed);

// The whole content of `path`. NotFound / IOError naming the path.
Result<std::string> ReadFile(const std::string& path);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then
// released). Racy by nature; callers retry on a bind conflict.
uint16_t FreeTcpPort();

}  // namespace feilong::test
