// The simulator's server: one loopback port, one io_context, one thread. Each accepted
// connection reads an HTTP request; a websocket upgrade becomes a gateway connection
// (gateway_conn.cpp), anything else is answered by the REST or /_sim/ handlers below. Beast is
// confined to this file and gateway_conn.cpp: it is slow to compile, and the rules it enforces
// are in the pure library (world, limiters, sessions, gateway_protocol) where unit tests reach
// them.

#include "sim/sim_server.hpp"

#include "core/port_file.hpp"
#include "net/spawn_owned.hpp"
#include "sim/gateway_conn.hpp"
#include "sim/gateway_protocol.hpp"
#include "sim/gateway_upgrade.hpp"
#include "sim/sim_state.hpp"
#include "sim/world_events.hpp"

#include <utility>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <unordered_map>
#include <unordered_set>

namespace shardline::sim {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
constexpr std::size_t kMaxBodyBytes = 64 * 1024;
// Gateway and HTTP connections at once; beyond, new ones are closed at accept.
constexpr std::size_t kMaxConnections = 4096;
constexpr auto kCloseGrace = std::chrono::seconds(2); // after our close frame, then the socket goes

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// Beast's and Boost.JSON's strings are Boost's own; the pure code takes std::string_view.
std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }
std::string_view jsv(const json::string& s) { return {s.data(), s.size()}; }

// ---- REST -----------------------------------------------------------------------------------

Response json_response(const Request& req, http::status status, std::string body) {
  Response res{status, req.version()};
  res.set(http::field::server, "shardline-sim");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response error_response(const Request& req, http::status status, std::string_view message, int code = 0) {
  json::object o{{"message", message}, {"code", code}};
  return json_response(req, status, json::serialize(o));
}

std::string gateway_bot_json(Sim& sim) {
  auto ssl = sim.identify.session_start_limit();
  json::object o{{"url", sim.ws_url},
                 {"shards", sim.recommended_shards()},
                 {"session_start_limit", json::object{{"total", ssl.total},
                                                      {"remaining", ssl.remaining},
                                                      {"reset_after", ssl.reset_after_ms},
                                                      {"max_concurrency", ssl.max_concurrency}}}};
  return json::serialize(o);
}

// The team that owns the application with --team-members; null without. Its id is a
// snowflake from the world's seed, older than the application and younger than its owner.
json::value team_json(Sim& sim, std::uint64_t team_id) {
  auto& members = sim.opt.team_members;
  if (members.empty()) return nullptr;
  json::array out;
  for (auto id : members)
    out.push_back(json::object{{"membership_state", 2}, // ACCEPTED
                               {"permissions", json::array{"*"}}, // deprecated, still sent
                               {"team_id", std::to_string(team_id)},
                               {"user", json::object{{"id", std::to_string(id)},
                                                     {"username", "user" + std::to_string(id % 100000)},
                                                     {"discriminator", "0"},
                                                     {"global_name", nullptr},
                                                     {"avatar", nullptr},
                                                     {"public_flags", 0}}},
                               {"role", "admin"}});
  return json::object{{"id", std::to_string(team_id)},
                      {"name", "Shardline Sim Team"},
                      {"icon", nullptr},
                      {"owner_user_id", std::to_string(members.front())},
                      {"members", std::move(out)}};
}

std::string application_json(Sim& sim) {
  auto& w = sim.world;
  json::object owner{{"id", std::to_string(w.owner_id())}, {"username", "sim-owner"}, {"discriminator", "0"},
                     {"global_name", "Sim Owner"},         {"avatar", nullptr},       {"public_flags", 0},
                     {"flags", 0}};
  const auto team_id = World::snowflake(World::unix_ms_of(w.owner_id()) + 86'400'000ULL, 0, 4, 0);
  auto team = team_json(sim, team_id);
  // A team-owned application's `owner` is the team's pseudo-user, as on Discord: the team's id,
  // username "team<id>", and the TEAM_PSEUDO_USER flag (1 << 10). Libraries tell the two cases
  // apart by `team`, and take the owners from its members.
  if (!team.is_null()) {
    constexpr int kTeamPseudoUser = 1 << 10;
    owner = json::object{{"id", std::to_string(team_id)},
                         {"username", "team" + std::to_string(team_id)},
                         {"discriminator", "0000"},
                         {"global_name", nullptr},
                         {"avatar", nullptr},
                         {"public_flags", kTeamPseudoUser},
                         {"flags", kTeamPseudoUser}};
  }
  json::object o{{"id", std::to_string(w.application_id())},
                 {"name", w.bot_name()},
                 {"icon", nullptr},
                 {"description", "A bot inside the Shardline simulator"},
                 {"bot_public", true},
                 {"bot_require_code_grant", false},
                 {"verify_key", "0000000000000000000000000000000000000000000000000000000000000000"},
                 {"flags", 0},
                 {"team", std::move(team)},
                 {"approximate_guild_count", w.guilds().size()},
                 {"owner", std::move(owner)},
                 {"bot", json::parse(bot_user_json(w))}};
  return json::serialize(o);
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
                 {"recommended_shards", sim.recommended_shards()}};
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

// POST /_sim/faults {shard, kind, code?, resumable?}: does something unkind to every
// connection holding a session of shard `shard` (whatever its shard count), so tests can
// watch a client recover. Returns {applied: connections}.
Response faults(Sim& sim, const Request& req) {
  json::parse_options po;
  po.max_depth = 8;
  boost::system::error_code ec;
  auto body = json::parse(req.body(), ec, {}, po);
  auto bad = [&](std::string_view why) { return error_response(req, http::status::bad_request, why); };
  if (ec || !body.is_object()) return bad("body must be a JSON object");
  auto& o = body.as_object();
  auto* shard = o.if_contains("shard");
  auto* kind_v = o.if_contains("kind");
  if (!shard || !shard->is_int64() || shard->as_int64() < 0) return bad("shard: a non-negative integer");
  if (!kind_v || !kind_v->is_string()) return bad("kind: a string");
  std::string kind(kind_v->as_string());
  static const std::unordered_set<std::string> kinds{"close", "reconnect", "invalid_session", "reset",
                                                     "stop_acks", "stall", "heartbeat"};
  if (!kinds.count(kind))
    return bad("kind: one of close, reconnect, invalid_session, reset, stop_acks, stall, heartbeat");
  std::uint16_t code = close_code::unknown_error;
  if (auto* c = o.if_contains("code")) {
    if (!c->is_int64() || c->as_int64() < 1000 || c->as_int64() > 4999 || c->as_int64() == 1005 ||
        c->as_int64() == 1006 || c->as_int64() == 1015)
      return bad("code: a close code a server may send (1000-4999, not 1005, 1006 or 1015)");
    code = static_cast<std::uint16_t>(c->as_int64());
  }
  bool resumable = false;
  if (auto* r = o.if_contains("resumable")) {
    if (!r->is_bool()) return bad("resumable: true or false");
    resumable = r->as_bool();
  }

  std::vector<ConnPtr> targets;
  for (auto& c : sim.conns) {
    if (c->closing || c->session_id.empty()) continue;
    auto* s = sim.sessions.find(c->session_id);
    if (s && s->shard_id() == static_cast<std::uint64_t>(shard->as_int64())) targets.push_back(c);
  }
  for (auto& c : targets) {
    auto* s = sim.sessions.find(c->session_id);
    if (kind == "close") {
      request_close(*c, code, "Fault injected.");
    } else if (kind == "reconnect") {
      enqueue(*c, {make_frame(reconnect_frame())});
    } else if (kind == "invalid_session") {
      enqueue(*c, {make_frame(invalid_session_frame(resumable))});
      if (!resumable) { // the session is over; the connection may IDENTIFY again
        sim.conn_of.erase(c->session_id);
        sim.sessions.detach(*s, true);
        c->session_id.clear();
      }
    } else if (kind == "reset") {
      reset_socket(*c);
    } else if (kind == "stop_acks") {
      c->no_acks = true;
    } else if (kind == "stall") {
      c->stalled = true;
    } else if (kind == "heartbeat") {
      request_heartbeat(*c, s->last_seq());
    }
  }
  sim.faults_applied += targets.size();
  spdlog::warn("fault {} on shard {}: {} connection(s)", kind, shard->as_int64(), targets.size());
  return json_response(req, http::status::ok, json::serialize(json::object{{"applied", targets.size()}}));
}

// ---- REST: Discord's routes -----------------------------------------------------------------

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    auto end = path.find('/');
    out.push_back(path.substr(0, end));
    if (end == std::string_view::npos) break;
    path.remove_prefix(end);
  }
  return out;
}

