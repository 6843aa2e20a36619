#pragma once
// Discord's sharding rule, shared by the hub's guild routing and the simulator: a guild's
// events arrive on shard (guild_id >> 22) % shard_count (the top bits are the guild's
// creation time, so consecutive guilds spread over the shards).

#include <cstdint>

namespace shardline {

// `shard_count` must be at least 1.
constexpr std::uint32_t shard_for_guild(std::uint64_t guild_id, std::uint32_t shard_count) {
  return static_cast<std::uint32_t>((guild_id >> 22) % shard_count);
}

} // namespace shardline
