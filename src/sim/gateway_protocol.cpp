#include "sim/gateway_protocol.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cmath>
#include <ctime>

namespace shardline::sim {

namespace json = boost::json;

namespace {

// Intents Discord defines: bits 0-16, 20, 21, 24, 25.
constexpr std::uint64_t kKnownIntents = 0x1FFFFull | (1ull << 20) | (1ull << 21) | (1ull << 24) | (1ull << 25);
constexpr const char* kTrace = "[\"shardline-sim\",{\"micros\":0}]";

std::optional<json::value> parse_json(std::string_view text) {
  json::parse_options po;
  po.max_depth = 16; // client payloads are shallow; a deep one is hostile
  boost::system::error_code ec;
  auto v = json::parse(text, ec, {}, po);
  if (ec) return std::nullopt;
  return v;
}

// A non-negative integer JSON value (Boost.JSON may hold it as int64, uint64 or an integral
// double such as 1.0, which clients written in JavaScript send).
std::optional<std::uint64_t> as_count(const json::value& v) {
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<std::uint64_t>(v.get_int64());
  if (v.is_double()) {
    double d = v.get_double();
    if (d >= 0 && d < 9.007e15 && d == std::floor(d)) return static_cast<std::uint64_t>(d);
  }
  return std::nullopt;
}

std::string str_id(std::uint64_t id) { return std::to_string(id); }

} // namespace

std::optional<ClientCommand> parse_command(std::string_view text, GatewayError& err) {
  auto v = parse_json(text);
  if (!v || !v->is_object()) {
    err = {close_code::decode_error, "Error while decoding payload."};
    return std::nullopt;
  }
  auto& o = v->get_object();
  auto* opv = o.if_contains("op");
  auto opn = opv ? as_count(*opv) : std::nullopt;
  if (!opn) {
    err = {close_code::decode_error, "Error while decoding payload."};
    return std::nullopt;
  }
  ClientCommand c;
  c.op = static_cast<int>(std::min<std::uint64_t>(*opn, 1000));
  if (!op::sent_by_client(*opn)) {
    err = {close_code::unknown_opcode, "Unknown opcode."};
    return std::nullopt;
  }
  auto* d = o.if_contains("d");
  if (c.op == op::heartbeat && d && !d->is_null()) c.heartbeat_seq = as_count(*d);
  if ((c.op == op::identify || c.op == op::resume || c.op == op::request_guild_members) && d)
    c.d_json = json::serialize(*d);
  return c;
}

std::optional<Identify> parse_identify(std::string_view d_json, GatewayError& err) {
  auto v = parse_json(d_json);
  auto decode = [&] {
    err = {close_code::decode_error, "Error while decoding payload."};
    return std::nullopt;
  };
  if (!v || !v->is_object()) return decode();
  auto& o = v->get_object();
  Identify id;
  auto* token = o.if_contains("token");
  if (!token || !token->is_string()) return decode();
  id.token = std::string(token->get_string());
  auto* props = o.if_contains("properties");
  if (props && !props->is_object()) return decode();
  auto* intents = o.if_contains("intents");
  auto in = intents ? as_count(*intents) : std::nullopt;
  if (!in || (*in & ~kKnownIntents) != 0) {
    err = {close_code::invalid_intents, "Invalid intent(s)."};
    return std::nullopt;
  }
  id.intents = *in;
  if (auto* lt = o.if_contains("large_threshold"); lt && !lt->is_null()) {
    auto n = as_count(*lt);
    if (!n) return decode();
    id.large_threshold = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(*n, 50, 250));
  }
  if (auto* sh = o.if_contains("shard"); sh && !sh->is_null()) {
    if (!sh->is_array() || sh->get_array().size() != 2) return decode();
    auto sid = as_count(sh->get_array()[0]);
    auto cnt = as_count(sh->get_array()[1]);
    if (!sid || !cnt) return decode();
    if (*cnt == 0 || *sid >= *cnt || *cnt > 1'000'000) {
      err = {close_code::invalid_shard, "Invalid shard."};
      return std::nullopt;
    }
    id.shard_id = static_cast<std::uint32_t>(*sid);
    id.num_shards = static_cast<std::uint32_t>(*cnt);
  }
  return id;
}