std::optional<std::uint64_t> parse_id(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty() || s.size() > 20) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::uint64_t> id_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_string()) return parse_id(jsv(v->get_string()));
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() > 0) return static_cast<std::uint64_t>(v->get_int64());
  return std::nullopt;
}


Response discord_error(const Request& req, http::status status, int code, std::string_view message) {
  return error_response(req, status, message, code);
}

// Parses a JSON body (objects nested at most 16 deep; the body itself is capped by the
// HTTP parser at 64 KiB).
std::optional<json::value> json_body(const Request& req) {
  json::parse_options po;
  po.max_depth = 16;
  boost::system::error_code ec;
  auto v = json::parse(req.body(), ec, {}, po);
  if (ec) return std::nullopt;
  return v;
}

// A message the bot created (channel message, interaction response or follow-up), as Discord
// returns it.
json::object bot_message(Sim& sim, std::uint64_t id, std::uint64_t channel_id, const json::object& body,
                         std::optional<std::uint64_t> webhook_id = std::nullopt) {
  auto content = body.if_contains("content");
  json::object m{{"id", std::to_string(id)},
                 {"type", webhook_id ? 20 : 0},
                 {"channel_id", std::to_string(channel_id)},
                 {"content", content && content->is_string() ? *content : json::value("")},
                 {"author", json::parse(bot_user_json(sim.world))},
                 {"timestamp", iso8601_ms(World::unix_ms_of(id))},
                 {"edited_timestamp", nullptr},
                 {"tts", false},
                 {"mention_everyone", false},
                 {"mentions", json::array{}},
                 {"mention_roles", json::array{}},
                 {"attachments", json::array{}},
                 {"embeds", body.contains("embeds") ? body.at("embeds") : json::value(json::array{})},
                 {"components", body.contains("components") ? body.at("components") : json::value(json::array{})},
                 {"pinned", false},
                 {"flags", body.contains("flags") ? body.at("flags") : json::value(0)}};
  if (webhook_id) {
    m["webhook_id"] = std::to_string(*webhook_id);
    m["application_id"] = std::to_string(sim.world.application_id());
  }
  // A reply (type 19) names the message it answers, as Discord returns it.
  if (auto* ref = body.if_contains("message_reference"); ref && ref->is_object() && !webhook_id) {
    if (auto id_ref = id_field(ref->get_object(), "message_id")) {
      m["type"] = 19;
      m["message_reference"] = json::object{{"type", 0}, {"message_id", std::to_string(*id_ref)},
                                            {"channel_id", std::to_string(channel_id)}};
    }
  }
  return m;
}

