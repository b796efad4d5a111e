#include "daemon/upload_queue.h"

#include <gtest/gtest.h>

#include <atomic>
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

// Starts a waiter on its own strand; `order` gets `id` when it wakes.
void StartWaiter(Loop& loop, UploadQueue& queue, int id, milliseconds timeout,
                 std::vector<int>& order, std::mutex& mutex, std::atomic<int>& done) {
  asio::co_spawn(
      asio::make_strand(loop.io()),
      [&, id, timeout]() -> asio::awaitable<void> {
        co_await queue.Wait(timeout);
        {
          std::lock_guard lock(mutex);
          order.push_back(id);
        }
        ++done;
      },
      asio::detached);
}

void WaitUntil(const std::function<bool()>& condition) {
  for (int i = 0; i < 500 && !condition(); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
}

TEST(UploadQueueTest, NotifyWakesTheOldestWaiterFirst) {
  UploadQueue queue(4);
  Loop loop;
  std::vector<int> order;
  std::mutex mutex;
  std::atomic<int> done{0};
  const auto start = std::chrono::steady_clock::now();
  for (int id = 1; id <= 3; ++id) {
    StartWaiter(loop, queue, id, milliseconds(30'000), order, mutex, done);
    WaitUntil([&] { return queue.waiting() == static_cast<size_t>(id); });
  }
  ASSERT_EQ(queue.waiting(), 3u);
  queue.Notify();
  WaitUntil([&] { return done == 1; });
  queue.Notify();
  WaitUntil([&] { return done == 2; });
  queue.Notify();
  WaitUntil([&] { return done == 3; });
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(queue.waiting(), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  queue.Notify();  // nobody waits: nothing happens
}

TEST(UploadQueueTest, AFullQueueTurnsAWaiterAwayAtOnce) {
  UploadQueue queue(1);
  Loop loop;
  std::vector<int> order;
  std::mutex mutex;
  std::atomic<int> done{0};
  StartWaiter(loop, queue, 1, milliseconds(30'000), order, mutex, done);
  WaitUntil([&] { return queue.waiting() == 1; });
  StartWaiter(loop, queue, 2, milliseconds(30'000), order, mutex, done);
  WaitUntil([&] { return done == 1; });
  EXPECT_EQ(order, (std::vector<int>{2}));
  EXPECT_EQ(queue.waiting(), 1u);
  queue.Notify();
  WaitUntil([&] { return done == 2; });
  EXPECT_EQ(order, (std::vector<int>{2, 1}));
}

TEST(UploadQueueTest, AWaiterLeavesWhenItsTimeRunsOut) {
  UploadQueue queue(2);
  Loop loop;
  std::vector<int> order;
  std::mutex mutex;
  std::atomic<int> done{0};
  StartWaiter(loop, queue, 1, milliseconds(30'000), order, mutex, done);
  WaitUntil([&] { return queue.waiting() == 1; });
  StartWaiter(loop, queue, 2, milliseconds(50), order, mutex, done);
  WaitUntil([&] { return done == 1; });
  EXPECT_EQ(order, (std::vector<int>{2}));
  EXPECT_EQ(queue.waiting(), 1u);  // the one that timed out left the queue
  queue.Notify();
  WaitUntil([&] { return done == 2; });
  EXPECT_EQ(order, (std::vector<int>{2, 1}));
}

TEST(UploadQueueTest, AClosedQueueTakesNoWaiters) {
  UploadQueue queue(2);
  queue.Close();
  Loop loop;
  std::vector<int> order;
  std::mutex mutex;
  std::atomic<int> done{0};
  StartWaiter(loop, queue, 1, milliseconds(30'000), order, mutex, done);
  WaitUntil([&] { return done == 1; });
  EXPECT_EQ(done, 1);
  EXPECT_EQ(queue.waiting(), 0u);
}

}  // namespace
}  // namespace feilong::daemon