std::optional<Resume> parse_resume(std::string_view d_json, GatewayError& err) {
  auto v = parse_json(d_json);
  err = {close_code::decode_error, "Error while decoding payload."};
  if (!v || !v->is_object()) return std::nullopt;
  auto& o = v->get_object();
  auto* token = o.if_contains("token");
  auto* sid = o.if_contains("session_id");
  auto* seq = o.if_contains("seq");
  if (!token || !token->is_string() || !sid || !sid->is_string() || sid->get_string().size() > 128)
    return std::nullopt;
  Resume r;
  r.token = std::string(token->get_string());
  r.session_id = std::string(sid->get_string());
  if (seq && !seq->is_null()) {
    auto n = as_count(*seq);
    if (!n) return std::nullopt;
    r.seq = *n;
  }
  err = {};
  return r;
}

std::string hello_frame(std::uint32_t heartbeat_interval_ms) {
  return "{\"t\":null,\"s\":null,\"op\":10,\"d\":{\"heartbeat_interval\":" + std::to_string(heartbeat_interval_ms) +
         ",\"_trace\":[" + json::serialize(json::string(kTrace)) + "]}}";
}

std::string heartbeat_ack_frame() { return "{\"t\":null,\"s\":null,\"op\":11,\"d\":null}"; }

std::string heartbeat_request_frame(std::uint64_t last_seq) {
  return "{\"t\":null,\"s\":null,\"op\":1,\"d\":" + (last_seq ? std::to_string(last_seq) : std::string("null")) + "}";
}

std::string reconnect_frame() { return "{\"t\":null,\"s\":null,\"op\":7,\"d\":null}"; }

std::string invalid_session_frame(bool resumable) {
  return std::string("{\"t\":null,\"s\":null,\"op\":9,\"d\":") + (resumable ? "true" : "false") + "}";
}

std::string dispatch_frame(std::string_view type, std::uint64_t seq, std::string_view data_json) {
  std::string out;
  out.reserve(data_json.size() + type.size() + 40);
  out += "{\"t\":\"";
  out += type; // event names are fixed upper-case identifiers: nothing to escape
  out += "\",\"s\":";
  out += std::to_string(seq);
  out += ",\"op\":0,\"d\":";
  out += data_json;
  out += '}';
  return out;
}

std::string iso8601_ms(std::uint64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03u000+00:00", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<unsigned>(unix_ms % 1000));
  return buf;
}

namespace {

json::object bot_user(const World& w) {
  return json::object{{"id", str_id(w.bot_user_id())},
                      {"username", w.bot_name()},
                      {"discriminator", "0000"},
                      {"global_name", nullptr},
                      {"avatar", nullptr},
                      {"bot", true},
                      {"system", false},
                      {"mfa_enabled", true},
                      {"verified", true},
                      {"email", nullptr},
                      {"flags", 0},
                      {"public_flags", 0}};
}

} // namespace

std::string bot_user_json(const World& world) { return json::serialize(bot_user(world)); }

std::string ready_data(const World& world, std::string_view session_id, std::string_view resume_url,
                       std::uint32_t shard_id, std::uint32_t num_shards) {
  json::array guilds;
  for (auto* g : world.guilds_of_shard(shard_id, num_shards))
    guilds.push_back(json::object{{"id", str_id(g->id)}, {"unavailable", true}});
  json::object d{{"v", 10},
                 {"user_settings", json::object{}},
                 {"user", bot_user(world)},
                 {"session_type", "normal"},
                 {"session_id", session_id},
                 {"resume_gateway_url", resume_url},
                 {"shard", json::array{shard_id, num_shards}},
                 {"application", json::object{{"id", str_id(world.application_id())}, {"flags", 0}}},
                 {"private_channels", json::array{}},
                 {"relationships", json::array{}},
                 {"presences", json::array{}},
                 {"guild_join_requests", json::array{}},
                 {"geo_ordered_rtc_regions", json::array{"local"}},
                 {"_trace", json::array{kTrace}}};
  d["guilds"] = std::move(guilds);
  return json::serialize(d);
}

std::optional<MemberRequest> parse_member_request(std::string_view d_json, GatewayError& err) {
  auto v = parse_json(d_json);
  auto decode = [&] {
    err = {close_code::decode_error, "Error while decoding payload."};
    return std::nullopt;
  };
  if (!v || !v->is_object()) return decode();
  auto& o = v->get_object();
  MemberRequest r;
  auto id_of = [](const json::value& x) -> std::optional<std::uint64_t> {
    if (!x.is_string()) return std::nullopt;
    std::uint64_t n = 0;
    auto s = x.get_string();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return n;
  };
  auto* g = o.if_contains("guild_id");
  if (!g) return decode();
  if (g->is_array()) {
    if (g->get_array().size() > 100) return decode();
    for (auto& e : g->get_array()) {
      auto id = id_of(e);
      if (!id) return decode();
      r.guild_ids.push_back(*id);
    }
  } else {
    auto id = id_of(*g);
    if (!id) return decode();
    r.guild_ids.push_back(*id);
  }
  if (auto* n = o.if_contains("nonce"); n && !n->is_null()) {
    if (!n->is_string() || n->get_string().size() > 32) return decode();
    r.nonce = std::string(n->get_string());
  }
  return r;
}