// Discord's checks on a message body: content at most 2,000 characters, at most 10 embeds,
// and not empty. Returns an error message, or empty if fine.
std::string check_message_body(const json::object& body) {
  auto* content = body.if_contains("content");
  if (content && !content->is_string() && !content->is_null()) return "content: must be a string";
  auto* embeds = body.if_contains("embeds");
  if (embeds && !embeds->is_array() && !embeds->is_null()) return "embeds: must be an array";
  std::size_t chars = 0;
  if (content && content->is_string()) {
    // Characters, not bytes: count the UTF-8 lead bytes.
    for (unsigned char ch : content->get_string()) chars += (ch & 0xC0) != 0x80;
    if (chars > 2000) return "content: must be 2000 or fewer in length";
  }
  if (embeds && embeds->is_array() && embeds->get_array().size() > 10) return "embeds: must be 10 or fewer";
  bool has_embeds = embeds && embeds->is_array() && !embeds->get_array().empty();
  bool has_other = body.contains("components") || body.contains("attachments") || body.contains("sticker_ids") ||
                   body.contains("poll");
  if (chars == 0 && !has_embeds && !has_other) return "empty";
  return {};
}

// PUT /applications/{app}/commands and /applications/{app}/guilds/{guild}/commands: replaces
// the scope's commands (bulk overwrite), at most 100, each with a valid name and description.
Response put_commands(Sim& sim, const Request& req, const std::string& scope, std::optional<std::uint64_t> guild) {
  auto body = json_body(req);
  if (!body || !body->is_array()) return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body");
  auto& in = body->get_array();
  if (in.size() > 100) return discord_error(req, http::status::bad_request, 30032, "Maximum number of application commands reached (100)");
  json::array out;
  std::unordered_set<std::string> names;
  for (auto& c : in) {
    if (!c.is_object()) return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body");
    auto& o = c.get_object();
    auto* name = o.if_contains("name");
    auto* desc = o.if_contains("description");
    std::int64_t type = 1;
    if (auto* t = o.if_contains("type"); t && t->is_int64()) type = t->get_int64();
    bool name_ok = name && name->is_string() && !name->get_string().empty() && name->get_string().size() <= 32;
    if (name_ok && type == 1)
      for (unsigned char ch : name->get_string())
        if (!(std::islower(ch) || std::isdigit(ch) || ch == '-' || ch == '_' || ch >= 0x80)) name_ok = false;
    if (!name_ok) return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body (name)");
    if (type == 1 && (!desc || !desc->is_string() || desc->get_string().empty() || desc->get_string().size() > 100))
      return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body (description)");
    if (!names.insert(std::string(name->get_string()) + "/" + std::to_string(type)).second)
      return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body (duplicate name)");
    json::object cmd = o;
    // Commands that already exist keep their id, as on Discord.
    std::string id;
    for (auto& old : sim.commands[scope])
      if (old.at("name") == cmd.at("name") && old.at("type") == json::value(type))
        id = std::string(jsv(old.at("id").as_string()));
    if (id.empty()) id = std::to_string(sim.new_id());
    cmd["id"] = id;
    cmd["application_id"] = std::to_string(sim.world.application_id());
    cmd["type"] = type;
    cmd["version"] = std::to_string(sim.new_id());
    cmd["default_member_permissions"] =
        o.contains("default_member_permissions") ? o.at("default_member_permissions") : json::value(nullptr);
    if (!cmd.contains("options")) cmd["options"] = json::array{};
    if (guild) cmd["guild_id"] = std::to_string(*guild);
    out.push_back(std::move(cmd));
  }
  sim.commands[scope] = out;
  ++sim.command_puts;
  spdlog::info("application commands for {}: {} registered", scope, out.size());
  return json_response(req, http::status::ok, json::serialize(out));
}

// The command an interaction invokes: the guild's own first, then a global one.
const json::object* find_command(Sim& sim, std::uint64_t guild_id, std::string_view name) {
  for (auto scope : {std::to_string(guild_id), std::string("global")}) {
    auto it = sim.commands.find(scope);
    if (it == sim.commands.end()) continue;
    for (auto& c : it->second)
      if (jsv(c.at("name").as_string()) == name && c.at("type") == json::value(1)) return &c.as_object();
  }
  return nullptr;
}

Response interaction_error(const Request& req, InteractionError e) {
  switch (e) {
  case InteractionError::unknown_interaction: return discord_error(req, http::status::not_found, 10062, "Unknown interaction");
  case InteractionError::already_acknowledged:
    return discord_error(req, http::status::bad_request, 40060, "Interaction has already been acknowledged.");
  case InteractionError::bad_callback_type: return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body (type)");
  case InteractionError::unknown_webhook: return discord_error(req, http::status::not_found, 10015, "Unknown Webhook");
  case InteractionError::not_acknowledged:
    return discord_error(req, http::status::bad_request, 40060, "The interaction has not been acknowledged yet.");
  case InteractionError::no_original: return discord_error(req, http::status::not_found, 10008, "Unknown Message");
  case InteractionError::none: break;
  }
  return discord_error(req, http::status::internal_server_error, 0, "500: Internal Server Error");
}

