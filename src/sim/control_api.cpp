#include "sim/control_api.hpp"

#include "core/text.hpp"
#include "sim/control_requests.hpp"
#include "sim/gateway_conn.hpp"
#include "sim/gateway_protocol.hpp"
#include "sim/world_events.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <string>
#include <vector>

namespace shardline::sim {

namespace json = boost::json;

namespace {

// The command an interaction invokes: the guild's own first, then a global one.
const json::object* find_command(Sim& sim, std::uint64_t guild_id, std::string_view name) {
  for (auto scope : {std::to_string(guild_id), std::string("global")}) {
    auto it = sim.commands.find(scope);
    if (it == sim.commands.end()) continue;
    for (auto& c : it->second)
      if (as_view(c.at("name").as_string()) == name && c.at("type") == json::value(1)) return &c.as_object();
  }
  return nullptr;
}

// The REST limiter's counters: what a test compares between a coordinated and an uncoordinated
// run (docs/simulator.md).
json::object rest_stats_json(Sim& sim) {
  auto& limiter = sim.rest_limiter;
  const auto& c = limiter.counters();
  json::object by_group;
  for (std::size_t i = 0; i < c.by_group.size(); ++i)
    by_group[limiter.model().group(i).name] =
        json::object{{"requests", c.by_group[i].requests}, {"429", c.by_group[i].refused}};
  return json::object{
      {"requests", c.requests},
      {"ok", c.ok},
      {"rate_limited", json::object{{"user", c.user}, {"global", c.global}, {"shared", c.shared}, {"banned", c.banned}}},
      {"invalid", json::object{{"window", limiter.invalid_in_window()}, {"total", c.invalid_total}}},
      {"banned", limiter.ban_left().has_value()},
      {"bucket_states", limiter.bucket_states()},
      {"by_group", std::move(by_group)}};
}

std::string stats_json(Sim& sim) {
  json::object identifies{{"total", sim.identify.accepted_total()}};
  json::array per_bucket;
  for (auto n : sim.identify.accepted_per_bucket()) per_bucket.push_back(n);
  identifies["per_bucket"] = std::move(per_bucket);

  json::object per_shard_live;
  for (auto& [shard, n] : sim.sessions.live_per_shard()) per_shard_live[std::to_string(shard)] = n;
  json::object sessions{{"live", sim.sessions.live()}, {"known", sim.sessions.size()}};
  sessions["per_shard"] = std::move(per_shard_live);

  json::object violations;
  std::uint64_t violations_total = 0;
  for (auto& [kind, n] : sim.violations) {
    violations[kind] = n;
    violations_total += n;
  }
  for (auto& [kind, n] : sim.identify.violations()) {
    violations[kind] = n;
    violations_total += n;
  }

  json::object events_per_shard, replayed_per_shard;
  std::uint64_t events_total = 0;
  for (auto& [shard, c] : sim.sessions.shard_counters()) {
    events_per_shard[std::to_string(shard)] = c.events_sent;
    replayed_per_shard[std::to_string(shard)] = c.events_replayed;
    events_total += c.events_sent;
  }
  json::object events{{"total", events_total}};
  events["per_shard"] = std::move(events_per_shard);
  events["replayed_per_shard"] = std::move(replayed_per_shard);

  auto rest = rest_stats_json(sim);
  auto global_it = sim.commands.find("global");
  const std::size_t global_commands = global_it == sim.commands.end() ? 0 : global_it->second.size();

  json::object o{{"identifies", std::move(identifies)},
                 {"resumes", sim.sessions.resumes_total()},
                 {"resumes_refused", sim.resumes_refused},
                 {"sessions", std::move(sessions)},
                 {"violations", std::move(violations)},
                 {"violations_total", violations_total},
                 {"events_sent", std::move(events)},
                 {"session_budget_left", sim.identify.session_start_limit().remaining},
                 {"connections", json::object{{"live", sim.conns.size()}, {"total", sim.connections_total}}},
                 {"events_generated", sim.events.generated()},
                 {"faults_applied", sim.faults_applied},
                 {"application_commands", json::object{{"puts", sim.command_puts}, {"global", global_commands}}},
                 {"guilds", sim.world.guilds().size()},
                 {"recommended_shards", sim.recommended_shards()},
                 {"rest", std::move(rest)}};
  return json::serialize(o);
}

// GET /_sim/world?shards=N: the world as a bot with N shards sees it once every GUILD_CREATE has
// arrived (guilds still in their start-up outage included: they are the bot's), with the
// member_count GUILD_CREATE carries. A test compares what a cluster reports against it, and
// picks a guild of a given shard from `guild_ids` (the first few of each shard).
std::string world_json(Sim& sim, std::uint32_t num_shards) {
  constexpr std::size_t kIdsPerShard = 5;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> per(num_shards); // guilds, members
  std::vector<json::array> ids(num_shards);
  std::uint64_t members = 0;
  for (auto& g : sim.world.guilds()) {
    auto shard = World::shard_of(g.id, num_shards);
    auto& [n, m] = per[shard];
    ++n;
    m += g.member_count;
    members += g.member_count;
    if (ids[shard].size() < kIdsPerShard) ids[shard].push_back(json::value(std::to_string(g.id)));
  }
  json::object per_shard;
  for (std::uint32_t i = 0; i < num_shards; ++i)
    per_shard[std::to_string(i)] =
        json::object{{"guilds", per[i].first}, {"members", per[i].second}, {"guild_ids", std::move(ids[i])}};
  json::object o{{"guilds", sim.world.guilds().size()}, {"members", members}};
  o["per_shard"] = std::move(per_shard);
  return json::serialize(o);
}

// GET /_sim/sessions?shard=N: every known session of a shard with its delivery record, so a
// test can prove a client received every event across reconnects.
std::string sessions_json(Sim& sim, std::uint32_t shard) {
  json::array out;
  for (auto* s : sim.sessions.sessions_of_shard(shard)) {
    json::array delivered, missing;
    for (auto& [a, b] : s->delivered().ranges()) delivered.push_back(json::array{a, b});
    for (auto& [a, b] : s->undelivered()) missing.push_back(json::array{a, b});
    json::object o{{"session_id", s->id()},     {"shard", json::array{s->shard_id(), s->num_shards()}},
                   {"last_seq", s->last_seq()}, {"attached", s->attached},
                   {"invalidated", s->invalidated}, {"resumes", s->resumes},
                   {"longest_detached_ms", std::chrono::duration_cast<millis>(s->longest_detached).count()}};
    o["delivered"] = std::move(delivered);
    o["undelivered"] = std::move(missing);
    out.push_back(std::move(o));
  }
  return json::serialize(json::object{{"sessions", std::move(out)}});
}

} // namespace

HttpReply get_stats(Sim& sim) { return json_reply(HttpStatus::ok, stats_json(sim)); }

HttpReply get_world(Sim& sim, const HttpRequest& req) {
  auto shards = parse_world_shards(req.query);
  if (!shards) return error_reply(HttpStatus::bad_request, shards.error().message);
  return json_reply(HttpStatus::ok, world_json(sim, *shards));
}

HttpReply get_sessions(Sim& sim, const HttpRequest& req) {
  auto shard = parse_sessions_shard(req.query);
  // {message} alone, without Discord's `code`: as this route has always answered.
  if (!shard)
    return json_reply(HttpStatus::bad_request, json::serialize(json::object{{"message", shard.error().message}}));
  return json_reply(HttpStatus::ok, sessions_json(sim, *shard));
}

// POST /_sim/faults {shard, kind, code?, resumable?}: does something unkind to every
// connection holding a session of shard `shard` (whatever its shard count), so tests can
// watch a client recover. Returns {applied: connections}.
HttpReply inject_fault(Sim& sim, const HttpRequest& req) {
  auto fault = parse_fault_request(req.body);
  if (!fault) return error_reply(HttpStatus::bad_request, fault.error().message);

  std::vector<ConnPtr> targets;
  for (auto& c : sim.conns) {
    if (c->closing || c->session_id.empty()) continue;
    auto* s = sim.sessions.find(c->session_id);
    if (s && s->shard_id() == fault->shard) targets.push_back(c);
  }
  for (auto& c : targets) {
    auto* s = sim.sessions.find(c->session_id);
    switch (fault->kind) {
    case FaultKind::close: request_close(*c, fault->code, "Fault injected."); break;
    case FaultKind::reconnect: enqueue(*c, {make_frame(reconnect_frame())}); break;
    case FaultKind::invalid_session:
      enqueue(*c, {make_frame(invalid_session_frame(fault->resumable))});
      if (!fault->resumable) { // the session is over; the connection may IDENTIFY again
        sim.conn_of.erase(c->session_id);
        sim.sessions.detach(*s, true);
        c->session_id.clear();
      }
      break;
    case FaultKind::reset: reset_socket(*c); break;
    case FaultKind::stop_acks: c->no_acks = true; break;
    case FaultKind::stall: c->stalled = true; break;
    case FaultKind::heartbeat: request_heartbeat(*c, s->last_seq()); break;
    }
  }
  sim.faults_applied += targets.size();
  spdlog::warn("fault {} on shard {}: {} connection(s)", to_string(fault->kind), fault->shard, targets.size());
  return json_reply(HttpStatus::ok, json::serialize(json::object{{"applied", targets.size()}}));
}

// POST /_sim/interactions {name, options?, user_id?, guild_id, channel_id?}: a member invokes
// a registered slash command; INTERACTION_CREATE goes to the guild's shard.
HttpReply inject_interaction(Sim& sim, const HttpRequest& req) {
  auto body = parse_json_body(req.body);
  if (!body || !body->is_object()) return error_reply(HttpStatus::bad_request, "body must be a JSON object");
  auto& o = body->get_object();
  auto guild_id = id_field(o, "guild_id");
  auto* name = o.if_contains("name");
  if (!guild_id || !sim.world.find(*guild_id)) return error_reply(HttpStatus::bad_request, "guild_id: a guild of the world");
  if (!name || !name->is_string()) return error_reply(HttpStatus::bad_request, "name: a string");
  auto* cmd = find_command(sim, *guild_id, as_view(name->get_string()));
  if (!cmd)
    return error_reply(HttpStatus::bad_request,
                       "name: no slash command of that name is registered (globally or for the guild)");
  InteractionSpec spec;
  spec.name = std::string(name->get_string());
  if (auto* opts = o.if_contains("options")) {
    if (!opts->is_array()) return error_reply(HttpStatus::bad_request, "options: an array");
    spec.options_json = json::serialize(*opts);
  }
  spec.guild_id = *guild_id;
  spec.channel_id = id_field(o, "channel_id").value_or(*guild_id + 1);
  spec.user_id = id_field(o, "user_id").value_or(World::snowflake(World::unix_ms_of(*guild_id) + 1000, 0, 3, 1));
  auto command_id = parse_id(as_view(cmd->at("id").as_string())).value_or(0);
  auto& in = sim.interactions.create(sim.new_id(), std::move(spec));
  auto n = dispatch_to_guild(sim, *guild_id, "INTERACTION_CREATE", interaction_create_data(sim.world, in, command_id), 0);
  spdlog::info("interaction {} (/{}) injected for guild {}: {} session(s)", in.id, in.spec.name, *guild_id, n);
  json::object out{{"id", std::to_string(in.id)}, {"token", in.token}, {"sessions", n}};
  return json_reply(HttpStatus::ok, json::serialize(out));
}

HttpReply get_interaction(Sim& sim, std::optional<std::uint64_t> id) {
  auto* in = id ? sim.interactions.find(*id) : nullptr;
  if (!in) return error_reply(HttpStatus::not_found, "unknown interaction");
  auto parse_all = [](const std::vector<std::string>& v) {
    json::array a;
    for (auto& s : v) a.push_back(json::parse(s));
    return a;
  };
  json::object out{{"id", std::to_string(in->id)},
                   {"name", in->spec.name},
                   {"guild_id", std::to_string(in->spec.guild_id)},
                   {"channel_id", std::to_string(in->spec.channel_id)},
                   {"user_id", std::to_string(in->spec.user_id)},
                   {"callback", in->callback_type ? json::parse(in->callback_json) : json::value(nullptr)},
                   {"edits", parse_all(in->edits)},
                   {"followups", parse_all(in->followups)}};
  return json_reply(HttpStatus::ok, json::serialize(out));
}

// POST /_sim/messages {guild_id, content, channel_id?, user_id?, username?}: a member posts a
// message. As on Discord, a session that did not IDENTIFY with MESSAGE_CONTENT (1 << 15) gets
// it with `content`, `embeds`, `attachments` and `components` empty, unless it mentions the
// bot (`<@id>` or the older `<@!id>`; the bot is then in `mentions` too). Guild messages only:
// the other exceptions (DMs, the bot's own messages) do not arise here.
HttpReply inject_message(Sim& sim, const HttpRequest& req) {
  auto body = parse_json_body(req.body);
  if (!body || !body->is_object()) return error_reply(HttpStatus::bad_request, "body must be a JSON object");
  auto& o = body->get_object();
  auto guild_id = id_field(o, "guild_id");
  if (!guild_id || !sim.world.find(*guild_id)) return error_reply(HttpStatus::bad_request, "guild_id: a guild of the world");
  auto* content = o.if_contains("content");
  if (!content || !content->is_string() || content->get_string().size() > 8000)
    return error_reply(HttpStatus::bad_request, "content: a string");
  std::optional<std::string> username;
  if (auto* u = o.if_contains("username")) {
    // Discord's usernames: 2-32 characters (counted as UTF-8 lead bytes).
    const std::size_t chars = u->is_string() ? utf8_length(as_view(u->get_string())) : 0;
    if (!u->is_string() || chars < 2 || chars > 32 || u->get_string().size() > 128)
      return error_reply(HttpStatus::bad_request, "username: a string of 2-32 characters");
    username = std::string(u->get_string());
  }
  auto channel = id_field(o, "channel_id").value_or(*guild_id + 1);
  auto user = id_field(o, "user_id").value_or(World::snowflake(World::unix_ms_of(*guild_id) + 1000, 0, 3, 1));
  auto id = sim.new_id();
  const auto text = as_view(content->get_string());
  const auto bot = std::to_string(sim.world.bot_user_id());
  const bool mentions_bot = text.find("<@" + bot + ">") != std::string_view::npos ||
                            text.find("<@!" + bot + ">") != std::string_view::npos;

  auto d = json::parse(user_message_data(id, World::unix_ms_of(id), *guild_id, channel, user, text)).as_object();
  if (username) d["author"].as_object()["username"] = *username;
  if (mentions_bot) d["mentions"] = json::array{json::parse(bot_user_json(sim.world))};
  const std::string full = json::serialize(d);
  d["content"] = "";
  d["embeds"] = json::array{};
  d["attachments"] = json::array{};
  d["components"] = json::array{};
  const std::string blanked = json::serialize(d);

  std::size_t n = 0, without_content = 0;
  for (auto* s : sim.sessions.active()) {
    if (World::shard_of(*guild_id, s->num_shards()) != s->shard_id() || !(s->intents & intent::guild_messages))
      continue;
    const bool sees_content = (s->intents & intent::message_content) || mentions_bot;
    dispatch(sim, *s, "MESSAGE_CREATE", sees_content ? full : blanked);
    ++n;
    without_content += !sees_content;
  }
  json::object out{{"id", std::to_string(id)}, {"sessions", n}, {"sessions_without_content", without_content}};
  return json_reply(HttpStatus::ok, json::serialize(out));
}

HttpReply get_channel_messages(Sim& sim, std::optional<std::uint64_t> channel) {
  json::array out;
  if (channel)
    if (auto it = sim.channel_messages.find(*channel); it != sim.channel_messages.end())
      for (auto& m : it->second) out.push_back(json::parse(m));
  return json_reply(HttpStatus::ok, json::serialize(json::object{{"messages", std::move(out)}}));
}

// POST /_sim/guilds {"action": "join"} or {"action": "leave", "guild_id": id}: the bot joins a
// new guild or leaves one now, as the event stream does now and then.
HttpReply change_guilds(Sim& sim, const HttpRequest& req) {
  auto body = parse_json_body(req.body);
  if (!body || !body->is_object()) return error_reply(HttpStatus::bad_request, "body must be a JSON object");
  auto& o = body->get_object();
  auto* action = o.if_contains("action");
  if (action && action->is_string() && action->get_string() == "join") {
    auto id = join_guild(sim, wall_now_ms());
    return json_reply(HttpStatus::ok, json::serialize(json::object{{"guild_id", std::to_string(id)}}));
  }
  if (action && action->is_string() && action->get_string() == "leave") {
    auto id = id_field(o, "guild_id");
    if (!id || !leave_guild(sim, *id))
      return error_reply(HttpStatus::bad_request,
                         "guild_id: a guild of the world, not in an outage, and not the last one");
    return json_reply(HttpStatus::ok, json::serialize(json::object{{"guild_id", std::to_string(*id)}}));
  }
  return error_reply(HttpStatus::bad_request, "action: join or leave");
}

// GET /_sim/rest/limits: the model the limiter enforces, so a test can compute what a mix of
// requests may physically achieve.
HttpReply get_rest_limits(Sim& sim) {
  const auto& model = sim.rest_limiter.model();
  json::array groups, exempt_routes;
  for (std::size_t i = 0; i < model.groups().size(); ++i) {
    const auto& g = model.group(i);
    json::array routes;
    for (const auto& row : route_table())
      if (model.group_of(row.id) == i) routes.push_back(json::value(route_text(row)));
    groups.push_back(json::object{{"name", g.name},
                                  {"hash", g.hash},
                                  {"limit", g.limit},
                                  {"window_ms", g.window.count()},
                                  {"major", g.major == Major::none ? json::value(nullptr) : json::value(to_string(g.major))},
                                  {"routes", std::move(routes)}});
  }
  for (const auto& row : route_table())
    if (is_global_exempt(row.id)) exempt_routes.push_back(json::value(route_text(row)));
  json::object o{{"global_per_sec", model.global_per_sec()},
                 {"global_exempt", json::array{"interaction_callback", "webhook"}},
                 {"global_exempt_routes", std::move(exempt_routes)},
                 {"invalid_limit", model.invalid_limit()},
                 {"invalid_window_ms", model.invalid_window().count()},
                 {"ban_ms", model.ban().count()},
                 {"forbidden_ban_user", std::to_string(sim.world.owner_id())},
                 {"max_bucket_states", model.max_bucket_states()},
                 {"groups", std::move(groups)}};
  return json_reply(HttpStatus::ok, json::serialize(o));
}

// POST /_sim/rest/shared-limit {route, count, retry_after_ms}: the next `count` requests to the
// route's group answer 429 with scope shared (not the bot's fault: not an invalid request).
HttpReply share_rest_limit(Sim& sim, const HttpRequest& req) {
  auto parsed = parse_shared_limit_request(req.body);
  if (!parsed) return error_reply(HttpStatus::bad_request, parsed.error().message);
  auto group = sim.rest_limiter.model().find(parsed->route);
  if (!group)
    return error_reply(HttpStatus::bad_request,
                       "route: a REST group's name or one of its routes, as GET /_sim/rest/limits lists them");
  sim.rest_limiter.share_limit(*group, parsed->count, millis(parsed->retry_after_ms));
  const auto& name = sim.rest_limiter.model().group(*group).name;
  spdlog::info("REST group {}: the next {} request(s) answer 429 (scope shared, retry after {} ms)", name,
               parsed->count, parsed->retry_after_ms);
  json::object out{{"group", name}, {"count", parsed->count}, {"retry_after_ms", parsed->retry_after_ms}};
  return json_reply(HttpStatus::ok, json::serialize(out));
}

// POST /_sim/rest/reset: a fresh REST state (buckets, global window, shared 429s, invalid
// requests, ban, counters), for a test that runs two phases against one simulator.
HttpReply reset_rest(Sim& sim) {
  sim.rest_limiter.reset();
  spdlog::info("REST limits reset");
  return json_reply(HttpStatus::ok, json::serialize(json::object{{"reset", true}}));
}

} // namespace shardline::sim
