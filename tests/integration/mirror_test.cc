// The registry mirror end to end with real parts on loopback: a
// docker-registry (CNCF distribution) serving an image built here with umoci
// and pushed with skopeo; flsched, a seed and fld peers with the mirror on;
// skopeo, curl and containerd (ctr) pulling through the mirrors.
//
// Every test skips with a message when a tool is missing, bounds each
// command's time, and stops every process it started (ChildProcess
// destructors) also when an assertion fails.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "common/digest.h"
#include "common/task_id.h"
#include "integration/cluster.h"
#include "integration/process.h"
#include "integration/registry.h"
#include "support/temp_dir.h"

namespace feilong::testing {
namespace {

using std::chrono::seconds;
constexpr size_t kMiB = 1024 * 1024;

std::string FileDigest(const std::string& path) {
  auto d = Sha256File(path);
  return d.ok() ? Sha256String(*d) : "missing: " + d.status().ToString();
}

// An image with a config blob and three layers of random files (one over
// the 4 MiB piece length, so it has several pieces).
struct TestImage {
  std::string reference;            // 127.0.0.1:PORT/test:1
  std::string config_digest;        // sha256:...
  std::vector<std::string> layers;  // sha256:...
  std::vector<std::string> Blobs() const {
    std::vector<std::string> all = layers;
    all.push_back(config_digest);
    return all;
  }
};

::testing::AssertionResult BuildAndPush(const test::TempDir& work, const Registry& registry,
                                        const std::string& creds, TestImage* image) {
  const std::string layout = work.Path("layout");
  const std::string log = work.Path("build.log");
  std::string script = "set -e; cd " + work.path() + "; umoci init --layout layout; " +
                       "umoci new --image layout:latest; ";
  const size_t sizes[] = {9 * kMiB + 123, 3 * kMiB, 200 * 1024};
  for (size_t i = 0; i < std::size(sizes); ++i) {
    std::string file = work.Path("file" + std::to_string(i) + ".bin");
    if (!test::WriteRandomFile(file, sizes[i], 100 + i).ok()) {
      return ::testing::AssertionFailure() << "cannot write " << file;
    }
    script +=
        "umoci insert --image layout:latest " + file + " /data/file" + std::to_string(i) + ".bin; ";
  }
  image->reference = registry.host() + "/test:1";
  script += "skopeo copy --quiet --dest-tls-verify=false " +
            (creds.empty() ? std::string() : "--dest-creds " + creds + " ") +
            "oci:layout:latest docker://" + image->reference + "; ";
  script += "skopeo inspect --raw --tls-verify=false " +
            (creds.empty() ? std::string() : "--creds " + creds + " ") + "docker://" +
            image->reference + " > " + work.Path("manifest.json");
  CommandResult r = Shell(script, log, seconds(180));
  if (r.exit_code != 0) {
    return ::testing::AssertionFailure() << "building the image failed:\n" << r.output;
  }
  try {
    auto manifest = nlohmann::json::parse(Slurp(work.Path("manifest.json")));
    image->config_digest = manifest.at("config").at("digest").get<std::string>();
    for (const auto& layer : manifest.at("layers")) {
      image->layers.push_back(layer.at("digest").get<std::string>());
    }
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "bad manifest: " << e.what();
  }
  if (image->layers.size() != std::size(sizes)) {
    return ::testing::AssertionFailure() << "expected " << std::size(sizes) << " layers";
  }
  return ::testing::AssertionSuccess();
}

// Writes an fld config turning the mirror on for `registry` (the default).
std::string WriteMirrorConfig(const test::TempDir& dir, const Registry& registry) {
  std::string path = dir.Path("fld-mirror.yaml");
  std::string yaml =
      "mirror:\n  enabled: true\n  listen: 127.0.0.1:0\n  io_timeout: 20s\n"
      "  registries:\n    \"" +
      registry.host() + "\": " + registry.url() + "\n";
  EXPECT_TRUE(test::WriteFile(path, yaml).ok());
  return path;
}

// The mirror port of a started daemon, from its log.
uint16_t MirrorPort(Cluster::Node& node) {
  auto line = node.process->WaitForLine("mirror: listening", seconds(10));
  if (!line) {
    return 0;
  }
  std::smatch m;
  static const std::regex kAddress("address=[^ ]*:([0-9]+)");
  if (!std::regex_search(*line, m, kAddress)) {
    return 0;
  }
  return static_cast<uint16_t>(std::stoi(m[1]));
}

int CountLines(const std::string& log, const std::string& needle) {
  int n = 0;
  for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

class MirrorTest : public ::testing::Test {
 protected:
  // Registry, image, and a cluster (scheduler, seed, `peers` peers) with the mirror on.
  void StartAll(int peers, const std::string& htpasswd = "", const std::string& creds = "") {
    ASSERT_TRUE(registry_.Start(htpasswd));
    ASSERT_TRUE(BuildAndPush(work_, registry_, creds, &image_));
    std::string config = WriteMirrorConfig(work_, registry_);
    cluster_ =
        std::make_unique<Cluster>(ClusterOptions{.peers = peers, .fld_args = {"--config", config}});
    ASSERT_TRUE(cluster_->Start());
    for (int i = 0; i < peers; ++i) {
      uint16_t port = MirrorPort(cluster_->peer(i));
      ASSERT_NE(port, 0) << cluster_->peer(i).process->Log();
      mirrors_.push_back("127.0.0.1:" + std::to_string(port));
    }
  }

  // curl through a mirror: the status code, the body in `out`, headers in `out`.headers.
  int Curl(const std::string& url, const std::string& out, const std::string& extra = "") {
    CommandResult r =
        Shell("curl --noproxy '*' -sS -o " + out + " -D " + out + ".headers -w '%{http_code}' " +
                  extra + " '" + url + "' > " + out + ".code",
              out + ".log", seconds(60));
    std::string code = Slurp(out + ".code");
    last_curl_exit_ = r.exit_code;
    return code.empty() ? 0 : std::stoi(code);
  }

  std::string BlobUrl(int peer, const std::string& digest) {
    return "http://" + mirrors_.at(peer) + "/v2/test/blobs/" + digest;
  }

  test::TempDir work_;
  test::TempDir out_;
  Registry registry_;
  TestImage image_;
  std::unique_ptr<Cluster> cluster_;
  std::vector<std::string> mirrors_;
  int last_curl_exit_ = 0;
};

TEST_F(MirrorTest, SkopeoCopiesThroughTwoMirrorsTheSecondFromPeers) {
  SKIP_WITHOUT("docker-registry", "skopeo", "umoci");
  StartAll(2);
  // skopeo uses each mirror as the registry (mirror.default_registry): there
  // is no fallback, every request goes through the mirror.
  std::vector<int> gets;
  for (int i = 0; i < 2; ++i) {
    std::string dest = out_.Path("copy" + std::to_string(i));
    CommandResult r = Shell("skopeo copy --quiet --src-tls-verify=false docker://" + mirrors_[i] +
                                "/test:1 dir:" + dest,
                            out_.Path("skopeo" + std::to_string(i) + ".log"), seconds(120));
    ASSERT_EQ(r.exit_code, 0) << r.output << cluster_->peer(i).process->Log();
    for (const std::string& digest : image_.Blobs()) {
      std::string file = dest + "/" + digest.substr(digest.find(':') + 1);
      EXPECT_EQ(FileDigest(file), digest) << "pull " << i;
    }
    gets.push_back(registry_.BlobGets());
  }
  std::string log0 = cluster_->peer(0).process->Log();
  std::string log1 = cluster_->peer(1).process->Log();
  // Every blob GET of both pulls became a P2P task served by the mirror.
  EXPECT_EQ(CountLines(log0, "mirror_blob_served"), 4) << log0;
  EXPECT_EQ(CountLines(log1, "mirror_blob_served"), 4) << log1;
  // The first pull fetched the blobs from the registry (through the seed or
  // itself); the second took them from peers: no new blob GET at the registry.
  EXPECT_GT(gets[0], 0) << registry_.Log();
  EXPECT_EQ(gets[1], gets[0]) << registry_.Log();
  static const std::regex kServedFromPeers("mirror_blob_served[^\n]*from_origin=0\n");
  EXPECT_EQ(std::distance(std::sregex_iterator(log1.begin(), log1.end(), kServedFromPeers),
                          std::sregex_iterator()),
            4)
      << log1;

  // skopeo with the mirror in registries.conf, as podman and buildah use it.
  // The registry named in the image reference is a closed port, so the copy
  // only works through the mirror (skopeo adds no ns=: the default registry).
  const std::string closed = "127.0.0.1:" + std::to_string(test::FreeTcpPort());
  const std::string conf = out_.Path("registries.conf");
  ASSERT_TRUE(test::WriteFile(conf, "[[registry]]\nlocation = \"" + closed +
                                        "\"\ninsecure = true\n[[registry.mirror]]\nlocation = \"" +
                                        mirrors_[1] + "\"\ninsecure = true\n")
                  .ok());
  std::string dest = out_.Path("copy-conf");
  CommandResult r = Shell("skopeo --registries-conf " + conf + " copy --quiet docker://" + closed +
                              "/test:1 dir:" + dest,
                          out_.Path("skopeo-conf.log"), seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const std::string& digest : image_.Blobs()) {
    EXPECT_EQ(FileDigest(dest + "/" + digest.substr(digest.find(':') + 1)), digest);
  }
  EXPECT_EQ(CountLines(cluster_->peer(1).process->Log(), "mirror_blob_served"), 8);
}

TEST_F(MirrorTest, RangesAndPassThrough) {
  SKIP_WITHOUT("docker-registry", "skopeo", "umoci", "curl");
  StartAll(1);
  const std::string big = image_.layers[0];  // several pieces
  std::string whole = out_.Path("whole");
  ASSERT_EQ(Curl(BlobUrl(0, big), whole), 200);
  EXPECT_EQ(FileDigest(whole), big);
  std::string headers = Slurp(whole + ".headers");
  EXPECT_NE(headers.find("Docker-Content-Digest: " + big), std::string::npos) << headers;

  // A range across the 4 MiB piece boundary, served from the pieces.
  std::string part = out_.Path("part");
  const uint64_t first = 4 * kMiB - 1000;
  const uint64_t last = 4 * kMiB + 999;
  ASSERT_EQ(Curl(BlobUrl(0, big), part, "-r " + std::to_string(first) + "-" + std::to_string(last)),
            206);
  std::string all = Slurp(whole);
  EXPECT_EQ(Slurp(part), all.substr(first, last - first + 1));
  EXPECT_NE(Slurp(part + ".headers")
                .find("Content-Range: bytes " + std::to_string(first) + "-" + std::to_string(last) +
                      "/" + std::to_string(all.size())),
            std::string::npos);

  // Pass-through: the ping, a manifest with the client's Accept, an unknown
  // blob (the registry's 404 body), HEAD of a blob, ns= naming the registry.
  std::string ping = out_.Path("ping");
  EXPECT_EQ(Curl("http://" + mirrors_[0] + "/v2/", ping), 200);
  std::string manifest = out_.Path("manifest");
  EXPECT_EQ(Curl("http://" + mirrors_[0] + "/v2/test/manifests/1?ns=" + registry_.host(), manifest,
                 "-H 'Accept: application/vnd.oci.image.manifest.v1+json'"),
            200);
  EXPECT_EQ(Slurp(manifest), Slurp(work_.Path("manifest.json")));
  EXPECT_NE(Slurp(manifest).find(big), std::string::npos);
  std::string unknown = out_.Path("unknown");
  EXPECT_EQ(Curl(BlobUrl(0, "sha256:" + std::string(64, '0')), unknown), 404);
  EXPECT_NE(Slurp(unknown).find("BLOB_UNKNOWN"), std::string::npos) << Slurp(unknown);
  std::string head = out_.Path("head");
  EXPECT_EQ(Curl(BlobUrl(0, big), head, "-I"), 200);
  EXPECT_NE(Slurp(head + ".headers").find("Content-Length: " + std::to_string(all.size())),
            std::string::npos);
  std::string other = out_.Path("other");
  EXPECT_EQ(Curl("http://" + mirrors_[0] + "/v2/?ns=unknown.example", other), 404);
}

TEST_F(MirrorTest, ContainerdPullsThroughTwoDaemonsTheSecondFromPeers) {
  SKIP_WITHOUT("docker-registry", "skopeo", "umoci", "containerd", "ctr");
  StartAll(2);
  std::vector<int> gets;
  for (int i = 0; i < 2; ++i) {
    const std::string root = out_.Path("ctd" + std::to_string(i));
    ::mkdir(root.c_str(), 0755);
    const std::string sock = root + "/containerd.sock";
    ASSERT_TRUE(test::WriteFile(root + "/config.toml",
                                "version = 2\nroot = \"" + root + "/root\"\nstate = \"" + root +
                                    "/state\"\n[grpc]\n  address = \"" + sock +
                                    "\"\n[ttrpc]\n  address = \"" + sock +
                                    ".ttrpc\"\n[debug]\n  address = \"" + root + "/debug.sock\"\n")
                    .ok());
    ChildProcess containerd({Which("containerd"), "--config", root + "/config.toml"},
                            root + "/containerd.log");
    ASSERT_TRUE(containerd.WaitForLine("containerd successfully booted", seconds(30)))
        << containerd.Log();
    // hosts.toml from our script; the server is a closed port, so a failing
    // mirror fails the pull instead of being bypassed.
    const std::string hosts = root + "/certs.d";
    CommandResult w =
        RunCommand({std::string(FEILONG_SOURCE_DIR) + "/scripts/containerd-mirror-hosts", "--dir",
                    hosts, "--mirror", "http://" + mirrors_[i], "--server",
                    "http://127.0.0.1:" + std::to_string(test::FreeTcpPort()), registry_.host()},
                   root + "/hosts.log", seconds(10));
    ASSERT_EQ(w.exit_code, 0) << w.output;
    CommandResult pull = RunCommand({Which("ctr"), "-a", sock, "images", "pull", "--hosts-dir",
                                     hosts, "--plain-http", image_.reference},
                                    root + "/pull.log", seconds(180));
    ASSERT_EQ(pull.exit_code, 0) << pull.output << containerd.Log()
                                 << cluster_->peer(i).process->Log();
    CommandResult content = RunCommand({Which("ctr"), "-a", sock, "content", "ls", "-q"},
                                       root + "/ls.log", seconds(30));
    ASSERT_EQ(content.exit_code, 0) << content.output;
    for (const std::string& digest : image_.Blobs()) {
      EXPECT_NE(content.output.find(digest), std::string::npos)
          << digest << " missing from containerd " << i << ":\n"
          << content.output;
    }
    gets.push_back(registry_.BlobGets());
    containerd.Stop();
  }
  std::string log1 = cluster_->peer(1).process->Log();
  EXPECT_EQ(CountLines(log1, "mirror_blob_served"), 4) << log1;
  EXPECT_GT(gets[0], 0);
  EXPECT_EQ(gets[1], gets[0]) << "the second pull went to the registry:\n" << registry_.Log();
}

TEST_F(MirrorTest, WrongPasswordGetsTheRegistrys401AndNoBlob) {
  SKIP_WITHOUT("docker-registry", "skopeo", "umoci", "curl", "htpasswd");
  std::string htpasswd = work_.Path("htpasswd");
  CommandResult h =
      Shell("htpasswd -Bbn alice s3cret > " + htpasswd, work_.Path("htpasswd.log"), seconds(30));
  ASSERT_EQ(h.exit_code, 0) << h.output;
  StartAll(1, htpasswd, "alice:s3cret");
  const std::string blob = image_.layers[1];

  std::string denied = out_.Path("denied");
  EXPECT_EQ(Curl(BlobUrl(0, blob), denied, "-u alice:wrong"), 401);
  std::string headers = Slurp(denied + ".headers");
  EXPECT_NE(headers.find("Www-Authenticate: Basic realm=\"feilong-test\""), std::string::npos)
      << headers;
  std::string anonymous = out_.Path("anonymous");
  EXPECT_EQ(Curl(BlobUrl(0, blob), anonymous), 401);
  std::string log = cluster_->peer(0).process->Log();
  EXPECT_EQ(CountLines(log, "mirror_blob_served"), 0) << log;
  EXPECT_EQ(CountLines(log, "download_ended"), 0) << "a refused client started a download";
  EXPECT_EQ(registry_.BlobGets(), 0);

  // The right password: the Authorization reaches the registry from the
  // peer that goes back to source, and the blob is served.
  std::string ok = out_.Path("ok");
  ASSERT_EQ(Curl(BlobUrl(0, blob), ok, "-u alice:s3cret"), 200) << Slurp(ok);
  EXPECT_EQ(FileDigest(ok), blob);
  // Now the blob is cached on the peers; a wrong password still gets 401
  // (the registry is asked first) and not the cached bytes.
  std::string again = out_.Path("again");
  EXPECT_EQ(Curl(BlobUrl(0, blob), again, "-u alice:wrong"), 401);
  EXPECT_NE(FileDigest(again), blob);
  // skopeo through the mirror: wrong password fails, the right one copies.
  CommandResult bad = Shell(
      "skopeo copy --quiet --src-tls-verify=false --src-creds alice:wrong "
      "docker://" +
          mirrors_[0] + "/test:1 dir:" + out_.Path("bad"),
      out_.Path("bad.log"), seconds(60));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("unauthorized"), std::string::npos) << bad.output;
  CommandResult good = Shell(
      "skopeo copy --quiet --src-tls-verify=false --src-creds alice:s3cret "
      "docker://" +
          mirrors_[0] + "/test:1 dir:" + out_.Path("good"),
      out_.Path("good.log"), seconds(120));
  ASSERT_EQ(good.exit_code, 0) << good.output;
  // No token or password in the daemon's log.
  std::string final_log = cluster_->peer(0).process->Log() + cluster_->seed().process->Log();
  EXPECT_EQ(final_log.find("YWxpY2U6"), std::string::npos) << "credentials were logged";
}

TEST_F(MirrorTest, CorruptBlobIsRefusedAndNotStored) {
  SKIP_WITHOUT("docker-registry", "skopeo", "umoci", "curl");
  StartAll(1);
  const std::string blob = image_.layers[0];
  const std::string data = registry_.BlobDataPath(blob);
  struct stat st {};
  ASSERT_EQ(::stat(data.c_str(), &st), 0) << data;
  ASSERT_TRUE(test::WriteRandomFile(data, static_cast<size_t>(st.st_size), 999).ok());

  std::string out = out_.Path("corrupt");
  int code = Curl(BlobUrl(0, blob), out);
  // Either an error status before any byte, or a cut body: never all of it.
  if (code == 200) {
    EXPECT_NE(last_curl_exit_, 0) << "curl saw a complete body";
    // curl creates the file only with the first body byte; a cut before
    // any byte leaves none.
    struct stat got {};
    if (::stat(out.c_str(), &got) != 0) {
      got.st_size = 0;
    }
    EXPECT_LT(got.st_size, st.st_size);
  } else {
    EXPECT_GE(code, 500) << Slurp(out);
  }
  EXPECT_NE(FileDigest(out), blob);
  // Not stored: neither the peer nor the seed keeps the task.
  const std::string task = ContentTaskId(blob.substr(7));
  for (Cluster::Node* node : {&cluster_->peer(0), &cluster_->seed()}) {
    std::string path = node->dir + "/content/" + task.substr(0, 2) + "/" + task;
    for (int i = 0; i < 50 && ::access(path.c_str(), F_OK) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_NE(::access(path.c_str(), F_OK), 0) << node->name << " kept " << path;
  }
  std::string log = cluster_->peer(0).process->Log();
  EXPECT_NE(log.find("mirror_blob_failed"), std::string::npos) << log;
  EXPECT_EQ(CountLines(log, "mirror_blob_served"), 0);
}

}  // namespace
}  // namespace feilong::testing
