#include "gateway/guild_tally.hpp"

#include <algorithm>
#include <limits>

namespace shardline::gateway {

void GuildTally::clear() {
  members_of_.clear();
  unavailable_.clear();
  members_ = 0;
}

void GuildTally::start_session(const std::vector<std::uint64_t>& guild_ids) {
  clear();
  changed_ = true;
  for (auto id : guild_ids) {
    members_of_.emplace(id, 0);
    unavailable_.insert(id);
  }
}

void GuildTally::apply(std::string_view type, const GuildInfo& g) {
  changed_ = true;
  auto it = members_of_.find(g.id);
  if (type == "GUILD_DELETE" && !g.unavailable) { // the bot left or was removed
    if (it != members_of_.end()) {
      members_ -= it->second;
      members_of_.erase(it);
    }
    unavailable_.erase(g.id);
    return;
  }
  if (it == members_of_.end()) it = members_of_.emplace(g.id, 0).first;
  if (g.unavailable) {
    unavailable_.insert(g.id); // an outage: still the bot's guild
    return;
  }
  unavailable_.erase(g.id);
  if (!g.has_member_count) return; // GUILD_UPDATE: the count is not in it, keep ours
  members_ += g.member_count;
  members_ -= it->second;
  it->second = static_cast<std::uint32_t>(std::min<std::uint64_t>(g.member_count, std::numeric_limits<std::uint32_t>::max()));
}

void GuildTally::restore(const std::vector<GuildRecord>& guilds) {
  clear();
  for (auto& g : guilds) {
    members_of_.emplace(g.id, g.member_count);
    members_ += g.member_count;
    if (g.unavailable) unavailable_.insert(g.id);
  }
}

std::vector<GuildRecord> GuildTally::take() {
  changed_ = false;
  std::vector<GuildRecord> out;
  out.reserve(members_of_.size());
  for (auto& [id, n] : members_of_) out.push_back({id, n, unavailable_.count(id) > 0});
  return out;
}

} // namespace shardline::gateway
