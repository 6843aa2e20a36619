#pragma once
// The handlers of Discord's REST routes (/api/v10), one per row of the route table
// (route_table.hpp); http_api.cpp calls them once the table, the authorization,
// refuse_discord_path, refuse_unknown_resource and the rate limits (rest_limiter.hpp, applied
// by http_api.cpp to the bot's own routes; not to the interaction callback and webhook, as on
// Discord) have let a request through. Guild moderation routes: rest_guild_routes.cpp.

#include "sim/http_exchange.hpp"
#include "sim/route_table.hpp"
#include "sim/sim_state.hpp"

#include <optional>

namespace shardline::sim {

// Answered before the method is looked at, as Discord does: a path naming another
// application (403 50001 for its commands, 404 10015 for its webhooks) or an unknown guild
// (404 10004). nullopt: the path is fine.
std::optional<HttpReply> refuse_discord_path(Sim& sim, RouteId route, const RouteCaptures& at);

// Answered after the method, before the rate limits: a path naming a channel, guild, message,
// user or role that does not exist (404 10003, 10004, 10008, 10013, 10011). nullopt: the
// handler may assume every id its route captures is there.
std::optional<HttpReply> refuse_unknown_resource(Sim& sim, RouteId route, const RouteCaptures& at);

// 204, no body.
HttpReply no_content_reply();

HttpReply get_gateway(Sim& sim);
HttpReply get_gateway_bot(Sim& sim);
HttpReply get_current_user(Sim& sim);
// /oauth2/applications/@me or /applications/@me: the same answer, a bucket each.
HttpReply get_current_application(Sim& sim);
// The global commands, or the guild's (`guild`, checked by refuse_discord_path).
HttpReply list_commands(Sim& sim, std::optional<std::uint64_t> guild);
HttpReply overwrite_commands(Sim& sim, const HttpRequest& req, std::optional<std::uint64_t> guild);
HttpReply create_channel_message(Sim& sim, const HttpRequest& req, std::uint64_t channel);
// PATCH /channels/{channel}/messages/{message}: any message id is taken as the bot's own.
HttpReply edit_channel_message(Sim& sim, const HttpRequest& req, std::uint64_t channel, std::uint64_t message);
// PUT or DELETE .../reactions/{emoji}/@me: 204 for any emoji of sensible length.
HttpReply add_or_remove_reaction(std::string_view emoji);
HttpReply answer_interaction(Sim& sim, const HttpRequest& req, const RouteCaptures& at);
// POST /webhooks/{app}/{token} (a follow-up) or PATCH .../messages/@original (`edit_original`).
HttpReply webhook_message(Sim& sim, const HttpRequest& req, std::string_view token, bool edit_original);

// Guild moderation (rest_guild_routes.cpp): members, their roles, bans, roles. The guild, user
// and role ids were checked by refuse_unknown_resource.
HttpReply get_member(Sim& sim, std::uint64_t guild, std::uint64_t user);
HttpReply edit_member(Sim& sim, const HttpRequest& req, std::uint64_t guild, std::uint64_t user);
HttpReply list_bans(Sim& sim, std::uint64_t guild);
// PUT /guilds/{guild}/bans/{user}: 403 50013 for the application's owner (the bot cannot ban
// someone above it), the deterministic 403 tests provoke.
HttpReply ban_member(Sim& sim, const HttpRequest& req, std::uint64_t guild, std::uint64_t user);
HttpReply unban_member(Sim& sim, std::uint64_t guild, std::uint64_t user);
HttpReply create_role(Sim& sim, const HttpRequest& req);
HttpReply edit_role(Sim& sim, const HttpRequest& req, std::uint64_t role);

} // namespace shardline::sim
