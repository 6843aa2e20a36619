// Guild moderation routes: members, their roles, bans and roles. They exist for the rate limits
// (a bot's moderation loops are where Discord's per-guild buckets and the invalid-request ban
// bite), so the answers have Discord's shapes and checks but the simulator keeps little state:
// any user id is a member, any role id a role, and only bans are remembered (for GET bans).

#include "core/text.hpp"
#include "sim/gateway_protocol.hpp"
#include "sim/rest_routes.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <string>

namespace shardline::sim {

namespace json = boost::json;

namespace {

constexpr std::size_t kBanGuilds = 1000, kBansPerGuild = 1000; // what GET bans can list
constexpr std::int64_t kMaxDeleteMessageSeconds = 604'800;     // 7 days, Discord's maximum

HttpReply invalid_form(std::string_view why) {
  return error_reply(HttpStatus::bad_request, fmt::format("Invalid Form Body ({})", why), 50035);
}

json::object user_json(std::uint64_t id) {
  return json::object{{"id", std::to_string(id)},
                      {"username", "user" + std::to_string(id % 100000)},
                      {"discriminator", "0"},
                      {"global_name", nullptr},
                      {"avatar", nullptr},
                      {"public_flags", 0}};
}

json::object member_json(std::uint64_t guild, std::uint64_t user) {
  // Joined a day after the later of the guild's and the user's creation: stable per pair.
  const auto joined = std::max(World::unix_ms_of(guild), World::unix_ms_of(user)) + 86'400'000ULL;
  return json::object{{"user", user_json(user)},
                      {"nick", nullptr},
                      {"avatar", nullptr},
                      {"roles", json::array{}},
                      {"joined_at", iso8601_ms(joined)},
                      {"premium_since", nullptr},
                      {"deaf", false},
                      {"mute", false},
                      {"flags", 0},
                      {"pending", false},
                      {"communication_disabled_until", nullptr}};
}

bool is_id_array(const json::value& v) {
  if (!v.is_array() || v.get_array().size() > 250) return false;
  return std::all_of(v.get_array().begin(), v.get_array().end(),
                     [](const json::value& x) { return x.is_string() && parse_id(as_view(x.get_string())); });
}

// A body that may be empty (no JSON at all) or an object. nullopt: neither.
std::optional<json::object> optional_object_body(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::object{};
  auto body = parse_json_body(text);
  if (!body || !body->is_object()) return std::nullopt;
  return body->get_object();
}

// Discord's checks on a role's fields; nullopt: fine.
std::optional<HttpReply> refuse_role_body(const json::object& o) {
  if (auto* name = o.if_contains("name"); name && !(name->is_string() && utf8_length(as_view(name->get_string())) <= 100))
    return invalid_form("name: a string of at most 100 characters");
  if (auto* p = o.if_contains("permissions"); p && !(p->is_string() && parse_id(as_view(p->get_string()))))
    return invalid_form("permissions: a bit set as a decimal string");
  if (auto* c = o.if_contains("color"); c && !(c->is_int64() && c->get_int64() >= 0 && c->get_int64() <= 0xFFFFFF))
    return invalid_form("color: 0-16777215");
  for (const char* flag : {"hoist", "mentionable"})
    if (auto* f = o.if_contains(flag); f && !f->is_bool()) return invalid_form(std::string(flag) + ": a boolean");
  return std::nullopt;
}

// A role as Discord returns it: the body's fields over defaults (`name` for one the body leaves out).
json::object role_json(std::uint64_t id, const json::object& o, std::string_view name) {
  auto field = [&](const char* key, json::value fallback) {
    auto* v = o.if_contains(key);
    return v ? *v : fallback;
  };
  return json::object{{"id", std::to_string(id)},
                      {"name", field("name", json::value(json::string(name)))},
                      {"color", field("color", 0)},
                      {"hoist", field("hoist", false)},
                      {"icon", nullptr},
                      {"unicode_emoji", nullptr},
                      {"position", 1},
                      {"permissions", field("permissions", "0")},
                      {"managed", false},
                      {"mentionable", field("mentionable", false)},
                      {"flags", 0}};
}

} // namespace

HttpReply get_member(Sim&, std::uint64_t guild, std::uint64_t user) {
  return json_reply(HttpStatus::ok, json::serialize(member_json(guild, user)));
}

HttpReply edit_member(Sim&, const HttpRequest& req, std::uint64_t guild, std::uint64_t user) {
  auto body = parse_json_body(req.body);
  if (!body || !body->is_object()) return invalid_form("a JSON object");
  const auto& o = body->get_object();
  auto member = member_json(guild, user);
  if (auto* nick = o.if_contains("nick")) {
    if (!nick->is_null() && !(nick->is_string() && utf8_length(as_view(nick->get_string())) <= 32))
      return invalid_form("nick: a string of at most 32 characters, or null");
    member["nick"] = *nick;
  }
  if (auto* roles = o.if_contains("roles")) {
    if (!is_id_array(*roles)) return invalid_form("roles: an array of role ids");
    member["roles"] = *roles;
  }
  for (const char* flag : {"mute", "deaf"})
    if (auto* f = o.if_contains(flag)) {
      if (!f->is_bool()) return invalid_form(std::string(flag) + ": a boolean");
      member[flag] = *f;
    }
  if (auto* until = o.if_contains("communication_disabled_until")) {
    if (!until->is_null() && !until->is_string()) return invalid_form("communication_disabled_until: a timestamp");
    member["communication_disabled_until"] = *until;
  }
  return json_reply(HttpStatus::ok, json::serialize(member));
}

HttpReply list_bans(Sim& sim, std::uint64_t guild) {
  json::array out;
  if (auto it = sim.bans.find(guild); it != sim.bans.end())
    for (auto user : it->second) out.push_back(json::object{{"reason", nullptr}, {"user", user_json(user)}});
  return json_reply(HttpStatus::ok, json::serialize(out));
}

HttpReply ban_member(Sim& sim, const HttpRequest& req, std::uint64_t guild, std::uint64_t user) {
  if (user == sim.world.owner_id()) return error_reply(HttpStatus::forbidden, "Missing Permissions", 50013);
  auto body = optional_object_body(req.body);
  if (!body) return invalid_form("a JSON object");
  for (const char* key : {"delete_message_seconds", "delete_message_days"})
    if (auto* s = body->if_contains(key)) {
      const std::int64_t max = std::string_view(key) == "delete_message_days" ? 7 : kMaxDeleteMessageSeconds;
      if (!s->is_int64() || s->get_int64() < 0 || s->get_int64() > max)
        return invalid_form(fmt::format("{}: 0-{}", key, max));
    }
  // Remembered for GET bans, within bounds; past them a ban is answered but not listed.
  if (sim.bans.count(guild) || sim.bans.size() < kBanGuilds) {
    auto& banned = sim.bans[guild];
    if (banned.size() < kBansPerGuild) banned.insert(user);
  }
  return no_content_reply();
}

HttpReply unban_member(Sim& sim, std::uint64_t guild, std::uint64_t user) {
  // 204 whether or not the ban was remembered: the simulator may have let it go (above).
  if (auto it = sim.bans.find(guild); it != sim.bans.end()) {
    it->second.erase(user);
    if (it->second.empty()) sim.bans.erase(it);
  }
  return no_content_reply();
}

HttpReply create_role(Sim& sim, const HttpRequest& req) {
  auto body = optional_object_body(req.body);
  if (!body) return invalid_form("a JSON object");
  if (auto refusal = refuse_role_body(*body)) return std::move(*refusal);
  return json_reply(HttpStatus::ok, json::serialize(role_json(sim.new_id(), *body, "new role")));
}

HttpReply edit_role(Sim&, const HttpRequest& req, std::uint64_t role) {
  auto body = optional_object_body(req.body);
  if (!body) return invalid_form("a JSON object");
  if (auto refusal = refuse_role_body(*body)) return std::move(*refusal);
  return json_reply(HttpStatus::ok, json::serialize(role_json(role, *body, "role")));
}

} // namespace shardline::sim
