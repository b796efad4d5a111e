#include "common/io_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace feilong {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(IoLoopTest, FixedThreadCountOnePerCoreByDefault) {
  IoLoop two(2);
  EXPECT_EQ(two.threads(), 2U);
  IoLoop per_core(0);
  EXPECT_EQ(per_core.threads(), std::max(1U, std::thread::hardware_concurrency()));
}

TEST(IoLoopTest, OneStrandRunsHandlersInOrderAndNeverTwoAtOnce) {
  IoLoop loop(4);
  auto strand = loop.NewStrand();
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  std::vector<int> order;  // touched only by the strand's handlers
  std::promise<void> done;
  constexpr int kHandlers = 2000;
  std::thread other([&] {
    for (int i = 0; i < kHandlers; ++i) {
      strand->Post([&, i] {
        if (inside.fetch_add(1) != 0) {
          overlapped = true;
        }
        order.push_back(i);
        inside.fetch_sub(1);
        if (i == kHandlers - 1) {
          done.set_value();
        }
      });
    }
  });
  ASSERT_EQ(done.get_future().wait_for(seconds(10)), std::future_status::ready);
  other.join();
  EXPECT_FALSE(overlapped);
  ASSERT_EQ(order.size(), static_cast<size_t>(kHandlers));
  for (int i = 0; i < kHandlers; ++i) {
    ASSERT_EQ(order[i], i);
  }
}

TEST(IoLoopTest, TimerFiresOnItsStrandAtItsTime) {
  IoLoop loop(2);
  std::shared_ptr<Strand> strand = loop.NewStrand();
  std::promise<Clock::TimePoint> fired;
  std::unique_ptr<StrandTimer> timer;
  const Clock::TimePoint start = strand->clock().Now();
  std::promise<void> armed;
  strand->Post([&] {
    timer = strand->NewTimer([&] { fired.set_value(strand->clock().Now()); });
    timer->ArmAt(start + milliseconds(30));
    armed.set_value();
  });
  armed.get_future().wait();
  auto when = fired.get_future();
  ASSERT_EQ(when.wait_for(seconds(5)), std::future_status::ready);
  EXPECT_GE(when.get() - start, milliseconds(30));
  std::promise<void> gone;
  strand->Post([&] {
    timer.reset();
    gone.set_value();
  });
  gone.get_future().wait();
}

TEST(IoLoopTest, RearmingReplacesAndCancelOrDestroyStopsAFiring) {
  IoLoop loop(2);
  std::shared_ptr<Strand> strand = loop.NewStrand();
  std::atomic<int> fires{0};
  std::unique_ptr<StrandTimer> rearmed, cancelled, destroyed;
  std::promise<void> set_up;
  strand->Post([&] {
    auto now = strand->clock().Now();
    rearmed = strand->NewTimer([&] { ++fires; });
    rearmed->ArmAt(now + milliseconds(5));
    rearmed->ArmAt(now + milliseconds(40));  // replaces the first arming
    cancelled = strand->NewTimer([&] { fires += 100; });
    cancelled->ArmAt(now + milliseconds(5));
    cancelled->Cancel();
    destroyed = strand->NewTimer([&] { fires += 1000; });
    destroyed->ArmAt(now);
    destroyed.reset();  // before the strand is free to run it
    set_up.set_value();
  });
  set_up.get_future().wait();
  // The re-armed timer fires (however slow the machine); then give the
  // replaced, cancelled and destroyed ones time to misfire.
  for (int i = 0; i < 500 && fires.load() == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  std::this_thread::sleep_for(milliseconds(100));
  std::promise<int> seen;
  strand->Post([&] {
    rearmed.reset();
    cancelled.reset();
    seen.set_value(fires.load());
  });
  EXPECT_EQ(seen.get_future().get(), 1);
}

TEST(IoLoopTest, StopWaitsForTheRunningHandlerAndJoins) {
  auto loop = std::make_unique<IoLoop>(1);
  auto strand = loop->NewStrand();
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> finished{false};
  strand->Post([&] {
    started.set_value();
    released.wait();
    finished = true;
  });
  started.get_future().wait();  // the handler runs now
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    loop->Stop();
    stopped = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(stopped) << "Stop returned while a handler was still running";
  release.set_value();
  stopper.join();
  EXPECT_TRUE(finished);
  EXPECT_EQ(loop->threads(), 0U);
}

}  // namespace
}  // namespace feilong
