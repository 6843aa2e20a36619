// The simulator's route table: which route each method and path reaches, what it captures,
// and which requests are 404 (no such path) or 405 (a known path, another method), as a bot
// and the integration tests see them.

#include "sim/route_table.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace shardline::sim;
using Verdict = RouteMatch::Verdict;

namespace {

struct Example {
  Method method;
  std::string path;
  RouteId route;
  RouteCaptures captures;
};

RouteCaptures ids(std::optional<std::uint64_t> app, std::optional<std::uint64_t> guild,
                  std::optional<std::uint64_t> channel, std::optional<std::uint64_t> interaction,
                  std::string_view token = {}) {
  return RouteCaptures{app, guild, channel, interaction, token};
}

// A path's captures beyond the first five: the message, user and role ids and the emoji.
RouteCaptures with(RouteCaptures at, std::optional<std::uint64_t> message, std::optional<std::uint64_t> user = {},
                   std::optional<std::uint64_t> role = {}, std::string_view emoji = {}) {
  at.message = message;
  at.user = user;
  at.role = role;
  at.emoji = emoji;
  return at;
}

const RouteCaptures none{};

// One request for every row of the table, as clients send them.
const std::vector<Example>& examples() {
  static const std::vector<Example> all{
      {Method::get, "/api/v10/gateway", RouteId::gateway, none},
      {Method::get, "/api/v10/gateway/bot", RouteId::gateway_bot, none},
      {Method::get, "/api/v10/users/@me", RouteId::current_user, none},
      {Method::get, "/api/v10/oauth2/applications/@me", RouteId::oauth2_current_application, none},
      {Method::get, "/api/v10/applications/@me", RouteId::current_application, none},
      {Method::post, "/api/v10/interactions/1234/aW50ZXJhY3Rpb24/callback", RouteId::interaction_callback,
       ids({}, {}, {}, 1234, "aW50ZXJhY3Rpb24")},
      {Method::post, "/api/v10/webhooks/55/tok", RouteId::webhook_followup, ids(55, {}, {}, {}, "tok")},
      {Method::patch, "/api/v10/webhooks/55/tok/messages/@original", RouteId::webhook_edit_original,
       ids(55, {}, {}, {}, "tok")},
      {Method::delete_, "/api/v10/webhooks/55/tok/messages/99", RouteId::webhook_unsimulated,
       ids(55, {}, {}, {}, "tok")},
      {Method::get, "/api/v10/applications/55/commands", RouteId::global_commands_list, ids(55, {}, {}, {})},
      {Method::put, "/api/v10/applications/55/commands", RouteId::global_commands_overwrite, ids(55, {}, {}, {})},
      {Method::get, "/api/v10/applications/55/guilds/77/commands", RouteId::guild_commands_list,
       ids(55, 77, {}, {})},
      {Method::put, "/api/v10/applications/55/guilds/77/commands", RouteId::guild_commands_overwrite,
       ids(55, 77, {}, {})},
      {Method::post, "/api/v10/channels/78/messages", RouteId::channel_message_create, ids({}, {}, 78, {})},
      {Method::patch, "/api/v10/channels/78/messages/90", RouteId::channel_message_edit,
       with(ids({}, {}, 78, {}), 90)},
      {Method::delete_, "/api/v10/channels/78/messages/90", RouteId::channel_message_delete,
       with(ids({}, {}, 78, {}), 90)},
      {Method::put, "/api/v10/channels/78/messages/90/reactions/\xF0\x9F\x91\x8D/@me", RouteId::reaction_add,
       with(ids({}, {}, 78, {}), 90, {}, {}, "\xF0\x9F\x91\x8D")},
      {Method::delete_, "/api/v10/channels/78/messages/90/reactions/blob:123/@me", RouteId::reaction_remove,
       with(ids({}, {}, 78, {}), 90, {}, {}, "blob:123")},
      {Method::get, "/api/v10/guilds/77/members/66", RouteId::guild_member_get, with(ids({}, 77, {}, {}), {}, 66)},
      {Method::patch, "/api/v10/guilds/77/members/66", RouteId::guild_member_edit, with(ids({}, 77, {}, {}), {}, 66)},
      {Method::put, "/api/v10/guilds/77/members/66/roles/55", RouteId::member_role_add,
       with(ids({}, 77, {}, {}), {}, 66, 55)},
      {Method::delete_, "/api/v10/guilds/77/members/66/roles/55", RouteId::member_role_remove,
       with(ids({}, 77, {}, {}), {}, 66, 55)},
      {Method::get, "/api/v10/guilds/77/bans", RouteId::bans_list, ids({}, 77, {}, {})},
      {Method::put, "/api/v10/guilds/77/bans/66", RouteId::ban_create, with(ids({}, 77, {}, {}), {}, 66)},
      {Method::delete_, "/api/v10/guilds/77/bans/66", RouteId::ban_remove, with(ids({}, 77, {}, {}), {}, 66)},
      {Method::post, "/api/v10/guilds/77/roles", RouteId::role_create, ids({}, 77, {}, {})},
      {Method::patch, "/api/v10/guilds/77/roles/55", RouteId::role_edit, with(ids({}, 77, {}, {}), {}, {}, 55)},
      {Method::delete_, "/api/v10/guilds/77/roles/55", RouteId::role_delete, with(ids({}, 77, {}, {}), {}, {}, 55)},
      {Method::get, "/api/v10/nope", RouteId::api_unknown, none},
      {Method::post, "/_sim/faults", RouteId::sim_faults, none},
      {Method::post, "/_sim/interactions", RouteId::sim_interaction_create, none},
      {Method::post, "/_sim/messages", RouteId::sim_message_create, none},
      {Method::post, "/_sim/guilds", RouteId::sim_guild_change, none},
      {Method::get, "/_sim/interactions/1234", RouteId::sim_interaction_get, ids({}, {}, {}, 1234)},
      {Method::get, "/_sim/channels/78/messages", RouteId::sim_channel_messages, ids({}, {}, 78, {})},
      {Method::get, "/_sim/stats", RouteId::sim_stats, none},
      {Method::get, "/_sim/world", RouteId::sim_world, none},
      {Method::get, "/_sim/sessions", RouteId::sim_sessions, none},
      {Method::get, "/_sim/rest/limits", RouteId::sim_rest_limits, none},
      {Method::post, "/_sim/rest/shared-limit", RouteId::sim_rest_shared_limit, none},
      {Method::post, "/_sim/rest/reset", RouteId::sim_rest_reset, none},
      {Method::get, "/_sim/nope", RouteId::sim_unknown, none},
  };
  return all;
}

void expect_captures(const RouteCaptures& got, const RouteCaptures& want, const std::string& what) {
  EXPECT_EQ(got.app, want.app) << what;
  EXPECT_EQ(got.guild, want.guild) << what;
  EXPECT_EQ(got.channel, want.channel) << what;
  EXPECT_EQ(got.interaction, want.interaction) << what;
  EXPECT_EQ(got.token, want.token) << what;
  EXPECT_EQ(got.message, want.message) << what;
  EXPECT_EQ(got.user, want.user) << what;
  EXPECT_EQ(got.role, want.role) << what;
  EXPECT_EQ(got.emoji, want.emoji) << what;
}

std::string describe(Method m, std::string_view path) { return std::string(to_string(m)) + " " + std::string(path); }

} // namespace

