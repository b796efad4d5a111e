#include "daemon/download/transfer_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>

namespace feilong::daemon {
namespace {

using std::chrono::milliseconds;

TEST(TransferPoolTest, RunsEveryJob) {
  TransferPool pool(4, PieceClientOptions{});
  std::atomic<int> ran{0};
  std::promise<void> all;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(pool.Submit([&](TransferContext&) {
      if (++ran == 100) {
        all.set_value();
      }
    }));
  }
  EXPECT_EQ(all.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(ran.load(), 100);
}

TEST(TransferPoolTest, OneJobAtATimeStaysOnTheThreadThatWentIdleLast) {
  TransferPool pool(8, PieceClientOptions{});
  std::this_thread::sleep_for(milliseconds(50));  // every thread started and idle
  std::set<std::thread::id> threads;
  for (int i = 0; i < 10; ++i) {
    std::promise<std::thread::id> ran_on;
    ASSERT_TRUE(
        pool.Submit([&](TransferContext&) { ran_on.set_value(std::this_thread::get_id()); }));
    threads.insert(ran_on.get_future().get());
    std::this_thread::sleep_for(milliseconds(30));  // the thread is idle again
  }
  EXPECT_EQ(threads.size(), 1u);
}

TEST(TransferPoolTest, StopDropsQueuedJobsAndRefusesNewOnes) {
  TransferPool pool(1, PieceClientOptions{});
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  ASSERT_TRUE(pool.Submit([&](TransferContext&) {
    started.set_value();
    released.wait();
  }));
  started.get_future().wait();
  std::atomic<bool> queued_ran{false};
  ASSERT_TRUE(pool.Submit([&](TransferContext&) { queued_ran = true; }));
  std::thread stopper([&] { pool.Stop(); });
  std::this_thread::sleep_for(milliseconds(50));
  release.set_value();  // the running job finishes; Stop joins
  stopper.join();
  EXPECT_FALSE(queued_ran.load());
  EXPECT_FALSE(pool.Submit([](TransferContext&) {}));
}

}  // namespace
}  // namespace feilong::daemon
