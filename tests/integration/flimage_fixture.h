// The fixture of the flimage integration tests (flimage_test.cc,
// flimage_index_test.cc): the test image made by
// tests/image/make_test_image.py in work_/src, flimage and the scripts run
// with their output logged, and the comparisons with umoci's rootfs.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>

#include "integration/process.h"
#include "support/temp_dir.h"

namespace feilong::testing {

class FlimageFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT("umoci", "skopeo", "python3", "tar", "zstd");
    ASSERT_EQ(Script("make_test_image.py " + work_.Path("src") + " --tag latest").exit_code, 0);
  }

  CommandResult Script(const std::string& args) {
    return Shell("python3 " + std::string(FEILONG_SOURCE_DIR) + "/tests/image/" + args,
                 work_.Path("script.log"), std::chrono::seconds(120));
  }
  CommandResult Flimage(const std::string& args) {
    return Shell(BinaryPath("flimage") + " " + args, work_.Path("flimage.log"),
                 std::chrono::seconds(120));
  }
  // The SHA-256 of what `skopeo inspect --raw` prints for `image`.
  std::string ManifestDigest(const std::string& image, const std::string& flags = "") {
    CommandResult r =
        Shell("skopeo inspect --raw " + flags + " " + image + " | sha256sum", work_.Path("d.log"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output.substr(0, 64);
  }
  // umoci's rootfs of the source image (a gzip copy: umoci 0.4.7 reads no
  // zstd layer).
  std::string UmociRootfs() {
    CommandResult umoci = Shell("cd " + work_.path() +
                                    " && skopeo copy --quiet --dest-compress-format gzip "
                                    "oci:src:latest oci:gz:latest && "
                                    "umoci unpack --image gz:latest bundle",
                                work_.Path("umoci.log"), std::chrono::seconds(180));
    EXPECT_EQ(umoci.exit_code, 0) << umoci.output;
    return work_.Path("bundle/rootfs");
  }
  // Unpacks with `args` and compares the extracted tree with `rootfs`.
  void ExpectUnpackEquals(const std::string& args, const std::string& rootfs,
                          const std::string& name) {
    CommandResult unpack = Flimage("unpack " + args + " -o " + work_.Path(name + ".tar"));
    ASSERT_EQ(unpack.exit_code, 0) << unpack.output;
    CommandResult extract =
        Shell("mkdir " + work_.Path(name) + " && tar --xattrs --xattrs-include='*' " +
                  "--numeric-owner -xpf " + work_.Path(name + ".tar") + " -C " + work_.Path(name),
              work_.Path("tar.log"));
    ASSERT_EQ(extract.exit_code, 0) << extract.output;
    CommandResult compare = Script("compare_rootfs.py " + rootfs + " " + work_.Path(name));
    EXPECT_EQ(compare.exit_code, 0) << compare.output;
    EXPECT_NE(compare.output.find("equal"), std::string::npos) << compare.output;
  }
  // The value printed after `label` by convert, index or inspect.
  static std::string Field(const std::string& output, const std::string& label) {
    std::smatch match;
    std::regex line("(^|\n)" + label + " +(\\S+)");
    return std::regex_search(output, match, line) ? match[2].str() : "";
  }

  test::TempDir work_;
};

}  // namespace feilong::testing
