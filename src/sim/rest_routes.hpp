#pragma once
// The handlers of Discord's REST routes (/api/v10), one per row of the route table
// (route_table.hpp); http_api.cpp calls them once the table, the authorization and
// refuse_discord_path have let a request through. The bot's own routes are rate limited
// (rest_limiter.hpp); the interaction callback and webhook are not, as on Discord.

#include "sim/http_exchange.hpp"
#include "sim/route_table.hpp"
#include "sim/sim_state.hpp"

#include <optional>

namespace shardline::sim {

// Answered before the method is looked at, as Discord does: a path naming another
// application (403 50001 for its commands, 404 10015 for its webhooks) or an unknown guild
// (404 10004). nullopt: the path is fine.
std::optional<HttpReply> refuse_discord_path(Sim& sim, RouteId route, const RouteCaptures& at);

HttpReply get_gateway(Sim& sim);
HttpReply get_gateway_bot(Sim& sim);
HttpReply get_current_user(Sim& sim);
// /oauth2/applications/@me or /applications/@me (`route`): the same answer, a bucket each.
HttpReply get_current_application(Sim& sim, RouteId route);
// The global commands, or the guild's (`guild`, checked by refuse_discord_path).
HttpReply list_commands(Sim& sim, std::optional<std::uint64_t> guild);
HttpReply overwrite_commands(Sim& sim, const HttpRequest& req, std::optional<std::uint64_t> guild);
HttpReply create_channel_message(Sim& sim, const HttpRequest& req, std::optional<std::uint64_t> channel);
HttpReply answer_interaction(Sim& sim, const HttpRequest& req, const RouteCaptures& at);
// POST /webhooks/{app}/{token} (a follow-up) or PATCH .../messages/@original (`edit_original`).
HttpReply webhook_message(Sim& sim, const HttpRequest& req, std::string_view token, bool edit_original);

} // namespace shardline::sim
