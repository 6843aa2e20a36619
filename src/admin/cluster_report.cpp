#include "admin/cluster_report.hpp"

#include "protocol/health.hpp"
#include "protocol/messages.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace shardline::admin {

namespace json = boost::json;

namespace {
std::uint64_t get_u64(const json::object& o, std::string_view k) {
  // A peer's count arrives as a JSON number; converting one at or past 2^64 is undefined.
  double v = protocol::get_number(o, k, 0);
  if (!(v > 0)) return 0;
  if (v >= 18446744073709551616.0) return UINT64_MAX;
  return static_cast<std::uint64_t>(v);
}

const json::array* clients_of(const json::object& hub) {
  auto* c = hub.if_contains("clients");
  return c && c->is_array() ? &c->get_array() : nullptr;
}

std::string_view emoji_for(const std::string& health) {
  if (health == "green") return protocol::to_emoji(protocol::Health::green);
  if (health == "yellow") return protocol::to_emoji(protocol::Health::yellow);
  return protocol::to_emoji(protocol::Health::red);
}
} // namespace

std::string format_duration(double s) {
  if (!(s >= 0)) return "-";
  // A peer's figure: converting one past 2^64 to an integer is undefined.
  auto t = s < 1e15 ? static_cast<std::uint64_t>(s) : std::uint64_t(1e15);
  if (t >= 86400) return fmt::format("{}d {:02}h", t / 86400, (t % 86400) / 3600);
  if (t >= 3600) return fmt::format("{}h {:02}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m {:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

std::string format_latency(double seconds) {
  double ms = seconds * 1000;
  if (!(ms >= 0) || ms > 1e9) return "-";
  return ms < 10 ? fmt::format("{:.1f} ms", ms) : fmt::format("{:.0f} ms", ms);
}

ClusterReport build_report(const json::object& hub_status, const link::FanoutResult& stats, int timeout_ms) {
  ClusterReport r;
  r.hub = hub_status;
  r.timeout_ms = timeout_ms;
  std::map<std::string, ClusterRow> rows;

  if (auto* clients = clients_of(hub_status)) {
    for (auto& v : *clients) {
      if (!v.is_object()) continue;
      auto& c = v.get_object();
      if (protocol::get_string(c, "role") != "cluster") continue;
      auto& row = rows[protocol::get_string(c, "name")];
      row.name = protocol::get_string(c, "name");
      row.health = protocol::get_string(c, "health", "red");
      row.heartbeat_age = protocol::get_number(c, "last_heartbeat_age", -1);
    }
  }
  auto fill = [](ClusterRow& row, const json::object& d) {
    row.guilds = get_u64(d, "guild_count");
    row.users = get_u64(d, "user_count");
    row.shards = get_u64(d, "shard_count");
    if (auto* ids = d.if_contains("shard_ids"); ids && ids->is_array())
      for (auto& id : ids->get_array()) {
        std::uint64_t n = 0;
        if (protocol::get_uint64(id, n)) row.shard_ids.push_back(static_cast<std::uint32_t>(n));
      }
    if (auto* l = d.if_contains("latency"); l && l->is_number()) row.latency = protocol::get_number(d, "latency");
    row.uptime = protocol::get_number(d, "uptime", 0);
    row.mode = protocol::get_string(d, "mode");
  };
  for (auto& [name, reply] : stats.replies) {
    if (!reply.ok) continue;
    auto& row = rows[name];
    row.name = name;
    row.answered = true;
    fill(row, reply.data);
    if (row.heartbeat_age < 0) row.health = "green"; // answered now, so alive
  }
  for (auto& name : stats.missing) {
    auto& row = rows[name];
    row.name = name;
  }
  // Section 7: stats the hub kept are used for a cluster that did not answer in time, while
  // they are younger than stats_hide_s; older ones never reach the totals.
  if (auto* clients = clients_of(hub_status)) {
    double hide_s = 300;
    if (auto* t = hub_status.if_contains("thresholds"); t && t->is_object())
      hide_s = protocol::get_number(t->get_object(), "stats_hide_s", hide_s);
    for (auto& v : *clients) {
      if (!v.is_object()) continue;
      auto& c = v.get_object();
      auto it = rows.find(protocol::get_string(c, "name"));
      auto* kept = c.if_contains("stats");
      double age = protocol::get_number(c, "stats_age", -1);
      if (it == rows.end() || it->second.answered || !kept || !kept->is_object() || !(age >= 0) || age >= hide_s)
        continue;
      fill(it->second, kept->get_object());
      it->second.stats_age = age;
    }
  }
  for (auto& [name, row] : rows) {
    if (!row.answered) r.missing.push_back(name);
    if (row.answered || row.stats_age) {
      r.total_guilds += row.guilds;
      r.total_users += row.users;
      r.total_shards += row.shards;
    }
    r.rows.push_back(std::move(row));
  }
  return r;
}

boost::asio::awaitable<ClusterReport> gather_report(link::HubLink* link, std::chrono::milliseconds timeout,
                                             std::optional<link::RequestResult> self) {
  using namespace boost::asio::experimental::awaitable_operators;
  json::object hub;
  link::FanoutResult stats;
  if (link && link->linked()) {
    auto [h, s] = co_await (link->request("hub_status_request", {}, link->server_name(), timeout) &&
                            link->request_all("stats_request", {}, timeout));
    if (h.ok) hub = std::move(h.data);
    stats = std::move(s);
  }
  if (self) stats.replies[self->from] = std::move(*self);
  co_return build_report(hub, stats, static_cast<int>(timeout.count()));
}

std::vector<std::string> cluster_names(const json::object& hub_status) {
  std::vector<std::string> names;
  if (auto* clients = clients_of(hub_status))
    for (auto& c : *clients)
      if (c.is_object() && protocol::get_string(c.get_object(), "role") == "cluster")
        names.push_back(protocol::get_string(c.get_object(), "name"));
  std::sort(names.begin(), names.end());
  return names;
}

std::string render_text(const ClusterReport& r) {
  std::string out;
  if (!r.hub.empty()) {
    out += fmt::format("Hub {} ({}) on {}:{} · up {} · {} cluster(s) · legacy auth {} · TLS {}\n\n",
                       protocol::get_string(r.hub, "hub"), protocol::get_string(r.hub, "mode"), protocol::get_string(r.hub, "host"),
                       get_u64(r.hub, "port"), format_duration(protocol::get_number(r.hub, "uptime")), r.rows.size(),
                       r.hub.contains("legacy_auth") && r.hub.at("legacy_auth").is_bool() &&
                               r.hub.at("legacy_auth").get_bool()
                           ? "on"
                           : "off",
                       r.hub.contains("tls") && r.hub.at("tls").is_bool() && r.hub.at("tls").get_bool() ? "on" : "off");
  } else {
    out += "Hub: did not answer\n\n";
  }
  // The health mark is an emoji two columns wide: pad the word after it, not the pair.
  out += fmt::format("  {:<20} {:<10} {:>9} {:>11} {:>7} {:>9} {:>9}\n", "CLUSTER", "HEALTH", "GUILDS", "USERS",
                     "SHARDS", "LATENCY", "UPTIME");
  for (auto& row : r.rows) {
    if (!row.answered && !row.stats_age) {
      out += fmt::format("  {:<20} {} {:<7} {:>9} {:>11} {:>7} {:>9} {:>9}\n", row.name, emoji_for(row.health),
                         row.health, "-", "-", "-", "-", "no answer");
      continue;
    }
    auto latency = row.latency ? format_latency(*row.latency) : std::string("-");
    out += fmt::format("  {:<20} {} {:<7} {:>9} {:>11} {:>7} {:>9} {:>9}{}\n", row.name, emoji_for(row.health),
                       row.health, row.guilds, row.users, row.shards, latency, format_duration(row.uptime),
                       row.stats_age ? fmt::format("  (stats {} old)", format_duration(*row.stats_age)) : "");
  }
  out += fmt::format("  {:<20} {:<10} {:>9} {:>11} {:>7}\n", "TOTAL", "", r.total_guilds, r.total_users,
                     r.total_shards);
  if (!r.missing.empty()) {
    std::string names;
    for (auto& m : r.missing) names += (names.empty() ? "" : ", ") + m;
    out += fmt::format("\nNot answering within {} ms: {}\n", r.timeout_ms, names);
  }
  return out;
}

json::object to_json(const ClusterReport& r) {
  json::array clusters;
  for (auto& row : r.rows) {
    json::array ids;
    for (auto id : row.shard_ids) ids.emplace_back(id);
    json::object o{{"name", row.name},         {"answered", row.answered},   {"health", row.health},
                   {"guild_count", row.guilds}, {"user_count", row.users},    {"shard_count", row.shards},
                   {"shard_ids", std::move(ids)}, {"uptime", row.uptime},      {"mode", row.mode},
                   {"last_heartbeat_age", row.heartbeat_age}};
    if (row.latency) o["latency"] = *row.latency;
    else o["latency"] = nullptr;
    if (row.stats_age) o["stats_age"] = *row.stats_age;
    clusters.emplace_back(std::move(o));
  }
  json::array missing;
  for (auto& m : r.missing) missing.emplace_back(m);
  return json::object{{"hub", r.hub},
                      {"clusters", std::move(clusters)},
                      {"totals", {{"guilds", r.total_guilds}, {"users", r.total_users}, {"shards", r.total_shards}}},
                      {"missing", std::move(missing)}};
}

json::object ipc_status_json(const Config& cfg, const json::object& hub) {
  json::array clients;
  if (auto* cs = clients_of(hub)) clients = *cs;
  return json::object{{"mode", to_string(cfg.ipc_mode)},
                      {"host", cfg.ipc_host},
                      {"port", cfg.ipc_port},
                      {"secret", mask_secret(cfg.ipc_secret)},
                      {"legacy_auth", cfg.legacy_auth},
                      {"tls", cfg.tls_enabled()},
                      {"hub", hub.empty() ? json::value(nullptr) : json::value(hub.at("hub"))},
                      {"clients", std::move(clients)},
                      // The hub's IDENTIFY slots and the shard sessions it holds (a count).
                      {"identify", hub.contains("identify") ? hub.at("identify") : json::value(nullptr)},
                      {"sessions_known", hub.contains("sessions_known") ? hub.at("sessions_known") : json::value(nullptr)}};
}

std::string render_ipc_status_text(const Config& cfg, const json::object& hub) {
  std::string out = fmt::format("Mode: {}   Host: {}   Port: {}   Secret: {}   Legacy auth: {}   TLS: {}\n",
                                to_string(cfg.ipc_mode), cfg.ipc_host, cfg.ipc_port, mask_secret(cfg.ipc_secret),
                                cfg.legacy_auth ? "on" : "off", cfg.tls_enabled() ? "on" : "off");
  if (hub.empty()) return out + "Hub: did not answer\n";
  out += fmt::format("Hub: {} ({}), up {}\n", protocol::get_string(hub, "hub"), protocol::get_string(hub, "mode"),
                     format_duration(protocol::get_number(hub, "uptime")));
  if (auto* id = hub.if_contains("identify"); id && id->is_object()) {
    auto& o = id->get_object();
    auto* left = o.if_contains("budget_remaining");
    out += fmt::format("IDENTIFY slots: {} granted, {} queued, session budget {} · shard sessions held: {}\n",
                       get_u64(o, "granted"), get_u64(o, "queued"),
                       left && !left->is_null() ? fmt::format("{} left", json::serialize(*left)) : "unknown",
                       get_u64(hub, "sessions_known"));
  }
  auto* clients = clients_of(hub);
  out += fmt::format("Connected clients ({}):\n", clients ? clients->size() : 0);
  out += fmt::format("  {:<20} {:<8} {:>5}  {:<22} {:>14}  {}\n", "NAME", "ROLE", "PROTO", "ADDRESS",
                     "LAST HEARTBEAT", "HEALTH");
  if (clients)
    for (auto& v : *clients) {
      if (!v.is_object()) continue;
      auto& c = v.get_object();
      auto health = protocol::get_string(c, "health");
      out += fmt::format("  {:<20} {:<8} {:>5}  {:<22} {:>14}  {} {}\n", protocol::get_string(c, "name"),
                         protocol::get_string(c, "role"), get_u64(c, "proto"), protocol::get_string(c, "address"),
                         format_duration(protocol::get_number(c, "last_heartbeat_age")) + " ago", emoji_for(health), health);
    }
  return out;
}

} // namespace shardline::admin
