#include "protocol/hub_messages.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace shardline::protocol {

namespace {

json::array to_array(const std::vector<std::uint32_t>& ids) {
  json::array a;
  a.reserve(ids.size());
  for (auto id : ids) a.emplace_back(id);
  return a;
}

template <class T>
json::array to_array_of(const std::vector<T>& items) {
  json::array a;
  a.reserve(items.size());
  for (auto& i : items) a.emplace_back(to_data(i));
  return a;
}

json::value optional_value(const std::optional<std::uint32_t>& v) {
  if (v) return *v;
  return nullptr;
}

} // namespace

// ---- hub status --------------------------------------------------------------------------------

HubClient HubClient::read(const ObjectReader& r) {
  HubClient c;
  c.name = r.required<std::string>("name");
  c.role = r.get_or<std::string>("role", "cluster");
  c.proto = static_cast<int>(r.get_or<std::uint32_t>("proto", 2));
  c.address = r.get_or<std::string>("address", "");
  c.shard_ids = r.array<std::uint32_t>("shard_ids", kMaxShardIdsPerAuth, false);
  c.shard_count = r.get_or<std::uint32_t>("shard_count", 0);
  c.guild_count = r.get_or<std::uint64_t>("guild_count", 0);
  c.generation = r.get_or<std::int64_t>("generation", 0);
  c.connected_for = r.get_or<double>("connected_for", 0);
  c.last_heartbeat_age = r.get_or<double>("last_heartbeat_age", -1);
  c.health = r.get_or<std::string>("health", "red");
  if (r.has("stats")) c.stats = r.required<ClusterStats>("stats");
  c.stats_age = r.optional<double>("stats_age");
  return c;
}

void HubClient::write(json::object& o) const {
  o["name"] = name;
  o["role"] = role;
  o["proto"] = proto;
  o["address"] = address;
  o["shard_ids"] = to_array(shard_ids);
  o["shard_count"] = shard_count;
  o["guild_count"] = guild_count;
  o["generation"] = generation;
  o["connected_for"] = connected_for;
  o["last_heartbeat_age"] = last_heartbeat_age;
  o["health"] = health;
  if (stats) o["stats"] = to_data(*stats);
  if (stats_age) o["stats_age"] = *stats_age;
}

IdentifyStatus IdentifyStatus::read(const ObjectReader& r) {
  IdentifyStatus s;
  s.granted = r.get_or<std::uint64_t>("granted", 0);
  s.queued = r.get_or<std::uint64_t>("queued", 0);
  s.max_concurrency = r.get_or<std::uint32_t>("max_concurrency", 0);
  s.window_ms = r.get_or<std::uint32_t>("window_ms", 0);
  s.budget_remaining = r.optional<std::uint32_t>("budget_remaining");
  s.refused_budget = r.get_or<std::uint64_t>("refused_budget", 0);
  s.reserve = r.get_or<std::uint32_t>("reserve", 0);
  return s;
}

void IdentifyStatus::write(json::object& o) const {
  o["granted"] = granted;
  o["queued"] = queued;
  o["max_concurrency"] = max_concurrency;
  o["window_ms"] = window_ms;
  o["budget_remaining"] = optional_value(budget_remaining);
  o["refused_budget"] = refused_budget;
  o["reserve"] = reserve;
}

