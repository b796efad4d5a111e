// P2P distribution end to end: flsched, seed and peer fld processes, flget,
// and a real nginx origin, all on loopback.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <thread>

#include "common/digest.h"
#include "integration/cluster.h"
#include "support/misbehaving_origin.h"
#include "support/nginx_origin.h"
#include "support/temp_dir.h"

namespace feilong::testing {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

std::string FileDigest(const std::string& path) {
  auto d = Sha256File(path);
  return d.ok() ? Sha256String(*d) : "missing: " + d.status().ToString();
}

class P2PTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::NginxOrigin::Options options;
    options.root = www_.path();
    auto origin = test::NginxOrigin::Start(options);
    ASSERT_TRUE(origin.ok()) << origin.status().ToString();
    origin_ = std::move(origin).value();
  }

  // Writes a random file of `size` bytes to the origin; returns its digest.
  std::string Publish(const std::string& name, uint64_t size, uint64_t seed = 1) {
    EXPECT_TRUE(test::WriteRandomFile(www_.Path(name), size, seed).ok());
    return FileDigest(www_.Path(name));
  }

  test::TempDir www_;
  test::TempDir out_;
  std::unique_ptr<test::NginxOrigin> origin_;
};

class P2PSizeTest : public P2PTest, public ::testing::WithParamInterface<uint64_t> {};

