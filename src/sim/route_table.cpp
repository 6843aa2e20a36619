#include "sim/route_table.hpp"

#include <array>
#include <charconv>

namespace shardline::sim {

namespace {

// The order is the old if-chain's: what it tried first is still tried first, so every path
// reaches the handler it reached before, and answers 404 or 405 as it did.
constexpr std::array kRoutes{
    // The control API. Its reads are all GETs: any other method on an unknown /_sim/ path
    // is 405, on a known one too (the last row).
    Route{Method::post, "/_sim/faults", RouteId::sim_faults, Auth::none},
    Route{Method::post, "/_sim/interactions", RouteId::sim_interaction_create, Auth::none},
    Route{Method::post, "/_sim/messages", RouteId::sim_message_create, Auth::none},
    Route{Method::post, "/_sim/guilds", RouteId::sim_guild_change, Auth::none},
    Route{Method::get, "/_sim/interactions/{interaction}", RouteId::sim_interaction_get, Auth::none},
    Route{Method::get, "/_sim/channels/{channel}/messages", RouteId::sim_channel_messages, Auth::none},
    Route{Method::get, "/_sim/stats", RouteId::sim_stats, Auth::none},
    Route{Method::get, "/_sim/world", RouteId::sim_world, Auth::none},
    Route{Method::get, "/_sim/sessions", RouteId::sim_sessions, Auth::none},
    Route{Method::get, "/_sim/rest/limits", RouteId::sim_rest_limits, Auth::none},
    Route{Method::post, "/_sim/rest/shared-limit", RouteId::sim_rest_shared_limit, Auth::none},
    Route{Method::post, "/_sim/rest/reset", RouteId::sim_rest_reset, Auth::none},
    Route{Method::get, "/_sim/*/**", RouteId::sim_unknown, Auth::none},

    // Discord's REST API. Open to anyone, as on Discord: the gateway URL, and what an
    // interaction's token is the credential for (the callback and the interaction webhook).
    Route{Method::get, "/api/v10/gateway", RouteId::gateway, Auth::none},
    Route{Method::post, "/api/v10/interactions/{interaction}/{token}/callback", RouteId::interaction_callback,
          Auth::none},
    Route{Method::post, "/api/v10/webhooks/{app}/{token}", RouteId::webhook_followup, Auth::none},
    Route{Method::patch, "/api/v10/webhooks/{app}/{token}/messages/@original", RouteId::webhook_edit_original,
          Auth::none},
    Route{Method::any, "/api/v10/webhooks/{app}/{token}/**", RouteId::webhook_unsimulated, Auth::none},
    // The bot's own routes.
    Route{Method::get, "/api/v10/gateway/bot", RouteId::gateway_bot, Auth::bot},
    Route{Method::get, "/api/v10/users/@me", RouteId::current_user, Auth::bot},
    Route{Method::get, "/api/v10/oauth2/applications/@me", RouteId::oauth2_current_application, Auth::bot},
    Route{Method::get, "/api/v10/applications/@me", RouteId::current_application, Auth::bot},
    Route{Method::get, "/api/v10/applications/{app}/commands", RouteId::global_commands_list, Auth::bot},
    Route{Method::put, "/api/v10/applications/{app}/commands", RouteId::global_commands_overwrite, Auth::bot},
    Route{Method::get, "/api/v10/applications/{app}/guilds/{guild}/commands", RouteId::guild_commands_list,
          Auth::bot},
    Route{Method::put, "/api/v10/applications/{app}/guilds/{guild}/commands", RouteId::guild_commands_overwrite,
          Auth::bot},
    Route{Method::post, "/api/v10/channels/{channel}/messages", RouteId::channel_message_create, Auth::bot},
    Route{Method::patch, "/api/v10/channels/{channel}/messages/{message}", RouteId::channel_message_edit, Auth::bot},
    Route{Method::delete_, "/api/v10/channels/{channel}/messages/{message}", RouteId::channel_message_delete,
          Auth::bot},
    Route{Method::put, "/api/v10/channels/{channel}/messages/{message}/reactions/{emoji}/@me", RouteId::reaction_add,
          Auth::bot},
    Route{Method::delete_, "/api/v10/channels/{channel}/messages/{message}/reactions/{emoji}/@me",
          RouteId::reaction_remove, Auth::bot},
    Route{Method::get, "/api/v10/guilds/{guild}/members/{user}", RouteId::guild_member_get, Auth::bot},
    Route{Method::patch, "/api/v10/guilds/{guild}/members/{user}", RouteId::guild_member_edit, Auth::bot},
    Route{Method::put, "/api/v10/guilds/{guild}/members/{user}/roles/{role}", RouteId::member_role_add, Auth::bot},
    Route{Method::delete_, "/api/v10/guilds/{guild}/members/{user}/roles/{role}", RouteId::member_role_remove,
          Auth::bot},
    Route{Method::get, "/api/v10/guilds/{guild}/bans", RouteId::bans_list, Auth::bot},
    Route{Method::put, "/api/v10/guilds/{guild}/bans/{user}", RouteId::ban_create, Auth::bot},
    Route{Method::delete_, "/api/v10/guilds/{guild}/bans/{user}", RouteId::ban_remove, Auth::bot},
    Route{Method::post, "/api/v10/guilds/{guild}/roles", RouteId::role_create, Auth::bot},
    Route{Method::patch, "/api/v10/guilds/{guild}/roles/{role}", RouteId::role_edit, Auth::bot},
    Route{Method::delete_, "/api/v10/guilds/{guild}/roles/{role}", RouteId::role_delete, Auth::bot},
    // Last: a bot must show its token before it learns that a path does not exist.
    Route{Method::any, "/api/v10/**", RouteId::api_unknown, Auth::bot},
};

// The next non-empty segment of `rest` (consumed from it); empty when none is left.
constexpr std::string_view next_segment(std::string_view& rest) {
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  auto end = rest.find('/');
  auto segment = rest.substr(0, end);
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  return segment;
}

constexpr bool is_capture(std::string_view segment) {
  return segment == "{app}" || segment == "{guild}" || segment == "{channel}" || segment == "{interaction}" ||
         segment == "{token}" || segment == "{message}" || segment == "{user}" || segment == "{role}" ||
         segment == "{emoji}";
}

constexpr bool valid_pattern(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/') return false;
  for (auto rest = pattern;;) {
    auto segment = next_segment(rest);
    if (segment.empty()) return true;
    if (segment == "**") return next_segment(rest).empty(); // only as the last segment
    if (segment == "*" || is_capture(segment)) continue;
    if (segment.find_first_of("{}*") != std::string_view::npos) return false; // a misspelt capture
  }
}

// The matcher's assumptions about the table: every pattern is well formed, the rows of one
// pattern are adjacent (the matcher looks no further than them for the method), share their
// authorization (a 405 is answered after it), and name a method once.
constexpr bool table_is_well_formed() {
  for (std::size_t i = 0; i < kRoutes.size(); ++i) {
    if (!valid_pattern(kRoutes[i].pattern)) return false;
    for (std::size_t j = 0; j < i; ++j) {
      if (kRoutes[j].pattern != kRoutes[i].pattern) continue;
      if (kRoutes[i - 1].pattern != kRoutes[i].pattern) return false;
      if (kRoutes[j].auth != kRoutes[i].auth) return false;
      if (kRoutes[j].method == kRoutes[i].method || kRoutes[j].method == Method::any ||
          kRoutes[i].method == Method::any)
        return false;
    }
  }
  return true;
}
static_assert(table_is_well_formed(), "the route table breaks a rule route_table.hpp states");

void capture(std::string_view name, std::string_view text, RouteCaptures& into) {
  if (name == "{token}") into.token = text;
  else if (name == "{app}") into.app = parse_id(text);
  else if (name == "{guild}") into.guild = parse_id(text);
  else if (name == "{channel}") into.channel = parse_id(text);
  else if (name == "{interaction}") into.interaction = parse_id(text);
  else if (name == "{message}") into.message = parse_id(text);
  else if (name == "{user}") into.user = parse_id(text);
  else if (name == "{role}") into.role = parse_id(text);
  else if (name == "{emoji}") into.emoji = text;
}

// Whether `path` (split) has the shape of `pattern`; if so, `into` gets its captures.
bool matches(std::string_view pattern, std::span<const std::string_view> path, RouteCaptures& into) {
  RouteCaptures found;
  std::size_t i = 0;
  for (auto rest = pattern;;) {
    auto segment = next_segment(rest);
    if (segment.empty()) break;
    if (segment == "**") {
      i = path.size();
      break;
    }
    if (i == path.size()) return false;
    auto text = path[i++];
    if (segment.front() == '{') capture(segment, text, found);
    else if (segment != "*" && segment != text) return false;
  }
  if (i != path.size()) return false;
  into = found;
  return true;
}

} // namespace

std::string_view to_string(Method m) {
  switch (m) {
  case Method::get: return "GET";
  case Method::post: return "POST";
  case Method::put: return "PUT";
  case Method::patch: return "PATCH";
  case Method::delete_: return "DELETE";
  case Method::other: return "OTHER";
  case Method::any: return "ANY";
  }
  return "OTHER";
}

std::span<const Route> route_table() { return kRoutes; }

bool is_discord_route(const Route& route) { return route.pattern.starts_with("/api/"); }

std::string route_text(const Route& route) {
  constexpr std::string_view prefix = "/api/v10";
  auto path = route.pattern;
  if (path.starts_with(prefix)) path.remove_prefix(prefix.size());
  return std::string(to_string(route.method)) + " " + std::string(path);
}

RouteMatch match_route(Method method, std::string_view path) {
  const auto segments = split_path(path);
  RouteMatch out;
  for (const auto& row : kRoutes) {
    if (out.route) {
      if (row.pattern != out.route->pattern) break; // past the rows of the matched pattern
    } else if (matches(row.pattern, segments, out.captures)) {
      out.route = &row;
    } else {
      continue;
    }
    if (row.method == method || row.method == Method::any) {
      out.verdict = RouteMatch::Verdict::found;
      out.route = &row;
      return out;
    }
  }
  out.verdict = out.route ? RouteMatch::Verdict::method_not_allowed : RouteMatch::Verdict::not_found;
  return out;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  for (auto segment = next_segment(path); !segment.empty(); segment = next_segment(path)) out.push_back(segment);
  return out;
}

std::optional<std::uint64_t> parse_id(std::string_view text) {
  std::uint64_t v = 0;
  if (text.empty() || text.size() > 20) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return v;
}

} // namespace shardline::sim
