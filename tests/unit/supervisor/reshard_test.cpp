// Resharding's pure parts (docs/supervisor.md, "Resharding without downtime"): the new layout's
// plan, and when the supervisor reshards on its own, on a driven clock.
#include "supervisor/reshard.hpp"

#include <gtest/gtest.h>

namespace shardline::supervisor {
namespace {

using namespace std::chrono_literals;

// A cluster as the hub lists it, with the stats it last sent.
protocol::HubClient cluster(std::string name, std::uint32_t layout, std::uint64_t guilds) {
  protocol::HubClient c;
  c.name = std::move(name);
  c.role = "cluster";
  protocol::ClusterStats stats;
  stats.guild_count = guilds;
  stats.layout = layout;
  c.stats = stats;
  return c;
}

// 400 guilds on 8 shards in two clusters: 50 per shard (tests/integration/test_launch.py).
protocol::HubStatus eight_shards_400_guilds() {
  protocol::HubStatus st;
  st.clients = {cluster("cluster-0", 8, 200), cluster("cluster-1", 8, 200)};
  return st;
}

class SupervisorAutoReshard : public ::testing::Test {
protected:
  ManualClock clock;
  AutoReshard auto_reshard{{40, true, true}, clock.clock()};
};

TEST_F(SupervisorAutoReshard, PastTheThresholdItReshardsToOneShardMoreAtLeast) {
  auto d = auto_reshard.decide(eight_shards_400_guilds(), 8, {});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->guilds, 400);
  // About 1,000 per shard would be one shard; never fewer than now + 1.
  EXPECT_EQ(d->target, 9u);
}

TEST_F(SupervisorAutoReshard, ToAboutAThousandGuildsPerShard) {
  AutoReshard big({1500, true, true}, clock.clock());
  protocol::HubStatus st;
  st.clients = {cluster("cluster-0", 8, 10'000), cluster("cluster-1", 8, 10'001)};
  auto d = big.decide(st, 8, {}); // 2,500 per shard
  ASSERT_TRUE(d);
  EXPECT_EQ(d->target, 21u); // ceil(20,001 / 1,000)
}

TEST_F(SupervisorAutoReshard, AtOrBelowTheThresholdNothingHappens) {
  protocol::HubStatus st;
  st.clients = {cluster("cluster-0", 8, 160), cluster("cluster-1", 8, 160)}; // 40 per shard
  EXPECT_FALSE(auto_reshard.decide(st, 8, {}));
  st.clients[0].stats->guild_count = 161; // one guild more: past it
  EXPECT_TRUE(auto_reshard.decide(st, 8, {}));
}

TEST_F(SupervisorAutoReshard, OnlyTheCurrentLayoutsGuildsCount) {
  protocol::HubStatus st = eight_shards_400_guilds();
  st.clients[1].stats->layout = 16; // a new layout still starting: its guilds are the same ones
  st.clients.push_back(cluster("cluster-16s-0", 16, 400));
  st.clients.push_back(cluster("other", 9, 400));
  // 200 on 8 shards: 25 per shard.
  EXPECT_FALSE(auto_reshard.decide(st, 8, {}));
}

TEST_F(SupervisorAutoReshard, ClustersWithoutStatsOrLayoutDoNotCount) {
  protocol::HubStatus st = eight_shards_400_guilds();
  st.clients[0].stats.reset();          // no stats yet
  st.clients[1].stats->layout.reset();  // an older cluster that does not report its layout
  protocol::HubClient admin;            // an admin tool
  admin.name = "launch-abcd";
  admin.role = "admin";
  st.clients.push_back(admin);
  EXPECT_FALSE(auto_reshard.decide(st, 8, {}));
}

TEST_F(SupervisorAutoReshard, AtMostOnceEveryTenMinutes) {
  ASSERT_TRUE(auto_reshard.decide(eight_shards_400_guilds(), 8, {}));
  // The reshard failed, or the bot is still past the threshold: nothing for 10 minutes.
  clock.advance(10min - 1ms);
  EXPECT_FALSE(auto_reshard.decide(eight_shards_400_guilds(), 8, {}));
  clock.advance(1ms);
  EXPECT_TRUE(auto_reshard.decide(eight_shards_400_guilds(), 8, {}));
}

TEST_F(SupervisorAutoReshard, AFinishedReshardStartsTheTenMinutesAgain) {
  // An operator's reshard finished now: the supervisor does not start another on its own.
  protocol::HubStatus st; // 400 guilds on 9 shards: still past 40 per shard
  st.clients = {cluster("cluster-9s-0", 9, 200), cluster("cluster-9s-1", 9, 200)};
  auto_reshard.resharded();
  clock.advance(9min);
  EXPECT_FALSE(auto_reshard.decide(st, 9, {}));
  clock.advance(1min);
  EXPECT_TRUE(auto_reshard.decide(st, 9, {}));
}

TEST_F(SupervisorAutoReshard, NotWhileTheSupervisorIsBusy) {
  Activity rolling;
  rolling.rolling = true;
  EXPECT_FALSE(auto_reshard.decide(eight_shards_400_guilds(), 8, rolling));
  Activity resharding;
  resharding.resharding = true;
  EXPECT_FALSE(auto_reshard.decide(eight_shards_400_guilds(), 8, resharding));
  Activity stopping;
  stopping.stopping = true;
  EXPECT_FALSE(auto_reshard.decide(eight_shards_400_guilds(), 8, stopping));
  // A refusal is no decision: it does not start the 10 minutes.
  EXPECT_TRUE(auto_reshard.decide(eight_shards_400_guilds(), 8, {}));
}

TEST_F(SupervisorAutoReshard, OnlyASupervisorThatOwnsEveryShardAndHostsTheHub) {
  AutoReshard off({0, true, true}, clock.clock());
  EXPECT_FALSE(off.decide(eight_shards_400_guilds(), 8, {}));
  AutoReshard range({40, false, true}, clock.clock()); // SHARD_IDS
  EXPECT_FALSE(range.decide(eight_shards_400_guilds(), 8, {}));
  AutoReshard client({40, true, false}, clock.clock()); // SHARD_IPC_MODE=client
  EXPECT_FALSE(client.decide(eight_shards_400_guilds(), 8, {}));
  EXPECT_FALSE(auto_reshard.decide(eight_shards_400_guilds(), 0, {})); // no plan yet
}

TEST(SupervisorAutoReshardSettings, ComeFromTheSettings) {
  Config cfg;
  cfg.launch.reshard_guilds_per_shard = 40;
  auto s = AutoReshardSettings::from_config(cfg);
  EXPECT_EQ(s.guilds_per_shard, 40u);
  EXPECT_EQ(s.owns_every_shard, cfg.shard_ids.empty());
  EXPECT_EQ(s.hosts_hub, cfg.ipc_mode == IpcMode::server);
  cfg.shard_ids = {0, 1};
  cfg.ipc_mode = IpcMode::client;
  s = AutoReshardSettings::from_config(cfg);
  EXPECT_FALSE(s.owns_every_shard);
  EXPECT_FALSE(s.hosts_hub);
}

TEST(SupervisorReshardPlan, TheNewLayoutRunsEveryShardUnderNamesOfItsOwn) {
  Config cfg;
  cfg.launch.clusters = 2;
  auto plan = plan_reshard(cfg, 16);
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_EQ((*plan)[0].name, "cluster-16s-0");
  EXPECT_EQ((*plan)[1].name, "cluster-16s-1");
  EXPECT_EQ((*plan)[0].shard_ids.front(), 0u);
  EXPECT_EQ((*plan)[1].shard_ids.back(), 15u);
}

TEST(SupervisorReshardPlan, NeverMoreClustersThanShards) {
  Config cfg;
  cfg.launch.clusters = 4;
  auto plan = plan_reshard(cfg, 2);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->size(), 2u);
}

TEST(SupervisorReshardPlan, ShardsPerClusterWhenNoCountIsSet) {
  Config cfg;
  cfg.launch.clusters = 0;
  cfg.launch.per_cluster = 8;
  auto plan = plan_reshard(cfg, 20);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->size(), 3u);
}

} // namespace
} // namespace shardline::supervisor
