#include "admin/cluster_report.hpp"

#include "protocol/health.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace shardline::admin {

namespace json = boost::json;

namespace {

std::string_view emoji_for(const std::string& health) {
  if (health == "green") return protocol::to_emoji(protocol::Health::green);
  if (health == "yellow") return protocol::to_emoji(protocol::Health::yellow);
  return protocol::to_emoji(protocol::Health::red);
}

void fill(ClusterRow& row, const protocol::ClusterStats& s) {
  row.guilds = s.guild_count;
  row.users = s.user_count;
  row.shards = s.shard_count;
  row.shard_ids = s.shard_ids;
  row.latency = s.latency;
  row.uptime = s.uptime;
  row.mode = s.mode;
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

ClusterReport build_report(const std::optional<protocol::HubStatus>& hub, const link::FanoutResult& stats,
                           int timeout_ms) {
  ClusterReport r;
  r.hub = hub;
  r.timeout_ms = timeout_ms;
  std::map<std::string, ClusterRow> rows;

  if (hub)
    for (auto* c : hub->clusters()) {
      auto& row = rows[c->name];
      row.name = c->name;
      row.health = c->health;
      row.heartbeat_age = c->last_heartbeat_age;
    }
  for (auto& [name, reply] : stats.replies) {
    if (reply.is_error()) continue;
    auto& row = rows[name];
    row.name = name;
    row.answered = true;
    fill(row, protocol::ClusterStats::read(protocol::ObjectReader(json::value(reply.data))));
    if (row.heartbeat_age < 0) row.health = "green"; // answered now, so alive
  }
  for (auto& name : stats.missing) rows[name].name = name;
  // §7: stats the hub kept are used for a cluster that did not answer in time, while they are
  // younger than stats_hide_s; older ones never reach the totals.
  if (hub)
    for (auto& c : hub->clients) {
      auto it = rows.find(c.name);
      if (it == rows.end() || it->second.answered || !c.stats || !c.stats_age || !(*c.stats_age >= 0) ||
          *c.stats_age >= hub->thresholds.stats_hide_s)
        continue;
      fill(it->second, *c.stats);
      it->second.stats_age = c.stats_age;
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
                                                    std::optional<protocol::ClusterStats> self) {
  using namespace boost::asio::experimental::awaitable_operators;
  std::optional<protocol::HubStatus> hub;
  link::FanoutResult stats;
  if (link && link->linked()) {
    auto [h, s] = co_await (link->hub_status(timeout) && link->request_all("stats_request", json::object{}, timeout));
    if (h) hub = std::move(*h);
    stats = std::move(s);
  }
  if (self) stats.replies[self->cluster_name] = link::Reply{self->cluster_name, "stats_broadcast", protocol::to_data(*self)};
  co_return build_report(hub, stats, static_cast<int>(timeout.count()));
}

std::vector<std::string> cluster_names(const protocol::HubStatus& hub) {
  std::vector<std::string> names;
  for (auto* c : hub.clusters()) names.push_back(c->name);
  return names;
}

std::string render_text(const ClusterReport& r) {
  std::string out;
  if (r.hub) {
    out += fmt::format("Hub {} ({}) on {}:{} · up {} · {} cluster(s) · legacy auth {} · TLS {}\n\n", r.hub->hub,
                       r.hub->mode, r.hub->host, r.hub->port, format_duration(r.hub->uptime), r.rows.size(),
                       r.hub->legacy_auth ? "on" : "off", r.hub->tls ? "on" : "off");
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
  return json::object{{"hub", r.hub ? json::value_from(*r.hub) : json::value(json::object{})},
                      {"clusters", std::move(clusters)},
                      {"totals", {{"guilds", r.total_guilds}, {"users", r.total_users}, {"shards", r.total_shards}}},
                      {"missing", std::move(missing)}};
}

json::object ipc_status_json(const Config& cfg, const std::optional<protocol::HubStatus>& hub) {
  json::array clients;
  if (hub)
    for (auto& c : hub->clients) clients.emplace_back(json::value_from(c));
  return json::object{{"mode", to_string(cfg.ipc_mode)},
                      {"host", cfg.ipc_host},
                      {"port", cfg.ipc_port},
                      {"secret", mask_secret(cfg.ipc_secret)},
                      {"legacy_auth", cfg.legacy_auth},
                      {"tls", cfg.tls_enabled()},
                      {"hub", hub ? json::value(hub->hub) : json::value(nullptr)},
                      {"clients", std::move(clients)},
                      // The hub's IDENTIFY slots and the shard sessions it holds (a count).
                      {"identify", hub ? json::value_from(hub->identify) : json::value(nullptr)},
                      {"sessions_known", hub ? json::value(hub->sessions_known) : json::value(nullptr)}};
}

std::string render_ipc_status_text(const Config& cfg, const std::optional<protocol::HubStatus>& hub) {
  std::string out = fmt::format("Mode: {}   Host: {}   Port: {}   Secret: {}   Legacy auth: {}   TLS: {}\n",
                                to_string(cfg.ipc_mode), cfg.ipc_host, cfg.ipc_port, mask_secret(cfg.ipc_secret),
                                cfg.legacy_auth ? "on" : "off", cfg.tls_enabled() ? "on" : "off");
  if (!hub) return out + "Hub: did not answer\n";
  out += fmt::format("Hub: {} ({}), up {}\n", hub->hub, hub->mode, format_duration(hub->uptime));
  auto& id = hub->identify;
  out += fmt::format("IDENTIFY slots: {} granted, {} queued, session budget {} · shard sessions held: {}\n", id.granted,
                     id.queued, id.budget_remaining ? fmt::format("{} left", *id.budget_remaining) : "unknown",
                     hub->sessions_known);
  out += fmt::format("Connected clients ({}):\n", hub->clients.size());
  out += fmt::format("  {:<20} {:<8} {:>5}  {:<22} {:>14}  {}\n", "NAME", "ROLE", "PROTO", "ADDRESS", "LAST HEARTBEAT",
                     "HEALTH");
  for (auto& c : hub->clients)
    out += fmt::format("  {:<20} {:<8} {:>5}  {:<22} {:>14}  {} {}\n", c.name, c.role, c.proto, c.address,
                       format_duration(c.last_heartbeat_age) + " ago", emoji_for(c.health), c.health);
  return out;
}

} // namespace shardline::admin
