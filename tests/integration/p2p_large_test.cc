// A 1 GiB file to three peers at once (label `large`).
#include <gtest/gtest.h>

#include <thread>

#include "common/digest.h"
#include "integration/cluster.h"
#include "support/nginx_origin.h"
#include "support/temp_dir.h"

namespace feilong::testing {
namespace {

TEST(P2PLargeTest, OneGibToThreePeersAtOnce) {
  constexpr uint64_t kSize = 1024ull * 1024 * 1024;
  test::TempDir www;
  test::TempDir out;
  ASSERT_TRUE(test::WriteRandomFile(www.Path("big.bin"), kSize, 42).ok());
  auto want = Sha256File(www.Path("big.bin"));
  ASSERT_TRUE(want.ok());
  test::NginxOrigin::Options options;
  options.root = www.path();
  auto origin = test::NginxOrigin::Start(options);
  ASSERT_TRUE(origin.ok()) << origin.status().ToString();

  Cluster cluster({.peers = 3});
  ASSERT_TRUE(cluster.Start());
  std::string url = (*origin)->Url("/big.bin");
  std::vector<FlgetSummary> results(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      results[i] = cluster.Flget(cluster.peer(i), url, out.Path("p" + std::to_string(i)));
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(results[i].exit_code, 0) << results[i].output;
    auto got = Sha256File(out.Path("p" + std::to_string(i)));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, *want) << "peer " << i;
  }
  FlgetSummary seed = cluster.Flget(cluster.seed(), url, out.Path("seed"));
  ASSERT_EQ(seed.exit_code, 0) << seed.output;
  EXPECT_EQ(seed.from_cache, kSize);
  auto seed_digest = Sha256File(out.Path("seed"));
  ASSERT_TRUE(seed_digest.ok());
  EXPECT_EQ(*seed_digest, *want);
  EXPECT_LE((*origin)->BytesServed("/big.bin"), kSize * 105 / 100);
}

}  // namespace
}  // namespace feilong::testing
