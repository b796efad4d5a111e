#include "common/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace feilong::metrics {
namespace {

using ::testing::HasSubstr;

TEST(CounterTest, Increments) {
  Counter c;
  c.Increment();
  c.Increment(4);
  EXPECT_EQ(c.value(), 5u);
}

TEST(GaugeTest, SetAndAdd) {
  Gauge g;
  g.Set(10);
  g.Add(-15);
  EXPECT_EQ(g.value(), -5);
}

TEST(HistogramTest, BucketsAreInclusiveUpperBounds) {
  Histogram h({1, 2, 5});
  for (double v : {0.5, 1.0, 1.5, 2.0, 5.0, 5.1, 100.0}) {
    h.Observe(v);
  }
  EXPECT_EQ(h.bucket_counts(), (std::vector<uint64_t>{2, 2, 1, 2}));
  EXPECT_EQ(h.count(), 7u);
  EXPECT_DOUBLE_EQ(h.sum(), 0.5 + 1 + 1.5 + 2 + 5 + 5.1 + 100);
}

TEST(HistogramTest, NanGoesToInfBucketAndExplicitInfBoundIsDropped) {
  Histogram h({1, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(h.bounds().size(), 1u);
  h.Observe(std::nan(""));
  EXPECT_EQ(h.bucket_counts(), (std::vector<uint64_t>{0, 1}));
}

TEST(HistogramTest, ConcurrentObservationsAreAllCounted) {
  Histogram h({10});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) {
        h.Observe(1.0);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(h.count(), 40000u);
  EXPECT_DOUBLE_EQ(h.sum(), 40000.0);
  EXPECT_EQ(h.bucket_counts()[0], 40000u);
}

TEST(HistogramDeathTest, UnsortedBoundsAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(Histogram({2, 1}), "ascending");
}

TEST(ExponentialBucketsTest, Values) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_DEATH(ExponentialBuckets(0, 2, 4), "ExponentialBuckets");
}

TEST(RegistryTest, RendersCounterAndGaugeWithHelpAndType) {
  Registry r;
  r.AddCounter("feilong_test_requests_total", "Requests served.").Get().Increment(3);
  r.AddGauge("feilong_test_in_flight", "In flight.").Get().Set(-2);
  EXPECT_EQ(r.Render(),
            "# HELP feilong_test_requests_total Requests served.\n"
            "# TYPE feilong_test_requests_total counter\n"
            "feilong_test_requests_total 3\n"
            "# HELP feilong_test_in_flight In flight.\n"
            "# TYPE feilong_test_in_flight gauge\n"
            "feilong_test_in_flight -2\n");
}

TEST(RegistryTest, UnlabelledFamilyShowsZeroBeforeUse) {
  Registry r;
  r.AddCounter("c_total", "c");
  EXPECT_THAT(r.Render(), HasSubstr("\nc_total 0\n"));
}

TEST(RegistryTest, LabelledChildrenInLabelOrderAndFamiliesInRegistrationOrder) {
  Registry r;
  auto& z = r.AddCounter("z_total", "z", {"source", "result"});
  auto& a = r.AddGauge("a", "a");
  z.WithLabels({"peer", "ok"}).Increment(2);
  z.WithLabels({"origin", "ok"}).Increment();
  z.WithLabels({"origin", "error"}).Increment(5);
  a.Get().Set(1);
  EXPECT_EQ(r.Render(),
            "# HELP z_total z\n"
            "# TYPE z_total counter\n"
            "z_total{source=\"origin\",result=\"error\"} 5\n"
            "z_total{source=\"origin\",result=\"ok\"} 1\n"
            "z_total{source=\"peer\",result=\"ok\"} 2\n"
            "# HELP a a\n"
            "# TYPE a gauge\n"
            "a 1\n");
}

TEST(RegistryTest, SameLabelsGiveSameChild) {
  Registry r;
  auto& f = r.AddCounter("x_total", "x", {"k"});
  Counter& c1 = f.WithLabels({"v"});
  Counter& c2 = f.WithLabels({"v"});
  EXPECT_EQ(&c1, &c2);
}

TEST(RegistryTest, EscapesLabelValuesAndHelp) {
  Registry r;
  r.AddCounter("e_total", "line1\nback\\slash \"quoted\"", {"path"})
      .WithLabels({"a\\b\"c\nd"})
      .Increment();
  EXPECT_EQ(r.Render(),
            "# HELP e_total line1\\nback\\\\slash \"quoted\"\n"
            "# TYPE e_total counter\n"
            "e_total{path=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(RegistryTest, RendersHistogramCumulatively) {
  Registry r;
  auto& h = r.AddHistogram("lat_seconds", "Latency.", {0.005, 0.5, 1}, {"op"});
  Histogram& get = h.WithLabels({"get"});
  get.Observe(0.00390625);  // exact binary fractions keep the sum exact
  get.Observe(0.25);
  get.Observe(0.375);
  get.Observe(3);
  EXPECT_EQ(r.Render(),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{op=\"get\",le=\"0.005\"} 1\n"
            "lat_seconds_bucket{op=\"get\",le=\"0.5\"} 3\n"
            "lat_seconds_bucket{op=\"get\",le=\"1\"} 3\n"
            "lat_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"
            "lat_seconds_sum{op=\"get\"} 3.62890625\n"
            "lat_seconds_count{op=\"get\"} 4\n");
}

TEST(RegistryTest, RendersUnlabelledHistogram) {
  Registry r;
  r.AddHistogram("h", "h", {1}).Get().Observe(0.5);
  EXPECT_EQ(r.Render(),
            "# HELP h h\n"
            "# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 1\n"
            "h_bucket{le=\"+Inf\"} 1\n"
            "h_sum 0.5\n"
            "h_count 1\n");
}

TEST(RegistryTest, LabelledFamilyWithoutChildrenRendersOnlyHeader) {
  Registry r;
  r.AddCounter("x_total", "x", {"k"});
  EXPECT_EQ(r.Render(), "# HELP x_total x\n# TYPE x_total counter\n");
}

TEST(RegistryTest, ConcurrentChildCreationAndRender) {
  Registry r;
  auto& f = r.AddCounter("x_total", "x", {"k"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&f, &r, t] {
      for (int i = 0; i < 200; ++i) {
        f.WithLabels({std::to_string(i % 50)}).Increment();
        if (t == 0 && i % 20 == 0) {
          (void)r.Render();
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  uint64_t total = 0;
  for (int i = 0; i < 50; ++i) {
    total += f.WithLabels({std::to_string(i)}).value();
  }
  EXPECT_EQ(total, 800u);
}

TEST(RegistryDeathTest, ProgrammingErrorsAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("dup", "a");
        r.AddCounter("dup", "b");
      },
      "registered twice");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("1bad", "a");
      },
      "invalid metric name");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("ok", "a", {"bad-label"});
      },
      "invalid label name");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddHistogram("h", "a", {1}, {"le"});
      },
      "reserved");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("c", "a", {"k"}).WithLabels({"a", "b"});
      },
      "label values");
}

}  // namespace
}  // namespace feilong::metrics
