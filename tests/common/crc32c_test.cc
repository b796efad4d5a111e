#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "common/crc32c_internal.h"
#include "common/digest.h"

namespace feilong {
namespace {

std::span<const uint8_t> Bytes(const std::vector<uint8_t>& v) { return {v.data(), v.size()}; }

// Known answers from RFC 3720 (iSCSI), appendix B.4, and the common check value.
struct Vector {
  std::vector<uint8_t> data;
  uint32_t crc;
};

std::vector<Vector> KnownVectors() {
  std::vector<Vector> out;
  out.push_back({std::vector<uint8_t>{'1', '2', '3', '4', '5', '6', '7', '8', '9'}, 0xE3069283u});
  out.push_back({std::vector<uint8_t>(32, 0x00), 0x8A9136AAu});
  out.push_back({std::vector<uint8_t>(32, 0xFF), 0x62A8AB43u});
  std::vector<uint8_t> ascending(32);
  std::vector<uint8_t> descending(32);
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<uint8_t>(i);
    descending[i] = static_cast<uint8_t>(31 - i);
  }
  out.push_back({ascending, 0x46DD794Eu});
  out.push_back({descending, 0x113FDB5Cu});
  out.push_back({{}, 0u});
  return out;
}

TEST(Crc32cTest, KnownVectorsThroughPublicApi) {
  EXPECT_EQ(Crc32c(std::string_view("123456789")), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string_view()), 0u);
  for (const auto& v : KnownVectors()) {
    EXPECT_EQ(Crc32c(Bytes(v.data)), v.crc);
  }
}

TEST(Crc32cTest, PortableMatchesKnownVectors) {
  for (const auto& v : KnownVectors()) {
    EXPECT_EQ(crc32c_internal::ExtendPortable(0, Bytes(v.data)), v.crc);
  }
}

TEST(Crc32cTest, HardwareMatchesKnownVectors) {
  if (!crc32c_internal::HardwareAvailable()) {
    GTEST_SKIP() << "no SSE4.2 on this CPU";
  }
  for (const auto& v : KnownVectors()) {
    EXPECT_EQ(crc32c_internal::ExtendHardware(0, Bytes(v.data)), v.crc);
  }
}

TEST(Crc32cTest, HardwareAndPortableAgreeOnRandomUnalignedInput) {
  if (!crc32c_internal::HardwareAvailable()) {
    GTEST_SKIP() << "no SSE4.2 on this CPU";
  }
  std::mt19937_64 rng(42);
  std::vector<uint8_t> buf(4096 + 16);
  for (auto& b : buf) {
    b = static_cast<uint8_t>(rng());
  }
  for (size_t offset = 0; offset < 9; ++offset) {
    for (size_t len : {0u, 1u, 7u, 8u, 9u, 15u, 16u, 17u, 63u, 64u, 1000u, 4096u}) {
      std::span<const uint8_t> s(buf.data() + offset, len);
      uint32_t seed = static_cast<uint32_t>(rng());
      EXPECT_EQ(crc32c_internal::ExtendHardware(seed, s), crc32c_internal::ExtendPortable(seed, s))
          << "offset " << offset << " len " << len;
    }
  }
}

TEST(Crc32cTest, ExtendEqualsWholeAtEverySplit) {
  std::string data = "The quick brown fox jumps over the lazy dog, twice over.";
  uint32_t whole = Crc32c(data);
  for (size_t split = 0; split <= data.size(); ++split) {
    std::string_view a(data.data(), split);
    std::string_view b(data.data() + split, data.size() - split);
    uint32_t ca = Crc32c(a);
    uint32_t extended = Crc32cExtend(
        ca, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
    EXPECT_EQ(extended, whole) << "split " << split;
    auto pa = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(a.data()), a.size());
    auto pb = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(b.data()), b.size());
    EXPECT_EQ(crc32c_internal::ExtendPortable(crc32c_internal::ExtendPortable(0, pa), pb), whole);
  }
}

TEST(Crc32cTest, DifferentInputsDiffer) {
  EXPECT_NE(Crc32c(std::string_view("a")), Crc32c(std::string_view("b")));
  EXPECT_NE(Crc32c(std::string(1, '\0')), Crc32c(std::string(2, '\0')));
}

}  // namespace
}  // namespace feilong
