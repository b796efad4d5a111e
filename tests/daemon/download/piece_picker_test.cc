#include "daemon/download/piece_picker.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace feilong::daemon {
namespace {

// One character per piece; '1' means true.
std::vector<bool> Bits(const std::string& s) {
  std::vector<bool> v;
  for (char c : s) {
    v.push_back(c == '1');
  }
  return v;
}

struct Case {
  std::string held, in_flight, verifiable;
  std::vector<std::string> parents;  // each parent's pieces
  std::vector<uint32_t> parent_in_flight;
  int want_piece;   // -1: none
  int want_parent;  // index
  int want_origin;  // -1: none
  uint64_t spread = 0;
  uint32_t max_in_flight_per_parent = 0;
};

class PiecePickerTest : public ::testing::TestWithParam<Case> {};

TEST_P(PiecePickerTest, Picks) {
  const Case& c = GetParam();
  auto held = Bits(c.held);
  auto in_flight = Bits(c.in_flight);
  auto verifiable = Bits(c.verifiable);
  std::vector<std::vector<bool>> has;
  for (const auto& p : c.parents) {
    has.push_back(Bits(p));
  }
  std::vector<PickerParent> parents;
  for (size_t i = 0; i < has.size(); ++i) {
    parents.push_back({&has[i], c.parent_in_flight.empty() ? 0 : c.parent_in_flight[i]});
  }
  PickerInput input{held, in_flight, verifiable, parents, c.spread, c.max_in_flight_per_parent};
  auto pick = PickFromParents(input);
  if (c.want_piece < 0) {
    EXPECT_FALSE(pick.has_value());
  } else {
    ASSERT_TRUE(pick.has_value());
    EXPECT_EQ(pick->piece, static_cast<uint32_t>(c.want_piece));
    EXPECT_EQ(pick->parent, static_cast<size_t>(c.want_parent));
  }
  auto origin = PickFromOrigin(input);
  if (c.want_origin < 0) {
    EXPECT_FALSE(origin.has_value());
  } else {
    ASSERT_TRUE(origin.has_value());
    EXPECT_EQ(*origin, static_cast<uint32_t>(c.want_origin));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, PiecePickerTest,
    ::testing::Values(
        // One parent with everything: pieces in order; the origin would take piece 0 too
        // only if no parent had it.
        Case{"0000", "0000", "1111", {"1111"}, {}, 0, 0, -1},
        // Held and in-flight pieces are skipped.
        Case{"1100", "0010", "1111", {"1111"}, {}, 3, 0, -1},
        // Rarest first: piece 2 is held by one parent only.
        Case{"0000", "0000", "1111", {"1111", "1101"}, {}, 2, 0, -1},
        // Among holders, the parent with fewer pieces in flight.
        Case{"0000", "0000", "1111", {"1000", "1000"}, {3, 1}, 0, 1, 1},
        // A piece whose digest is unknown is not fetched from parents; the origin may take it.
        Case{"0000", "0000", "0111", {"1111"}, {}, 1, 0, 0},
        // No parent has anything: nothing from parents, the origin takes the first missing.
        Case{"1000", "0000", "1111", {"0000"}, {}, -1, 0, 1},
        // No parents at all.
        Case{"0100", "1000", "1111", {}, {}, -1, 0, 2},
        // Everything held.
        Case{"111", "000", "111", {"111"}, {}, -1, 0, -1},
        // Parent first: the less busy parent, even though the other holds more.
        Case{"0000", "0000", "1111", {"1111", "0011"}, {2, 0}, 2, 1, -1},
        // A parent holding nothing fetchable is passed over, however idle.
        Case{"0011", "0000", "1111", {"1111", "0011"}, {2, 0}, 0, 0, -1},
        // Equally busy parents: the rotation starts at spread modulo their count.
        Case{"0000", "0000", "1111", {"1111", "0100"}, {}, 0, 0, -1, 0},
        Case{"0000", "0000", "1111", {"1111", "0100"}, {}, 1, 1, -1, 1},
        // Parents at the per-parent cap are not asked; the origin is not told to take
        // their pieces either.
        Case{"0000", "0000", "1111", {"1111", "1111"}, {2, 2}, -1, 0, -1, 0, 2},
        Case{"0000", "0000", "1111", {"1111", "0111"}, {2, 1}, 1, 1, -1, 0, 2}));

// Children of one parent with different spreads ask it for different pieces.
TEST(PiecePickerSpreadTest, DifferentSpreadsPickDifferentPieces) {
  std::vector<bool> held(64, false), in_flight(64, false), verifiable(64, true);
  std::vector<bool> all(64, true);
  std::vector<PickerParent> parents{{&all, 0}};
  std::set<uint32_t> picked;
  for (uint64_t spread = 1; spread <= 8; ++spread) {
    auto pick = PickFromParents(PickerInput{held, in_flight, verifiable, parents, spread});
    ASSERT_TRUE(pick.has_value());
    picked.insert(pick->piece);
  }
  EXPECT_GE(picked.size(), 6u);
}

// Peers at the origin together fetch in different orders; alone, a download
// reads it front to back.
TEST(PiecePickerSpreadTest, OriginOrderIsShuffledOnlyWithParents) {
  std::vector<bool> held(64, false), in_flight(64, false), verifiable(64, true);
  std::vector<bool> nothing(64, false);
  std::vector<PickerParent> none;
  std::vector<PickerParent> one{{&nothing, 0}};
  std::set<uint32_t> firsts;
  for (uint64_t spread = 1; spread <= 8; ++spread) {
    EXPECT_EQ(PickFromOrigin(PickerInput{held, in_flight, verifiable, none, spread}), 0u);
    auto pick = PickFromOrigin(PickerInput{held, in_flight, verifiable, one, spread});
    ASSERT_TRUE(pick.has_value());
    firsts.insert(*pick);
  }
  EXPECT_GE(firsts.size(), 6u);
  // Every missing piece is reached, whatever the order.
  std::vector<bool> all_but_one(64, true);
  all_but_one[41] = false;
  EXPECT_EQ(PickFromOrigin(PickerInput{all_but_one, in_flight, verifiable, one, 5}), 41u);
}

TEST(PiecePickerSpreadTest, OriginRunStopsAtAHeldOrBusyPieceOrTheLimitOrTheEnd) {
  //                        0  1  2  3  4  5  6  7  8  9
  std::vector<bool> held = {1, 0, 0, 0, 1, 0, 0, 0, 0, 0};
  std::vector<bool> in_flight(10, false);
  in_flight[7] = true;
  std::vector<bool> verifiable(10, false);
  std::vector<PickerParent> none;
  PickerInput input{held, in_flight, verifiable, none};
  EXPECT_EQ(OriginRunLength(input, 1, 16), 3u);  // 1..3, then 4 is held
  EXPECT_EQ(OriginRunLength(input, 5, 16), 2u);  // 5..6, then 7 is in flight
  EXPECT_EQ(OriginRunLength(input, 8, 16), 2u);  // 8..9, then the end
  EXPECT_EQ(OriginRunLength(input, 1, 2), 2u);   // the limit
  EXPECT_EQ(OriginRunLength(input, 9, 16), 1u);  // the last piece alone
}

// Spread only breaks ties: a rarer piece still wins.
TEST(PiecePickerSpreadTest, RarityComesBeforeSpread) {
  std::vector<bool> held(64, false), in_flight(64, false), verifiable(64, true);
  std::vector<bool> all(64, true), most(64, true);
  most[37] = false;
  std::vector<PickerParent> parents{{&all, 0}, {&most, 1}};
  for (uint64_t spread = 1; spread <= 8; ++spread) {
    auto pick = PickFromParents(PickerInput{held, in_flight, verifiable, parents, spread});
    ASSERT_TRUE(pick.has_value());
    EXPECT_EQ(pick->piece, 37u);
    EXPECT_EQ(pick->parent, 0u);
  }
}

}  // namespace
}  // namespace feilong::daemon
