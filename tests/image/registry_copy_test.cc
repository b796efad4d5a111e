#include "image/registry_copy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

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

Sha256Digest Digest(uint8_t fill) {
  Sha256Digest d{};
  d.fill(fill);
  return d;
}

// A candidate `digest` of artifact type `type` about `subject`.
ReferrerCandidate Candidate(uint8_t digest, std::string type, uint8_t subject,
                            std::string created = "") {
  ReferrerCandidate c;
  c.descriptor = Descriptor{std::string(kOciManifestType), Digest(digest), 100, {}, {}, {}};
  c.manifest.artifact_type = std::move(type);
  c.manifest.subject = Descriptor{std::string(kOciManifestType), Digest(subject), 10, {}, {}, {}};
  if (!created.empty()) {
    c.manifest.annotations[std::string(kCreatedAnnotation)] = created;
  }
  return c;
}

TEST(FindReferrerTest, ACandidateMustHaveTheTypeAndTheSubjectItselfAndTheChoiceIsStable) {
  const std::string type(kFeilongIndexArtifactType);
  // Listed under our type, but about another image, or of another type.
  std::vector<ReferrerCandidate> candidates = {Candidate(0x90, type, 2),
                                               Candidate(0x91, "application/other", 1)};
  EXPECT_FALSE(ChooseReferrer(candidates, Digest(1), type).has_value());

  candidates.push_back(Candidate(0x10, type, 1));
  candidates.push_back(Candidate(0x20, type, 1));
  EXPECT_EQ(ChooseReferrer(candidates, Digest(1), type)->digest, Digest(0x20));
  std::reverse(candidates.begin(), candidates.end());  // whatever the list's order
  EXPECT_EQ(ChooseReferrer(candidates, Digest(1), type)->digest, Digest(0x20));
  // A created annotation says which is newer, before the digest does.
  candidates.push_back(Candidate(0x05, type, 1, "2026-12-01T00:00:00Z"));
  EXPECT_EQ(ChooseReferrer(candidates, Digest(1), type)->digest, Digest(0x05));
}

TEST(FindReferrerTest, AListThatIsNotAnImageIndexIsCorruption) {
  const std::string type(kFeilongIndexArtifactType);
  for (const char* bad : {"", "not json", "[]", R"({"manifests": {}})"}) {
    EXPECT_TRUE(ListedReferrers(bad, type).status().IsCorruption()) << bad;
  }
  const std::string digest = Sha256String(Digest(7));
  Result<std::vector<Descriptor>> listed =
      ListedReferrers(R"({"manifests": [{"digest": ")" + digest + R"(", "artifactType": ")" + type +
                          R"("}, {"digest": "sha256:zz", "artifactType": ")" + type +
                          R"("}, {"digest": ")" + digest + R"(", "artifactType": "other"}]})",
                      type);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().digest, Digest(7));
}

}  // namespace
}  // namespace feilong::image