// ---- REST: /_sim/ control -------------------------------------------------------------------

// POST /_sim/interactions {name, options?, user_id?, guild_id, channel_id?}: a member invokes
// a registered slash command; INTERACTION_CREATE goes to the guild's shard.
Response sim_interaction(Sim& sim, const Request& req) {
  auto body = json_body(req);
  if (!body || !body->is_object()) return error_response(req, http::status::bad_request, "body must be a JSON object");
  auto& o = body->get_object();
  auto guild_id = id_field(o, "guild_id");
  auto* name = o.if_contains("name");
  if (!guild_id || !sim.world.find(*guild_id)) return error_response(req, http::status::bad_request, "guild_id: a guild of the world");
  if (!name || !name->is_string()) return error_response(req, http::status::bad_request, "name: a string");
  auto* cmd = find_command(sim, *guild_id, jsv(name->get_string()));
  if (!cmd)
    return error_response(req, http::status::bad_request,
                          "name: no slash command of that name is registered (globally or for the guild)");
  InteractionSpec spec;
  spec.name = std::string(name->get_string());
  if (auto* opts = o.if_contains("options")) {
    if (!opts->is_array()) return error_response(req, http::status::bad_request, "options: an array");
    spec.options_json = json::serialize(*opts);
  }
  spec.guild_id = *guild_id;
  spec.channel_id = id_field(o, "channel_id").value_or(*guild_id + 1);
  spec.user_id = id_field(o, "user_id").value_or(World::snowflake(World::unix_ms_of(*guild_id) + 1000, 0, 3, 1));
  auto command_id = parse_id(jsv(cmd->at("id").as_string())).value_or(0);
  auto& in = sim.interactions.create(sim.new_id(), std::move(spec));
  auto n = dispatch_to_guild(sim, *guild_id, "INTERACTION_CREATE", interaction_create_data(sim.world, in, command_id), 0);
  spdlog::info("interaction {} (/{}) injected for guild {}: {} session(s)", in.id, in.spec.name, *guild_id, n);
  json::object out{{"id", std::to_string(in.id)}, {"token", in.token}, {"sessions", n}};
  return json_response(req, http::status::ok, json::serialize(out));
}

Response sim_interaction_get(Sim& sim, const Request& req, std::string_view id_text) {
  auto id = parse_id(id_text);
  auto* in = id ? sim.interactions.find(*id) : nullptr;
  if (!in) return error_response(req, http::status::not_found, "unknown interaction");
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
  return json_response(req, http::status::ok, json::serialize(out));
}

// POST /_sim/messages {guild_id, content, channel_id?, user_id?, username?}: a member posts a
// message. As on Discord, a session that did not IDENTIFY with MESSAGE_CONTENT (1 << 15) gets
// it with `content`, `embeds`, `attachments` and `components` empty, unless it mentions the
// bot (`<@id>` or the older `<@!id>`; the bot is then in `mentions` too). Guild messages only:
// the other exceptions (DMs, the bot's own messages) do not arise here.
Response sim_message(Sim& sim, const Request& req) {
  auto body = json_body(req);
  if (!body || !body->is_object()) return error_response(req, http::status::bad_request, "body must be a JSON object");
  auto& o = body->get_object();
  auto guild_id = id_field(o, "guild_id");
  if (!guild_id || !sim.world.find(*guild_id)) return error_response(req, http::status::bad_request, "guild_id: a guild of the world");
  auto* content = o.if_contains("content");
  if (!content || !content->is_string() || content->get_string().size() > 8000)
    return error_response(req, http::status::bad_request, "content: a string");
  std::optional<std::string> username;
  if (auto* u = o.if_contains("username")) {
    // Discord's usernames: 2-32 characters (counted as UTF-8 lead bytes).
    std::size_t chars = 0;
    if (u->is_string())
      for (unsigned char ch : u->get_string()) chars += (ch & 0xC0) != 0x80;
    if (!u->is_string() || chars < 2 || chars > 32 || u->get_string().size() > 128)
      return error_response(req, http::status::bad_request, "username: a string of 2-32 characters");
    username = std::string(u->get_string());
  }
  auto channel = id_field(o, "channel_id").value_or(*guild_id + 1);
  auto user = id_field(o, "user_id").value_or(World::snowflake(World::unix_ms_of(*guild_id) + 1000, 0, 3, 1));
  auto id = sim.new_id();
  const auto text = jsv(content->get_string());
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
  return json_response(req, http::status::ok, json::serialize(out));
}

Response sim_channel_messages(Sim& sim, const Request& req, std::string_view id_text) {
  auto id = parse_id(id_text);
  json::array out;
  if (id)
    if (auto it = sim.channel_messages.find(*id); it != sim.channel_messages.end())
      for (auto& m : it->second) out.push_back(json::parse(m));
  return json_response(req, http::status::ok, json::serialize(json::object{{"messages", std::move(out)}}));
}

void remember_channel_message(Sim& sim, std::uint64_t channel, std::string message) {
  constexpr std::size_t kPerChannel = 1000, kChannels = 10'000;
  if (!sim.channel_messages.count(channel) && sim.channel_messages.size() >= kChannels) return;
  auto& log = sim.channel_messages[channel];
  if (log.size() >= kPerChannel) log.pop_front();
  log.push_back(std::move(message));
}