std::string guild_create_data(const World& world, const Guild& g, std::uint32_t large_threshold) {
  auto created = World::unix_ms_of(g.id);
  // Derived ids: the owner, the #general channel and the @everyone role (whose id is the
  // guild's, as on Discord).
  auto owner = World::snowflake(created - 3'600'000, 0, 2, static_cast<std::uint32_t>(g.id % 4096));
  auto general = g.id + 1;
  auto joined = created + (g.id % 997) * 86'400'000ULL / 10;
  json::object everyone{{"id", str_id(g.id)},     {"name", "@everyone"}, {"permissions", "1071698660929"},
                        {"position", 0},          {"color", 0},          {"hoist", false},
                        {"managed", false},       {"mentionable", false}, {"icon", nullptr},
                        {"unicode_emoji", nullptr}, {"flags", 0}};
  json::object channel{{"id", str_id(general)}, {"type", 0},   {"guild_id", str_id(g.id)},
                       {"name", "general"},     {"position", 0}, {"permission_overwrites", json::array{}},
                       {"nsfw", false},         {"topic", nullptr}, {"last_message_id", nullptr},
                       {"parent_id", nullptr},  {"rate_limit_per_user", 0}, {"flags", 0}};
  json::object me{{"user", bot_user(world)}, {"roles", json::array{}}, {"joined_at", iso8601_ms(joined)},
                  {"deaf", false},           {"mute", false},          {"flags", 0},
                  {"nick", nullptr},         {"avatar", nullptr},      {"pending", false},
                  {"premium_since", nullptr}, {"communication_disabled_until", nullptr}};
  json::object d{{"id", str_id(g.id)},
                 {"name", g.name},
                 {"icon", nullptr},
                 {"splash", nullptr},
                 {"discovery_splash", nullptr},
                 {"banner", nullptr},
                 {"description", nullptr},
                 {"owner_id", str_id(owner)},
                 {"application_id", nullptr},
                 {"afk_channel_id", nullptr},
                 {"afk_timeout", 300},
                 {"system_channel_id", str_id(general)},
                 {"system_channel_flags", 0},
                 {"rules_channel_id", nullptr},
                 {"public_updates_channel_id", nullptr},
                 {"safety_alerts_channel_id", nullptr},
                 {"verification_level", 1},
                 {"default_message_notifications", 1},
                 {"explicit_content_filter", 2},
                 {"mfa_level", 0},
                 {"nsfw_level", 0},
                 {"premium_tier", 0},
                 {"premium_subscription_count", 0},
                 {"premium_progress_bar_enabled", false},
                 {"preferred_locale", "en-US"},
                 {"vanity_url_code", nullptr},
                 {"max_members", 500000},
                 {"max_video_channel_users", 25},
                 {"features", json::array{}},
                 {"emojis", json::array{}},
                 {"stickers", json::array{}},
                 {"roles", json::array{std::move(everyone)}},
                 {"channels", json::array{std::move(channel)}},
                 {"threads", json::array{}},
                 {"members", json::array{std::move(me)}},
                 {"presences", json::array{}},
                 {"voice_states", json::array{}},
                 {"stage_instances", json::array{}},
                 {"guild_scheduled_events", json::array{}},
                 {"soundboard_sounds", json::array{}},
                 {"joined_at", iso8601_ms(joined)},
                 {"large", g.member_count > large_threshold},
                 {"unavailable", false},
                 {"member_count", g.member_count},
                 {"lazy", true}};
  return json::serialize(d);
}

