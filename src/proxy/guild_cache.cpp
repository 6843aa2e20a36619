// TEMPORARY STAND-IN, replaced by the proxy-cache branch.
#include "proxy/guild_cache.hpp"

#include <boost/json.hpp>

#include <charconv>

namespace shardline::proxy {

namespace json = boost::json;

namespace {
std::uint64_t id_of(const json::value* v) {
  if (!v || !v->is_string()) return 0;
  std::uint64_t n = 0;
  auto s = v->get_string();
  std::from_chars(s.data(), s.data() + s.size(), n);
  return n;
}
} // namespace

GuildCache::GuildCache(CacheOptions options) : options_(options) {}

void GuildCache::apply(std::string_view type, std::string_view d_json) {
  if (type != "READY" && type != "GUILD_CREATE" && type != "GUILD_DELETE") return;
  boost::system::error_code ec;
  auto v = json::parse(d_json, ec);
  if (ec || !v.is_object()) return;
  auto& o = v.get_object();
  if (type == "READY") {
    has_ready_ = true;
    guilds_.clear();
    if (auto* u = o.if_contains("user")) {
      user_json_ = json::serialize(*u);
      if (u->is_object()) bot_user_id_ = id_of(u->get_object().if_contains("id"));
    }
    if (auto* a = o.if_contains("application")) application_json_ = json::serialize(*a);
    if (auto* g = o.if_contains("guilds"); g && g->is_array())
      for (auto& e : g->get_array())
        if (e.is_object()) guilds_[id_of(e.get_object().if_contains("id"))];
  } else if (type == "GUILD_CREATE") {
    guilds_[id_of(o.if_contains("id"))] = std::string(d_json);
  } else {
    auto id = id_of(o.if_contains("id"));
    auto* un = o.if_contains("unavailable");
    if (un && un->is_bool() && un->get_bool()) guilds_[id].clear();
    else guilds_.erase(id);
  }
}

std::string GuildCache::ready_data(std::string_view session_id, std::string_view resume_gateway_url,
                                   std::uint32_t shard_id, std::uint32_t shard_count) const {
  json::array guilds;
  for (auto& [id, d] : guilds_) guilds.push_back(json::object{{"id", std::to_string(id)}, {"unavailable", true}});
  json::object o{{"v", 10},
                 {"session_id", session_id},
                 {"resume_gateway_url", resume_gateway_url},
                 {"shard", json::array{shard_id, shard_count}},
                 {"guilds", std::move(guilds)},
                 {"private_channels", json::array{}},
                 {"user", user_json_.empty() ? json::value(nullptr) : json::parse(user_json_)},
                 {"application", application_json_.empty() ? json::value(nullptr) : json::parse(application_json_)}};
  return json::serialize(o);
}

std::vector<std::uint64_t> GuildCache::available_guild_ids() const {
  std::vector<std::uint64_t> out;
  for (auto& [id, d] : guilds_)
    if (!d.empty()) out.push_back(id);
  return out;
}

std::optional<std::string> GuildCache::guild_create(std::uint64_t guild_id) const {
  auto it = guilds_.find(guild_id);
  if (it == guilds_.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

std::size_t GuildCache::memory_bytes() const {
  std::size_t n = sizeof(*this);
  for (auto& [id, d] : guilds_) n += d.capacity() + 48;
  return n;
}

std::string GuildCache::serialize() const { return {}; }

Result<GuildCache> GuildCache::restore(std::string_view, CacheOptions) {
  return fail(Errc::unsupported, "stand-in cache cannot restore");
}

} // namespace shardline::proxy