// POST /_sim/guilds {"action": "join"} or {"action": "leave", "guild_id": id}: the bot joins a
// new guild or leaves one now, as the event stream does now and then.
Response sim_guilds(Sim& sim, const Request& req) {
  auto body = json_body(req);
  if (!body || !body->is_object()) return error_response(req, http::status::bad_request, "body must be a JSON object");
  auto& o = body->get_object();
  auto* action = o.if_contains("action");
  if (action && action->is_string() && action->get_string() == "join") {
    auto id = join_guild(sim, wall_now_ms());
    return json_response(req, http::status::ok, json::serialize(json::object{{"guild_id", std::to_string(id)}}));
  }
  if (action && action->is_string() && action->get_string() == "leave") {
    auto id = id_field(o, "guild_id");
    if (!id || !leave_guild(sim, *id))
      return error_response(req, http::status::bad_request,
                            "guild_id: a guild of the world, not in an outage, and not the last one");
    return json_response(req, http::status::ok, json::serialize(json::object{{"guild_id", std::to_string(*id)}}));
  }
  return error_response(req, http::status::bad_request, "action: join or leave");
}

// ---- REST: routing --------------------------------------------------------------------------

Response with_rate_limit(Sim& sim, const Request& req, const std::string& bucket_key,
                         const std::function<Response()>& handler) {
  auto v = sim.rest_limiter.check(bucket_key);
  auto wall = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto headers = [&](Response& res) {
    res.set("X-RateLimit-Limit", std::to_string(v.limit));
    res.set("X-RateLimit-Remaining", std::to_string(v.remaining));
    res.set("X-RateLimit-Reset", fmt::format("{:.3f}", wall + v.reset_after_s));
    res.set("X-RateLimit-Reset-After", fmt::format("{:.3f}", v.reset_after_s));
    res.set("X-RateLimit-Bucket", v.bucket);
  };
  if (!v.allowed) {
    const char* kind = v.global ? "rest_rate_limit_global" : "rest_rate_limit_route";
    ++sim.violations[kind];
    spdlog::warn("violation {}: {} refused (429, retry after {:.3f} s)", kind, bucket_key, v.reset_after_s);
    json::object o{{"message", "You are being rate limited."}, {"retry_after", v.reset_after_s}, {"global", v.global}};
    auto res = json_response(req, http::status::too_many_requests, json::serialize(o));
    headers(res);
    res.set(http::field::retry_after, std::to_string(static_cast<long>(std::ceil(v.reset_after_s))));
    res.set("X-RateLimit-Scope", v.global ? "global" : "user");
    if (v.global) res.set("X-RateLimit-Global", "true");
    return res;
  }
  auto res = handler();
  headers(res);
  return res;
}

