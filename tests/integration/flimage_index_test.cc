// `flimage index` against real tools: the image of
// tests/image/make_test_image.py (a gzip, a plain and a one-frame zstd
// layer) indexed where it is, in a layout and in docker-registry; the
// image's manifest digest must not change, the index must be found as its
// referrer, and unpacking through the index must extract to exactly what
// `umoci unpack` makes of the image.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "integration/flimage_fixture.h"
#include "integration/process.h"
#include "integration/registry.h"
#include "support/temp_dir.h"

namespace feilong::testing {
namespace {

using std::chrono::seconds;

class FlimageIndexTest : public FlimageFixture {};

TEST_F(FlimageIndexTest, IndexesALayoutImageWhereItIs) {
  const std::string src = "oci:" + work_.Path("src:latest");
  const std::string before = ManifestDigest(src);
  CommandResult index = Flimage("index " + src);
  ASSERT_EQ(index.exit_code, 0) << index.output;
  EXPECT_NE(index.output.find("-> " + src + "-feilong-index"), std::string::npos) << index.output;
  EXPECT_NE(index.output.find("layer 2 is one zstd frame"), std::string::npos) << index.output;
  EXPECT_EQ(ManifestDigest(src), before);
  EXPECT_EQ(Field(index.output, "image"), "sha256:" + before);

  CommandResult inspect = Flimage("inspect " + src + " --index");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_EQ(Field(inspect.output, "image"), Field(index.output, "manifest"));
  EXPECT_NE(inspect.output.find("(format 1.1)"), std::string::npos) << inspect.output;
  EXPECT_NE(inspect.output.find("tar+gzip"), std::string::npos) << inspect.output;
  EXPECT_NE(inspect.output.find("one zstd frame: read from its start"), std::string::npos)
      << inspect.output;
  CommandResult check = Flimage("check " + src + "-feilong-index --source " + src);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("same as"), std::string::npos) << check.output;

  const std::string rootfs = UmociRootfs();
  ExpectUnpackEquals(src + " --index", rootfs, "by-image");
  ExpectUnpackEquals(src + "-feilong-index", rootfs, "by-name");

  // Reproducible; and into another layout, with the image copied there.
  CommandResult again = Flimage("index " + src + " oci:" + work_.Path("other:idx"));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(Field(again.output, "manifest"), Field(index.output, "manifest"));
  ExpectUnpackEquals("oci:" + work_.Path("other:idx"), rootfs, "from-other");

  // A layer that no longer matches its digest: check says so, unpack fails.
  CommandResult layers = Shell("skopeo inspect --raw " + src +
                                   " | python3 -c 'import json,sys; "
                                   "print(json.load(sys.stdin)[\"layers\"][0][\"digest\"][7:])'",
                               work_.Path("layers.log"));
  ASSERT_EQ(layers.exit_code, 0) << layers.output;
  const std::string blob = work_.Path("src/blobs/sha256/" + layers.output.substr(0, 64));
  ASSERT_EQ(Shell("chmod u+w " + blob + " && printf 'XXXX' | dd of=" + blob +
                      " bs=1 seek=4000 conv=notrunc status=none",
                  work_.Path("dd.log"))
                .exit_code,
            0);
  CommandResult damaged = Flimage("check " + src + " --index");
  EXPECT_EQ(damaged.exit_code, 1) << damaged.output;
  EXPECT_NE(damaged.output.find("has digest"), std::string::npos) << damaged.output;
  damaged = Flimage("unpack " + src + " --index -o " + work_.Path("damaged.tar"));
  EXPECT_EQ(damaged.exit_code, 1) << damaged.output;
}

TEST_F(FlimageIndexTest, IndexesARegistryImageBesideItAsItsReferrer) {
  SKIP_WITHOUT("docker-registry", "htpasswd");
  const std::string htpasswd = work_.Path("htpasswd");
  ASSERT_EQ(Shell("htpasswd -Bbn alice s3cret > " + htpasswd, work_.Path("htpasswd.log")).exit_code,
            0);
  Registry registry;
  ASSERT_TRUE(registry.Start(htpasswd));
  const std::string app = "docker://" + registry.host() + "/app";
  const std::string skopeo_flags = "--tls-verify=false --creds alice:s3cret";
  ASSERT_EQ(Shell("skopeo copy --quiet --dest-tls-verify=false --dest-creds alice:s3cret oci:" +
                      work_.Path("src:latest") + " " + app + ":1",
                  work_.Path("push.log"), seconds(180))
                .exit_code,
            0);
  const std::string before = ManifestDigest(app + ":1", skopeo_flags);
  const std::string access = " --plain-http --work-dir " + work_.path();

  CommandResult index = Flimage("index " + app + ":1" + access + " --src-creds alice:s3cret");
  ASSERT_EQ(index.exit_code, 0) << index.output;
  EXPECT_EQ(ManifestDigest(app + ":1", skopeo_flags), before);
  const std::string manifest = Field(index.output, "manifest");
  ASSERT_FALSE(manifest.empty()) << index.output;

  // docker-registry 2.8 has no referrers API: the referrers tag lists the
  // index, with its artifact type.
  CommandResult referrers =
      Shell("skopeo inspect --raw " + skopeo_flags + " " + app + ":sha256-" + before,
            work_.Path("referrers.log"));
  ASSERT_EQ(referrers.exit_code, 0) << referrers.output;
  EXPECT_NE(referrers.output.find(manifest), std::string::npos) << referrers.output;
  EXPECT_NE(referrers.output.find("application/vnd.feilong.image.index.v1+json"), std::string::npos)
      << referrers.output;

  const std::string rootfs = UmociRootfs();
  ExpectUnpackEquals(app + ":1 --index" + access + " --creds alice:s3cret", rootfs, "by-image");
  ExpectUnpackEquals(app + ":1-feilong-index" + access + " --creds alice:s3cret", rootfs,
                     "by-name");
  CommandResult check = Flimage("check " + app + ":1 --index --source " + app + ":1" + access +
                                " --creds alice:s3cret");
  EXPECT_EQ(check.exit_code, 0) << check.output;

  // Into another repository: the image goes there too, by digest.
  CommandResult mirrored = Flimage("index " + app + ":1 " + app + "-mirror" + access +
                                   " --src-creds alice:s3cret --dest-creds alice:s3cret");
  ASSERT_EQ(mirrored.exit_code, 0) << mirrored.output;
  EXPECT_EQ(ManifestDigest(app + "-mirror@sha256:" + before, skopeo_flags), before);
  ExpectUnpackEquals(app + "-mirror:1-feilong-index" + access + " --creds alice:s3cret", rootfs,
                     "mirrored");

  // An image without an index says so.
  ASSERT_EQ(Shell("skopeo copy --quiet --dest-tls-verify=false --dest-creds alice:s3cret oci:" +
                      work_.Path("src:latest") + " " + app + "-plain:1",
                  work_.Path("push2.log"), seconds(180))
                .exit_code,
            0);
  CommandResult none =
      Flimage("inspect " + app + "-plain:1 --index" + access + " --creds alice:s3cret");
  EXPECT_EQ(none.exit_code, 1) << none.output;
  EXPECT_NE(none.output.find("no referrer of type"), std::string::npos) << none.output;
}

}  // namespace
}  // namespace feilong::testing
