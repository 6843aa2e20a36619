#include "core/sharding.hpp"

#include <gtest/gtest.h>

#include <cstdint>

using shardline::shard_for_guild;

// Values computed by hand from Discord's rule (guild_id >> 22) % shard_count.
TEST(ShardForGuild, FollowsDiscordsRule) {
  EXPECT_EQ(shard_for_guild(175928847299117063ull, 16), 4u); // 41944705796 % 16
  EXPECT_EQ(shard_for_guild(175928847299117063ull, 1), 0u);
  EXPECT_EQ(shard_for_guild(UINT64_MAX, 1000), 103u);        // 4398046511103 % 1000
}

TEST(ShardForGuild, LowBitsDoNotMatter) {
  // Only the timestamp part of the snowflake decides: the low 22 bits (worker, process,
  // increment) never move a guild to another shard.
  const std::uint64_t base = 41944705796ull << 22;
  for (std::uint64_t low : {0ull, 1ull, (1ull << 22) - 1})
    EXPECT_EQ(shard_for_guild(base | low, 7), shard_for_guild(base, 7));
  EXPECT_NE(shard_for_guild(base, 7), shard_for_guild(base + (1ull << 22), 7));
}
