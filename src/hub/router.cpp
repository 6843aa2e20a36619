#include "hub/router.hpp"

#include "core/sharding.hpp"

#include <charconv>

namespace shardline::hub {

namespace {

template <class T>
bool parse_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

} // namespace

Route route(const Directory& d, std::string_view target, const Member& sender, bool is_reply) {
  Route r;
  if (target.empty() || target == "all") {
    r.fanout = true;
    for (auto* m : d.clusters())
      if (m != &sender) r.to.push_back(m);
    return r;
  }
  Member* dest = nullptr;
  if (target.starts_with("shard:")) {
    std::uint32_t shard = 0;
    if (parse_number(target.substr(6), shard)) dest = d.owner_of(shard);
  } else if (target.starts_with("guild:")) {
    std::uint64_t guild = 0;
    if (parse_number(target.substr(6), guild) && d.guild_shard_count() > 0)
      dest = d.owner_of(shard_for_guild(guild, d.guild_shard_count()));
  } else if (auto* m = d.find(target)) {
    // Admin tools receive replies only; they are never a target of their own.
    if (m->cluster() || is_reply) dest = m;
  }
  if (dest) r.to.push_back(dest);
  else r.no_route = true;
  return r;
}

} // namespace shardline::hub
