#include "admin/cluster_report.hpp"

#include "protocol/health.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

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
                           int timeout_ms, std::string v1_hub) {
  ClusterReport r;
  r.hub = hub;
  r.v1_hub = std::move(v1_hub);
  r.timeout_ms = timeout_ms;
  std::map<std::string, ClusterRow> rows;
  const int default_proto = r.v1_hub.empty() ? 2 : 1;

  if (hub)
    for (auto* c : hub->clusters()) {
      auto& row = rows[c->name];
      row.name = c->name;
      row.health = c->health;
      row.heartbeat_age = c->last_heartbeat_age;
      row.proto = c->proto;
    }
  for (auto& [name, reply] : stats.replies) {
    if (reply.is_error()) continue;
    auto [it, fresh] = rows.try_emplace(name);
    auto& row = it->second;
    if (fresh) row.proto = default_proto;
    row.name = name;
    row.answered = true;
    fill(row, protocol::ClusterStats::read(protocol::ObjectReader(json::value(reply.data))));
    if (row.heartbeat_age < 0) row.health = "green"; // answered now, so alive
  }
  for (auto& name : stats.missing) {
    auto [it, fresh] = rows.try_emplace(name);
    if (fresh) it->second.proto = default_proto;
    it->second.name = name;
  }
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
  std::set<std::uint32_t> shards;
  std::uint64_t shards_without_ids = 0;
  for (auto& [name, row] : rows) {
    // The seed reports the bot's total in shard_count: its own shards are its ids.
    if (row.proto == 1 && !row.shard_ids.empty()) row.shards = row.shard_ids.size();
    if (!row.answered) r.missing.push_back(name);
    if (row.answered || row.stats_age) {
      r.total_guilds += row.guilds;
      r.total_users += row.users;
      if (row.shard_ids.empty()) shards_without_ids += row.shards;
      shards.insert(row.shard_ids.begin(), row.shard_ids.end());
    }
    r.rows.push_back(std::move(row));
  }
  r.total_shards = shards.size() + shards_without_ids;
  return r;
}

boost::asio::awaitable<ClusterReport> gather_report(link::HubLink* link, std::chrono::milliseconds timeout,
                                                    std::optional<protocol::ClusterStats> self) {
  using namespace boost::asio::experimental::awaitable_operators;
  std::optional<protocol::HubStatus> hub;
  link::FanoutResult stats;
  std::string v1_hub;
  if (link && link->linked() && link->speaks_v1()) {
    // The seed's server keeps no status for tools: every cluster (and the server) is asked.
    v1_hub = link->server_name();
    stats = co_await link->request_all("stats_request", json::object{}, timeout);
  } else if (link && link->linked()) {
    auto [h, s] = co_await (link->hub_status(timeout) && link->request_all("stats_request", json::object{}, timeout));
    if (h) hub = std::move(*h);
    stats = std::move(s);
  }
  if (self) stats.replies[self->cluster_name] = link::Reply{self->cluster_name, "stats_broadcast", protocol::to_data(*self)};
  co_return build_report(hub, stats, static_cast<int>(timeout.count()), std::move(v1_hub));
}