Response rest(Sim& sim, const Request& req) {
  auto u = boost::urls::parse_origin_form(sv(req.target()));
  if (!u) return error_response(req, http::status::bad_request, "400: Bad Request");
  std::string path = u->path();
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  const auto method = req.method();
  const bool get = method == http::verb::get, post = method == http::verb::post;
  auto not_allowed = [&] { return error_response(req, http::status::method_not_allowed, "405: Method Not Allowed"); };
  auto not_found = [&] { return error_response(req, http::status::not_found, "404: Not Found"); };

  if (path.rfind("/_sim/", 0) == 0) {
    auto seg = split_path(path);
    if (path == "/_sim/faults") return post ? faults(sim, req) : not_allowed();
    if (path == "/_sim/interactions") return post ? sim_interaction(sim, req) : not_allowed();
    if (path == "/_sim/messages") return post ? sim_message(sim, req) : not_allowed();
    if (path == "/_sim/guilds") return post ? sim_guilds(sim, req) : not_allowed();
    if (seg.size() == 3 && seg[1] == "interactions") return get ? sim_interaction_get(sim, req, seg[2]) : not_allowed();
    if (seg.size() == 4 && seg[1] == "channels" && seg[3] == "messages")
      return get ? sim_channel_messages(sim, req, seg[2]) : not_allowed();
    if (!get) return not_allowed();
    if (path == "/_sim/stats") return json_response(req, http::status::ok, stats_json(sim));
    if (path == "/_sim/world") {
      // The shard count of the layout to count for: required, as a bot's own (1-4096).
      std::optional<std::uint32_t> shards;
      bool bad = false;
      for (auto p : u->params())
        if (p.key == "shards") {
          std::uint32_t v = 0;
          auto [end, ec] = std::from_chars(p.value.data(), p.value.data() + p.value.size(), v);
          bad = ec != std::errc() || end != p.value.data() + p.value.size() || v < 1 || v > 4096;
          if (bad) break;
          shards = v;
        }
      if (bad || !shards)
        return error_response(req, http::status::bad_request, "shards=N (a shard count, 1-4096) is required");
      return json_response(req, http::status::ok, world_json(sim, *shards));
    }
    if (path == "/_sim/sessions") {
      std::optional<std::uint32_t> shard;
      for (auto p : u->params())
        if (p.key == "shard") {
          std::uint32_t v = 0;
          auto [end, ec] = std::from_chars(p.value.data(), p.value.data() + p.value.size(), v);
          if (ec == std::errc() && end == p.value.data() + p.value.size()) shard = v;
        }
      if (!shard) return json_response(req, http::status::bad_request,
                                       R"({"message":"shard=N (a shard id) is required"})");
      return json_response(req, http::status::ok, sessions_json(sim, *shard));
    }
    return not_found();
  }

  constexpr std::string_view api = "/api/v10";
  if (path.rfind(api, 0) != 0) return not_found();
  auto route = std::string_view(path).substr(api.size());
  auto seg = split_path(route);
  const std::string app_id = std::to_string(sim.world.application_id());

  if (route == "/gateway") // no authorization needed, as on Discord
    return get ? json_response(req, http::status::ok, json::serialize(json::object{{"url", sim.ws_url}})) : not_allowed();

  // Interaction callbacks and the interaction webhook need no bot token (the interaction
  // token is the credential) and are not bound by the global limit, as on Discord.
  if (seg.size() == 4 && seg[0] == "interactions" && seg[3] == "callback") {
    if (!post) return not_allowed();
    auto id = parse_id(seg[1]);
    auto body = json_body(req);
    if (!body || !body->is_object() || !body->get_object().contains("type") || !body->at("type").is_int64())
      return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body");
    const auto raw_type = body->at("type").get_int64();
    if (raw_type < 1 || raw_type > 12) return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body (type)");
    auto type = static_cast<int>(raw_type);
    if (type == 4 || type == 7) {
      auto* data = body->get_object().if_contains("data");
      if (!data || !data->is_object()) return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body (data)");
      if (auto why = check_message_body(data->get_object()); !why.empty())
        return discord_error(req, http::status::bad_request, why == "empty" ? 50006 : 50035,
                             why == "empty" ? "Cannot send an empty message" : "Invalid Form Body (" + why + ")");
    }
    auto e = sim.interactions.callback(id.value_or(0), seg[2], type, json::serialize(*body));
    if (e != InteractionError::none) {
      ++sim.violations[std::string("interaction_") + to_string(e)];
      return interaction_error(req, e);
    }
    Response res{http::status::no_content, req.version()};
    res.set(http::field::server, "shardline-sim");
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return res;
  }
  if (seg.size() >= 3 && seg[0] == "webhooks") {
    if (seg[1] != app_id) return discord_error(req, http::status::not_found, 10015, "Unknown Webhook");
    auto body = json_body(req);
    bool original = seg.size() == 5 && seg[3] == "messages" && seg[4] == "@original";
    if (!(original && method == http::verb::patch) && !(seg.size() == 3 && post)) return not_allowed();
    if (!body || !body->is_object()) return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body");
    auto why = check_message_body(body->get_object());
    if (!why.empty() && !(original && why == "empty"))
      return discord_error(req, http::status::bad_request, why == "empty" ? 50006 : 50035,
                           why == "empty" ? "Cannot send an empty message" : "Invalid Form Body (" + why + ")");
    auto body_text = json::serialize(*body);
    auto e = original ? sim.interactions.edit_original(seg[2], body_text) : sim.interactions.followup(seg[2], body_text);
    if (e != InteractionError::none) {
      ++sim.violations[std::string("interaction_") + to_string(e)];
      return interaction_error(req, e);
    }
    auto msg = bot_message(sim, sim.new_id(), 0, body->get_object(), sim.world.application_id());
    return json_response(req, http::status::ok, json::serialize(msg));
  }

  if (sv(req[http::field::authorization]) != "Bot " + sim.opt.token) {
    ++sim.violations["rest_unauthorized"];
    return error_response(req, http::status::unauthorized, "401: Unauthorized");
  }
  const std::string method_name(sv(req.method_string()));

  if (route == "/gateway/bot" || route == "/users/@me" || route == "/oauth2/applications/@me" ||
      route == "/applications/@me") {
    if (!get) return not_allowed();
    return with_rate_limit(sim, req, "GET " + std::string(route), [&] {
      std::string body = route == "/gateway/bot" ? gateway_bot_json(sim)
                         : route == "/users/@me" ? bot_user_json(sim.world)
                                                 : application_json(sim);
      return json_response(req, http::status::ok, std::move(body));
    });
  }
  // /applications/{app}/commands and /applications/{app}/guilds/{guild}/commands
  if (seg.size() >= 3 && seg[0] == "applications" && seg.back() == "commands" && (seg.size() == 3 || seg.size() == 5)) {
    if (seg[1] != app_id) return discord_error(req, http::status::forbidden, 50001, "Missing Access");
    std::optional<std::uint64_t> guild;
    if (seg.size() == 5) {
      if (seg[2] != "guilds") return not_found();
      guild = parse_id(seg[3]);
      if (!guild || !sim.world.find(*guild)) return discord_error(req, http::status::not_found, 10004, "Unknown Guild");
    }
    std::string scope = guild ? std::to_string(*guild) : "global";
    auto key = method_name + " /applications/" + (guild ? "{guild}/" + scope : std::string("global")) + "/commands";
    if (get)
      return with_rate_limit(sim, req, key, [&] {
        auto it = sim.commands.find(scope);
        return json_response(req, http::status::ok,
                             json::serialize(it == sim.commands.end() ? json::array{} : json::array(it->second)));
      });
    if (method != http::verb::put) return not_allowed();
    return with_rate_limit(sim, req, key, [&] { return put_commands(sim, req, scope, guild); });
  }
  // POST /channels/{channel}/messages: the bot posts; kept for GET /_sim/channels/{id}/messages.
  if (seg.size() == 3 && seg[0] == "channels" && seg[2] == "messages") {
    if (!post) return not_allowed();
    auto channel = parse_id(seg[1]);
    // Every guild has one text channel, #general, whose id is the guild's plus one.
    if (!channel || *channel == 0 || !sim.world.find(*channel - 1))
      return discord_error(req, http::status::not_found, 10003, "Unknown Channel");
    return with_rate_limit(sim, req, "POST /channels/" + std::to_string(*channel) + "/messages", [&] {
      auto body = json_body(req);
      if (!body || !body->is_object()) return discord_error(req, http::status::bad_request, 50035, "Invalid Form Body");
      if (auto why = check_message_body(body->get_object()); !why.empty())
        return discord_error(req, http::status::bad_request, why == "empty" ? 50006 : 50035,
                             why == "empty" ? "Cannot send an empty message" : "Invalid Form Body (" + why + ")");
      auto msg = bot_message(sim, sim.new_id(), *channel, body->get_object());
      msg["guild_id"] = std::to_string(*channel - 1);
      auto text = json::serialize(msg);
      remember_channel_message(sim, *channel, text);
      return json_response(req, http::status::ok, std::move(text));
    });
  }
  return not_found();
}

