#include "image/registry_copy.h"

#include <gtest/gtest.h>

namespace feilong::image {
namespace {

TEST(RegistryImageTest, ParsesHostsRepositoriesTagsAndDigests) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  struct Case {
    const char* text;
    const char* host;
    const char* repository;
    std::string reference;
  } cases[] = {
      {"docker://127.0.0.1:5000/app:1", "127.0.0.1:5000", "app", "1"},
      {"docker://localhost/team/app", "localhost", "team/app", "latest"},
      {"docker://registry.example/a/b/c@sha256:"
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
       "registry.example", "a/b/c", digest},
      {"docker://debian:12", "registry-1.docker.io", "library/debian", "12"},
      {"docker://team/app", "registry-1.docker.io", "team/app", "latest"},
      {"docker://[::1]:5000/a_b/c-d:v1.2_x", "[::1]:5000", "a_b/c-d", "v1.2_x"},
  };
  for (const Case& c : cases) {
    Result<RegistryImage> image = RegistryImage::Parse(c.text);
    ASSERT_TRUE(image.ok()) << c.text << ": " << image.status().ToString();
    EXPECT_EQ(image->host, c.host) << c.text;
    EXPECT_EQ(image->repository, c.repository) << c.text;
    EXPECT_EQ(image->reference, c.reference) << c.text;
  }
  EXPECT_EQ(RegistryImage::Parse("docker://127.0.0.1:5000/app:1")->ToString(),
            "docker://127.0.0.1:5000/app:1");
  for (const char* bad : {"oci:dir", "docker://", "docker://host.example/", "docker://Upper/App",
                          "docker://host.example/app@md5:00", "docker://host.example/app:",
                          "docker://user:pw@host.example/app:1", "docker://host.example/a/../../x",
                          "docker://host.example/app:1?x=y", "docker://host.example/app:-tag",
                          "docker://host.example/a//b", "docker://host.example:99999999/app"}) {
    EXPECT_TRUE(RegistryImage::Parse(bad).status().IsInvalidArgument()) << bad;
  }
}

}  // namespace
}  // namespace feilong::image
