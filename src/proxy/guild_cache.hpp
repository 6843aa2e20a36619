#pragma once
// TEMPORARY STAND-IN, replaced by the proxy-cache branch: just enough of GuildCache's agreed
// interface (READY and GUILD_CREATE/DELETE only) for the endpoint to build and be tested.

#include "core/error.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace shardline::proxy {

struct CacheOptions {
  bool members = false;
  bool presences = false;
  bool voice_states = false;
};

class GuildCache {
public:
  explicit GuildCache(CacheOptions options = {});
  void apply(std::string_view type, std::string_view d_json);
  bool has_ready() const { return has_ready_; }
  std::string ready_data(std::string_view session_id, std::string_view resume_gateway_url, std::uint32_t shard_id,
                         std::uint32_t shard_count) const;
  std::vector<std::uint64_t> available_guild_ids() const;
  std::size_t guild_count() const { return guilds_.size(); }
  std::optional<std::string> guild_create(std::uint64_t guild_id) const;
  std::size_t memory_bytes() const;
  std::uint64_t bot_user_id() const { return bot_user_id_; }
  std::string serialize() const;
  static Result<GuildCache> restore(std::string_view text, CacheOptions options);

private:
  CacheOptions options_;
  bool has_ready_ = false;
  std::string user_json_, application_json_;
  std::uint64_t bot_user_id_ = 0;
  std::map<std::uint64_t, std::string> guilds_; // id -> GUILD_CREATE d, empty while unavailable
};

} // namespace shardline::proxy
