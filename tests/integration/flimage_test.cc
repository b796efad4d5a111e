// flimage against real tools: an image made by tests/image/make_test_image.py
// (whiteouts, opaque directories, hard links, xattrs, devices, a gzip, a
// plain and a zstd layer, 2,000 files in a directory), skopeo to re-compress
// and move it, umoci to unpack the source, docker-registry with basic auth
// as source and destination. convert -> check -> unpack must extract to
// exactly what `umoci unpack` makes of the source.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <string>

#include "integration/flimage_fixture.h"
#include "integration/process.h"
#include "integration/registry.h"
#include "support/temp_dir.h"

namespace feilong::testing {
namespace {

using std::chrono::seconds;

class FlimageTest : public FlimageFixture {};

TEST_F(FlimageTest, UnpackEqualsUmociUnpackOfTheSource) {
  CommandResult convert =
      Flimage("convert oci:" + work_.Path("src:latest") + " oci:" + work_.Path("lazy"));
  ASSERT_EQ(convert.exit_code, 0) << convert.output;
  EXPECT_NE(convert.output.find("-> oci:" + work_.Path("lazy:latest-feilong")), std::string::npos);

  CommandResult check =
      Flimage("check oci:" + work_.Path("lazy") + " --source oci:" + work_.Path("src:latest"));
  ASSERT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("same as"), std::string::npos) << check.output;

  CommandResult unpack =
      Flimage("unpack oci:" + work_.Path("lazy") + " -o " + work_.Path("lazy.tar"));
  ASSERT_EQ(unpack.exit_code, 0) << unpack.output;
  CommandResult extract = Shell("mkdir " + work_.Path("ours") +
                                    " && tar --xattrs --xattrs-include='*' --numeric-owner -xpf " +
                                    work_.Path("lazy.tar") + " -C " + work_.Path("ours"),
                                work_.Path("tar.log"));
  ASSERT_EQ(extract.exit_code, 0) << extract.output;

  // umoci 0.4.7 (Debian 12) reads no zstd layer: give it a gzip copy.
  CommandResult umoci = Shell("cd " + work_.path() +
                                  " && skopeo copy --quiet --dest-compress-format gzip "
                                  "oci:src:latest oci:gz:latest && "
                                  "umoci unpack --image gz:latest bundle",
                              work_.Path("umoci.log"), seconds(180));
  ASSERT_EQ(umoci.exit_code, 0) << umoci.output;
  CommandResult compare =
      Script("compare_rootfs.py " + work_.Path("bundle/rootfs") + " " + work_.Path("ours"));
  EXPECT_EQ(compare.exit_code, 0) << compare.output;
  EXPECT_NE(compare.output.find("equal"), std::string::npos) << compare.output;
}

TEST_F(FlimageTest, ConversionIsReproducibleAndIndependentOfLayerCompression) {
  const std::string source = " oci:" + work_.Path("src:latest");
  CommandResult first = Flimage("convert" + source + " oci:" + work_.Path("a:x"));
  CommandResult second = Flimage("convert" + source + " oci:" + work_.Path("b:x"));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(Field(first.output, "manifest"), Field(second.output, "manifest"));
  EXPECT_FALSE(Field(first.output, "manifest").empty()) << first.output;

  // skopeo writes the layers again with gzip: the same tree, the same metadata.
  ASSERT_EQ(Shell("skopeo copy --quiet --dest-compress-format gzip" + source +
                      " oci:" + work_.Path("gz:latest"),
                  work_.Path("skopeo.log"), seconds(180))
                .exit_code,
            0);
  ASSERT_EQ(
      Flimage("convert oci:" + work_.Path("gz:latest") + " oci:" + work_.Path("c:x")).exit_code, 0);
  CommandResult a = Flimage("inspect oci:" + work_.Path("a:x"));
  CommandResult c = Flimage("inspect oci:" + work_.Path("c:x"));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_EQ(Field(a.output, "metadata"), Field(c.output, "metadata")) << a.output << c.output;
  EXPECT_NE(Field(a.output, "source"), Field(c.output, "source"));
}

TEST_F(FlimageTest, ConvertsADockerArchive) {
  // skopeo 1.9 writes no zstd layer into a docker archive: go through gzip.
  ASSERT_EQ(Shell("cd " + work_.path() +
                      " && skopeo copy --quiet --dest-compress-format gzip oci:src:latest "
                      "oci:gz:latest && skopeo copy --quiet oci:gz:latest "
                      "docker-archive:saved.tar:app:1",
                  work_.Path("skopeo.log"), seconds(180))
                .exit_code,
            0);
  CommandResult convert = Flimage("convert docker-archive:" + work_.Path("saved.tar:app:1") +
                                  " oci:" + work_.Path("lazy") + " --work-dir " + work_.path());
  ASSERT_EQ(convert.exit_code, 0) << convert.output;
  EXPECT_NE(convert.output.find("-> oci:" + work_.Path("lazy:1-feilong")), std::string::npos)
      << convert.output;
  CommandResult check = Flimage("check oci:" + work_.Path("lazy:1-feilong") +
                                " --source oci:" + work_.Path("src:latest"));
  EXPECT_EQ(check.exit_code, 0) << check.output;

  CommandResult other = Flimage("convert docker-archive:" + work_.Path("saved.tar:app:2") +
                                " oci:" + work_.Path("lazy"));
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.output.find("there are: docker.io/library/app:1"), std::string::npos)
      << other.output;
  ASSERT_EQ(Shell("head -c 100000 " + work_.Path("saved.tar") + " > " + work_.Path("cut.tar"),
                  work_.Path("cut.log"))
                .exit_code,
            0);
  CommandResult cut =
      Flimage("convert docker-archive:" + work_.Path("cut.tar") + " oci:" + work_.Path("lazy"));
  EXPECT_EQ(cut.exit_code, 1);
  EXPECT_NE(cut.output.find("runcated"), std::string::npos) << cut.output;
}

