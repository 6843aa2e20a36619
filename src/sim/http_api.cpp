#include "sim/http_api.hpp"

#include "sim/control_api.hpp"
#include "sim/rest_routes.hpp"

namespace shardline::sim {

namespace {

HttpReply run_route(Sim& sim, const Route& route, const HttpRequest& req, const RouteCaptures& at) {
  switch (route.id) {
  case RouteId::gateway: return get_gateway(sim);
  case RouteId::gateway_bot: return get_gateway_bot(sim);
  case RouteId::current_user: return get_current_user(sim);
  case RouteId::oauth2_current_application:
  case RouteId::current_application: return get_current_application(sim, route.id);
  case RouteId::interaction_callback: return answer_interaction(sim, req, at);
  case RouteId::webhook_followup: return webhook_message(sim, req, at.token, false);
  case RouteId::webhook_edit_original: return webhook_message(sim, req, at.token, true);
  case RouteId::webhook_unsimulated:
    return error_reply(HttpStatus::method_not_allowed, "405: Method Not Allowed");
  case RouteId::global_commands_list:
  case RouteId::guild_commands_list: return list_commands(sim, at.guild);
  case RouteId::global_commands_overwrite:
  case RouteId::guild_commands_overwrite: return overwrite_commands(sim, req, at.guild);
  case RouteId::channel_message_create: return create_channel_message(sim, req, at.channel);
  case RouteId::api_unknown:
  case RouteId::sim_unknown: return error_reply(HttpStatus::not_found, "404: Not Found");
  case RouteId::sim_faults: return inject_fault(sim, req);
  case RouteId::sim_interaction_create: return inject_interaction(sim, req);
  case RouteId::sim_interaction_get: return get_interaction(sim, at.interaction);
  case RouteId::sim_message_create: return inject_message(sim, req);
  case RouteId::sim_guild_change: return change_guilds(sim, req);
  case RouteId::sim_channel_messages: return get_channel_messages(sim, at.channel);
  case RouteId::sim_stats: return get_stats(sim);
  case RouteId::sim_world: return get_world(sim, req);
  case RouteId::sim_sessions: return get_sessions(sim, req);
  }
  return error_reply(HttpStatus::internal_server_error, "500: Internal Server Error");
}

} // namespace

HttpReply answer_http(Sim& sim, const HttpRequest& req) {
  const auto match = match_route(req.method, req.path);
  if (match.verdict == RouteMatch::Verdict::not_found) return error_reply(HttpStatus::not_found, "404: Not Found");
  const Route& route = *match.route;
  if (route.auth == Auth::bot && req.authorization != "Bot " + sim.opt.token) {
    ++sim.violations["rest_unauthorized"];
    return error_reply(HttpStatus::unauthorized, "401: Unauthorized");
  }
  if (auto refusal = refuse_discord_path(sim, route.id, match.captures)) return std::move(*refusal);
  if (match.verdict == RouteMatch::Verdict::method_not_allowed)
    return error_reply(HttpStatus::method_not_allowed, "405: Method Not Allowed");
  return run_route(sim, route, req, match.captures);
}

} // namespace shardline::sim