HubStatus HubStatus::read(const ObjectReader& r) {
  HubStatus s;
  s.hub = r.get_or<std::string>("hub", "");
  s.mode = r.get_or<std::string>("mode", "");
  s.host = r.get_or<std::string>("host", "");
  s.port = r.get_or<std::uint16_t>("port", 0);
  s.proto = static_cast<int>(r.get_or<std::uint32_t>("proto", 2));
  s.legacy_auth = r.get_or<bool>("legacy_auth", false);
  s.tls = r.get_or<bool>("tls", false);
  s.uptime = r.get_or<double>("uptime", 0);
  s.connections = r.get_or<std::uint64_t>("connections", 0);
  s.unauthenticated = r.get_or<std::uint64_t>("unauthenticated", 0);
  s.routed = r.get_or<std::uint64_t>("routed", 0);
  s.rejected = r.get_or<std::uint64_t>("rejected", 0);
  s.unroutable = r.get_or<std::uint64_t>("unroutable", 0);
  s.clients = r.array<HubClient>("clients", 1u << 20, false);
  if (r.has("identify")) s.identify = r.required<IdentifyStatus>("identify");
  s.sessions_known = r.get_or<std::uint64_t>("sessions_known", 0);
  if (auto* rest = r.find("rest"); rest && rest->is_object()) s.rest = rest->get_object();
  if (r.has("thresholds")) {
    ObjectReader t(*r.find("thresholds"), "thresholds.");
    s.thresholds.heartbeat_green_s = t.get_or<double>("heartbeat_green_s", s.thresholds.heartbeat_green_s);
    s.thresholds.heartbeat_yellow_s = t.get_or<double>("heartbeat_yellow_s", s.thresholds.heartbeat_yellow_s);
    s.thresholds.stats_green_s = t.get_or<double>("stats_green_s", s.thresholds.stats_green_s);
    s.thresholds.stats_hide_s = t.get_or<double>("stats_hide_s", s.thresholds.stats_hide_s);
  }
  return s;
}

void HubStatus::write(json::object& o) const {
  o["hub"] = hub;
  o["mode"] = mode;
  o["host"] = host;
  o["port"] = port;
  o["proto"] = proto;
  o["legacy_auth"] = legacy_auth;
  o["tls"] = tls;
  o["uptime"] = uptime;
  o["connections"] = connections;
  o["unauthenticated"] = unauthenticated;
  o["routed"] = routed;
  o["rejected"] = rejected;
  o["unroutable"] = unroutable;
  o["clients"] = to_array_of(clients);
  o["identify"] = to_data(identify);
  o["sessions_known"] = sessions_known;
  if (rest) o["rest"] = *rest;
  o["thresholds"] = json::object{{"heartbeat_green_s", thresholds.heartbeat_green_s},
                                 {"heartbeat_yellow_s", thresholds.heartbeat_yellow_s},
                                 {"stats_green_s", thresholds.stats_green_s},
                                 {"stats_hide_s", thresholds.stats_hide_s}};
}

std::vector<const HubClient*> HubStatus::clusters() const {
  std::vector<const HubClient*> out;
  for (auto& c : clients)
    if (c.cluster()) out.push_back(&c);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->name < b->name; });
  return out;
}

// ---- IDENTIFY slots ----------------------------------------------------------------------------

SessionBudget SessionBudget::read(const ObjectReader& r) {
  return {r.required<std::uint32_t>("total"), r.required<std::uint32_t>("remaining"),
          r.required<std::uint64_t>("reset_after_ms")};
}
void SessionBudget::write(json::object& o) const {
  o["total"] = total;
  o["remaining"] = remaining;
  o["reset_after_ms"] = reset_after_ms;
}

IdentifyRequest IdentifyRequest::read(const ObjectReader& r) {
  IdentifyRequest q;
  q.shard_id = r.required<std::uint32_t>("shard_id");
  q.shard_count = r.required<std::uint32_t>("shard_count");
  q.max_concurrency = r.required<std::uint32_t>("max_concurrency");
  q.window_ms = r.get_or<std::uint32_t>("window_ms", 5000);
  if (r.has("budget")) {
    if (!r.find("budget")->is_object()) r.fail("budget", "must be an object {total, remaining, reset_after_ms}");
    q.budget = r.required<SessionBudget>("budget");
  }
  return q;
}
void IdentifyRequest::write(json::object& o) const {
  o["shard_id"] = shard_id;
  o["shard_count"] = shard_count;
  o["max_concurrency"] = max_concurrency;
  o["window_ms"] = window_ms;
  if (budget) o["budget"] = to_data(*budget);
}

