// Helpers shared by the storage tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/digest.h"
#include "common/status.h"
#include "storage/piece_store.h"

namespace feilong::storage::testing {

inline ::testing::AssertionResult IsOk(const Status& status) {
  if (status.ok()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << status.ToString();
}

template <typename T>
::testing::AssertionResult IsOk(const Result<T>& result) {
  return IsOk(result.ok() ? Status::Ok() : result.status());
}

#define FL_ASSERT_OK(expr) ASSERT_TRUE(::feilong::storage::testing::IsOk(expr))
#define FL_EXPECT_OK(expr) EXPECT_TRUE(::feilong::storage::testing::IsOk(expr))

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                          "/feilong-storage-test-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << pattern << " failed";
    }
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Deterministic pseudo-random bytes.
inline std::vector<uint8_t> TestBytes(size_t size, uint32_t seed) {
  std::vector<uint8_t> out(size);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  return out;
}

// ---- PieceStore helpers ----

inline std::string TaskId(int n) { return HexEncode(Sha256("task-" + std::to_string(n))); }

inline TaskMeta Meta(const std::string& id, uint64_t content_length, uint32_t piece_length) {
  TaskMeta meta;
  meta.task_id = id;
  meta.url = "https://example.com/" + id.substr(0, 8);
  meta.content_length = content_length;
  meta.piece_length = piece_length;
  return meta;
}

// Writes `data` as piece `number` in appends of at most `chunk` bytes and commits.
inline Result<Sha256Digest> WritePiece(PieceStore& store, const std::string& id, uint32_t number,
                                       const std::vector<uint8_t>& data,
                                       std::optional<Sha256Digest> expected = std::nullopt,
                                       size_t chunk = 1000) {
  FL_ASSIGN_OR_RETURN(std::unique_ptr<PieceWriter> writer, store.OpenPieceWriter(id, number));
  std::span<const uint8_t> rest(data);
  while (!rest.empty()) {
    size_t n = std::min(chunk, rest.size());
    FL_RETURN_IF_ERROR(writer->Append(rest.first(n)));
    rest = rest.subspan(n);
  }
  return writer->Commit(expected);
}

// The bytes of a recorded piece, read with pread from OpenPiece's handle.
inline Result<std::vector<uint8_t>> ReadPiece(PieceStore& store, const std::string& id,
                                              uint32_t number) {
  FL_ASSIGN_OR_RETURN(PieceReadHandle handle, store.OpenPiece(id, number));
  std::vector<uint8_t> out(handle.length);
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(handle.fd(), out.data() + done, out.size() - done,
                        static_cast<off_t>(handle.offset + done));
    if (n <= 0) {
      return Status::IOError("pread failed");
    }
    done += static_cast<size_t>(n);
  }
  if (Sha256(out) != handle.digest) {
    return Status::Corruption("read bytes do not match the handle's digest");
  }
  return out;
}

inline bool FileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

inline uint64_t AllocatedBytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return 0;
  }
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

class PieceStoreTest : public ::testing::Test {
 protected:
  PieceStoreTest() {
    options_.dir = tmp_.path() + "/store";
    // Never depend on the real disk: report an almost empty file system.
    options_.disk_usage = []() -> Result<DiskUsage> { return DiskUsage{1ull << 40, 0}; };
  }

  std::unique_ptr<PieceStore> OpenStore() {
    auto store = PieceStore::Open(options_, clock_);
    EXPECT_TRUE(IsOk(store));
    return store.ok() ? std::move(store).value() : nullptr;
  }

  TempDir tmp_;
  FakeClock clock_;
  StoreOptions options_;
};

}  // namespace feilong::storage::testing