TEST_P(P2PSizeTest, EveryPeerAndTheSeedGetTheExactBytes) {
  const uint64_t size = GetParam();
  std::string want = Publish("f.bin", size);
  Cluster cluster({.peers = 2});
  ASSERT_TRUE(cluster.Start());
  std::string url = origin_->Url("/f.bin");
  for (int i = 0; i < cluster.peer_count(); ++i) {
    std::string out = out_.Path("peer" + std::to_string(i));
    FlgetSummary r = cluster.Flget(cluster.peer(i), url, out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(FileDigest(out), want) << "peer " << i;
    EXPECT_EQ(r.from_cache + r.from_peers + r.from_origin, size) << r.output;
  }
  // The seed fetched the task from the origin when triggered; asking it now
  // is served from its cache.
  std::string seed_out = out_.Path("seed");
  FlgetSummary r = cluster.Flget(cluster.seed(), url, seed_out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(FileDigest(seed_out), want);
  if (size > 0) {
    EXPECT_EQ(r.from_cache, size) << r.output;
    // Peers took their bytes from other peers, not the origin.
    EXPECT_LE(origin_->BytesServed("/f.bin"), size + size / 20 + 64);
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, P2PSizeTest,
                         ::testing::Values(0, 1, 4 * kMiB - 1, 4 * kMiB + 1, 100 * kMiB),
                         [](const auto& info) { return "bytes_" + std::to_string(info.param); });

TEST_F(P2PTest, EightPeersAtOnceTheOriginServesTheFileAboutOnce) {
  const uint64_t size = 64 * kMiB;
  std::string want = Publish("eight.bin", size);
  Cluster cluster({.peers = 8});
  ASSERT_TRUE(cluster.Start());
  std::string url = origin_->Url("/eight.bin");
  std::vector<FlgetSummary> results(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      results[i] = cluster.Flget(cluster.peer(i), url, out_.Path("p" + std::to_string(i)));
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  uint64_t from_peers = 0;
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(results[i].exit_code, 0) << results[i].output;
    EXPECT_EQ(FileDigest(out_.Path("p" + std::to_string(i))), want) << "peer " << i;
    from_peers += results[i].from_peers;
  }
  uint64_t served = origin_->BytesServed("/eight.bin");
  EXPECT_LE(served, size * 105 / 100) << "origin served " << served << " bytes";
  EXPECT_EQ(from_peers, 8 * size) << "every peer byte should come from a peer (the seed included)";
}

TEST_F(P2PTest, SecondDownloadOfACachedTaskUsesNoNetwork) {
  const uint64_t size = 10 * kMiB + 7;
  std::string want = Publish("again.bin", size);
  Cluster cluster({.peers = 1});
  ASSERT_TRUE(cluster.Start());
  std::string url = origin_->Url("/again.bin");
  ASSERT_EQ(cluster.Flget(cluster.peer(0), url, out_.Path("first")).exit_code, 0);
  uint64_t requests = origin_->RequestCount("/again.bin");
  // With the scheduler and the seed gone, only the local cache can answer.
  cluster.StopScheduler();
  cluster.StopNode(cluster.seed());
  FlgetSummary r = cluster.Flget(cluster.peer(0), url, out_.Path("second"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.from_cache, size);
  EXPECT_EQ(r.from_peers + r.from_origin, 0u);
  EXPECT_EQ(origin_->RequestCount("/again.bin"), requests);
  EXPECT_EQ(FileDigest(out_.Path("second")), want);
}

TEST_F(P2PTest, WithoutSchedulerThePeerDownloadsFromTheOriginAndSaysWhy) {
  const uint64_t size = 9 * kMiB;
  std::string want = Publish("direct.bin", size);
  Cluster cluster(
      {.peers = 1, .seed = false, .scheduler = false, .fld_args = {"--scheduler", "127.0.0.1:1"}});
  ASSERT_TRUE(cluster.Start());
  FlgetSummary r = cluster.Flget(cluster.peer(0), origin_->Url("/direct.bin"), out_.Path("d"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.from_origin, size);
  EXPECT_NE(r.output.find("no scheduler reachable"), std::string::npos) << r.output;
  EXPECT_EQ(FileDigest(out_.Path("d")), want);
  // Alone, the daemon reads runs of pieces (up to 16 MiB) per request: the
  // nine 1 MiB pieces come in one request after the one-byte probe.
  EXPECT_LE(origin_->RequestCount("/direct.bin"), 2u);

  FlgetSummary strict = cluster.Flget(cluster.peer(0), origin_->Url("/direct.bin?v=2"),
                                      out_.Path("strict"), {"--no-back-to-source"});
  EXPECT_NE(strict.exit_code, 0);
  EXPECT_NE(strict.output.find("back-to-source is disabled"), std::string::npos) << strict.output;
}

TEST_F(P2PTest, DigestIsVerified) {
  std::string want = Publish("d.bin", 5 * kMiB);
  Cluster cluster({.peers = 1});
  ASSERT_TRUE(cluster.Start());
  std::string url = origin_->Url("/d.bin");
  FlgetSummary ok = cluster.Flget(cluster.peer(0), url, out_.Path("ok"), {"--digest", want});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  std::string wrong = Sha256String(Sha256(std::string_view("something else")));
  FlgetSummary bad = cluster.Flget(cluster.peer(0), url, out_.Path("bad"), {"--digest", wrong});
  EXPECT_EQ(bad.exit_code, 6) << bad.output;
  struct stat st {};
  EXPECT_NE(::stat(out_.Path("bad").c_str(), &st), 0) << "a mismatching output must not stay";
  FlgetSummary malformed =
      cluster.Flget(cluster.peer(0), url, out_.Path("m"), {"--digest", "sha256:xyz"});
  EXPECT_EQ(malformed.exit_code, 2) << malformed.output;
}

TEST_F(P2PTest, BadInputGivesClearErrorsAndTheDaemonKeepsServing) {
  std::string want = Publish("good.bin", 6 * kMiB);
  Cluster cluster({.peers = 1});
  ASSERT_TRUE(cluster.Start());
  auto& peer = cluster.peer(0);

  FlgetSummary scheme = cluster.Flget(peer, "ftp://127.0.0.1/x", out_.Path("a"));
  EXPECT_EQ(scheme.exit_code, 2) << scheme.output;
  EXPECT_NE(scheme.output.find("unsupported URL scheme"), std::string::npos) << scheme.output;

  FlgetSummary missing = cluster.Flget(peer, origin_->Url("/missing.bin"), out_.Path("b"));
  EXPECT_EQ(missing.exit_code, 4) << missing.output;

  FlgetSummary no_dir = cluster.Flget(peer, origin_->Url("/good.bin"), "/nonexistent/dir/out");
  EXPECT_EQ(no_dir.exit_code, 2) << no_dir.output;  // bad input, not "not at the origin"
  EXPECT_NE(no_dir.output.find("/nonexistent/dir"), std::string::npos) << no_dir.output;

  test::MisbehavingOrigin::Options failing;
  failing.behavior = test::MisbehavingOrigin::Behavior::kFixedStatus;
  failing.status = 500;
  auto five_hundred = test::MisbehavingOrigin::Start(failing);
  ASSERT_TRUE(five_hundred.ok());
  FlgetSummary server_error = cluster.Flget(peer, (*five_hundred)->Url("/x.bin"), out_.Path("c"));
  EXPECT_EQ(server_error.exit_code, 1) << server_error.output;
  EXPECT_NE(server_error.output.find("500"), std::string::npos) << server_error.output;

  test::MisbehavingOrigin::Options liar;
  liar.behavior = test::MisbehavingOrigin::Behavior::kShortBody;
  liar.body = test::RandomBytes(5 * kMiB, 3);
  auto lying = test::MisbehavingOrigin::Start(liar);
  ASSERT_TRUE(lying.ok());
  FlgetSummary short_body = cluster.Flget(peer, (*lying)->Url("/liar.bin"), out_.Path("e"));
  EXPECT_NE(short_body.exit_code, 0) << short_body.output;
  struct stat st {};
  EXPECT_NE(::stat(out_.Path("e").c_str(), &st), 0) << "no output from a lying origin";

  FlgetSummary tiny_pieces =
      cluster.Flget(peer, origin_->Url("/good.bin"), out_.Path("f"), {"--piece-length", "100"});
  EXPECT_EQ(tiny_pieces.exit_code, 2) << tiny_pieces.output;
  EXPECT_NE(tiny_pieces.output.find("piece length 100 is outside"), std::string::npos)
      << tiny_pieces.output;

  // Nothing above harmed the daemon or its cache.
  FlgetSummary good = cluster.Flget(peer, origin_->Url("/good.bin"), out_.Path("good"));
  ASSERT_EQ(good.exit_code, 0) << good.output;
  EXPECT_EQ(FileDigest(out_.Path("good")), want);
  // A chosen piece length is another task of the same URL, with the same bytes.
  FlgetSummary two_mib = cluster.Flget(peer, origin_->Url("/good.bin"), out_.Path("good2"),
                                       {"--piece-length", "2097152", "-v"});
  ASSERT_EQ(two_mib.exit_code, 0) << two_mib.output;
  EXPECT_EQ(FileDigest(out_.Path("good2")), want);
  EXPECT_EQ(two_mib.from_cache, 0u) << two_mib.output;
}

// A small tmpfs, unmounted when the test ends.
class SmallFileSystem {
 public:
  SmallFileSystem(const std::string& path, const std::string& size) : path_(path) {
    ::mkdir(path.c_str(), 0755);
    mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  ~SmallFileSystem() {
    if (mounted_) {
      ::umount2(path_.c_str(), MNT_DETACH);
    }
  }
  bool mounted() const { return mounted_; }
  // Remounts it with `flags` (MS_RDONLY: a disk that went read-only; 0: writable).
  bool Remount(unsigned long flags) {
    return ::mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT | flags, nullptr) == 0;
  }

 private:
  std::string path_;
  bool mounted_ = false;
};

TEST_F(P2PTest, DiskFullIsAClearErrorAndCachedTasksStayServed) {
  SmallFileSystem small(out_.Path("small"), "24m");
  if (!small.mounted()) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  }
  std::string small_digest = Publish("small.bin", 3 * kMiB, 5);
  Publish("huge.bin", 64 * kMiB, 6);
  ChildProcess fld(
      {BinaryPath("fld"), "--data-dir", out_.Path("small") + "/store", "--peer-listen",
       "127.0.0.1:0", "--piece-listen", "127.0.0.1:0", "--metrics-listen", "off", "--plaintext"},
      out_.Path("fld.log"));
  ASSERT_TRUE(fld.WaitForLine("fld ready", std::chrono::seconds(15))) << fld.Log();
  std::string socket = out_.Path("small") + "/store/fld.sock";
  auto flget = [&](const std::string& url, const std::string& out) {
    return RunCommand(
        {BinaryPath("flget"), "--socket", socket, "-v", "--no-progress", url, "-O", out},
        out_.Path("flget.log"));
  };
  ASSERT_EQ(flget(origin_->Url("/small.bin"), out_.Path("small-1")).exit_code, 0);

  CommandResult full = flget(origin_->Url("/huge.bin"), out_.Path("huge"));
  EXPECT_EQ(full.exit_code, 5) << full.output;
  EXPECT_NE(full.output.find(out_.Path("small") + "/store"), std::string::npos)
      << "the error names the store: " << full.output;

  CommandResult again = flget(origin_->Url("/small.bin"), out_.Path("small-2"));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("bytes from cache 3145728"), std::string::npos) << again.output;
  EXPECT_EQ(FileDigest(out_.Path("small-2")), small_digest);
  EXPECT_TRUE(fld.running()) << fld.Log();
}

// A store on a file system that went read-only: fld refuses to start,
// naming the directory, and the cached task is intact once it is writable.
// (A mounted file system cannot be made read-only while fld holds files
// open for writing, so the change happens while fld is stopped.)
TEST_F(P2PTest, ReadOnlyStoreIsAClearErrorAndTheCacheSurvives) {
  SmallFileSystem store(out_.Path("ro"), "64m");
  if (!store.mounted()) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  }
  std::string cached_digest = Publish("cached.bin", 3 * kMiB, 8);
  std::vector<std::string> argv = {
      BinaryPath("fld"), "--data-dir",  out_.Path("ro") + "/store", "--peer-listen", "127.0.0.1:0",
      "--piece-listen",  "127.0.0.1:0", "--metrics-listen",         "off",           "--plaintext"};
  std::string socket = out_.Path("ro") + "/store/fld.sock";
  auto flget = [&](const std::string& url, const std::string& out) {
    return RunCommand(
        {BinaryPath("flget"), "--socket", socket, "-v", "--no-progress", url, "-O", out},
        out_.Path("flget.log"));
  };
  {
    ChildProcess fld(argv, out_.Path("fld-1.log"));
    ASSERT_TRUE(fld.WaitForLine("fld ready", std::chrono::seconds(15))) << fld.Log();
    ASSERT_EQ(flget(origin_->Url("/cached.bin"), out_.Path("cached-1")).exit_code, 0);
    EXPECT_EQ(fld.Stop(), 0);
  }
  ASSERT_TRUE(store.Remount(MS_RDONLY));
  CommandResult refused = RunCommand(argv, out_.Path("fld-2.log"), std::chrono::seconds(20));
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find(out_.Path("ro") + "/store"), std::string::npos)
      << "the error names the store: " << refused.output;

  ASSERT_TRUE(store.Remount(0));
  ChildProcess fld(argv, out_.Path("fld-3.log"));
  ASSERT_TRUE(fld.WaitForLine("fld ready", std::chrono::seconds(15))) << fld.Log();
  CommandResult again = flget(origin_->Url("/cached.bin"), out_.Path("cached-2"));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("bytes from cache 3145728"), std::string::npos) << again.output;
  EXPECT_EQ(FileDigest(out_.Path("cached-2")), cached_digest);
}

TEST(DaemonStartupTest, UnusableStoreDirectoryIsAClearError) {
  test::TempDir dir;
  ASSERT_TRUE(test::WriteFile(dir.Path("file"), "x").ok());
  std::string bad = dir.Path("file") + "/store";
  CommandResult r =
      RunCommand({BinaryPath("fld"), "--data-dir", bad, "--peer-listen", "127.0.0.1:0",
                  "--piece-listen", "127.0.0.1:0", "--metrics-listen", "off", "--plaintext"},
                 dir.Path("fld.log"), std::chrono::seconds(20));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(bad), std::string::npos) << r.output;
}

TEST(FlgetTest, NoDaemonIsExitCodeThree) {
  test::TempDir dir;
  CommandResult r = RunCommand({BinaryPath("flget"), "--socket", dir.Path("none.sock"),
                                "http://127.0.0.1:1/x", "-O", dir.Path("x")},
                               dir.Path("flget.log"), std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("no daemon"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace feilong::testing