TEST(SimRouteTable, EveryRouteMatchesItsMethodAndPathAndCapturesItsIds) {
  for (const auto& ex : examples()) {
    const auto what = describe(ex.method, ex.path);
    auto m = match_route(ex.method, ex.path);
    ASSERT_EQ(m.verdict, Verdict::found) << what;
    ASSERT_NE(m.route, nullptr) << what;
    EXPECT_EQ(m.route->id, ex.route) << what;
    expect_captures(m.captures, ex.captures, what);
  }
}

TEST(SimRouteTable, EveryRowOfTheTableHasAnExample) {
  // A row added without a line in examples() fails here, so every route stays tested.
  std::set<RouteId> covered;
  for (const auto& ex : examples()) covered.insert(ex.route);
  for (const auto& row : route_table())
    EXPECT_TRUE(covered.count(row.id)) << "no example reaches " << row.pattern;
}

TEST(SimRouteTable, OnlyTheOpenRoutesNeedNoBotToken) {
  // Discord's open routes: the gateway URL, and what an interaction token is the credential
  // for. The control API has no authorization; every other /api/v10 path needs the token,
  // unknown ones included (a bot without it learns nothing about the paths).
  const std::set<RouteId> open{RouteId::gateway, RouteId::interaction_callback, RouteId::webhook_followup,
                               RouteId::webhook_edit_original, RouteId::webhook_unsimulated};
  for (const auto& ex : examples()) {
    auto m = match_route(ex.method, ex.path);
    ASSERT_EQ(m.verdict, Verdict::found) << ex.path;
    const bool control = ex.path.rfind("/_sim/", 0) == 0;
    EXPECT_EQ(m.route->auth, control || open.count(ex.route) ? Auth::none : Auth::bot) << ex.path;
  }
}

