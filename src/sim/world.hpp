#pragma once
// The simulated bot's world: its guilds, with ids, names and member counts shaped like a real
// bot's, plus the bot user and application. Deterministic from a seed, so a test or a benchmark
// sees the same guilds on every run, and independent of the wall clock (creation times fall in
// a fixed range of the past).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace shardline::sim {

struct Guild {
  std::uint64_t id = 0;
  std::string name;
  std::uint32_t member_count = 0;
  // In an outage when the simulator starts: READY lists it, the first GUILD_CREATE for it
  // comes only once the outage ends (GUILD_DELETE with unavailable:true until then).
  bool unavailable_at_start = false;
};

struct WorldOptions {
  std::size_t guilds = 100;
  std::uint64_t seed = 1;
  // Share of guilds in an outage at start. Worlds of 20 guilds or more always have at least
  // one, so small test worlds exercise the late GUILD_CREATE too.
  double unavailable_fraction = 0.005;
};

class World {
public:
  static constexpr std::uint64_t kDiscordEpochMs = 1420070400000ULL; // 2015-01-01T00:00:00Z
  static constexpr std::size_t kMaxGuildsPerShard = 2500;

  explicit World(const WorldOptions& options);

  // Discord's snowflake layout: milliseconds since the Discord epoch in the top 42 bits,
  // then 5 bits worker, 5 bits process, 12 bits increment.
  static std::uint64_t snowflake(std::uint64_t unix_ms, std::uint32_t worker, std::uint32_t process,
                                 std::uint32_t increment);
  static std::uint64_t unix_ms_of(std::uint64_t snowflake) { return (snowflake >> 22) + kDiscordEpochMs; }
  // The shard that receives a guild's events: (guild_id >> 22) % num_shards.
  static std::uint32_t shard_of(std::uint64_t guild_id, std::uint32_t num_shards);
  // What GET /gateway/bot recommends: about 1,000 guilds per shard, at least one.
  static std::uint32_t recommended_shards_for(std::size_t guilds);

  std::uint32_t recommended_shards() const { return recommended_shards_for(guilds_.size()); }
  const std::vector<Guild>& guilds() const { return guilds_; } // sorted by id
  const Guild* find(std::uint64_t id) const;
  std::vector<const Guild*> guilds_of_shard(std::uint32_t shard_id, std::uint32_t num_shards) const;
  std::size_t count_of_shard(std::uint32_t shard_id, std::uint32_t num_shards) const;
  std::size_t unavailable_at_start_count() const;

  // The bot joins a new guild (created "now", `unix_ms`) or leaves one: the world changes
  // as a live bot's does. Pointers from guilds()/find() are invalidated by both.
  const Guild& join(std::uint64_t unix_ms);
  bool leave(std::uint64_t guild_id);

  std::uint64_t application_id() const { return application_id_; }
  std::uint64_t bot_user_id() const { return application_id_; } // a bot's user id is its app id
  std::uint64_t owner_id() const { return owner_id_; }
  const std::string& bot_name() const { return bot_name_; }

private:
  Guild make_guild(std::uint64_t unix_ms);

  std::mt19937_64 rng_;
  std::vector<Guild> guilds_;
  std::uint64_t application_id_ = 0;
  std::uint64_t owner_id_ = 0;
  std::string bot_name_;
};

} // namespace shardline::sim