IdentifyGrant IdentifyGrant::read(const ObjectReader& r) {
  IdentifyGrant g;
  g.shard_id = r.get_or<std::uint32_t>("shard_id", 0);
  g.shard_count = r.get_or<std::uint32_t>("shard_count", 0);
  g.bucket = r.get_or<std::uint32_t>("bucket", 0);
  g.remaining = r.optional<std::uint32_t>("remaining");
  return g;
}
void IdentifyGrant::write(json::object& o) const {
  o["shard_id"] = shard_id;
  o["shard_count"] = shard_count;
  o["bucket"] = bucket;
  o["remaining"] = optional_value(remaining);
}

// ---- shard sessions ----------------------------------------------------------------------------

SessionReportItem SessionReportItem::read(const ObjectReader& r) {
  SessionReportItem s;
  s.shard_id = r.required<std::uint32_t>("shard_id");
  auto* sid = r.find("session_id");
  if (!sid) r.fail("session_id", "is required (null deletes the shard's session)");
  if (sid->is_string()) s.session_id = std::string(sid->get_string());
  else if (!sid->is_null()) r.fail("session_id", "must be a string or null");
  // A deletion may leave seq and resume_url out; when present they are still checked, so a
  // peer's encoding bug shows up instead of being ignored.
  if (s.session_id) {
    s.seq = r.required<std::uint64_t>("seq");
    s.resume_url = r.required<std::string>("resume_url");
    s.binding = r.get_or<std::string>("binding", "");
  } else {
    s.seq = r.get_or<std::uint64_t>("seq", 0);
    s.resume_url = r.get_or<std::string>("resume_url", "");
  }
  return s;
}
void SessionReportItem::write(json::object& o) const {
  o["shard_id"] = shard_id;
  if (!session_id) {
    o["session_id"] = nullptr;
    return;
  }
  o["session_id"] = *session_id;
  o["seq"] = seq;
  o["resume_url"] = resume_url;
  if (!binding.empty()) o["binding"] = binding;
}

std::string validate(const SessionReport& r) {
  if (r.shard_count < 1 || r.shard_count > kMaxSessionShardCount)
    return fmt::format("shard_count must be 1..{}", kMaxSessionShardCount);
  if (r.sessions.size() > kMaxSessionsPerFrame)
    return fmt::format("sessions has {} entries, at most {} per report", r.sessions.size(), kMaxSessionsPerFrame);
  for (std::size_t i = 0; i < r.sessions.size(); ++i) {
    const auto& s = r.sessions[i];
    if (s.shard_id >= r.shard_count)
      return fmt::format("sessions[{}].shard_id {} is not below shard_count {}", i, s.shard_id, r.shard_count);
    if (!s.session_id) continue; // a deletion needs nothing else
    if (!valid_session_id(*s.session_id))
      return fmt::format("sessions[{}].session_id must be 1..{} characters of A-Z a-z 0-9 _ - (or null)", i,
                         kMaxSessionIdChars);
    if (!valid_resume_url(s.resume_url))
      return fmt::format("sessions[{}].resume_url must be a ws:// or wss:// URL of at most {} printable characters",
                         i, kMaxResumeUrlChars);
    if (!s.binding.empty() && !valid_session_binding(s.binding))
      return fmt::format("sessions[{}].binding must be 1..{} characters of A-Z a-z 0-9 _ -", i, kMaxBindingChars);
  }
  return {};
}

std::string validate(const SessionLookup& l) {
  if (l.shard_count < 1 || l.shard_count > kMaxSessionShardCount)
    return fmt::format("shard_count must be 1..{}", kMaxSessionShardCount);
  if (l.shard_ids.size() > kMaxSessionsPerFrame)
    return fmt::format("shard_ids has {} entries, at most {} per lookup", l.shard_ids.size(), kMaxSessionsPerFrame);
  for (std::size_t i = 0; i < l.shard_ids.size(); ++i)
    if (l.shard_ids[i] >= l.shard_count)
      return fmt::format("shard_ids[{}] {} is not below shard_count {}", i, l.shard_ids[i], l.shard_count);
  return {};
}

SessionReport SessionReport::read(const ObjectReader& r) {
  SessionReport s;
  s.shard_count = r.required<std::uint32_t>("shard_count");
  s.sessions = r.array<SessionReportItem>("sessions", kMaxSessionsPerFrame);
  if (auto err = validate(s); !err.empty()) throw DecodeError(err);
  return s;
}
void SessionReport::write(json::object& o) const {
  o["shard_count"] = shard_count;
  o["sessions"] = to_array_of(sessions);
}

