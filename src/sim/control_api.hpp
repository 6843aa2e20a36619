#pragma once
// The /_sim/ control API: what tests and demos ask of the simulator besides Discord's API.
// Reads (stats, the world, sessions, what the bot posted or answered, the REST limits) and acts
// (faults, a member's slash command or message, a guild joined or left, shared-scope 429s, a
// reset of the REST limits). No authorization. One handler
// per row of the route table (route_table.hpp); docs/simulator.md documents each.

#include "sim/http_exchange.hpp"
#include "sim/sim_state.hpp"

#include <cstdint>
#include <optional>

namespace shardline::sim {

HttpReply get_stats(Sim& sim);
HttpReply get_world(Sim& sim, const HttpRequest& req);
HttpReply get_sessions(Sim& sim, const HttpRequest& req);
HttpReply inject_fault(Sim& sim, const HttpRequest& req);
HttpReply inject_interaction(Sim& sim, const HttpRequest& req);
HttpReply get_interaction(Sim& sim, std::optional<std::uint64_t> id);
HttpReply inject_message(Sim& sim, const HttpRequest& req);
HttpReply get_channel_messages(Sim& sim, std::optional<std::uint64_t> channel);
HttpReply change_guilds(Sim& sim, const HttpRequest& req);
// The REST rate-limit model (rest_limiter.hpp): what it is, shared-scope 429s, a fresh start.
HttpReply get_rest_limits(Sim& sim);
HttpReply share_rest_limit(Sim& sim, const HttpRequest& req);
HttpReply reset_rest(Sim& sim);

} // namespace shardline::sim