TEST(SimRouteTable, AnotherMethodOnAKnownPathIsNotAllowed) {
  struct Case {
    Method method;
    std::string path;
    RouteId resource; // the path's first row: its authorization and path checks come first
  };
  const std::vector<Case> cases{
      {Method::post, "/api/v10/gateway", RouteId::gateway},
      {Method::post, "/api/v10/gateway/bot", RouteId::gateway_bot},
      {Method::delete_, "/api/v10/users/@me", RouteId::current_user},
      {Method::other, "/api/v10/users/@me", RouteId::current_user}, // HEAD, OPTIONS...
      {Method::get, "/api/v10/interactions/1/tok/callback", RouteId::interaction_callback},
      {Method::get, "/api/v10/webhooks/55/tok", RouteId::webhook_followup},
      {Method::post, "/api/v10/webhooks/55/tok/messages/@original", RouteId::webhook_edit_original},
      {Method::post, "/api/v10/applications/55/commands", RouteId::global_commands_list},
      {Method::delete_, "/api/v10/applications/55/guilds/77/commands", RouteId::guild_commands_list},
      {Method::get, "/api/v10/channels/78/messages", RouteId::channel_message_create},
      {Method::post, "/api/v10/channels/78/messages/90", RouteId::channel_message_edit},
      {Method::get, "/api/v10/channels/78/messages/90/reactions/x/@me", RouteId::reaction_add},
      {Method::put, "/api/v10/guilds/77/members/66", RouteId::guild_member_get},
      {Method::post, "/api/v10/guilds/77/bans", RouteId::bans_list},
      {Method::get, "/api/v10/guilds/77/bans/66", RouteId::ban_create},
      {Method::get, "/api/v10/guilds/77/roles", RouteId::role_create},
      {Method::get, "/api/v10/guilds/77/members/66/roles/55", RouteId::member_role_add},
      {Method::get, "/_sim/rest/reset", RouteId::sim_rest_reset},
      {Method::post, "/_sim/rest/limits", RouteId::sim_rest_limits},
      {Method::get, "/_sim/faults", RouteId::sim_faults},
      {Method::get, "/_sim/messages", RouteId::sim_message_create},
      {Method::post, "/_sim/stats", RouteId::sim_stats},
      {Method::post, "/_sim/world", RouteId::sim_world},
      {Method::delete_, "/_sim/interactions/5", RouteId::sim_interaction_get},
      {Method::post, "/_sim/channels/78/messages", RouteId::sim_channel_messages},
      // The control API's reads are all GETs: another method on any other /_sim/ path is 405.
      {Method::put, "/_sim/nope", RouteId::sim_unknown},
  };
  for (const auto& c : cases) {
    const auto what = describe(c.method, c.path);
    auto m = match_route(c.method, c.path);
    EXPECT_EQ(m.verdict, Verdict::method_not_allowed) << what;
    ASSERT_NE(m.route, nullptr) << what;
    EXPECT_EQ(m.route->id, c.resource) << what;
  }
  // The captures come along: another application's id or an unknown guild is refused before
  // the method is looked at.
  auto m = match_route(Method::delete_, "/api/v10/applications/55/guilds/77/commands");
  expect_captures(m.captures, ids(55, 77, {}, {}), "DELETE guild commands");
}

TEST(SimRouteTable, PathsOutsideBothAPIsAreNotFound) {
  for (const char* path : {"", "/", "/api", "/api/v9/gateway", "/apiv10/gateway", "/v10/gateway", "/_sim", "/_sim/",
                           "/_simx/stats", "/favicon.ico", "/gateway"})
    for (auto method : {Method::get, Method::post}) {
      auto m = match_route(method, path);
      EXPECT_EQ(m.verdict, Verdict::not_found) << describe(method, path);
      EXPECT_EQ(m.route, nullptr) << describe(method, path);
    }
}

