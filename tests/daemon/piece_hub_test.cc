#include "daemon/piece_hub.h"

#include <gtest/gtest.h>

#include <vector>

namespace feilong::daemon {
namespace {

TEST(PieceHubTest, ListenersGetPiecesUntilTheTaskEnds) {
  PieceHub hub;
  hub.BeginTask("t");
  EXPECT_TRUE(hub.IsActive("t"));
  std::vector<uint32_t> got;
  int ends = 0;
  auto sub = hub.Subscribe("t", {[&](uint32_t n) { got.push_back(n); }, [&] { ++ends; }});
  hub.PublishPiece("t", 3);
  hub.PublishPiece("other", 9);
  hub.PublishPiece("t", 1);
  hub.EndTask("t");
  EXPECT_EQ(got, (std::vector<uint32_t>{3, 1}));
  EXPECT_EQ(ends, 1);
  EXPECT_FALSE(hub.IsActive("t"));
  hub.PublishPiece("t", 5);
  EXPECT_EQ(got.size(), 2u);
}

TEST(PieceHubTest, DestroyedSubscriptionHearsNothing) {
  PieceHub hub;
  hub.BeginTask("t");
  int calls = 0;
  {
    auto sub = hub.Subscribe("t", {[&](uint32_t) { ++calls; }, [&] { ++calls; }});
  }
  hub.PublishPiece("t", 0);
  hub.EndTask("t");
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace feilong::daemon