void attach_bots(ClusterReport& r, const protocol::SupervisorStatus& supervisor) {
  for (auto& c : supervisor.clusters)
    if (c.bot) r.bots.push_back({c.name, *c.bot});
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
  } else if (!r.v1_hub.empty()) {
    out += fmt::format("Hub {} (protocol version 1: it keeps no status for tools) · {} cluster(s)\n\n", r.v1_hub,
                       r.rows.size());
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
  if (!r.bots.empty()) {
    out += fmt::format("\nBot processes ({}):\n", r.bots.size());
    out += fmt::format("  {:<20} {:<12} {:>8} {:>9} {:>8}  {}\n", "CLUSTER", "STATE", "PID", "UPTIME", "RESTARTS",
                       "ENDPOINT");
    for (auto& [cluster, bot] : r.bots) {
      out += fmt::format("  {:<20} {:<12} {:>8} {:>9} {:>8}  {}\n", cluster, bot.state,
                         bot.pid ? std::to_string(bot.pid) : std::string("-"),
                         bot.pid ? format_duration(bot.uptime) : std::string("-"), bot.restarts,
                         bot.api_url.empty() ? std::string("-") : bot.api_url);
      if (!bot.error.empty()) out += fmt::format("  {:<20} {}\n", "", bot.error);
    }
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
    for (auto& b : r.bots)
      if (b.cluster == row.name) o["bot"] = protocol::to_data(b.bot);
    clusters.emplace_back(std::move(o));
  }
  json::array bots;
  for (auto& b : r.bots) {
    auto o = protocol::to_data(b.bot);
    o["cluster"] = b.cluster;
    bots.emplace_back(std::move(o));
  }
  json::array missing;
  for (auto& m : r.missing) missing.emplace_back(m);
  json::value hub = json::object{};
  if (r.hub) hub = json::value_from(*r.hub);
  else if (!r.v1_hub.empty()) hub = json::object{{"hub", r.v1_hub}, {"proto", 1}};
  return json::object{{"hub", std::move(hub)},
                      {"clusters", std::move(clusters)},
                      {"totals", {{"guilds", r.total_guilds}, {"users", r.total_users}, {"shards", r.total_shards}}},
                      {"missing", std::move(missing)},
                      {"bots", std::move(bots)}};
}

json::object ipc_status_json(const Config& cfg, const IpcStatusView& view) {
  const auto& hub = view.hub;
  json::array clients;
  if (hub)
    for (auto& c : hub->clients) clients.emplace_back(json::value_from(c));
  for (auto& n : view.v1_clusters) clients.emplace_back(json::object{{"name", n}, {"role", "cluster"}});
  json::value hub_name = nullptr;
  if (hub) hub_name = hub->hub;
  else if (!view.v1_hub.empty()) hub_name = view.v1_hub;
  json::object out{{"mode", to_string(cfg.ipc_mode)},
                   {"host", cfg.ipc_host},
                   {"port", cfg.ipc_port},
                   {"secret", mask_secret(cfg.ipc_secret)},
                   {"legacy_auth", cfg.legacy_auth},
                   {"tls", cfg.tls_enabled()},
                   {"hub", std::move(hub_name)},
                   {"hub_protocol", hub ? 2 : view.v1_hub.empty() ? 0 : 1},
                   // The hub's own settings, which decide what its peers may do (this tool's
                   // are above).
                   {"hub_legacy_auth", hub ? json::value(hub->legacy_auth) : json::value(nullptr)},
                   {"hub_tls", hub ? json::value(hub->tls) : json::value(nullptr)},
                   {"hub_mode", hub ? json::value(hub->mode) : json::value(nullptr)},
                   {"clients", std::move(clients)},
                   // The hub's IDENTIFY slots and the shard sessions it holds (a count).
                   {"identify", hub ? json::value_from(hub->identify) : json::value(nullptr)},
                   {"sessions_known", hub ? json::value(hub->sessions_known) : json::value(nullptr)}};
  return out;
}

std::string render_ipc_status_text(const Config& cfg, const IpcStatusView& view) {
  const auto& hub = view.hub;
  std::string out;
  if (hub) {
    out += fmt::format("Hub: {} ({}) on {}:{}, up {} · legacy auth {} · TLS {}\n", hub->hub, hub->mode, hub->host,
                       hub->port, format_duration(hub->uptime), hub->legacy_auth ? "on" : "off",
                       hub->tls ? "on" : "off");
  } else if (!view.v1_hub.empty()) {
    out += fmt::format("Hub: {} (protocol version 1: the seed's server; it keeps no status for tools)\n", view.v1_hub);
  } else {
    out += "Hub: did not answer\n";
  }
  out += fmt::format("This tool: mode {} · host {} · port {} · secret {} · legacy auth {} · TLS {}\n",
                     to_string(cfg.ipc_mode), cfg.ipc_host, cfg.ipc_port, mask_secret(cfg.ipc_secret),
                     cfg.legacy_auth ? "on" : "off", cfg.tls_enabled() ? "on" : "off");
  if (!hub) {
    if (!view.v1_hub.empty()) {
      out += fmt::format("Clusters it announced ({}):\n", view.v1_clusters.size());
      for (auto& n : view.v1_clusters) out += "  " + n + "\n";
    }
    return out;
  }
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