SessionReportAck SessionReportAck::read(const ObjectReader& r) {
  return {r.get_or<std::uint64_t>("stored", 0), r.get_or<std::uint64_t>("deleted", 0),
          r.get_or<std::uint64_t>("ignored", 0)};
}
void SessionReportAck::write(json::object& o) const {
  o["stored"] = stored;
  o["deleted"] = deleted;
  o["ignored"] = ignored;
}

SessionLookup SessionLookup::read(const ObjectReader& r) {
  SessionLookup l;
  l.shard_count = r.required<std::uint32_t>("shard_count");
  l.shard_ids = r.array<std::uint32_t>("shard_ids", kMaxSessionsPerFrame);
  if (auto err = validate(l); !err.empty()) throw DecodeError(err);
  return l;
}
void SessionLookup::write(json::object& o) const {
  o["shard_count"] = shard_count;
  o["shard_ids"] = to_array(shard_ids);
}

SessionLookupEntry SessionLookupEntry::read(const ObjectReader& r) {
  SessionLookupEntry e;
  e.shard_id = r.required<std::uint32_t>("shard_id");
  e.shard_count = r.required<std::uint32_t>("shard_count");
  e.session_id = r.required<std::string>("session_id");
  e.seq = r.required<std::uint64_t>("seq");
  e.resume_url = r.required<std::string>("resume_url");
  e.reported_by = r.get_or<std::string>("reported_by", "");
  e.age_s = r.get_or<double>("age_s", 0);
  e.binding = r.get_or<std::string>("binding", "");
  return e;
}
void SessionLookupEntry::write(json::object& o) const {
  o["shard_id"] = shard_id;
  o["shard_count"] = shard_count;
  o["session_id"] = session_id;
  o["seq"] = seq;
  o["resume_url"] = resume_url;
  o["reported_by"] = reported_by;
  o["age_s"] = age_s;
  if (!binding.empty()) o["binding"] = binding;
}

SessionLookupResponse SessionLookupResponse::read(const ObjectReader& r) {
  SessionLookupResponse s;
  // Entries this process cannot use are skipped by the caller; a malformed one is skipped here.
  if (auto* a = r.find("sessions"); a && a->is_array()) {
    for (std::size_t i = 0; i < a->get_array().size() && i < kMaxSessionsPerFrame; ++i) {
      try {
        s.sessions.push_back(SessionLookupEntry::read(ObjectReader(a->get_array()[i], "sessions[]")));
      } catch (const DecodeError&) {
      }
    }
  }
  if (r.has("more")) s.more = r.array<std::uint32_t>("more", kMaxSessionsPerFrame);
  return s;
}
void SessionLookupResponse::write(json::object& o) const {
  o["sessions"] = to_array_of(sessions);
  if (!more.empty()) o["more"] = to_array(more);
}

// ---- the supervisor's control ------------------------------------------------------------------

LaunchRequest LaunchRequest::read(const ObjectReader& r) {
  LaunchRequest q;
  q.action = r.get_or<std::string>("action", "");
  if (auto* v = r.find("rolling"); v && v->is_bool()) q.rolling = v->get_bool();
  if (auto* v = r.find("bots"); v && v->is_bool()) q.bots = v->get_bool();
  if (r.has("shards")) {
    std::uint64_t n = 0;
    if (!read_snowflake(*r.find("shards"), n) || n > UINT32_MAX) r.fail("shards", "must be a shard count");
    q.shards = static_cast<std::uint32_t>(n);
  }
  return q;
}
void LaunchRequest::write(json::object& o) const {
  o["action"] = action;
  if (rolling) o["rolling"] = true;
  if (shards) o["shards"] = *shards;
  if (bots) o["bots"] = true;
}

