#include "protocol/messages.hpp"

#include "core/config.hpp"
#include "core/crypto.hpp"
#include "core/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace shardline::protocol {

namespace {

bool is_lower_hex(std::string_view s, std::size_t len) {
  return s.size() == len &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

json::array to_array(const std::vector<std::uint32_t>& ids) {
  json::array a;
  a.reserve(ids.size());
  for (auto id : ids) a.emplace_back(id);
  return a;
}

json::array to_array(const std::vector<std::string>& names) {
  json::array a;
  a.reserve(names.size());
  for (auto& n : names) a.emplace_back(n);
  return a;
}

// Lenient reads for what version-1 peers publish: a missing or ill-typed field reads as absent.
template <class T>
std::optional<T> lenient(const ObjectReader& r, std::string_view key) {
  try {
    return r.optional<T>(key);
  } catch (const DecodeError&) {
    return std::nullopt;
  }
}

// A count a peer publishes (guild_count...): an integer, or any non-negative number (Python's
// float division), clamped rather than refused.
std::uint64_t lenient_count(const ObjectReader& r, std::string_view key) {
  auto* v = r.find(key);
  if (!v || !v->is_number()) return 0;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64()) return v->get_int64() > 0 ? static_cast<std::uint64_t>(v->get_int64()) : 0;
  double d = v->get_double();
  if (!(d > 0)) return 0;
  if (d >= 18446744073709551616.0) return UINT64_MAX;
  return static_cast<std::uint64_t>(d);
}

// Shard ids as a peer publishes them; entries that are not ids are skipped.
std::vector<std::uint32_t> lenient_ids(const ObjectReader& r, std::string_view key) {
  std::vector<std::uint32_t> out;
  auto* v = r.find(key);
  if (!v || !v->is_array()) return out;
  for (auto& e : v->get_array()) {
    std::uint64_t n = 0;
    if (read_uint(e, kMaxShardId, n)) out.push_back(static_cast<std::uint32_t>(n));
  }
  return out;
}

// A non-finite double goes out as null: Shardline never emits NaN or Infinity (§2).
json::value finite_or_null(std::optional<double> d) {
  if (!d || !std::isfinite(*d)) return nullptr;
  return *d;
}

} // namespace

// ---- authentication --------------------------------------------------------------------------

Auth Auth::read(const ObjectReader& r) {
  Auth a;
  a.cluster_name = r.required<std::string>("cluster_name");
  if (!is_valid_cluster_name(a.cluster_name))
    r.fail("cluster_name", "is not a cluster name (1-64 of A-Z a-z 0-9 - _ ., not all, hub, shard:* or guild:*)");
  a.shard_ids = r.array<std::uint32_t>("shard_ids", kMaxShardIdsPerAuth, false);
  for (auto id : a.shard_ids)
    if (id > kMaxShardId) r.fail("shard_ids", fmt::format("has {}, above {}", id, kMaxShardId));
  a.shard_count = r.get_or<std::uint32_t>("shard_count", 0);
  // SHARD_COUNT may be 1,048,576 (2^20): ids are then 0..2^20-1.
  if (a.shard_count > kMaxShardId + 1) r.fail("shard_count", fmt::format("must be at most {}", kMaxShardId + 1));
  a.guild_count = r.get_or<std::uint64_t>("guild_count", 0);
  auto* proto = r.find("proto");
  if (proto && proto->is_number() && proto->to_number<double>() == 2) {
    a.proto = 2;
    a.role = r.get_or<std::string>("role", "cluster");
    if (a.role != "cluster" && a.role != "admin") r.fail("role", "must be cluster or admin");
    a.instance = r.get_or<std::string>("instance", "");
    if (a.instance.size() > kMaxInstanceChars) r.fail("instance", "must be at most 128 characters");
    a.generation = r.get_or<std::int64_t>("generation", 0);
    a.client_nonce = r.get_or<std::string>("client_nonce", "");
    if (!is_lower_hex(a.client_nonce, 32)) r.fail("client_nonce", "must be 32 lowercase hex digits");
    return a;
  }
  a.proto = 1;
  if (!r.find("secret")) r.fail("secret", "is required by version 1 (or send proto: 2)");
  a.secret = r.get_or<std::string>("secret", "");
  return a;
}