// ---- accepting, serving, sweeping -------------------------------------------------------------

// One of the kMaxConnections, held by the coroutine that serves the connection: given back
// when its frame goes, however it ends.
class ConnectionSlot {
public:
  explicit ConnectionSlot(std::shared_ptr<Sim> sim) : sim_(std::move(sim)) { ++sim_->open_connections; }
  ConnectionSlot(ConnectionSlot&& other) noexcept : sim_(std::move(other.sim_)) {}
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot() {
    if (sim_) --sim_->open_connections;
  }

private:
  std::shared_ptr<Sim> sim_;
};

asio::awaitable<void> serve(std::shared_ptr<Sim> sim, tcp::socket sock, [[maybe_unused]] ConnectionSlot slot) {
  beast::tcp_stream stream(std::move(sock));
  std::string address;
  {
    beast::error_code ec;
    auto ep = stream.socket().remote_endpoint(ec);
    address = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(kMaxBodyBytes);
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_read(stream, buf, parser, use_tuple);
    if (ec) {
      if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != asio::error::connection_reset) {
        // Malformed or oversized: a plain 400, then the connection goes.
        Request dummy;
        dummy.version(11);
        auto res = error_response(dummy, http::status::bad_request, "400: Bad Request");
        res.keep_alive(false);
        co_await http::async_write(stream, res, use_tuple);
      }
      break;
    }
    auto req = parser.release();
    if (websocket::is_upgrade(req)) {
      co_await serve_gateway(sim, std::move(stream), std::move(address), std::move(req));
      co_return;
    }
    auto res = rest(*sim, req);
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !res.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.socket().close(ignored);
}

asio::awaitable<void> accept_loop(std::shared_ptr<Sim> sim) {
  while (!sim->stopped) {
    auto [ec, sock] = co_await sim->acceptor.async_accept(use_tuple);
    if (ec) {
      if (sim->stopped || ec == asio::error::operation_aborted) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer t(sim->io, std::chrono::milliseconds(100));
      co_await t.async_wait(use_tuple);
      continue;
    }
    beast::error_code ignored;
    if (sim->open_connections >= kMaxConnections) {
      spdlog::warn("connection limit ({}) reached: closing a new one", kMaxConnections);
      sock.close(ignored);
      continue;
    }
    sock.set_option(tcp::no_delay(true), ignored);
    net::spawn_owned(sim->io, serve(sim, std::move(sock), ConnectionSlot(sim)), "sim connection");
  }
}

// Every 50 ms: zombie connections (no heartbeat within 1.5 intervals), HEARTBEAT requests
// and their answers, closes the peer never answered, the end of the guild outage, and
// sessions no longer resumable.
asio::awaitable<void> sweep_loop(std::shared_ptr<Sim> sim) {
  const auto zombie_after = millis(sim->opt.heartbeat_ms + sim->opt.heartbeat_ms / 2);
  const auto answer_within = millis(std::min<std::uint32_t>(1000, sim->opt.heartbeat_ms));
  auto last_session_sweep = sim->clock();
  while (!sim->stopped) {
    sim->sweeper.expires_after(std::chrono::milliseconds(50));
    co_await sim->sweeper.async_wait(use_tuple);
    if (sim->stopped) co_return;
    auto now = sim->clock();
    std::vector<ConnPtr> all(sim->conns.begin(), sim->conns.end());
    for (auto& c : all) {
      if (c->closing) {
        if (now - c->close_started > kCloseGrace) close_socket(*c); // the reader ends the connection
        continue;
      }
      if (now - c->last_heartbeat > zombie_after) {
        count_violation(*sim, "heartbeat_timeout", *c, "no heartbeat within 1.5 intervals");
        request_close(*c, close_code::session_timed_out, "Session timed out.");
        continue;
      }
      if (c->heartbeat_requested != steady::time_point{} && now - c->heartbeat_requested > answer_within) {
        count_violation(*sim, "heartbeat_request_ignored", *c, "no HEARTBEAT answered our op 1");
        c->heartbeat_requested = {};
      }
      if (sim->opt.server_heartbeat_ms && !c->session_id.empty() && !c->stalled && now >= c->next_server_heartbeat) {
        c->next_server_heartbeat = now + millis(sim->opt.server_heartbeat_ms);
        auto* s = sim->sessions.find(c->session_id);
        request_heartbeat(*c, s ? s->last_seq() : 0);
      }
    }
    if (!sim->outage_over && now >= sim->outage_end) end_outage(*sim);
    if (now - last_session_sweep > std::chrono::seconds(1)) {
      last_session_sweep = now;
      sim->sessions.sweep();
    }
  }
}

