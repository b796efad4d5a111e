#include "daemon/upload/upload_slots.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace feilong::daemon {
namespace {

const std::string kTask = std::string(64, 'a');
const std::string kOther = std::string(64, 'b');

TEST(UploadSlotsTest, APieceGoesToOneChildAtATime) {
  UploadSlots slots(0);
  auto first = slots.TryAcquire(kTask, 3);
  ASSERT_TRUE(first.ticket.has_value());
  auto second = slots.TryAcquire(kTask, 3);
  EXPECT_FALSE(second.ticket.has_value());
  EXPECT_EQ(second.refusal, UploadRefusal::kPieceBusy);
  // Other pieces, and the same number of another task, are free.
  EXPECT_TRUE(slots.TryAcquire(kTask, 4).ticket.has_value());
  EXPECT_TRUE(slots.TryAcquire(kOther, 3).ticket.has_value());
  first.ticket.reset();
  EXPECT_TRUE(slots.TryAcquire(kTask, 3).ticket.has_value());
}

TEST(UploadSlotsTest, SlotsBoundUploadsAndFreeOnRelease) {
  UploadSlots slots(2);
  std::vector<UploadSlots::Ticket> held;
  for (uint32_t n = 0; n < 2; ++n) {
    auto acquired = slots.TryAcquire(kTask, n);
    ASSERT_TRUE(acquired.ticket.has_value());
    held.push_back(std::move(*acquired.ticket));
  }
  EXPECT_EQ(slots.active(), 2u);
  auto refused = slots.TryAcquire(kTask, 5);
  EXPECT_FALSE(refused.ticket.has_value());
  EXPECT_EQ(refused.refusal, UploadRefusal::kSlotsFull);
  held.pop_back();
  EXPECT_EQ(slots.active(), 1u);
  EXPECT_TRUE(slots.TryAcquire(kTask, 5).ticket.has_value());
  EXPECT_EQ(slots.active(), 1u);  // that ticket was dropped at once
}

TEST(UploadSlotsTest, MovedTicketsReleaseOnce) {
  UploadSlots slots(1);
  auto acquired = slots.TryAcquire(kTask, 0);
  ASSERT_TRUE(acquired.ticket.has_value());
  UploadSlots::Ticket moved = std::move(*acquired.ticket);
  acquired.ticket.reset();  // the moved-from ticket releases nothing
  EXPECT_EQ(slots.active(), 1u);
  auto other = slots.TryAcquire(kOther, 0);
  EXPECT_FALSE(other.ticket.has_value());
  {
    auto again = slots.TryAcquire(kOther, 1);
    EXPECT_FALSE(again.ticket.has_value());
  }
  moved = UploadSlots::Ticket(std::move(moved));
  EXPECT_EQ(slots.active(), 1u);
}

TEST(UploadSlotsTest, FirstCopiesFirstWhileDownloading) {
  UploadSlots slots(0, /*first_copies_first=*/true);
  // Holding 2 pieces, piece 0 sent once: not again while piece 1 is unsent.
  EXPECT_TRUE(slots.TryAcquire(kTask, 0, 2).ticket.has_value());
  auto again = slots.TryAcquire(kTask, 0, 2);
  EXPECT_FALSE(again.ticket.has_value());
  EXPECT_EQ(again.refusal, UploadRefusal::kSentBefore);
  EXPECT_EQ(UploadRefusalName(again.refusal), "piece");
  EXPECT_TRUE(slots.TryAcquire(kTask, 1, 2).ticket.has_value());
  // Every held piece went out once: second copies are fine.
  EXPECT_TRUE(slots.TryAcquire(kTask, 0, 2).ticket.has_value());
  // A new piece arrives: it goes first again.
  EXPECT_FALSE(slots.TryAcquire(kTask, 1, 3).ticket.has_value());
  EXPECT_TRUE(slots.TryAcquire(kTask, 2, 3).ticket.has_value());
  // Other tasks keep their own counts.
  EXPECT_TRUE(slots.TryAcquire(kOther, 0, 5).ticket.has_value());
  // Download over (0): anything goes, and the counts are forgotten.
  EXPECT_TRUE(slots.TryAcquire(kTask, 1, 0).ticket.has_value());
  EXPECT_TRUE(slots.TryAcquire(kTask, 1, 9).ticket.has_value());
}

TEST(UploadSlotsTest, FirstCopiesFirstSendsNoSecondCopyBesideAnotherUpload) {
  UploadSlots slots(0, /*first_copies_first=*/true);
  ASSERT_TRUE(slots.TryAcquire(kTask, 0, 2).ticket.has_value());
  auto first_copy = slots.TryAcquire(kTask, 1, 2);
  ASSERT_TRUE(first_copy.ticket.has_value());
  // Every held piece went out once, but piece 1's first copy is still going.
  auto second = slots.TryAcquire(kTask, 0, 2);
  EXPECT_FALSE(second.ticket.has_value());
  EXPECT_EQ(second.refusal, UploadRefusal::kSentBefore);
  // Another task's upload does not count.
  auto other = slots.TryAcquire(kOther, 0, 1);
  ASSERT_TRUE(other.ticket.has_value());
  first_copy.ticket.reset();
  auto repeat = slots.TryAcquire(kTask, 0, 2);
  ASSERT_TRUE(repeat.ticket.has_value());
  // One second copy at a time.
  EXPECT_FALSE(slots.TryAcquire(kTask, 1, 2).ticket.has_value());
  // Once the download is over, copies go out side by side.
  EXPECT_TRUE(slots.TryAcquire(kTask, 1, 0).ticket.has_value());
}

TEST(UploadSlotsTest, WithoutFirstCopiesFirstRepeatsAreServed) {
  UploadSlots slots(0);
  EXPECT_TRUE(slots.TryAcquire(kTask, 0, 5).ticket.has_value());
  EXPECT_TRUE(slots.TryAcquire(kTask, 0, 5).ticket.has_value());
}

}  // namespace
}  // namespace feilong::daemon
