#include "daemon/download/blocking_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

namespace feilong::daemon {
namespace {

using std::chrono::milliseconds;

TEST(BlockingPoolTest, RunsEveryJob) {
  BlockingPool pool(4);
  std::atomic<int> ran{0};
  std::promise<void> all;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(pool.Submit([&]() {
      if (++ran == 100) {
        all.set_value();
      }
    }));
  }
  EXPECT_EQ(all.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(ran.load(), 100);
}

// A job that blocks holds one thread, not the pool: the other runs beside
// it (each job here waits for the other to start).
TEST(BlockingPoolTest, JobsRunAtOnceOnSeparateThreads) {
  BlockingPool pool(2);
  std::promise<void> first_started;
  std::promise<void> second_started;
  std::shared_future<void> first = first_started.get_future().share();
  std::shared_future<void> second = second_started.get_future().share();
  std::promise<void> both;
  std::atomic<int> done{0};
  auto finish = [&] {
    if (++done == 2) {
      both.set_value();
    }
  };
  ASSERT_TRUE(pool.Submit([&] {
    first_started.set_value();
    if (second.wait_for(std::chrono::seconds(10)) == std::future_status::ready) {
      finish();
    }
  }));
  ASSERT_TRUE(pool.Submit([&] {
    second_started.set_value();
    if (first.wait_for(std::chrono::seconds(10)) == std::future_status::ready) {
      finish();
    }
  }));
  EXPECT_EQ(both.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
}

TEST(BlockingPoolTest, StopDropsQueuedJobsAndRefusesNewOnes) {
  BlockingPool pool(1);
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  ASSERT_TRUE(pool.Submit([&]() {
    started.set_value();
    released.wait();
  }));
  started.get_future().wait();
  std::atomic<bool> queued_ran{false};
  ASSERT_TRUE(pool.Submit([&]() { queued_ran = true; }));
  std::thread stopper([&] { pool.Stop(); });
  std::this_thread::sleep_for(milliseconds(50));
  release.set_value();  // the running job finishes; Stop joins
  stopper.join();
  EXPECT_FALSE(queued_ran.load());
  EXPECT_FALSE(pool.Submit([]() {}));
}

}  // namespace
}  // namespace feilong::daemon
