#pragma once
// Which handler answers an HTTP request to the simulator: one table of method + path pattern
// -> route, for Discord's REST API (/api/v10) and the /_sim/ control API, and one matcher.
// Pure (no Beast, no Sim), so what answers 404 and what answers 405 is unit-tested here rather
// than through sockets.
//
// Patterns are written as paths: literal segments, captures ({app}, {guild}, {channel},
// {interaction}, {message}, {user}, {role}: snowflakes; {token}, {emoji}: any text), `*` (any one segment) and a final `**` (zero or
// more segments). Rows are tried in order: the first pattern that matches the path names the
// resource, and among the rows with that same pattern (adjacent in the table) the request's
// method picks the route; none has it: 405. route_table.cpp checks these rules at compile time.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shardline::sim {

// The methods the simulator answers; any other is `other` (and answered 405 where the path is
// known). `any` appears only in the table: a row for every method.
enum class Method : std::uint8_t { get, post, put, patch, delete_, other, any };

std::string_view to_string(Method m);

// Who may call a route: anyone, or only a bot sending `Authorization: Bot <token>`.
enum class Auth : std::uint8_t { none, bot };

enum class RouteId : std::uint8_t {
  // Discord's REST API, /api/v10
  gateway,
  gateway_bot,
  current_user,
  oauth2_current_application,
  current_application,
  interaction_callback,
  webhook_followup,
  webhook_edit_original,
  webhook_unsimulated, // Discord's other webhook paths: answered 405
  global_commands_list,
  global_commands_overwrite,
  guild_commands_list,
  guild_commands_overwrite,
  channel_message_create,
  channel_message_edit,
  channel_message_delete,
  reaction_add, // PUT .../reactions/{emoji}/@me
  reaction_remove,
  guild_member_get,
  guild_member_edit,
  member_role_add,
  member_role_remove,
  bans_list,
  ban_create,
  ban_remove,
  role_create,
  role_edit,
  role_delete,
  api_unknown, // anything else under /api/v10: 401 without the bot token, else 404
  // The control API, /_sim/
  sim_faults,
  sim_interaction_create,
  sim_interaction_get,
  sim_message_create,
  sim_guild_change,
  sim_channel_messages,
  sim_stats,
  sim_world,
  sim_sessions,
  sim_rest_limits,
  sim_rest_shared_limit,
  sim_rest_reset,
  sim_unknown, // any other /_sim/ path: 404 for GET, 405 for other methods
};

struct Route {
  Method method;
  std::string_view pattern;
  RouteId id;
  Auth auth;
};

// Every row, in matching order.
std::span<const Route> route_table();

// Whether the route is one of Discord's (/api/v10), not the control API's.
bool is_discord_route(const Route& route);

// "PUT /channels/{channel}/messages/{message}/reactions/{emoji}/@me": the route as Discord's
// documentation writes it (without /api/v10), as /_sim/rest/limits lists it.
std::string route_text(const Route& route);

// What the captures of the matched pattern held. An id segment that is not a snowflake
// (digits only, at most 20, below 2^64) is captured as nullopt, never as a number: it names
// nothing, and each route answers that as it answers an unknown id (Unknown Channel, Unknown
// Guild...), which is what Discord's clients expect to read.
struct RouteCaptures {
  std::optional<std::uint64_t> app, guild, channel, interaction;
  std::string_view token; // a view into the matched path
  std::optional<std::uint64_t> message, user, role;
  std::string_view emoji; // as sent (the path is decoded): "name:id" or a Unicode emoji
};

struct RouteMatch {
  enum class Verdict : std::uint8_t { found, method_not_allowed, not_found };
  Verdict verdict = Verdict::not_found;
  // found: the route. method_not_allowed: the first row of the path's pattern, for its auth and
  // its path checks (another application's id is refused before the method is looked at).
  const Route* route = nullptr;
  RouteCaptures captures;
};

// `path` is the decoded path of the request target, without the query. Empty segments are
// skipped ("/a//b/" is a/b), as the simulator always has.
RouteMatch match_route(Method method, std::string_view path);

// "/a//b/" -> {"a", "b"}.
std::vector<std::string_view> split_path(std::string_view path);

// A snowflake written in decimal, as paths and JSON bodies carry them: nullopt unless `text`
// is 1-20 digits and fits in 64 bits.
std::optional<std::uint64_t> parse_id(std::string_view text);

} // namespace shardline::sim
