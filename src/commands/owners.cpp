#include "commands/owners.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <charconv>

namespace shardline::commands {

namespace json = boost::json;

namespace {
std::uint64_t snowflake(const json::value* v) {
  if (!v || !v->is_string()) return 0;
  auto s = v->get_string();
  std::uint64_t out = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() ? out : 0;
}
} // namespace

OwnerSet owners_from_setting(std::string_view bot_owner_id) {
  OwnerSet out;
  std::uint64_t id = 0;
  auto [p, ec] = std::from_chars(bot_owner_id.data(), bot_owner_id.data() + bot_owner_id.size(), id);
  if (ec == std::errc() && p == bot_owner_id.data() + bot_owner_id.size() && id != 0) {
    out.ids.insert(id);
    out.source = "BOT_OWNER_ID";
  }
  return out;
}

bool parse_application(std::string_view body, ApplicationInfo& out, std::string& error) {
  boost::system::error_code ec;
  json::parse_options po;
  po.max_depth = 16;
  auto v = json::parse(body, ec, {}, po);
  if (ec || !v.is_object()) {
    error = "GET /oauth2/applications/@me did not return a JSON object";
    return false;
  }
  auto& app = v.get_object();
  out = {};
  out.id = snowflake(app.if_contains("id"));
  if (!out.id) {
    error = "GET /oauth2/applications/@me: no application id";
    return false;
  }
  // A team-owned application: `owner` is a placeholder user for the team, and the people are
  // the team's members. Invited members who have not accepted (membership_state 1) are not.
  if (auto* team = app.if_contains("team"); team && team->is_object()) {
    auto& t = team->get_object();
    if (auto* members = t.if_contains("members"); members && members->is_array())
      for (auto& m : members->get_array()) {
        if (!m.is_object()) continue;
        auto& mo = m.get_object();
        auto* state = mo.if_contains("membership_state");
        if (!state || !state->is_int64() || state->get_int64() != 2) continue; // ACCEPTED only
        auto* user = mo.if_contains("user");
        if (auto id = user && user->is_object() ? snowflake(user->get_object().if_contains("id")) : 0) out.owners.ids.insert(id);
      }
    if (auto id = snowflake(t.if_contains("owner_user_id"))) out.owners.ids.insert(id);
    auto* name = t.if_contains("name");
    out.owners.source = fmt::format("team {} ({} members)", name && name->is_string() ? std::string(name->get_string()) : "?",
                                    out.owners.ids.size());
  } else if (auto* owner = app.if_contains("owner"); owner && owner->is_object()) {
    if (auto id = snowflake(owner->get_object().if_contains("id"))) out.owners.ids.insert(id);
    out.owners.source = "application owner";
  }
  if (!out.owners.known()) {
    error = "GET /oauth2/applications/@me: neither an owner nor a team member; set BOT_OWNER_ID";
    return false;
  }
  return true;
}

} // namespace shardline::commands
