#include "sim/rest_routes.hpp"

#include "core/text.hpp"
#include "sim/gateway_protocol.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>
#include <string>
#include <unordered_set>

namespace shardline::sim {

namespace json = boost::json;

namespace {

HttpReply discord_error(HttpStatus status, int code, std::string_view message) {
  return error_reply(status, message, code);
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
// and not empty (unless `empty_allowed`: an edit may empty a message). Returns the 400 Discord
// answers, or nullopt if the body is fine.
std::optional<HttpReply> refuse_message_body(const json::object& body, bool empty_allowed) {
  auto invalid = [](std::string_view why) {
    return discord_error(HttpStatus::bad_request, 50035, fmt::format("Invalid Form Body ({})", why));
  };
  auto* content = body.if_contains("content");
  if (content && !content->is_string() && !content->is_null()) return invalid("content: must be a string");
  auto* embeds = body.if_contains("embeds");
  if (embeds && !embeds->is_array() && !embeds->is_null()) return invalid("embeds: must be an array");
  std::size_t chars = 0;
  if (content && content->is_string()) {
    chars = utf8_length(as_view(content->get_string()));
    if (chars > 2000) return invalid("content: must be 2000 or fewer in length");
  }
  if (embeds && embeds->is_array() && embeds->get_array().size() > 10) return invalid("embeds: must be 10 or fewer");
  bool has_embeds = embeds && embeds->is_array() && !embeds->get_array().empty();
  bool has_other = body.contains("components") || body.contains("attachments") || body.contains("sticker_ids") ||
                   body.contains("poll");
  if (chars == 0 && !has_embeds && !has_other && !empty_allowed)
    return discord_error(HttpStatus::bad_request, 50006, "Cannot send an empty message");
  return std::nullopt;
}

// Replaces the scope's commands (bulk overwrite), at most 100, each with a valid name and
// description.
HttpReply put_commands(Sim& sim, std::string_view body_text, const std::string& scope,
                       std::optional<std::uint64_t> guild) {
  auto invalid = [](const char* what) { return discord_error(HttpStatus::bad_request, 50035, what); };
  auto body = parse_json_body(body_text);
  if (!body || !body->is_array()) return invalid("Invalid Form Body");
  auto& in = body->get_array();
  if (in.size() > 100)
    return discord_error(HttpStatus::bad_request, 30032, "Maximum number of application commands reached (100)");
  json::array out;
  std::unordered_set<std::string> names;
  for (auto& c : in) {
    if (!c.is_object()) return invalid("Invalid Form Body");
    auto& o = c.get_object();
    auto* name = o.if_contains("name");
    auto* desc = o.if_contains("description");
    std::int64_t type = 1;
    if (auto* t = o.if_contains("type"); t && t->is_int64()) type = t->get_int64();
    bool name_ok = name && name->is_string() && !name->get_string().empty() && name->get_string().size() <= 32;
    if (name_ok && type == 1)
      for (unsigned char ch : name->get_string())
        if (!(std::islower(ch) || std::isdigit(ch) || ch == '-' || ch == '_' || ch >= 0x80)) name_ok = false;
    if (!name_ok) return invalid("Invalid Form Body (name)");
    if (type == 1 && (!desc || !desc->is_string() || desc->get_string().empty() || desc->get_string().size() > 100))
      return invalid("Invalid Form Body (description)");
    if (!names.insert(std::string(name->get_string()) + "/" + std::to_string(type)).second)
      return invalid("Invalid Form Body (duplicate name)");
    json::object cmd = o;
    // Commands that already exist keep their id, as on Discord.
    std::string id;
    for (auto& old : sim.commands[scope])
      if (old.at("name") == cmd.at("name") && old.at("type") == json::value(type))
        id = std::string(as_view(old.at("id").as_string()));
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
  return json_reply(HttpStatus::ok, json::serialize(out));
}

HttpReply interaction_error(InteractionError e) {
  switch (e) {
  case InteractionError::unknown_interaction: return discord_error(HttpStatus::not_found, 10062, "Unknown interaction");
  case InteractionError::already_acknowledged:
    return discord_error(HttpStatus::bad_request, 40060, "Interaction has already been acknowledged.");
  case InteractionError::bad_callback_type:
    return discord_error(HttpStatus::bad_request, 50035, "Invalid Form Body (type)");
  case InteractionError::unknown_webhook: return discord_error(HttpStatus::not_found, 10015, "Unknown Webhook");
  case InteractionError::not_acknowledged:
    return discord_error(HttpStatus::bad_request, 40060, "The interaction has not been acknowledged yet.");
  case InteractionError::no_original: return discord_error(HttpStatus::not_found, 10008, "Unknown Message");
  case InteractionError::none: break;
  }
  return discord_error(HttpStatus::internal_server_error, 0, "500: Internal Server Error");
}

// An interaction request the store refused: counted, and answered as Discord does.
HttpReply refuse_interaction(Sim& sim, InteractionError e) {
  ++sim.violations[std::string("interaction_") + to_string(e)];
  return interaction_error(e);
}

// Kept for GET /_sim/channels/{id}/messages: the last 1,000 of each of at most 10,000 channels.
void remember_channel_message(Sim& sim, std::uint64_t channel, std::string message) {
  constexpr std::size_t kPerChannel = 1000, kChannels = 10'000;
  if (!sim.channel_messages.count(channel) && sim.channel_messages.size() >= kChannels) return;
  auto& log = sim.channel_messages[channel];
  if (log.size() >= kPerChannel) log.pop_front();
  log.push_back(std::move(message));
}

} // namespace

std::optional<HttpReply> refuse_discord_path(Sim& sim, RouteId route, const RouteCaptures& at) {
  const bool ours = at.app == sim.world.application_id();
  switch (route) {
  case RouteId::webhook_followup:
  case RouteId::webhook_edit_original:
  case RouteId::webhook_unsimulated:
    if (!ours) return discord_error(HttpStatus::not_found, 10015, "Unknown Webhook");
    return std::nullopt;
  case RouteId::global_commands_list:
  case RouteId::global_commands_overwrite:
    if (!ours) return discord_error(HttpStatus::forbidden, 50001, "Missing Access");
    return std::nullopt;
  case RouteId::guild_commands_list:
  case RouteId::guild_commands_overwrite:
    if (!ours) return discord_error(HttpStatus::forbidden, 50001, "Missing Access");
    if (!at.guild || !sim.world.find(*at.guild)) return discord_error(HttpStatus::not_found, 10004, "Unknown Guild");
    return std::nullopt;
  default: return std::nullopt;
  }
}

HttpReply get_gateway(Sim& sim) {
  return json_reply(HttpStatus::ok, json::serialize(json::object{{"url", sim.ws_url}}));
}

HttpReply get_gateway_bot(Sim& sim) { return json_reply(HttpStatus::ok, gateway_bot_json(sim)); }

HttpReply get_current_user(Sim& sim) { return json_reply(HttpStatus::ok, bot_user_json(sim.world)); }

HttpReply get_current_application(Sim& sim) { return json_reply(HttpStatus::ok, application_json(sim)); }

namespace {

std::string command_scope(std::optional<std::uint64_t> guild) { return guild ? std::to_string(*guild) : "global"; }

// Every guild has one text channel, #general, whose id is the guild's plus one.
bool known_channel(Sim& sim, std::optional<std::uint64_t> channel) {
  return channel && *channel != 0 && sim.world.find(*channel - 1);
}

} // namespace

HttpReply list_commands(Sim& sim, std::optional<std::uint64_t> guild) {
  auto it = sim.commands.find(command_scope(guild));
  return json_reply(HttpStatus::ok, json::serialize(it == sim.commands.end() ? json::array{} : json::array(it->second)));
}

HttpReply overwrite_commands(Sim& sim, const HttpRequest& req, std::optional<std::uint64_t> guild) {
  return put_commands(sim, req.body, command_scope(guild), guild);
}

std::optional<HttpReply> refuse_unknown_resource(Sim& sim, RouteId route, const RouteCaptures& at) {
  switch (route) {
  case RouteId::channel_message_create:
    if (!known_channel(sim, at.channel)) return discord_error(HttpStatus::not_found, 10003, "Unknown Channel");
    return std::nullopt;
  case RouteId::channel_message_edit:
  case RouteId::channel_message_delete:
  case RouteId::reaction_add:
  case RouteId::reaction_remove:
    if (!known_channel(sim, at.channel)) return discord_error(HttpStatus::not_found, 10003, "Unknown Channel");
    if (!at.message) return discord_error(HttpStatus::not_found, 10008, "Unknown Message");
    return std::nullopt;
  case RouteId::guild_member_get:
  case RouteId::guild_member_edit:
  case RouteId::member_role_add:
  case RouteId::member_role_remove:
  case RouteId::bans_list:
  case RouteId::ban_create:
  case RouteId::ban_remove:
  case RouteId::role_create:
  case RouteId::role_edit:
  case RouteId::role_delete:
    if (!at.guild || !sim.world.find(*at.guild)) return discord_error(HttpStatus::not_found, 10004, "Unknown Guild");
    break;
  default: return std::nullopt;
  }
  // A guild's routes: what the path names in it.
  const bool names_user = route == RouteId::guild_member_get || route == RouteId::guild_member_edit ||
                          route == RouteId::member_role_add || route == RouteId::member_role_remove ||
                          route == RouteId::ban_create || route == RouteId::ban_remove;
  const bool names_role = route == RouteId::member_role_add || route == RouteId::member_role_remove ||
                          route == RouteId::role_edit || route == RouteId::role_delete;
  if (names_user && !at.user) return discord_error(HttpStatus::not_found, 10013, "Unknown User");
  if (names_role && !at.role) return discord_error(HttpStatus::not_found, 10011, "Unknown Role");
  return std::nullopt;
}

HttpReply no_content_reply() {
  HttpReply reply;
  reply.status = HttpStatus::no_content;
  reply.content_type.clear();
  return reply;
}

HttpReply create_channel_message(Sim& sim, const HttpRequest& req, std::uint64_t channel) {
  auto body = parse_json_body(req.body);
  if (!body || !body->is_object()) return discord_error(HttpStatus::bad_request, 50035, "Invalid Form Body");
  if (auto refusal = refuse_message_body(body->get_object(), false)) return std::move(*refusal);
  auto msg = bot_message(sim, sim.new_id(), channel, body->get_object());
  msg["guild_id"] = std::to_string(channel - 1);
  auto text = json::serialize(msg);
  remember_channel_message(sim, channel, text);
  return json_reply(HttpStatus::ok, std::move(text));
}

HttpReply edit_channel_message(Sim& sim, const HttpRequest& req, std::uint64_t channel, std::uint64_t message) {
  auto body = parse_json_body(req.body);
  if (!body || !body->is_object()) return discord_error(HttpStatus::bad_request, 50035, "Invalid Form Body");
  if (auto refusal = refuse_message_body(body->get_object(), true)) return std::move(*refusal);
  // Any message id is taken as one of the bot's own messages in the channel (the simulator
  // keeps no message store to look it up in).
  auto msg = bot_message(sim, message, channel, body->get_object());
  msg["guild_id"] = std::to_string(channel - 1);
  msg["edited_timestamp"] = iso8601_ms(wall_now_ms());
  return json_reply(HttpStatus::ok, json::serialize(msg));
}

HttpReply add_or_remove_reaction(std::string_view emoji) {
  // A custom emoji is name:id, a Unicode one its characters (percent-decoded already).
  if (emoji.empty() || emoji.size() > 100) return discord_error(HttpStatus::bad_request, 10014, "Unknown Emoji");
  return no_content_reply();
}

HttpReply answer_interaction(Sim& sim, const HttpRequest& req, const RouteCaptures& at) {
  auto body = parse_json_body(req.body);
  if (!body || !body->is_object() || !body->get_object().contains("type") || !body->at("type").is_int64())
    return discord_error(HttpStatus::bad_request, 50035, "Invalid Form Body");
  const auto raw_type = body->at("type").get_int64();
  if (raw_type < 1 || raw_type > 12) return discord_error(HttpStatus::bad_request, 50035, "Invalid Form Body (type)");
  auto type = static_cast<int>(raw_type);
  if (type == 4 || type == 7) {
    auto* data = body->get_object().if_contains("data");
    if (!data || !data->is_object())
      return discord_error(HttpStatus::bad_request, 50035, "Invalid Form Body (data)");
    if (auto refusal = refuse_message_body(data->get_object(), false)) return std::move(*refusal);
  }
  // An id that is not a snowflake names no interaction: the store refuses it as unknown.
  auto e = sim.interactions.callback(at.interaction.value_or(0), at.token, type, json::serialize(*body));
  if (e != InteractionError::none) return refuse_interaction(sim, e);
  return no_content_reply();
}

HttpReply webhook_message(Sim& sim, const HttpRequest& req, std::string_view token, bool edit_original) {
  auto body = parse_json_body(req.body);
  if (!body || !body->is_object()) return discord_error(HttpStatus::bad_request, 50035, "Invalid Form Body");
  if (auto refusal = refuse_message_body(body->get_object(), edit_original)) return std::move(*refusal);
  auto body_text = json::serialize(*body);
  auto e = edit_original ? sim.interactions.edit_original(token, body_text) : sim.interactions.followup(token, body_text);
  if (e != InteractionError::none) return refuse_interaction(sim, e);
  auto msg = bot_message(sim, sim.new_id(), 0, body->get_object(), sim.world.application_id());
  return json_reply(HttpStatus::ok, json::serialize(msg));
}

} // namespace shardline::sim