void Auth::write(json::object& o) const {
  if (proto == 2) {
    o["proto"] = 2;
    o["cluster_name"] = cluster_name;
    o["role"] = role;
    o["shard_ids"] = to_array(shard_ids);
    o["shard_count"] = shard_count;
    o["guild_count"] = guild_count;
    o["instance"] = instance;
    o["generation"] = generation;
    o["client_nonce"] = client_nonce;
    return;
  }
  o["secret"] = secret.value_or("");
  o["cluster_name"] = cluster_name;
  o["shard_ids"] = to_array(shard_ids);
  o["shard_count"] = shard_count;
  o["guild_count"] = guild_count;
}

AuthChallenge AuthChallenge::read(const ObjectReader& r) { return {r.required<std::string>("server_nonce")}; }
void AuthChallenge::write(json::object& o) const {
  o["proto"] = 2;
  o["server_nonce"] = server_nonce;
}

AuthProof AuthProof::read(const ObjectReader& r) { return {r.get_or<std::string>("mac", "")}; }
void AuthProof::write(json::object& o) const { o["mac"] = mac; }

AuthResponse AuthResponse::read(const ObjectReader& r) {
  AuthResponse a;
  a.success = r.get_or<bool>("success", false);
  a.error = lenient<std::string>(r, "error").value_or("refused");
  a.server_cluster = lenient<std::string>(r, "server_cluster").value_or("?");
  if (auto* cc = r.find("connected_clients"); cc && cc->is_array())
    for (auto& v : cc->get_array())
      if (v.is_string()) a.connected_clients.emplace_back(v.get_string());
  auto* proto = r.find("proto");
  a.proto = proto && proto->is_number() && proto->to_number<double>() == 2 ? 2 : 1;
  a.server_mac = lenient<std::string>(r, "server_mac").value_or("");
  return a;
}

void AuthResponse::write(json::object& o) const {
  o["success"] = success;
  if (!success) {
    o["error"] = error;
    return;
  }
  o["server_cluster"] = server_cluster;
  o["connected_clients"] = to_array(connected_clients);
  if (proto == 2) {
    o["proto"] = 2;
    o["server_mac"] = server_mac;
  }
}

std::string client_mac(std::string_view secret, std::string_view cluster_name, std::string_view client_nonce,
                       std::string_view server_nonce) {
  return hmac_sha256_hex(secret,
                         fmt::format("shardline-v2-client|{}|{}|{}", cluster_name, client_nonce, server_nonce));
}

std::string server_mac(std::string_view secret, std::string_view cluster_name, std::string_view client_nonce,
                       std::string_view server_nonce) {
  return hmac_sha256_hex(secret,
                         fmt::format("shardline-v2-server|{}|{}|{}", cluster_name, client_nonce, server_nonce));
}

// ---- liveness and stats ----------------------------------------------------------------------

Heartbeat Heartbeat::read(const ObjectReader& r) {
  return {lenient<double>(r, "timestamp"), lenient<std::uint64_t>(r, "guild_count")};
}
void Heartbeat::write(json::object& o) const {
  if (timestamp) o["timestamp"] = *timestamp;
  if (guild_count) o["guild_count"] = *guild_count;
}

HeartbeatAck HeartbeatAck::read(const ObjectReader& r) { return {lenient<double>(r, "timestamp").value_or(0)}; }
void HeartbeatAck::write(json::object& o) const { o["timestamp"] = timestamp; }

ClusterStats ClusterStats::read(const ObjectReader& r) {
  ClusterStats s;
  s.cluster_name = lenient<std::string>(r, "cluster_name").value_or("");
  s.guild_count = lenient_count(r, "guild_count");
  s.user_count = lenient_count(r, "user_count");
  s.shard_count = lenient_count(r, "shard_count");
  s.shard_ids = lenient_ids(r, "shard_ids");
  s.latency = lenient<double>(r, "latency");
  if (s.latency && !std::isfinite(*s.latency)) s.latency.reset();
  s.uptime = lenient<double>(r, "uptime").value_or(0);
  s.mode = lenient<std::string>(r, "mode").value_or("");
  s.timestamp = lenient<double>(r, "timestamp").value_or(0);
  s.active = lenient<bool>(r, "active");
  s.layout = lenient<std::uint32_t>(r, "layout");
  if (auto* rest = r.find("rest"); rest && rest->is_object()) s.rest = rest->get_object();
  return s;
}

