#include "daemon/download/output.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "support/temp_dir.h"

namespace feilong::daemon {
namespace {

const std::optional<Caller> kDaemonItself;

// A user and group nobody on the test machine has.
constexpr uid_t kAlice = 61001;
constexpr uid_t kBob = 61002;

Caller User(uid_t uid) {
  Caller caller;
  caller.uid = uid;
  caller.gid = uid;
  return caller;
}

bool RunningAsRoot() { return ::geteuid() == 0; }

struct stat StatOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st;
}

TEST(OutputTest, HardLinksOnTheSameFileSystem) {
  test::TempDir dir;
  ASSERT_TRUE(test::WriteFile(dir.Path("content"), "hello").ok());
  ASSERT_TRUE(WriteOutput(dir.Path("content"), dir.Path("out"), kDaemonItself).ok());
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
  ASSERT_TRUE(WriteOutput(dir.Path("content"), dir.Path("out"), kDaemonItself).ok());
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
  ASSERT_TRUE(WriteOutput(dir.Path("content"), out, kDaemonItself).ok());
  EXPECT_EQ(*test::ReadFile(out), "across");
  ::unlink(out.c_str());
}

TEST(OutputTest, RejectsDirectoriesAndRelativePaths) {
  test::TempDir dir;
  ASSERT_TRUE(test::WriteFile(dir.Path("content"), "x").ok());
  EXPECT_EQ(WriteOutput(dir.Path("content"), dir.path(), kDaemonItself).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteOutput(dir.Path("content"), "relative/out", kDaemonItself).code(),
            StatusCode::kInvalidArgument);
}

TEST(OutputTest, AMissingDirectoryIsBadInput) {
  test::TempDir dir;
  ASSERT_TRUE(test::WriteFile(dir.Path("content"), "x").ok());
  EXPECT_EQ(WriteOutput(dir.Path("content"), dir.Path("nope/out"), kDaemonItself).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckOutputPath(dir.Path("nope/out"), kDaemonItself).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckOutputPath(dir.Path("out"), kDaemonItself).ok());
}

TEST(OutputTest, ACallerGetsAFileOfTheirOwnWhereTheyMayWrite) {
  if (!RunningAsRoot()) GTEST_SKIP() << "taking another user's identity needs root";
  test::TempDir dir;
  ASSERT_TRUE(test::WriteFile(dir.Path("content"), "shared bytes").ok());
  ASSERT_EQ(::mkdir(dir.Path("alice").c_str(), 0700), 0);
  ASSERT_EQ(::chown(dir.Path("alice").c_str(), kAlice, kAlice), 0);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);

  ASSERT_TRUE(CheckOutputPath(dir.Path("alice/out"), User(kAlice)).ok());
  Status s = WriteOutput(dir.Path("content"), dir.Path("alice/out"), User(kAlice));
  ASSERT_TRUE(s.ok()) << s.ToString();
  struct stat out = StatOf(dir.Path("alice/out"));
  EXPECT_EQ(out.st_uid, kAlice);
  EXPECT_EQ(out.st_gid, kAlice);
  EXPECT_NE(out.st_ino, StatOf(dir.Path("content")).st_ino) << "a copy, not the cache's inode";
  EXPECT_EQ(*test::ReadFile(dir.Path("alice/out")), "shared bytes");
  // The daemon's own identity is back on this thread.
  ASSERT_TRUE(WriteOutput(dir.Path("content"), dir.Path("root-out"), kDaemonItself).ok());
  EXPECT_EQ(StatOf(dir.Path("root-out")).st_uid, 0u);
}

TEST(OutputTest, ACallerCannotWriteWhereTheyCouldNot) {
  if (!RunningAsRoot()) GTEST_SKIP() << "taking another user's identity needs root";
  test::TempDir dir;
  ASSERT_TRUE(test::WriteFile(dir.Path("content"), "attacker's choice").ok());
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  // Root's own file in a directory only root may write to.
  ASSERT_TRUE(test::WriteFile(dir.Path("passwd"), "root's").ok());
  EXPECT_EQ(CheckOutputPath(dir.Path("passwd"), User(kBob)).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(WriteOutput(dir.Path("content"), dir.Path("passwd"), User(kBob)).code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(*test::ReadFile(dir.Path("passwd")), "root's");
  // Another user's file in a shared sticky directory (like /tmp).
  ASSERT_EQ(::mkdir(dir.Path("tmp").c_str(), 01777), 0);
  ASSERT_EQ(::chmod(dir.Path("tmp").c_str(), 01777), 0);
  ASSERT_TRUE(test::WriteFile(dir.Path("tmp/alices"), "alice's").ok());
  ASSERT_EQ(::chown(dir.Path("tmp/alices").c_str(), kAlice, kAlice), 0);
  EXPECT_TRUE(CheckOutputPath(dir.Path("tmp/alices"), User(kBob)).ok())
      << "bob may create files there";
  EXPECT_EQ(WriteOutput(dir.Path("content"), dir.Path("tmp/alices"), User(kBob)).code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(*test::ReadFile(dir.Path("tmp/alices")), "alice's");
  // Through a symlink bob planted: resolved as bob, so no way into root's dir.
  ASSERT_EQ(::mkdir(dir.Path("private").c_str(), 0700), 0);
  ASSERT_EQ(::symlink(dir.Path("private").c_str(), dir.Path("tmp/link").c_str()), 0);
  EXPECT_EQ(WriteOutput(dir.Path("content"), dir.Path("tmp/link/x"), User(kBob)).code(),
            StatusCode::kPermissionDenied);
  struct stat st {};
  EXPECT_NE(::stat(dir.Path("private/x").c_str(), &st), 0);
  // No temporary file is left behind.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.Path("tmp"))) {
    ++entries;
  }
  EXPECT_EQ(entries, 2u) << "alices and link, no temporary file";
}

}  // namespace
}  // namespace feilong::daemon
