#include "daemon/upload/piece_hub.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace feilong::daemon {
namespace {

using std::chrono::milliseconds;

// Records what a listener hears; callbacks may come from the hub's thread.
struct Heard {
  std::mutex mutex;
  std::vector<std::vector<uint32_t>> batches;
  int ends = 0;

  PieceHub::Listener Listener() {
    return {[this](std::span<const uint32_t> numbers) {
              std::lock_guard lock(mutex);
              batches.emplace_back(numbers.begin(), numbers.end());
            },
            [this] {
              std::lock_guard lock(mutex);
              ++ends;
            }};
  }
  std::vector<std::vector<uint32_t>> Batches() {
    std::lock_guard lock(mutex);
    return batches;
  }
  // Waits (up to 5 s) until `count` batches were heard.
  bool WaitForBatches(size_t count) {
    for (int i = 0; i < 500; ++i) {
      if (Batches().size() >= count) {
        return true;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }
};

using Batches = std::vector<std::vector<uint32_t>>;

TEST(PieceHubTest, ListenersGetPiecesUntilTheTaskEnds) {
  PieceHub hub;  // no batching: every piece at once
  hub.BeginTask("t");
  EXPECT_TRUE(hub.IsActive("t"));
  Heard heard;
  auto sub = hub.Subscribe("t", heard.Listener());
  hub.PublishPiece("t", 3);
  hub.PublishPiece("other", 9);
  hub.PublishPiece("t", 1);
  EXPECT_EQ(hub.PublishedPieces("t"), 2u);
  hub.EndTask("t");
  EXPECT_EQ(heard.Batches(), (Batches{{3}, {1}}));
  EXPECT_EQ(heard.ends, 1);
  EXPECT_FALSE(hub.IsActive("t"));
  hub.PublishPiece("t", 5);
  EXPECT_EQ(heard.Batches().size(), 2u);
}

TEST(PieceHubTest, DestroyedSubscriptionHearsNothing) {
  PieceHub hub;
  hub.BeginTask("t");
  Heard heard;
  { auto sub = hub.Subscribe("t", heard.Listener()); }
  hub.PublishPiece("t", 0);
  hub.EndTask("t");
  EXPECT_TRUE(heard.Batches().empty());
  EXPECT_EQ(heard.ends, 0);
}

TEST(PieceHubTest, PiecesWithinTheIntervalArriveAsOneBatchAfterIt) {
  const milliseconds interval(300);
  PieceHub hub(interval);
  hub.BeginTask("t");
  Heard heard;
  auto sub = hub.Subscribe("t", heard.Listener());
  auto start = std::chrono::steady_clock::now();
  hub.PublishPiece("t", 7);  // after a quiet interval: at once
  EXPECT_EQ(heard.Batches(), (Batches{{7}}));
  hub.PublishPiece("t", 2);
  hub.PublishPiece("t", 4);
  hub.PublishPiece("t", 3);
  EXPECT_EQ(hub.PublishedPieces("t"), 4u);
  ASSERT_TRUE(heard.WaitForBatches(2));
  EXPECT_GE(std::chrono::steady_clock::now() - start, interval);
  EXPECT_EQ(heard.Batches(), (Batches{{7}, {2, 4, 3}}));
  hub.EndTask("t");
  EXPECT_EQ(heard.ends, 1);
}

TEST(PieceHubTest, EndDeliversCollectedPiecesFirst) {
  PieceHub hub(milliseconds(10000));
  hub.BeginTask("t");
  Heard heard;
  auto sub = hub.Subscribe("t", heard.Listener());
  hub.PublishPiece("t", 0);
  hub.PublishPiece("t", 1);
  hub.PublishPiece("t", 2);
  EXPECT_EQ(heard.Batches(), (Batches{{0}}));
  hub.EndTask("t");
  EXPECT_EQ(heard.Batches(), (Batches{{0}, {1, 2}}));
  EXPECT_EQ(heard.ends, 1);
}

TEST(PieceHubTest, TasksAreBatchedApart) {
  PieceHub hub(milliseconds(200));
  hub.BeginTask("a");
  hub.BeginTask("b");
  Heard a;
  Heard b;
  auto sub_a = hub.Subscribe("a", a.Listener());
  auto sub_b = hub.Subscribe("b", b.Listener());
  hub.PublishPiece("a", 1);
  hub.PublishPiece("a", 2);
  hub.PublishPiece("b", 9);  // b was quiet: at once, whatever a does
  EXPECT_EQ(b.Batches(), (Batches{{9}}));
  ASSERT_TRUE(a.WaitForBatches(2));
  EXPECT_EQ(a.Batches(), (Batches{{1}, {2}}));
  EXPECT_EQ(b.Batches(), (Batches{{9}}));
}

TEST(PieceHubTest, HubWithCollectedPiecesStopsWhenDestroyed) {
  Heard heard;
  auto start = std::chrono::steady_clock::now();
  {
    PieceHub hub(milliseconds(10000));
    hub.BeginTask("t");
    auto sub = hub.Subscribe("t", heard.Listener());
    hub.PublishPiece("t", 0);
    hub.PublishPiece("t", 1);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(heard.Batches(), (Batches{{0}}));
}

}  // namespace
}  // namespace feilong::daemon