void ClusterStats::write(json::object& o) const {
  o["cluster_name"] = cluster_name;
  o["guild_count"] = guild_count;
  o["user_count"] = user_count;
  o["shard_count"] = shard_count;
  o["shard_ids"] = to_array(shard_ids);
  o["latency"] = finite_or_null(latency);
  o["uptime"] = uptime;
  o["mode"] = mode;
  if (active) o["active"] = *active;
  if (layout) o["layout"] = *layout;
  if (rest) o["rest"] = *rest;
  o["timestamp"] = timestamp;
}

GuildCountResponse GuildCountResponse::read(const ObjectReader& r) {
  return {lenient_count(r, "guild_count"), lenient_count(r, "user_count"), lenient_count(r, "shard_count")};
}
void GuildCountResponse::write(json::object& o) const {
  o["guild_count"] = guild_count;
  o["user_count"] = user_count;
  o["shard_count"] = shard_count;
}

EvalRequest EvalRequest::read(const ObjectReader& r) { return {lenient<std::string>(r, "query").value_or("")}; }
void EvalRequest::write(json::object& o) const { o["query"] = query; }

std::optional<json::value> preset_from_stats(std::string_view query, const ClusterStats& s) {
  if (query == "guild_count") return json::value(s.guild_count);
  if (query == "user_count") return json::value(s.user_count);
  if (query == "shard_count") return json::value(s.shard_ids.empty() ? s.shard_count : s.shard_ids.size());
  if (query == "latency") return finite_or_null(s.latency);
  if (query == "uptime") return json::value(s.uptime);
  return std::nullopt;
}

EvalResponse EvalResponse::read(const ObjectReader& r) {
  EvalResponse e;
  e.query = lenient<std::string>(r, "query").value_or("");
  if (auto* v = r.find("result")) e.result = *v;
  return e;
}
void EvalResponse::write(json::object& o) const {
  o["query"] = query;
  o["result"] = result;
}

// ---- membership and messages -----------------------------------------------------------------

ClusterJoin ClusterJoin::read(const ObjectReader& r) {
  return {lenient<std::string>(r, "cluster_name").value_or(""), lenient_ids(r, "shard_ids")};
}
void ClusterJoin::write(json::object& o) const {
  o["cluster_name"] = cluster_name;
  o["shard_ids"] = to_array(shard_ids);
}

ClusterLeave ClusterLeave::read(const ObjectReader& r) {
  return {lenient<std::string>(r, "cluster_name").value_or("")};
}
void ClusterLeave::write(json::object& o) const { o["cluster_name"] = cluster_name; }

Broadcast Broadcast::read(const ObjectReader& r) {
  Broadcast b;
  b.message = cap_characters(lenient<std::string>(r, "message").value_or(""), kMaxBroadcastChars);
  b.author = cap_characters(lenient<std::string>(r, "author").value_or("?"), 100);
  if (auto* a = r.find("author_id")) {
    // A number in version 1, a snowflake string from some peers: take either.
    if (!read_snowflake(*a, b.author_id)) b.author_id = 0;
  }
  return b;
}
void Broadcast::write(json::object& o) const {
  o["message"] = message;
  o["author"] = author;
  o["author_id"] = author_id; // a number, as the seed's version-1 field is
}

ErrorMessage ErrorMessage::read(const ObjectReader& r) {
  return {lenient<std::string>(r, "code").value_or("error"), lenient<std::string>(r, "message").value_or(""),
          lenient<std::string>(r, "target").value_or("")};
}
void ErrorMessage::write(json::object& o) const {
  o["code"] = code;
  o["message"] = message;
  if (!target.empty()) o["target"] = target;
}

Fanout Fanout::read(const ObjectReader& r) {
  Fanout f;
  if (auto* t = r.find("targets"); t && t->is_array())
    for (auto& v : t->get_array())
      if (v.is_string()) f.targets.emplace_back(v.get_string());
  return f;
}
void Fanout::write(json::object& o) const { o["targets"] = to_array(targets); }

Layout Layout::read(const ObjectReader& r) {
  auto* a = r.find("active");
  if (!a || !a->is_bool()) r.fail("active", "must be true or false (layout_request needs active: true|false)");
  return {a->get_bool()};
}
void Layout::write(json::object& o) const { o["active"] = active; }

} // namespace shardline::protocol
