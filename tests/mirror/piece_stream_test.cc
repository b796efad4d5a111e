#include "mirror/piece_stream.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <optional>

namespace feilong::mirror {
namespace {

namespace asio = boost::asio;

// The test drives the loop itself with poll(): only handlers that are ready
// run, so a wait that ended did so because it was woken, not because its
// one-second recheck ran out.
class WaitForProgressTest : public ::testing::Test {
 protected:
  void StartWaitingFor(uint64_t peer_bytes) {
    asio::co_spawn(
        asio::make_strand(io_),
        [this, peer_bytes]() -> asio::awaitable<void> {
          seen_ = co_await WaitForProgress(watch_, [peer_bytes](const BlobProgress& p) {
            return p.bytes_from_peers >= peer_bytes;
          });
        },
        asio::detached);
  }
  void SetPeerBytes(uint64_t bytes) {
    BlobProgress progress;
    progress.bytes_from_peers = bytes;
    watch_.Set(progress);
  }

  asio::io_context io_;
  ProgressWatch watch_;
  std::optional<BlobProgress> seen_;
};

TEST_F(WaitForProgressTest, EachChangeWakesTheWaiterAtOnce) {
  StartWaitingFor(3);
  io_.poll();
  EXPECT_FALSE(seen_.has_value());

  SetPeerBytes(1);
  io_.poll();
  EXPECT_FALSE(seen_.has_value());  // woken, looked, waits again

  SetPeerBytes(3);
  io_.poll();
  ASSERT_TRUE(seen_.has_value());
  EXPECT_EQ(seen_->bytes_from_peers, 3u);
}

TEST_F(WaitForProgressTest, AFailedDownloadEndsTheWait) {
  StartWaitingFor(100);
  io_.poll();
  BlobProgress failed;
  failed.done = true;
  failed.status = Status::Unavailable("origin gone");
  watch_.Set(failed);
  io_.poll();
  ASSERT_TRUE(seen_.has_value());
  EXPECT_TRUE(seen_->done);
  EXPECT_FALSE(seen_->status.ok());
}

TEST_F(WaitForProgressTest, AWaitThatEndedIsNoLongerWoken) {
  SetPeerBytes(5);
  StartWaitingFor(3);
  io_.poll();
  ASSERT_TRUE(seen_.has_value());  // held already: no wait at all
  SetPeerBytes(6);
  EXPECT_EQ(io_.poll(), 0u);  // nothing was posted for it
}

}  // namespace
}  // namespace feilong::mirror
