#include "common/allocator.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <vector>

namespace feilong {
namespace {

constexpr size_t kMiB = 1u << 20;

// Each check runs in a fresh process (the "threadsafe" death-test style
// re-executes the test binary): allocator settings are process-wide and
// glibc adapts its thresholds to what a process allocated before.
class AllocatorTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

void Touch(void* block) { *static_cast<volatile char*>(block) = 1; }

// The child exits 0 when the check passed.
[[noreturn]] void TwoMiBBlocksComeFromTheHeap() {
  if (!ConfigureAllocatorForTransfers()) {
    std::_Exit(1);
  }
  size_t mapped_before = mallinfo2().hblks;
  void* block = std::malloc(2 * kMiB);
  Touch(block);  // keeps the compiler from eliding the malloc/free pair
  size_t mapped_after = mallinfo2().hblks;
  std::free(block);
  std::_Exit(mapped_after == mapped_before ? 0 : 1);
}

[[noreturn]] void FreedBlocksStayWithTheProcess() {
  if (!ConfigureAllocatorForTransfers()) {
    std::_Exit(1);
  }
  std::vector<void*> blocks;
  for (int i = 0; i < 16; ++i) {
    blocks.push_back(std::malloc(kMiB));
    Touch(blocks.back());
  }
  size_t heap_in_use = mallinfo2().arena;
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    std::free(*it);
  }
  // Freed from the top down: glibc's default would give all of it back.
  std::_Exit(heap_in_use >= 16 * kMiB && mallinfo2().arena >= 16 * kMiB ? 0 : 1);
}

bool SettingsApply() {
  // Sanitizers replace malloc and ignore mallopt().
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return false;
#endif
#endif
  return true;
}

TEST_F(AllocatorTest, BlocksBelowTheMmapThresholdComeFromTheHeap) {
  if (!SettingsApply()) {
    GTEST_SKIP() << "the sanitizer's allocator ignores mallopt()";
  }
  EXPECT_EXIT(TwoMiBBlocksComeFromTheHeap(), ::testing::ExitedWithCode(0), "");
}

TEST_F(AllocatorTest, FreedBlocksAreKeptForReuseInsteadOfTrimmed) {
  if (!SettingsApply()) {
    GTEST_SKIP() << "the sanitizer's allocator ignores mallopt()";
  }
  EXPECT_EXIT(FreedBlocksStayWithTheProcess(), ::testing::ExitedWithCode(0), "");
}

TEST(AllocatorSettingsTest, ThresholdsBeyondWhatTheCLibraryTakesAreRefused) {
  AllocatorSettings settings;
  settings.trim_threshold = size_t{1} << 40;
  EXPECT_FALSE(ConfigureAllocatorForTransfers(settings));
}

}  // namespace
}  // namespace feilong