SupervisedBot SupervisedBot::read(const ObjectReader& r) {
  SupervisedBot b;
  b.pid = r.get_or<std::int64_t>("pid", 0);
  b.uptime = r.get_or<double>("uptime", 0);
  b.restarts = r.get_or<std::uint32_t>("restarts", 0);
  b.state = r.get_or<std::string>("state", "");
  b.error = r.get_or<std::string>("error", "");
  b.api_url = r.get_or<std::string>("api_url", "");
  return b;
}
void SupervisedBot::write(json::object& o) const {
  o["pid"] = pid;
  o["uptime"] = uptime;
  o["restarts"] = restarts;
  o["state"] = state;
  o["error"] = error;
  o["api_url"] = api_url;
}

SupervisedCluster SupervisedCluster::read(const ObjectReader& r) {
  SupervisedCluster c;
  c.name = r.get_or<std::string>("name", "");
  c.shard_ids = r.array<std::uint32_t>("shard_ids", kMaxShardIdsPerAuth, false);
  c.pid = r.get_or<std::int64_t>("pid", 0);
  c.generation = r.get_or<std::int64_t>("generation", 0);
  c.up = r.get_or<bool>("up", false);
  c.restarts = r.get_or<std::uint32_t>("restarts", 0);
  c.given_up = r.get_or<bool>("given_up", false);
  if (r.has("bot")) c.bot = r.required<SupervisedBot>("bot");
  return c;
}
void SupervisedCluster::write(json::object& o) const {
  o["name"] = name;
  o["shard_ids"] = to_array(shard_ids);
  o["pid"] = pid;
  o["generation"] = generation;
  o["up"] = up;
  o["restarts"] = restarts;
  o["given_up"] = given_up;
  if (bot) o["bot"] = to_data(*bot);
}

ReshardJob ReshardJob::read(const ObjectReader& r) {
  return {r.get_or<bool>("running", false), r.get_or<std::uint32_t>("target", 0), r.get_or<std::string>("phase", ""),
          r.get_or<std::string>("error", "")};
}
void ReshardJob::write(json::object& o) const {
  o["running"] = running;
  o["target"] = target;
  o["phase"] = phase;
  o["error"] = error;
}

RollingJob RollingJob::read(const ObjectReader& r) {
  return {r.get_or<bool>("running", false), r.get_or<std::uint64_t>("done", 0), r.get_or<std::uint64_t>("skipped", 0),
          r.get_or<std::uint64_t>("total", 0),  r.get_or<std::string>("current", ""),
          r.get_or<std::string>("error", "")};
}
void RollingJob::write(json::object& o) const {
  o["running"] = running;
  o["done"] = done;
  o["skipped"] = skipped;
  o["total"] = total;
  o["current"] = current;
  o["error"] = error;
}

SupervisorStatus SupervisorStatus::read(const ObjectReader& r) {
  SupervisorStatus s;
  s.clusters = r.array<SupervisedCluster>("clusters", 1u << 20, false);
  s.shard_count = r.get_or<std::uint32_t>("shard_count", 0);
  if (r.has("reshard")) s.reshard = r.required<ReshardJob>("reshard");
  if (r.has("rolling")) s.rolling = r.required<RollingJob>("rolling");
  if (r.has("bots")) s.bots = r.required<RollingJob>("bots");
  return s;
}
void SupervisorStatus::write(json::object& o) const {
  o["clusters"] = to_array_of(clusters);
  o["shard_count"] = shard_count;
  o["reshard"] = to_data(reshard);
  o["rolling"] = to_data(rolling);
  o["bots"] = to_data(bots);
}

LaunchStarted LaunchStarted::read(const ObjectReader& r) {
  LaunchStarted s;
  s.error = r.get_or<std::string>("error", "");
  s.started = s.error.empty() && r.get_or<bool>("started", false);
  s.clusters = r.optional<std::uint64_t>("clusters");
  s.from = r.optional<std::uint32_t>("from");
  s.to = r.optional<std::uint32_t>("to");
  return s;
}
void LaunchStarted::write(json::object& o) const {
  if (!error.empty()) {
    o["error"] = error;
    return;
  }
  o["started"] = started;
  if (clusters) o["clusters"] = *clusters;
  if (from) o["from"] = *from;
  if (to) o["to"] = *to;
}

} // namespace shardline::protocol