// The steady event stream: --events-per-sec events for random guilds, each dispatched to every
// session of the guild's shard whose intents ask for it, live or resumable (a disconnected
// session buffers them for its RESUME). Paced every 10 ms; a late tick catches up at most one
// second's worth. Nothing is generated while no session exists.
asio::awaitable<void> event_loop(std::shared_ptr<Sim> sim) {
  const double rate = sim->opt.events_per_sec;
  if (rate <= 0 || sim->world.guilds().empty()) co_return;
  asio::steady_timer tick(sim->io);
  auto last = sim->clock();
  double owed = 0;
  while (!sim->stopped) {
    tick.expires_after(std::chrono::milliseconds(10));
    co_await tick.async_wait(use_tuple);
    if (sim->stopped) co_return;
    auto now = sim->clock();
    owed = std::min(owed + rate * std::chrono::duration<double>(now - last).count(), rate);
    last = now;
    auto n = static_cast<std::uint64_t>(owed);
    owed -= static_cast<double>(n);
    if (n == 0) continue;
    auto active = sim->sessions.active();
    if (active.empty()) continue;
    bool in_outage = !sim->outage_over;
    auto unix_ms = wall_now_ms();
    for (std::uint64_t i = 0; i < n; ++i) {
      // About one event in 1,000 is the bot joining or leaving a guild.
      if (sim->churn_rng() % 1000 == 0) {
        churn_guilds(*sim, unix_ms);
        active = sim->sessions.active();
        continue;
      }
      auto& ev = sim->events.next(unix_ms);
      if (in_outage && ev.guild->unavailable_at_start) continue; // no events from a guild in an outage
      for (auto* s : active)
        if ((s->intents & ev.intent) && World::shard_of(ev.guild->id, s->num_shards()) == s->shard_id())
          dispatch(*sim, *s, ev.type, ev.data);
    }
  }
}

} // namespace

bool parse_team_members(std::string_view text, std::vector<std::uint64_t>& out, std::string& error) {
  out.clear();
  if (text.empty()) return true;
  std::unordered_set<std::uint64_t> seen;
  for (;;) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    auto id = parse_id(item);
    // A user id is a snowflake: at least one millisecond after the Discord epoch.
    if (!id || *id < (std::uint64_t{1} << 22)) {
      error = fmt::format("'{}' is not a user id (a snowflake)", item.substr(0, 32));
      return false;
    }
    if (!seen.insert(*id).second) {
      error = fmt::format("user {} is listed twice", *id);
      return false;
    }
    if (out.size() == kMaxTeamMembers) {
      error = fmt::format("at most {} team members", kMaxTeamMembers);
      return false;
    }
    out.push_back(*id);
    if (comma == std::string_view::npos) return true;
    text.remove_prefix(comma + 1);
  }
}

int run_sim(const SimOptions& options) {
  asio::io_context io;
  auto sim = std::make_shared<Sim>(io, options);
  beast::error_code ec;
  auto addr = asio::ip::make_address(options.host, ec);
  if (ec) {
    spdlog::error("--host: '{}' is not an IP address", options.host);
    return 2;
  }
  tcp::endpoint ep(addr, options.port);
  sim->acceptor.open(ep.protocol(), ec);
  if (!ec) sim->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) sim->acceptor.bind(ep, ec);
  if (!ec) sim->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    spdlog::error("cannot listen on {}:{}: {}", options.host, options.port, ec.message());
    return 1;
  }
  sim->port = sim->acceptor.local_endpoint().port();
  sim->ws_url = "ws://" + options.host + ":" + std::to_string(sim->port);
  spdlog::info("sim: {} guilds, {} recommended shards, max_concurrency {}, identify window {} ms, heartbeat {} ms, "
               "{} unavailable until {} ms, {} events/s",
               sim->world.guilds().size(), sim->recommended_shards(), sim->identify.limits().max_concurrency,
               options.identify_window_ms, options.heartbeat_ms, sim->world.unavailable_at_start_count(),
               options.outage_ms, options.events_per_sec);
  spdlog::info("sim listening on {}:{}", options.host, sim->port);
  std::cout << "sim listening on http://" << options.host << ":" << sim->port << " (REST /api/v10, gateway "
            << sim->ws_url << ")" << std::endl;
  try {
    write_port_file(options.port_file, sim->port);
  } catch (const std::exception& e) {
    spdlog::error("--port-file: {}", e.what());
    return 1;
  }

  net::spawn_owned(io, accept_loop(sim), "sim accept loop");
  net::spawn_owned(io, sweep_loop(sim), "sim sweeper");
  net::spawn_owned(io, event_loop(sim), "sim event stream");
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& sec, int sig) {
    if (sec) return;
    spdlog::info("signal {}: stopping the simulator", sig);
    sim->stopped = true;
    io.stop();
  });
  io.run();
  // Coroutines still suspended hold the Sim; destroying the io_context frees them.
  sim->conns.clear();
  sim->conn_of.clear();
  return 0;
}

} // namespace shardline::sim
