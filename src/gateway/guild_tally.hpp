#pragma once
// The guilds a shard's session holds and their members, as the gateway tells them: READY's
// list (every guild unavailable until its GUILD_CREATE), then GUILD_CREATE, GUILD_UPDATE and
// GUILD_DELETE. What shard_status, stats and the guild snapshot report. Pure.

#include "gateway/gateway_payload.hpp"
#include "gateway/guild_snapshot.hpp"

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace shardline::gateway {

class GuildTally {
public:
  // READY: a new session's guilds, all unavailable until their GUILD_CREATE.
  void start_session(const std::vector<std::uint64_t>& guild_ids);
  // GUILD_CREATE, GUILD_UPDATE or GUILD_DELETE (`type`), as PayloadParser::guild read it.
  void apply(std::string_view type, const GuildInfo& g);
  // A snapshot taken from an earlier process of the same session (does not count as a change).
  void restore(const std::vector<GuildRecord>& guilds);
  void clear();

  std::size_t count() const { return members_of_.size(); }
  std::size_t unavailable() const { return unavailable_.size(); }
  std::uint64_t members() const { return members_; }
  // The list, and whether it changed since the last take().
  std::vector<GuildRecord> take();
  bool changed() const { return changed_; }

private:
  std::unordered_map<std::uint64_t, std::uint32_t> members_of_; // guild id -> member_count
  std::unordered_set<std::uint64_t> unavailable_;             // kept in members_of_ too
  std::uint64_t members_ = 0;
  bool changed_ = false;
};

} // namespace shardline::gateway
