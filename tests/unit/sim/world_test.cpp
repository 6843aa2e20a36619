// The simulator's world: snowflakes, sharding arithmetic, and the shape of a generated world.

#include "sim/world.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

using namespace shardline;
using namespace shardline::sim;

TEST(SimWorld, SnowflakeLayoutMatchesDiscord) {
  // Discord's documented example: 175928847299117063 was created 2016-04-30 11:18:25.796 UTC.
  EXPECT_EQ(World::unix_ms_of(175928847299117063ULL), 1462015105796ULL);
  auto id = World::snowflake(1462015105796ULL, 1, 0, 7);
  EXPECT_EQ(id, 175928847299117063ULL);
  EXPECT_EQ(World::unix_ms_of(World::snowflake(World::kDiscordEpochMs, 0, 0, 0)), World::kDiscordEpochMs);
}

TEST(SimWorld, ShardOfIsTimestampModuloShards) {
  std::uint64_t id = 175928847299117063ULL;
  EXPECT_EQ(World::shard_of(id, 1), 0u);
  EXPECT_EQ(World::shard_of(id, 16), (id >> 22) % 16);
  EXPECT_EQ(World::shard_of(id, 0), 0u); // defensive: never divides by zero
}

TEST(SimWorld, RecommendedShardsAboutOnePerThousandGuilds) {
  EXPECT_EQ(World::recommended_shards_for(0), 1u);
  EXPECT_EQ(World::recommended_shards_for(1), 1u);
  EXPECT_EQ(World::recommended_shards_for(1000), 1u);
  EXPECT_EQ(World::recommended_shards_for(1001), 2u);
  EXPECT_EQ(World::recommended_shards_for(100'000), 100u);
}

TEST(SimWorld, DeterministicFromSeed) {
  World a({500, 42}), b({500, 42}), c({500, 43});
  ASSERT_EQ(a.guilds().size(), 500u);
  for (std::size_t i = 0; i < 500; ++i) {
    EXPECT_EQ(a.guilds()[i].id, b.guilds()[i].id);
    EXPECT_EQ(a.guilds()[i].name, b.guilds()[i].name);
    EXPECT_EQ(a.guilds()[i].member_count, b.guilds()[i].member_count);
  }
  EXPECT_NE(a.guilds()[0].id, c.guilds()[0].id);
  EXPECT_EQ(a.application_id(), b.application_id());
}

TEST(SimWorld, IdsAreUniqueSortedAndRealistic) {
  World w({5000, 7});
  std::set<std::uint64_t> ids;
  std::uint64_t prev = 0;
  for (auto& g : w.guilds()) {
    EXPECT_GT(g.id, prev);
    prev = g.id;
    ids.insert(g.id);
    auto ms = World::unix_ms_of(g.id);
    EXPECT_GE(ms, 1431475200000ULL); // after Discord's launch
    EXPECT_LE(ms, 1767225600000ULL + 1);
    EXPECT_FALSE(g.name.empty());
    EXPECT_GE(g.member_count, 1u);
  }
  EXPECT_EQ(ids.size(), 5000u);
  EXPECT_EQ(w.find(w.guilds()[1234].id), &w.guilds()[1234]);
  EXPECT_EQ(w.find(12345), nullptr);
  EXPECT_LT(w.application_id(), w.guilds().front().id); // the bot predates its guilds
  // The bot and its owner are real snowflakes too, from after the Discord epoch.
  EXPECT_GT(World::unix_ms_of(w.owner_id()), World::kDiscordEpochMs);
  EXPECT_GT(World::unix_ms_of(w.application_id()), World::kDiscordEpochMs);
  EXPECT_LT(w.owner_id(), w.application_id());
}

TEST(SimWorld, MemberCountsHaveALongTail) {
  World w({10'000, 3});
  std::vector<std::uint32_t> m;
  for (auto& g : w.guilds()) m.push_back(g.member_count);
  std::sort(m.begin(), m.end());
  EXPECT_LT(m[m.size() / 2], 20u);        // the median guild is small
  EXPECT_GE(m.back(), 10'000u);           // a few are large communities
  auto large = std::count_if(m.begin(), m.end(), [](auto n) { return n > 250; });
  EXPECT_GT(large, 10);
  EXPECT_LT(large, 2000);
}

TEST(SimWorld, SomeGuildsUnavailableAtStart) {
  EXPECT_EQ(World({10, 1}).unavailable_at_start_count(), 0u);
  EXPECT_EQ(World({60, 1}).unavailable_at_start_count(), 1u);
  EXPECT_EQ(World({10'000, 1}).unavailable_at_start_count(), 50u);
  EXPECT_EQ(World({10'000, 1, 0.0}).unavailable_at_start_count(), 0u);
}

TEST(SimWorld, ShardsPartitionTheGuilds) {
  World w({3000, 9});
  std::size_t total = 0;
  for (std::uint32_t s = 0; s < 4; ++s) {
    auto mine = w.guilds_of_shard(s, 4);
    EXPECT_EQ(mine.size(), w.count_of_shard(s, 4));
    for (auto* g : mine) EXPECT_EQ(World::shard_of(g->id, 4), s);
    // Random creation times spread guilds evenly.
    EXPECT_GT(mine.size(), 600u);
    EXPECT_LT(mine.size(), 900u);
    total += mine.size();
  }
  EXPECT_EQ(total, 3000u);
  EXPECT_EQ(w.count_of_shard(0, 1), 3000u);
}

TEST(SimWorld, JoinAndLeaveKeepTheWorldSorted) {
  World w({100, 2});
  auto now = 1767225600000ULL + 5000;
  auto id = w.join(now).id;
  EXPECT_EQ(World::unix_ms_of(id), now);
  EXPECT_EQ(w.guilds().size(), 101u);
  ASSERT_NE(w.find(id), nullptr);
  EXPECT_FALSE(w.find(id)->name.empty());
  EXPECT_TRUE(std::is_sorted(w.guilds().begin(), w.guilds().end(),
                             [](const Guild& a, const Guild& b) { return a.id < b.id; }));
  EXPECT_TRUE(w.leave(id));
  EXPECT_FALSE(w.leave(id));
  EXPECT_EQ(w.find(id), nullptr);
  EXPECT_EQ(w.guilds().size(), 100u);
}