TEST_F(FlimageTest, AChunkDictionaryMakesTheNextVersionSmall) {
  ASSERT_EQ(Script("make_test_image.py " + work_.Path("src") + " --tag v1 --variant 1").exit_code,
            0);
  ASSERT_EQ(Flimage("convert oci:" + work_.Path("src:latest") + " oci:" + work_.Path("lazy:v0"))
                .exit_code,
            0);
  CommandResult alone =
      Flimage("convert oci:" + work_.Path("src:v1") + " oci:" + work_.Path("alone:v1"));
  CommandResult with_dict =
      Flimage("convert oci:" + work_.Path("src:v1") + " oci:" + work_.Path("dict:v1") +
              " --chunk-dict oci:" + work_.Path("lazy:v0"));
  ASSERT_EQ(with_dict.exit_code, 0) << with_dict.output;
  const int stored_alone = std::stoi(Field(alone.output, "chunks"));
  const int stored_with_dict = std::stoi(Field(with_dict.output, "chunks"));
  EXPECT_LT(stored_with_dict * 5, stored_alone) << alone.output << with_dict.output;
  CommandResult check =
      Flimage("check oci:" + work_.Path("dict:v1") + " --source oci:" + work_.Path("src:v1"));
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

TEST_F(FlimageTest, BadInputIsAClearErrorAndLeavesNothingBroken) {
  const std::string src = "oci:" + work_.Path("src:latest");
  CommandResult r = Flimage("convert ftp://example/x oci:" + work_.Path("out"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("is not oci:DIR"), std::string::npos) << r.output;
  r = Flimage("convert " + src + " oci:" + work_.Path("out:sha256:" + std::string(64, 'a')));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("by a tag, not a digest"), std::string::npos) << r.output;
  r = Flimage("convert " + src + " docker://user:pw@127.0.0.1:1/app");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output.find("pw"), std::string::npos) << r.output;
  r = Flimage("convert " + src + " oci:" + work_.Path("out") + " --chunk-size 3000");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("power of two"), std::string::npos) << r.output;
  r = Flimage("convert oci:" + work_.Path("src:nosuch") + " oci:" + work_.Path("out"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no image nosuch"), std::string::npos) << r.output;
  r = Flimage("convert " + src + " oci:" + work_.Path("src/blobs"));  // a non-empty non-layout
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("neither empty nor an OCI image layout"), std::string::npos) << r.output;

  ASSERT_EQ(Flimage("convert " + src + " oci:" + work_.Path("lazy:v0")).exit_code, 0);
  r = Flimage("convert oci:" + work_.Path("lazy:v0") + " oci:" + work_.Path("again"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("a lazy image already"), std::string::npos) << r.output;
  r = Flimage("inspect " + src);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("is not a lazy image"), std::string::npos) << r.output;

  // Another version of the source: check names what differs.
  ASSERT_EQ(Script("make_test_image.py " + work_.Path("src") + " --tag v1 --variant 1").exit_code,
            0);
  r = Flimage("check oci:" + work_.Path("lazy:v0") + " --source oci:" + work_.Path("src:v1"));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("differs: /etc/hostname"), std::string::npos) << r.output;

  // A damaged data blob: check and unpack fail, and unpack leaves no tar.
  std::string blob;
  for (const auto& entry : std::filesystem::directory_iterator(work_.Path("lazy/blobs/sha256"))) {
    if (!blob.empty() && std::filesystem::file_size(entry) <= std::filesystem::file_size(blob)) {
      continue;
    }
    blob = entry.path();
  }
  // Chunks of files a later layer deleted are stored but never read:
  // damage the blob all over so that read chunks are hit too.
  std::string bytes = *test::ReadFile(blob);
  for (size_t i = 0; i < bytes.size(); i += 64 * 1024) {
    bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
  }
  ASSERT_TRUE(test::WriteFile(blob, bytes).ok());
  r = Flimage("check oci:" + work_.Path("lazy:v0"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("has digest"), std::string::npos) << r.output;
  ASSERT_TRUE(test::WriteFile(work_.Path("out.tar"), "what was there").ok());
  r = Flimage("unpack oci:" + work_.Path("lazy:v0") + " -o " + work_.Path("out.tar"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(*test::ReadFile(work_.Path("out.tar")), "what was there");  // untouched
  EXPECT_EQ(Shell("ls " + work_.path() + " | grep -c flimage-", work_.Path("ls.log")).output,
            "0\n");  // no partial tar left beside it
}

TEST_F(FlimageTest, ConvertsFromRegistryToRegistryWithCredentialsAndLinksTheSource) {
  SKIP_WITHOUT("docker-registry", "htpasswd");
  const std::string htpasswd = work_.Path("htpasswd");
  ASSERT_EQ(Shell("htpasswd -Bbn alice s3cret > " + htpasswd, work_.Path("htpasswd.log")).exit_code,
            0);
  Registry registry;
  ASSERT_TRUE(registry.Start(htpasswd));
  const std::string app = "docker://" + registry.host() + "/app";
  ASSERT_EQ(Shell("skopeo copy --quiet --dest-tls-verify=false --dest-creds alice:s3cret "
                  "oci:" +
                      work_.Path("src:latest") + " " + app + ":1",
                  work_.Path("push.log"), seconds(180))
                .exit_code,
            0);
  const std::string access = " --plain-http --work-dir " + work_.path();

  CommandResult r = Flimage("convert " + app + ":1 " + app + access +
                            " --src-creds alice:s3cret --dest-creds alice:wrong");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("wrong or missing credentials"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("s3cret"), std::string::npos) << "a password in an error";
  r = Flimage("convert " + app + ":1 " + app + access);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("requires credentials"), std::string::npos) << r.output;

  CommandResult convert = Flimage("convert " + app + ":1 " + app + access +
                                  " --src-creds alice:s3cret --dest-creds alice:s3cret");
  ASSERT_EQ(convert.exit_code, 0) << convert.output;
  EXPECT_NE(convert.output.find("-> " + app + ":1-feilong"), std::string::npos) << convert.output;
  CommandResult check = Flimage("check " + app + ":1-feilong --source " + app + ":1" + access +
                                " --creds alice:s3cret");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("same as"), std::string::npos) << check.output;

  // docker-registry 2.8 does not index referrers: the referrers tag lists
  // the converted image under its source's digest.
  CommandResult source = Shell(
      "skopeo inspect --raw --tls-verify=false --creds alice:s3cret " + app + ":1 | sha256sum",
      work_.Path("inspect.log"));
  ASSERT_EQ(source.exit_code, 0) << source.output;
  const std::string referrers_tag = "sha256-" + source.output.substr(0, 64);
  CommandResult referrers = Shell(
      "skopeo inspect --raw --tls-verify=false --creds alice:s3cret " + app + ":" + referrers_tag,
      work_.Path("referrers.log"));
  ASSERT_EQ(referrers.exit_code, 0) << referrers.output;
  EXPECT_NE(referrers.output.find(Field(convert.output, "manifest")), std::string::npos)
      << referrers.output;

  // Other tools read what was pushed: skopeo copies it back to a layout.
  ASSERT_EQ(Shell("skopeo copy --quiet --src-tls-verify=false --src-creds alice:s3cret " + app +
                      ":1-feilong oci:" + work_.Path("copy:x"),
                  work_.Path("copy.log"), seconds(180))
                .exit_code,
            0);
  check =
      Flimage("check oci:" + work_.Path("copy:x") + " --source oci:" + work_.Path("src:latest"));
  EXPECT_EQ(check.exit_code, 0) << check.output;
  // Scratch layouts are gone.
  for (const auto& entry : std::filesystem::directory_iterator(work_.path())) {
    EXPECT_EQ(entry.path().filename().string().find("flimage-"), std::string::npos) << entry.path();
  }
}

