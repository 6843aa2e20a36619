#include "supervisor/cluster_plan.hpp"

#include <gtest/gtest.h>

#include <numeric>

namespace shardline::supervisor {
namespace {

using Ids = std::vector<std::uint32_t>;

Ids range(std::uint32_t from, std::uint32_t to) {
  Ids out(to - from);
  std::iota(out.begin(), out.end(), from);
  return out;
}

TEST(SupervisorClusterPlan, SplitsContiguouslyAndEvenly) {
  auto plan = plan_clusters(range(0, 10), 4, 0, "cluster");
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_EQ(plan->size(), 4u);
  EXPECT_EQ((*plan)[0].name, "cluster-0");
  EXPECT_EQ((*plan)[0].shard_ids, (Ids{0, 1, 2}));
  EXPECT_EQ((*plan)[1].shard_ids, (Ids{3, 4, 5}));
  EXPECT_EQ((*plan)[2].shard_ids, (Ids{6, 7}));
  EXPECT_EQ((*plan)[3].name, "cluster-3");
  EXPECT_EQ((*plan)[3].shard_ids, (Ids{8, 9}));
}

TEST(SupervisorClusterPlan, PerClusterWhenNoCountIsGiven) {
  auto plan = plan_clusters(range(0, 17), 0, 8, "c");
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->size(), 3u); // 8 + 8 + 1 would be uneven: 6, 6, 5
  EXPECT_EQ((*plan)[0].shard_ids.size() + (*plan)[1].shard_ids.size() + (*plan)[2].shard_ids.size(), 17u);
  EXPECT_LE((*plan)[0].shard_ids.size(), 8u);
}

TEST(SupervisorClusterPlan, AMachinesRangeKeepsItsIdsAndPrefix) {
  // The us-west supervisor owns shards 16..31 of 48.
  auto plan = plan_clusters(range(16, 32), 2, 0, "us-west");
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_EQ((*plan)[0].name, "us-west-0");
  EXPECT_EQ((*plan)[0].shard_ids.front(), 16u);
  EXPECT_EQ((*plan)[1].shard_ids.back(), 31u);
}

TEST(SupervisorClusterPlan, ImpossibleRequestsSayWhatToChange) {
  auto none = plan_clusters({}, 1, 0, "c");
  ASSERT_FALSE(none);
  EXPECT_TRUE(none.error().is(Errc::bad_input));
  auto too_many = plan_clusters(range(0, 2), 3, 0, "c");
  ASSERT_FALSE(too_many);
  EXPECT_NE(too_many.error().message.find("SHARD_CLUSTERS"), std::string::npos) << too_many.error().message;
}

TEST(SupervisorClusterPlan, ALayoutRunsEveryShardUnlessTheMachineOwnsARange) {
  auto all = plan_layout(8, {}, 4, 0, "cluster");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->front().shard_ids.front(), 0u);
  EXPECT_EQ(all->back().shard_ids.back(), 7u);
  auto owned = plan_layout(48, range(16, 32), 2, 0, "us-west");
  ASSERT_TRUE(owned);
  EXPECT_EQ(owned->front().shard_ids.front(), 16u);
  EXPECT_EQ(owned->back().shard_ids.back(), 31u);
}

TEST(SupervisorClusterPlan, AnOwnedShardPastTheCountIsRefused) {
  auto plan = plan_layout(8, {6, 7, 8}, 1, 0, "c");
  ASSERT_FALSE(plan);
  EXPECT_TRUE(plan.error().is(Errc::bad_input));
  EXPECT_EQ(plan.error().message, "SHARD_IDS has shard 8 but the bot has 8 shards");
}

TEST(SupervisorClusterPlan, FormatsShardIdsAsRanges) {
  EXPECT_EQ(format_shard_ids({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(format_shard_ids({5}), "5");
  EXPECT_EQ(format_shard_ids({}), "");
}

} // namespace
} // namespace shardline::supervisor
