#include "sim/http_api.hpp"

#include "sim/control_api.hpp"
#include "sim/rest_routes.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace shardline::sim {

namespace json = boost::json;

namespace {

// The ids refuse_unknown_resource has checked: present from here on.
std::uint64_t id(const std::optional<std::uint64_t>& v) { return v.value_or(0); }

HttpReply run_route(Sim& sim, const Route& route, const HttpRequest& req, const RouteCaptures& at) {
  switch (route.id) {
  case RouteId::gateway: return get_gateway(sim);
  case RouteId::gateway_bot: return get_gateway_bot(sim);
  case RouteId::current_user: return get_current_user(sim);
  case RouteId::oauth2_current_application:
  case RouteId::current_application: return get_current_application(sim);
  case RouteId::interaction_callback: return answer_interaction(sim, req, at);
  case RouteId::webhook_followup: return webhook_message(sim, req, at.token, false);
  case RouteId::webhook_edit_original: return webhook_message(sim, req, at.token, true);
  case RouteId::webhook_unsimulated:
    return error_reply(HttpStatus::method_not_allowed, "405: Method Not Allowed");
  case RouteId::global_commands_list:
  case RouteId::guild_commands_list: return list_commands(sim, at.guild);
  case RouteId::global_commands_overwrite:
  case RouteId::guild_commands_overwrite: return overwrite_commands(sim, req, at.guild);
  case RouteId::channel_message_create: return create_channel_message(sim, req, id(at.channel));
  case RouteId::channel_message_edit: return edit_channel_message(sim, req, id(at.channel), id(at.message));
  case RouteId::reaction_add:
  case RouteId::reaction_remove: return add_or_remove_reaction(at.emoji);
  case RouteId::guild_member_get: return get_member(sim, id(at.guild), id(at.user));
  case RouteId::guild_member_edit: return edit_member(sim, req, id(at.guild), id(at.user));
  case RouteId::bans_list: return list_bans(sim, id(at.guild));
  case RouteId::ban_create: return ban_member(sim, req, id(at.guild), id(at.user));
  case RouteId::ban_remove: return unban_member(sim, id(at.guild), id(at.user));
  case RouteId::role_create: return create_role(sim, req);
  case RouteId::role_edit: return edit_role(sim, req, id(at.role));
  case RouteId::channel_message_delete:
  case RouteId::member_role_add:
  case RouteId::member_role_remove:
  case RouteId::role_delete: return no_content_reply();
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
  case RouteId::sim_rest_limits: return get_rest_limits(sim);
  case RouteId::sim_rest_shared_limit: return share_rest_limit(sim, req);
  case RouteId::sim_rest_reset: return reset_rest(sim);
  }
  return error_reply(HttpStatus::internal_server_error, "500: Internal Server Error");
}

// Retry-After: whole seconds, rounded up (a client may read only this header).
std::string retry_after_header(std::uint64_t ms) { return std::to_string((ms + 999) / 1000); }

void add_bucket_headers(HttpReply& res, const RestVerdict& v) {
  res.headers.emplace_back("X-RateLimit-Limit", std::to_string(v.limit));
  res.headers.emplace_back("X-RateLimit-Remaining", std::to_string(v.remaining));
  res.headers.emplace_back("X-RateLimit-Reset", seconds_text(wall_now_ms() + v.reset_after_ms));
  res.headers.emplace_back("X-RateLimit-Reset-After", seconds_text(v.reset_after_ms));
  res.headers.emplace_back("X-RateLimit-Bucket", v.group->hash);
}

// A refusal of the limiter: Discord's 429. A bucket's (user, shared) carries the bucket's
// headers; the global one only says it is global, as Discord's does.
HttpReply too_many_requests(Sim& sim, const RestVerdict& v, const Route& route) {
  const bool global = v.refused == RestScope::global;
  if (v.refused != RestScope::shared) {
    const char* kind = global ? "rest_rate_limit_global" : "rest_rate_limit_route";
    ++sim.violations[kind];
    spdlog::warn("violation {}: {} ({}) refused (429, retry after {} s)", kind, route_text(route), v.group->name,
                 seconds_text(v.retry_after_ms));
  }
  json::object o{{"message", "You are being rate limited."},
                 {"retry_after", static_cast<double>(v.retry_after_ms) / 1000.0},
                 {"global", global}};
  auto res = json_reply(HttpStatus::too_many_requests, json::serialize(o));
  if (!global) add_bucket_headers(res, v);
  res.headers.emplace_back("Retry-After", retry_after_header(v.retry_after_ms));
  res.headers.emplace_back("X-RateLimit-Scope", to_string(v.refused));
  if (global) res.headers.emplace_back("X-RateLimit-Global", "true");
  return res;
}

// Cloudflare's answer to a banned bot: a 429 without any rate-limit header, on every route.
HttpReply banned_reply(millis left) {
  auto res = error_reply(HttpStatus::too_many_requests,
                         "You are being blocked from accessing our API temporarily due to exceeding our rate limits "
                         "frequently. Please read our docs at https://discord.com/developers/docs/topics/rate-limits "
                         "to prevent this moving forward.",
                         0);
  res.headers.emplace_back("Retry-After", retry_after_header(static_cast<std::uint64_t>(left.count())));
  return res;
}

// A request the route table found: authorization, path checks, 405, then the route. Discord's
// limited routes go through the limiter; `scope` says whether it refused the request.
HttpReply answer_route(Sim& sim, const RouteMatch& match, const HttpRequest& req, RestScope& scope) {
  const Route& route = *match.route;
  if (route.auth == Auth::bot && req.authorization != "Bot " + sim.opt.token) {
    ++sim.violations["rest_unauthorized"];
    return error_reply(HttpStatus::unauthorized, "401: Unauthorized");
  }
  if (auto refusal = refuse_discord_path(sim, route.id, match.captures)) return std::move(*refusal);
  if (match.verdict == RouteMatch::Verdict::method_not_allowed)
    return error_reply(HttpStatus::method_not_allowed, "405: Method Not Allowed");
  if (auto missing = refuse_unknown_resource(sim, route.id, match.captures)) return std::move(*missing);
  auto& limiter = sim.rest_limiter;
  auto group = limiter.model().group_of(route.id);
  if (!group) return run_route(sim, route, req, match.captures);
  auto v = limiter.check(*group, major_of(limiter.model().group(*group).major, match.captures));
  scope = v.refused;
  if (!v.allowed()) return too_many_requests(sim, v, route);
  auto res = run_route(sim, route, req, match.captures);
  add_bucket_headers(res, v);
  return res;
}

} // namespace

HttpReply answer_http(Sim& sim, const HttpRequest& req) {
  const auto match = match_route(req.method, req.path);
  if (match.verdict == RouteMatch::Verdict::not_found) return error_reply(HttpStatus::not_found, "404: Not Found");
  RestScope scope = RestScope::none;
  if (!is_discord_route(*match.route)) return answer_route(sim, match, req, scope);

  // Discord's API: every answer counts (rest_limiter.hpp), and a banned bot gets nothing else.
  auto& limiter = sim.rest_limiter;
  HttpReply res;
  if (auto left = limiter.ban_left()) {
    scope = RestScope::banned;
    res = banned_reply(*left);
  } else {
    res = answer_route(sim, match, req, scope);
  }
  if (limiter.answered(static_cast<unsigned>(res.status), scope)) {
    ++sim.violations["rest_banned"];
    spdlog::warn("violation rest_banned: {} invalid requests (401, 403, 429) within {} ms; every REST request is "
                 "refused for {} ms (the last: {} answered {})",
                 limiter.model().invalid_limit(), limiter.model().invalid_window().count(),
                 limiter.model().ban().count(), route_text(*match.route), static_cast<unsigned>(res.status));
  }
  return res;
}

} // namespace shardline::sim