std::string guild_members_chunk_data(const World& world, const Guild& g, const std::optional<std::string>& nonce) {
  auto joined = World::unix_ms_of(g.id) + (g.id % 997) * 86'400'000ULL / 10;
  json::object me{{"user", bot_user(world)}, {"roles", json::array{}}, {"joined_at", iso8601_ms(joined)},
                  {"deaf", false},           {"mute", false},          {"flags", 0},
                  {"nick", nullptr},         {"avatar", nullptr},      {"pending", false},
                  {"premium_since", nullptr}, {"communication_disabled_until", nullptr}};
  json::object d{{"guild_id", str_id(g.id)},
                 {"members", json::array{std::move(me)}},
                 {"chunk_index", 0},
                 {"chunk_count", 1}};
  if (nonce) d["nonce"] = *nonce;
  return json::serialize(d);
}

std::string guild_unavailable_data(const Guild& g) {
  return "{\"id\":\"" + str_id(g.id) + "\",\"unavailable\":true}";
}

namespace {

json::object member_of(std::uint64_t user_id, std::uint64_t unix_ms) {
  return json::object{{"user", json::object{{"id", str_id(user_id)},
                                            {"username", "user" + std::to_string(user_id % 100000)},
                                            {"discriminator", "0"},
                                            {"global_name", nullptr},
                                            {"avatar", nullptr},
                                            {"public_flags", 0}}},
                      {"roles", json::array{}},
                      {"joined_at", iso8601_ms(unix_ms)},
                      {"deaf", false},
                      {"mute", false},
                      {"flags", 0},
                      {"pending", false},
                      {"nick", nullptr},
                      {"avatar", nullptr},
                      {"premium_since", nullptr},
                      {"communication_disabled_until", nullptr},
                      {"permissions", "1071698660929"}};
}

} // namespace

std::string interaction_create_data(const World& world, const Interaction& in, std::uint64_t command_id) {
  auto& sp = in.spec;
  json::value options = json::array{};
  boost::system::error_code ec;
  if (auto parsed = json::parse(sp.options_json, ec); !ec && parsed.is_array()) options = std::move(parsed);
  auto joined = World::unix_ms_of(sp.user_id);
  json::object d{{"id", str_id(in.id)},
                 {"application_id", str_id(world.application_id())},
                 {"type", 2},
                 {"token", in.token},
                 {"version", 1},
                 {"guild_id", str_id(sp.guild_id)},
                 {"channel_id", str_id(sp.channel_id)},
                 {"channel", json::object{{"id", str_id(sp.channel_id)},
                                          {"type", 0},
                                          {"guild_id", str_id(sp.guild_id)},
                                          {"name", "general"},
                                          {"nsfw", false},
                                          {"permissions", "1071698660929"},
                                          {"flags", 0}}},
                 {"guild", json::object{{"id", str_id(sp.guild_id)}, {"locale", "en-US"}, {"features", json::array{}}}},
                 {"member", member_of(sp.user_id, joined)},
                 {"data", json::object{{"id", str_id(command_id)},
                                       {"name", sp.name},
                                       {"type", 1},
                                       {"options", std::move(options)}}},
                 {"locale", "en-US"},
                 {"guild_locale", "en-US"},
                 {"app_permissions", "1071698660929"},
                 {"entitlements", json::array{}},
                 {"authorizing_integration_owners", json::object{{"0", str_id(sp.guild_id)}}},
                 {"context", 0},
                 {"attachment_size_limit", 10485760}};
  return json::serialize(d);
}

std::string user_message_data(std::uint64_t message_id, std::uint64_t unix_ms, std::uint64_t guild_id,
                              std::uint64_t channel_id, std::uint64_t user_id, std::string_view content) {
  auto member = member_of(user_id, unix_ms);
  auto author = member["user"];
  member.erase("user");
  json::object d{{"type", 0},
                 {"tts", false},
                 {"timestamp", iso8601_ms(unix_ms)},
                 {"pinned", false},
                 {"mentions", json::array{}},
                 {"mention_roles", json::array{}},
                 {"mention_everyone", false},
                 {"id", str_id(message_id)},
                 {"flags", 0},
                 {"embeds", json::array{}},
                 {"edited_timestamp", nullptr},
                 {"content", content},
                 {"components", json::array{}},
                 {"channel_id", str_id(channel_id)},
                 {"author", std::move(author)},
                 {"attachments", json::array{}},
                 {"guild_id", str_id(guild_id)},
                 {"member", std::move(member)}};
  return json::serialize(d);
}

std::string guild_removed_data(std::uint64_t guild_id) { return "{\"id\":\"" + str_id(guild_id) + "\"}"; }

std::string resumed_data() { return std::string("{\"_trace\":[") + json::serialize(json::string(kTrace)) + "]}"; }

} // namespace shardline::sim
