#include "link/cluster_state.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

namespace shardline::link {
namespace {

namespace json = boost::json;

class IpcOnlyStateTest : public ::testing::Test {
protected:
  IpcOnlyClusterState state{"eu-1", {4, 5, 6}, 12, "client"};
};

TEST_F(IpcOnlyStateTest, StatsCarryTheContractFields) {
  auto s = protocol::to_data(state.stats()); // as it goes on the wire
  EXPECT_EQ(s.at("cluster_name").as_string(), "eu-1");
  EXPECT_EQ(s.at("guild_count").to_number<int>(), 0);
  EXPECT_EQ(s.at("user_count").to_number<int>(), 0);
  EXPECT_EQ(s.at("shard_count").to_number<int>(), 3); // the shards this cluster runs
  EXPECT_EQ(json::serialize(s.at("shard_ids")), "[4,5,6]");
  EXPECT_TRUE(s.at("latency").is_null()); // no gateway: null, never NaN
  EXPECT_GE(s.at("uptime").to_number<double>(), 0);
  EXPECT_EQ(s.at("mode").as_string(), "client");
  EXPECT_GT(s.at("timestamp").to_number<double>(), 1.6e9);
  EXPECT_EQ(state.guild_count(), 0u);
}

TEST_F(IpcOnlyStateTest, PresetQueries) {
  EXPECT_EQ(state.eval("guild_count").to_number<int>(), 0);
  EXPECT_EQ(state.eval("user_count").to_number<int>(), 0);
  EXPECT_EQ(state.eval("shard_count").to_number<int>(), 3);
  EXPECT_TRUE(state.eval("latency").is_null());
  EXPECT_GE(state.eval("uptime").to_number<double>(), 0);
  EXPECT_GT(state.eval("memory_rss").to_number<std::uint64_t>(), 0u);
}

TEST_F(IpcOnlyStateTest, ShardStatusListsEveryShard) {
  auto v = state.eval("shard_status");
  ASSERT_TRUE(v.is_array());
  auto& a = v.as_array();
  ASSERT_EQ(a.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    auto& o = a[i].as_object();
    EXPECT_EQ(o.at("shard_id").to_number<int>(), static_cast<int>(4 + i));
    EXPECT_EQ(o.at("status").as_string(), "not_started");
    EXPECT_TRUE(o.at("latency").is_null());
  }
}

TEST_F(IpcOnlyStateTest, ClusterInfo) {
  auto v = state.eval("cluster_info");
  ASSERT_TRUE(v.is_object());
  auto& o = v.as_object();
  EXPECT_EQ(o.at("cluster_name").as_string(), "eu-1");
  EXPECT_EQ(o.at("shard_count").to_number<int>(), 12); // the bot's total
  EXPECT_EQ(json::serialize(o.at("shard_ids")), "[4,5,6]");
  EXPECT_EQ(o.at("pid").to_number<long>(), static_cast<long>(getpid()));
  EXPECT_EQ(o.at("mode").as_string(), "client");
}

TEST_F(IpcOnlyStateTest, UnknownQueriesAreNeverEvaluated) {
  for (const char* q : {"", "bot.guilds", "__import__('os').system('id')", "len(bot.guilds)", "GUILD_COUNT",
                        "guild_count ", "shard_status;"}) {
    auto v = state.eval(q);
    ASSERT_TRUE(v.is_string()) << q;
    EXPECT_EQ(v.as_string(), "unknown_query") << q;
  }
}

TEST(MemoryRss, ReportsTheProcessSize) {
  auto rss = memory_rss_bytes();
  EXPECT_GT(rss, 1u << 20); // a running test binary is more than 1 MiB
  EXPECT_LT(rss, 1ull << 40);
}

} // namespace
} // namespace shardline::link
