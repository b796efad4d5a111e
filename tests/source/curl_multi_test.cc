#include "source/curl_multi.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/io_loop.h"
#include "support/misbehaving_origin.h"
#include "support/temp_dir.h"

namespace feilong::source {
namespace {

using std::chrono::milliseconds;
using test::MisbehavingOrigin;

std::unique_ptr<MisbehavingOrigin> StartOrigin(MisbehavingOrigin::Behavior behavior,
                                               std::string body, uint64_t stall_after = 0) {
  MisbehavingOrigin::Options options;
  options.behavior = behavior;
  options.body = std::move(body);
  options.stall_after = stall_after;
  auto origin = MisbehavingOrigin::Start(std::move(options));
  EXPECT_TRUE(origin.ok()) << origin.status().ToString();
  return origin.ok() ? std::move(origin).value() : nullptr;
}

// What one GET handed to its callbacks, and its outcome.
struct Received {
  std::string body;
  long status = 0;
  std::thread::id body_thread;
  std::promise<CurlOutcome> outcome;
};

void Start(CurlMulti& multi, CurlRequest request, Received& received) {
  multi.Start(
      std::move(request),
      [&](const CurlResponseHead& head) {
        received.status = head.status;
        return Status::Ok();
      },
      [&](std::span<const uint8_t> data) {
        received.body.append(reinterpret_cast<const char*>(data.data()), data.size());
        received.body_thread = std::this_thread::get_id();
        return Status::Ok();
      },
      [&](CurlOutcome outcome) { received.outcome.set_value(std::move(outcome)); });
}

CurlRequest Get(const std::string& url) {
  CurlRequest request;
  request.url = url;
  return request;
}

// Many bodies of several MiB at once, on one loop thread: every byte
// arrives (none left stranded in a socket the loop's edge-triggered epoll
// reported once), each transfer ends once, and nothing is left running.
TEST(CurlMultiTest, ManyLargeTransfersAtOnceOnOneThread) {
  const std::string body = test::RandomBytes(3 * 1024 * 1024 + 11, 5);
  auto origin = StartOrigin(MisbehavingOrigin::Behavior::kHonest, body);
  ASSERT_NE(origin, nullptr);
  IoLoop loop(1);
  CurlMulti multi(loop);
  std::vector<Received> received(12);
  for (Received& r : received) {
    Start(multi, Get(origin->Url("/blob")), r);
  }
  for (Received& r : received) {
    auto future = r.outcome.get_future();
    ASSERT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    CurlOutcome outcome = future.get();
    EXPECT_EQ(outcome.curl_code, 0) << outcome.error;
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.body == body) << r.body.size() << " of " << body.size() << " bytes";
  }
  EXPECT_GT(origin->max_concurrent_requests(), 1u);  // they did run at once
  EXPECT_EQ(multi.running(), 0u);
}

// Transfers one after another to one host reuse the multi's connection.
TEST(CurlMultiTest, OneHostsConnectionIsReused) {
  auto origin = StartOrigin(MisbehavingOrigin::Behavior::kHonest, std::string(4096, 'x'));
  ASSERT_NE(origin, nullptr);
  IoLoop loop(2);
  CurlMulti multi(loop);
  for (int i = 0; i < 5; ++i) {
    Received r;
    Start(multi, Get(origin->Url("/blob")), r);
    CurlOutcome outcome = r.outcome.get_future().get();
    ASSERT_EQ(outcome.curl_code, 0) << outcome.error;
    EXPECT_EQ(r.body.size(), 4096u);
  }
  EXPECT_EQ(origin->connections(), 1u);
}

// A connection that goes silent is ended by the multi's own watchdog, at
// the transfer's stall deadline (not at the next tick of a coarse sweep):
// libcurl is not driving a transfer whose socket never wakes.
TEST(CurlMultiTest, ASilentTransferEndsAsStalledAtItsTimeout) {
  auto origin = StartOrigin(MisbehavingOrigin::Behavior::kStall, std::string(100000, 'x'), 500);
  ASSERT_NE(origin, nullptr);
  IoLoop loop(1);
  CurlMulti multi(loop);
  CurlRequest request = Get(origin->Url("/blob"));
  request.stall_timeout = milliseconds(1100);
  Received r;
  auto start = std::chrono::steady_clock::now();
  Start(multi, request, r);
  auto future = r.outcome.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  CurlOutcome outcome = future.get();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(outcome.stalled);
  EXPECT_NE(outcome.curl_code, 0);
  EXPECT_EQ(r.body.size(), 500u);
  EXPECT_GE(took, milliseconds(1100));
  EXPECT_LT(took, milliseconds(1700)) << "ended well after its deadline";
  EXPECT_EQ(TransportStatus(outcome, "origin", request.stall_timeout).code(),
            StatusCode::kDeadlineExceeded);
}

// A callback's error stops its transfer with that status, and the others
// go on.
TEST(CurlMultiTest, ACallbackErrorStopsOnlyItsTransfer) {
  const std::string body(2 * 1024 * 1024, 'y');
  auto origin = StartOrigin(MisbehavingOrigin::Behavior::kHonest, body);
  ASSERT_NE(origin, nullptr);
  IoLoop loop(1);
  CurlMulti multi(loop);
  std::promise<CurlOutcome> refused;
  multi.Start(
      Get(origin->Url("/blob")), [](const CurlResponseHead&) { return Status::Ok(); },
      [](std::span<const uint8_t>) { return Status::IOError("disk full"); },
      [&](CurlOutcome outcome) { refused.set_value(std::move(outcome)); });
  Received fine;
  Start(multi, Get(origin->Url("/blob")), fine);
  EXPECT_EQ(refused.get_future().get().callback_status, Status::IOError("disk full"));
  CurlOutcome outcome = fine.outcome.get_future().get();
  EXPECT_EQ(outcome.curl_code, 0) << outcome.error;
  EXPECT_EQ(fine.body.size(), body.size());
}

// Stop ends what runs with Cancelled and refuses what comes after; each
// `done` still runs exactly once.
TEST(CurlMultiTest, StopCancelsRunningTransfersAndRefusesNewOnes) {
  auto origin = StartOrigin(MisbehavingOrigin::Behavior::kStall, std::string(100000, 'x'), 10);
  ASSERT_NE(origin, nullptr);
  IoLoop loop(1);
  CurlMulti multi(loop);
  Received running;
  Start(multi, Get(origin->Url("/blob")), running);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (origin->Requests().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  multi.Stop();
  auto future = running.outcome.get_future();
  ASSERT_EQ(future.wait_for(milliseconds(0)), std::future_status::ready);
  EXPECT_EQ(future.get().callback_status.code(), StatusCode::kCancelled);
  Received late;
  Start(multi, Get(origin->Url("/blob")), late);
  auto late_future = late.outcome.get_future();
  ASSERT_EQ(late_future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(late_future.get().callback_status.code(), StatusCode::kCancelled);
  EXPECT_EQ(multi.running(), 0u);
}

// An address the origin policy refuses is never connected to, as with
// PerformGet.
TEST(CurlMultiTest, TheOriginPolicyHolds) {
  auto origin = StartOrigin(MisbehavingOrigin::Behavior::kHonest, "secret");
  ASSERT_NE(origin, nullptr);
  OriginPolicyConfig config;
  config.deny_loopback = true;
  auto policy = OriginPolicy::Create(config);
  ASSERT_TRUE(policy.ok()) << policy.status().ToString();
  IoLoop loop(1);
  CurlMulti multi(loop);
  CurlRequest request = Get(origin->Url("/blob"));
  request.origin_policy = &*policy;
  Received r;
  Start(multi, request, r);
  CurlOutcome outcome = r.outcome.get_future().get();
  EXPECT_EQ(outcome.callback_status.code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(origin->connections(), 0u);
}

}  // namespace
}  // namespace feilong::source
