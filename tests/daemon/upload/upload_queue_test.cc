#include "daemon/upload/upload_queue.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace feilong::daemon {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

// Runs an io_context on a thread of its own until destroyed.
class Loop {
 public:
  Loop() : thread_([this] { io_.run(); }) {}
  ~Loop() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  asio::io_context& io() { return io_; }

 private:
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(io_)};
  std::thread thread_;
};

void WaitUntil(const std::function<bool()>& condition) {
  for (int i = 0; i < 500 && !condition(); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
}

class UploadQueueTest : public ::testing::Test {
 protected:
  // Starts waiter `id` on its own strand; it is added to order() when it wakes.
  void StartWaiter(UploadQueue& queue, int id, milliseconds timeout) {
    asio::co_spawn(
        asio::make_strand(loop_.io()),
        [this, &queue, id, timeout]() -> asio::awaitable<void> {
          co_await queue.Wait(timeout);
          std::lock_guard lock(mutex_);
          order_.push_back(id);
        },
        asio::detached);
  }

  // Waits up to 5 s until `count` waiters woke; returns who, in order.
  std::vector<int> WokenOnce(size_t count) {
    WaitUntil([&] {
      std::lock_guard lock(mutex_);
      return order_.size() >= count;
    });
    std::lock_guard lock(mutex_);
    return order_;
  }

  std::mutex mutex_;
  std::vector<int> order_;  // guarded by mutex_
  Loop loop_;               // last: stopped before the fields its coroutines use
};

constexpr milliseconds kLong(30'000);

TEST_F(UploadQueueTest, NotifyWakesTheOldestWaiterFirst) {
  UploadQueue queue(4);
  const auto start = std::chrono::steady_clock::now();
  for (int id = 1; id <= 3; ++id) {
    StartWaiter(queue, id, kLong);
    WaitUntil([&] { return queue.waiting() == static_cast<size_t>(id); });
  }
  ASSERT_EQ(queue.waiting(), 3u);
  for (size_t woken = 1; woken <= 3; ++woken) {
    queue.Notify();
    WokenOnce(woken);
  }
  EXPECT_EQ(WokenOnce(3), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(queue.waiting(), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  queue.Notify();  // nobody waits: nothing happens
}

TEST_F(UploadQueueTest, AFullQueueTurnsAWaiterAwayAtOnce) {
  UploadQueue queue(1);
  StartWaiter(queue, 1, kLong);
  WaitUntil([&] { return queue.waiting() == 1; });
  StartWaiter(queue, 2, kLong);
  EXPECT_EQ(WokenOnce(1), (std::vector<int>{2}));
  EXPECT_EQ(queue.waiting(), 1u);
  queue.Notify();
  EXPECT_EQ(WokenOnce(2), (std::vector<int>{2, 1}));
}

TEST_F(UploadQueueTest, AWaiterLeavesWhenItsTimeRunsOut) {
  UploadQueue queue(2);
  StartWaiter(queue, 1, kLong);
  WaitUntil([&] { return queue.waiting() == 1; });
  StartWaiter(queue, 2, milliseconds(50));
  EXPECT_EQ(WokenOnce(1), (std::vector<int>{2}));
  EXPECT_EQ(queue.waiting(), 1u);  // the one that timed out left the queue
  queue.Notify();
  EXPECT_EQ(WokenOnce(2), (std::vector<int>{2, 1}));
}

TEST_F(UploadQueueTest, AClosedQueueTakesNoWaiters) {
  UploadQueue queue(2);
  queue.Close();
  StartWaiter(queue, 1, kLong);
  EXPECT_EQ(WokenOnce(1), (std::vector<int>{1}));
  EXPECT_EQ(queue.waiting(), 0u);
}

}  // namespace
}  // namespace feilong::daemon
