#include "common/task_id.h"

#include <gtest/gtest.h>

#include <string>

#include "common/digest.h"

namespace feilong {
namespace {

TEST(TaskIdTest, AUrlTaskHashesTheFourFieldsJoinedByNewlines) {
  EXPECT_EQ(UrlTaskId("http://h/f", "", "", 0),
            HexEncode(Sha256(std::string_view("http://h/f\n\n\n0"))));
  std::string id = UrlTaskId("http://h/f", "tag", "app", 4194304);
  EXPECT_EQ(id, HexEncode(Sha256(std::string_view("http://h/f\ntag\napp\n4194304"))));
  EXPECT_TRUE(IsValidTaskId(id));
  EXPECT_NE(UrlTaskId("http://h/f", "tag", "app", 0), id);
  EXPECT_NE(UrlTaskId("http://h/f", "tag2", "app", 4194304), id);
  EXPECT_NE(UrlTaskId("http://h/f", "", "tagapp", 4194304),
            UrlTaskId("http://h/f", "tag", "app", 4194304));
}

TEST(TaskIdTest, AContentTaskDependsOnTheDigestAndPieceLengthOnly) {
  const std::string hex(64, 'a');
  std::string id = ContentTaskId(hex);
  std::string material = std::string("oci-blob") + '\0' + "sha256:" + hex;
  EXPECT_EQ(id, HexEncode(Sha256(std::string_view(material))));
  EXPECT_EQ(ContentTaskId(hex, 1 << 20),
            HexEncode(Sha256(std::string_view(material + '\0' + "1048576"))));
  EXPECT_NE(id, ContentTaskId(std::string(64, 'b')));
  EXPECT_TRUE(IsValidTaskId(id));
}

TEST(TaskIdTest, TheFormIsSixtyFourLowercaseHexCharacters) {
  EXPECT_TRUE(IsValidTaskId(std::string(64, 'a')));
  EXPECT_FALSE(IsValidTaskId(std::string(64, 'A')));
  EXPECT_FALSE(IsValidTaskId(std::string(63, 'a')));
  EXPECT_FALSE(IsValidTaskId(std::string(62, 'a') + ".."));
  EXPECT_TRUE(ValidateTaskId(std::string(64, '0')).ok());
  Status bad = ValidateTaskId("../etc\npasswd");
  EXPECT_TRUE(bad.IsInvalidArgument());
  EXPECT_NE(bad.message().find("'../etc?passwd'"), std::string::npos) << bad.ToString();
}

}  // namespace
}  // namespace feilong