TEST(SimRouteTable, UnknownPathsUnderTheAPIsReachTheirCatchAll) {
  // Under /api/v10 any method: the bot's token first, then 404.
  for (const char* path : {"/api/v10", "/api/v10/nope", "/api/v10/users/@me/guilds", "/api/v10/channels/78",
                           "/api/v10/channels/78/messages/90/reactions/x", "/api/v10/guilds/77/members",
                           "/api/v10/channels/78/messages/90/reactions/x/someone-else",
                           "/api/v10/applications/55/foo/77/commands", "/api/v10/webhooks/55",
                           "/api/v10/interactions/1/tok"})
    for (auto method : {Method::get, Method::post, Method::other}) {
      auto m = match_route(method, path);
      ASSERT_EQ(m.verdict, Verdict::found) << describe(method, path);
      EXPECT_EQ(m.route->id, RouteId::api_unknown) << describe(method, path);
      EXPECT_EQ(m.route->auth, Auth::bot) << describe(method, path);
    }
  // Under /_sim/ a GET is 404 (found by the catch-all, which answers it); see above for others.
  for (const char* path : {"/_sim/nope", "/_sim/interactions/5/more", "/_sim/channels/78", "/_sim/stats/x"}) {
    auto m = match_route(Method::get, path);
    ASSERT_EQ(m.verdict, Verdict::found) << path;
    EXPECT_EQ(m.route->id, RouteId::sim_unknown) << path;
  }
}

TEST(SimRouteTable, MalformedIdsAreNeverCapturedAsNumbers) {
  // The route is still the one the path names: it answers an id that names nothing as it
  // answers an unknown one (Unknown Channel 10003...). A prefix of digits is not an id.
  for (const char* bad : {"12ab", "-1", "+1", "1.0", "0x10", "1e3", "@me", "123456789012345678901",
                          "18446744073709551616", "99999999999999999999"}) {
    auto m = match_route(Method::post, std::string("/api/v10/channels/") + bad + "/messages");
    ASSERT_EQ(m.verdict, Verdict::found) << bad;
    EXPECT_EQ(m.route->id, RouteId::channel_message_create) << bad;
    EXPECT_EQ(m.captures.channel, std::nullopt) << bad;

    m = match_route(Method::put, std::string("/api/v10/applications/") + bad + "/guilds/" + bad + "/commands");
    ASSERT_EQ(m.verdict, Verdict::found) << bad;
    EXPECT_EQ(m.captures.app, std::nullopt) << bad;
    EXPECT_EQ(m.captures.guild, std::nullopt) << bad;

    m = match_route(Method::get, std::string("/_sim/interactions/") + bad);
    ASSERT_EQ(m.verdict, Verdict::found) << bad;
    EXPECT_EQ(m.captures.interaction, std::nullopt) << bad;
  }
  for (const char* bad : {"12ab", "@me", "18446744073709551616"}) {
    auto m = match_route(Method::put, std::string("/api/v10/guilds/77/members/") + bad + "/roles/" + bad);
    ASSERT_EQ(m.verdict, Verdict::found) << bad;
    EXPECT_EQ(m.captures.user, std::nullopt) << bad;
    EXPECT_EQ(m.captures.role, std::nullopt) << bad;
    m = match_route(Method::delete_, std::string("/api/v10/channels/78/messages/") + bad);
    EXPECT_EQ(m.captures.message, std::nullopt) << bad;
  }
  auto m = match_route(Method::post, "/api/v10/channels/18446744073709551615/messages");
  EXPECT_EQ(m.captures.channel, std::uint64_t{18446744073709551615u}); // the largest snowflake
}

TEST(SimRouteTable, EmptySegmentsAndATrailingSlashAreIgnored) {
  auto m = match_route(Method::get, "/api/v10/gateway/bot/");
  ASSERT_EQ(m.verdict, Verdict::found);
  EXPECT_EQ(m.route->id, RouteId::gateway_bot);
  m = match_route(Method::post, "/api/v10/channels//78/messages");
  ASSERT_EQ(m.verdict, Verdict::found);
  EXPECT_EQ(m.captures.channel, 78u);
  EXPECT_EQ(split_path("//a/b//c/"), (std::vector<std::string_view>{"a", "b", "c"}));
  EXPECT_TRUE(split_path("/").empty());
}

TEST(SimRouteTable, ATokenIsCapturedAsSent) {
  // Interaction tokens are long and URL-safe; the path is decoded before matching.
  const std::string token(200, 'x');
  auto m = match_route(Method::post, "/api/v10/webhooks/55/" + token);
  ASSERT_EQ(m.verdict, Verdict::found);
  EXPECT_EQ(m.captures.token, token);
}

TEST(SimRouteTable, ParseIdTakesDecimalSnowflakesOnly) {
  EXPECT_EQ(parse_id("0"), 0u);
  EXPECT_EQ(parse_id("175928847299117063"), 175928847299117063u);
  EXPECT_EQ(parse_id("18446744073709551615"), 18446744073709551615u);
  for (const char* bad : {"", " 1", "1 ", "1a", "-5", "+5", "18446744073709551616", "000000000000000000001"})
    EXPECT_EQ(parse_id(bad), std::nullopt) << bad;
}
