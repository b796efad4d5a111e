#include "daemon/output.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "support/temp_dir.h"

namespace feilong::daemon {
namespace {

TEST(OutputTest, HardLinksOnTheSameFileSystem) {
  test::TempDir dir;
  ASSERT_TRUE(test::WriteFile(dir.Path("content"), "hello").ok());
  ASSERT_TRUE(WriteOutput(dir.Path("content"), dir.Path("out"), std::nullopt).ok());
  struct stat a {
  }, b{};
  ASSERT_EQ(::stat(dir.Path("content").c_str(), &a), 0);
  ASSERT_EQ(::stat(dir.Path("out").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_mode & 0777, 0444u) << "cached bytes are protected from writes";
  EXPECT_EQ(*test::ReadFile(dir.Path("out")), "hello");
}

TEST(OutputTest, ReplacesAnExistingFile) {
  test::TempDir dir;
  ASSERT_TRUE(test::WriteFile(dir.Path("content"), "new").ok());
  ASSERT_TRUE(test::WriteFile(dir.Path("out"), "old and longer").ok());
  ASSERT_TRUE(WriteOutput(dir.Path("content"), dir.Path("out"), std::nullopt).ok());
  EXPECT_EQ(*test::ReadFile(dir.Path("out")), "new");
}

TEST(OutputTest, CopiesAcrossFileSystems) {
  test::TempDir dir;
  ASSERT_TRUE(test::WriteFile(dir.Path("content"), "across").ok());
  // /dev/shm is a tmpfs, a different file system from the temp dir's.
  struct stat shm {
  }, tmp{};
  if (::stat("/dev/shm", &shm) != 0 || ::stat(dir.path().c_str(), &tmp) != 0 ||
      shm.st_dev == tmp.st_dev) {
    GTEST_SKIP() << "no second file system to copy across";
  }
  std::string out = "/dev/shm/feilong-output-test-" + std::to_string(::getpid());
  ASSERT_TRUE(WriteOutput(dir.Path("content"), out, std::nullopt).ok());
  EXPECT_EQ(*test::ReadFile(out), "across");
  ::unlink(out.c_str());
}

TEST(OutputTest, DigestMismatchRemovesTheOutput) {
  test::TempDir dir;
  ASSERT_TRUE(test::WriteFile(dir.Path("content"), "data").ok());
  Status s = WriteOutput(dir.Path("content"), dir.Path("out"), Sha256(std::string_view("other")));
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  struct stat st {};
  EXPECT_NE(::stat(dir.Path("out").c_str(), &st), 0);
  EXPECT_TRUE(
      WriteOutput(dir.Path("content"), dir.Path("out"), Sha256(std::string_view("data"))).ok());
}

TEST(OutputTest, RejectsDirectoriesAndRelativePaths) {
  test::TempDir dir;
  ASSERT_TRUE(test::WriteFile(dir.Path("content"), "x").ok());
  EXPECT_EQ(WriteOutput(dir.Path("content"), dir.path(), std::nullopt).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteOutput(dir.Path("content"), "relative/out", std::nullopt).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace feilong::daemon