TEST_F(FlimageTest, AnswersBearerTokenChallengesAsDockerHubSendsThem) {
  SKIP_WITHOUT("docker-registry", "openssl");
  const uint16_t token_port = test::FreeTcpPort();
  ChildProcess tokens(
      {Which("python3"), std::string(FEILONG_SOURCE_DIR) + "/tests/integration/token_server.py",
       "--dir", work_.Path("tokens"), "--port", std::to_string(token_port), "--user", "alice",
       "--password", "s3cret"},
      work_.Path("tokens.log"));
  ASSERT_TRUE(tokens.WaitForLine("ready", seconds(30))) << tokens.Log();
  Registry registry;
  ASSERT_TRUE(registry.StartWithAuth(
      "auth: {token: {realm: http://127.0.0.1:" + std::to_string(token_port) +
      "/token, service: feilong-test-registry, issuer: feilong-test-issuer, rootcertbundle: " +
      work_.Path("tokens/cert.pem") + "}}"));
  const std::string app = "docker://" + registry.host() + "/team/app";
  ASSERT_EQ(Shell("skopeo copy --quiet --dest-tls-verify=false --dest-creds alice:s3cret oci:" +
                      work_.Path("src:latest") + " " + app + ":1",
                  work_.Path("push.log"), seconds(180))
                .exit_code,
            0);
  const std::string access = " --plain-http --work-dir " + work_.path();

  CommandResult r = Flimage("inspect " + app + ":1" + access + " --creds alice:wrong");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("refused the credentials"), std::string::npos) << r.output;
  r = Flimage("inspect " + app + ":1" + access);  // anonymous: a token without access
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("wrong or missing credentials"), std::string::npos) << r.output;

  CommandResult convert = Flimage("convert " + app + ":1 " + app + ":lazy" + access +
                                  " --src-creds alice:s3cret --dest-creds alice:s3cret");
  ASSERT_EQ(convert.exit_code, 0) << convert.output << tokens.Log();
  CommandResult check =
      Flimage("check " + app + ":lazy --source " + app + ":1" + access + " --creds alice:s3cret");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("same as"), std::string::npos) << check.output;
}

}  // namespace
}  // namespace feilong::testing
