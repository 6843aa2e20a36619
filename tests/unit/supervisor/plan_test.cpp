#include "supervisor/cluster_plan.hpp"
#include "supervisor/restart_policy.hpp"

#include <gtest/gtest.h>

#include <numeric>
#include <stdexcept>

namespace shardline::supervisor {
namespace {

using Ids = std::vector<std::uint32_t>;

Ids range(std::uint32_t from, std::uint32_t to) {
  Ids out(to - from);
  std::iota(out.begin(), out.end(), from);
  return out;
}

TEST(ClusterPlan, SplitsContiguouslyAndEvenly) {
  auto plan = plan_clusters(range(0, 10), 4, 0, "cluster");
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[0].name, "cluster-0");
  EXPECT_EQ(plan[0].shard_ids, (Ids{0, 1, 2}));
  EXPECT_EQ(plan[1].shard_ids, (Ids{3, 4, 5}));
  EXPECT_EQ(plan[2].shard_ids, (Ids{6, 7}));
  EXPECT_EQ(plan[3].name, "cluster-3");
  EXPECT_EQ(plan[3].shard_ids, (Ids{8, 9}));
}

TEST(ClusterPlan, PerClusterWhenNoCountIsGiven) {
  auto plan = plan_clusters(range(0, 17), 0, 8, "c");
  ASSERT_EQ(plan.size(), 3u); // 8 + 8 + 1 would be uneven: 6, 6, 5
  EXPECT_EQ(plan[0].shard_ids.size() + plan[1].shard_ids.size() + plan[2].shard_ids.size(), 17u);
  EXPECT_LE(plan[0].shard_ids.size(), 8u);
}

TEST(ClusterPlan, AMachinesRangeKeepsItsIdsAndPrefix) {
  // The us-west supervisor owns shards 16..31 of 48.
  auto plan = plan_clusters(range(16, 32), 2, 0, "us-west");
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].name, "us-west-0");
  EXPECT_EQ(plan[0].shard_ids.front(), 16u);
  EXPECT_EQ(plan[1].shard_ids.back(), 31u);
}

TEST(ClusterPlan, ImpossibleRequestsSayWhatToChange) {
  EXPECT_THROW(plan_clusters({}, 1, 0, "c"), std::invalid_argument);
  try {
    plan_clusters(range(0, 2), 3, 0, "c");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("SHARD_CLUSTERS"), std::string::npos);
  }
}

TEST(ClusterPlan, FormatsShardIdsAsRanges) {
  EXPECT_EQ(format_shard_ids({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(format_shard_ids({5}), "5");
  EXPECT_EQ(format_shard_ids({}), "");
}

TEST(RestartPolicy, BacksOffExponentiallyUpToTheMaximum) {
  ManualClock clock;
  RestartPolicy p({millis(1000), millis(5000), 100, millis(3'600'000), millis(60'000)}, clock.clock());
  std::vector<long> waits;
  for (int i = 0; i < 5; ++i) {
    p.started();
    clock.advance(millis(100));
    waits.push_back(p.died()->count());
  }
  // The first death restarts at once; a crash loop then backs off.
  EXPECT_EQ(waits, (std::vector<long>{0, 1000, 2000, 4000, 5000}));
}

TEST(RestartPolicy, GivesUpAtTheCapWithinTheWindowAndForgetsOldRestarts) {
  ManualClock clock;
  RestartPolicy p({millis(10), millis(10), 3, millis(60'000), millis(600'000)}, clock.clock());
  for (int i = 0; i < 3; ++i) {
    p.started();
    ASSERT_TRUE(p.died().has_value()) << i;
  }
  p.started();
  EXPECT_FALSE(p.died().has_value()); // the fourth death within a minute
  clock.advance(millis(60'000));      // the window has moved past the three restarts
  p.started();
  EXPECT_TRUE(p.died().has_value());
}

TEST(RestartPolicy, AStableRunResetsTheBackoff) {
  ManualClock clock;
  RestartPolicy p({millis(1000), millis(60'000), 100, millis(3'600'000), millis(60'000)}, clock.clock());
  p.started();
  EXPECT_EQ(p.died()->count(), 0);
  p.started();
  EXPECT_EQ(p.died()->count(), 1000);
  p.started();
  EXPECT_EQ(p.died()->count(), 2000);
  p.started();
  clock.advance(millis(60'000)); // up for a minute: healthy, so its death is a first death
  EXPECT_EQ(p.died()->count(), 0);
  p.started();
  EXPECT_EQ(p.died()->count(), 1000);
}

} // namespace
} // namespace shardline::supervisor
