#pragma once
// One model of "the fleet" built from the hub's status and the clusters' stats, rendered as a
// terminal table or JSON (and, later, a Discord embed), so every view shows the same numbers.

#include "core/config.hpp"
#include "link/hub_link.hpp"

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace shardline::admin {

struct ClusterRow {
  std::string name;
  bool answered = false;         // answered the stats request before the deadline
  // Did not answer, but the hub holds stats it published at most `stats_hide_s` ago
  // (docs/protocol.md §7): its numbers come from those and count in the totals.
  std::optional<double> stats_age;
  std::string health = "red";    // by heartbeat age, as the hub sees it
  double heartbeat_age = -1;     // seconds; -1 if the hub does not know the cluster
  std::uint64_t guilds = 0;
  std::uint64_t users = 0;
  std::uint64_t shards = 0;
  std::vector<std::uint32_t> shard_ids;
  std::optional<double> latency; // seconds; none before the first gateway heartbeat
  double uptime = 0;
  std::string mode;
  int proto = 2; // the protocol version it speaks (1: the seed's clusters)
};

// A bot process the supervisor runs beside a cluster (SHARD_BOT_COMMAND), from its status.
struct BotRow {
  std::string cluster;
  protocol::SupervisedBot bot;
};

struct ClusterReport {
  std::optional<protocol::HubStatus> hub; // nullopt: the hub did not answer
  // The hub speaks version 1 (the seed's server): its name. It keeps no status for tools, and
  // every cluster behind it follows the seed's conventions.
  std::string v1_hub;
  std::vector<ClusterRow> rows;  // sorted by name
  std::uint64_t total_guilds = 0, total_users = 0;
  // Distinct shard ids over the clusters counted: clusters of the seed report the bot's total in
  // shard_count, Shardline's their own, so summing counts would count shards twice.
  std::uint64_t total_shards = 0;
  std::vector<std::string> missing;
  int timeout_ms = 0;
  // The supervisor's bot processes, one per cluster slot; empty when the hub is not hosted by
  // `shardline launch` or it runs no bots.
  std::vector<BotRow> bots;
};

// Adds the bot processes of the supervisor's status to the report.
void attach_bots(ClusterReport& r, const protocol::SupervisorStatus& supervisor);

ClusterReport build_report(const std::optional<protocol::HubStatus>& hub, const link::FanoutResult& stats,
                           int timeout_ms, std::string v1_hub = {});

// Asks the hub for its status and every cluster for its stats, at once, each within `timeout`,
// and builds the report. `self`: the asking cluster's own stats (the hub sends "all" to every
// cluster but the asker); none for an admin tool. `link` (null: not linked) must outlive the
// wait. Used by `shardline clusters` and /clusters.
boost::asio::awaitable<ClusterReport> gather_report(link::HubLink* link, std::chrono::milliseconds timeout,
                                                    std::optional<protocol::ClusterStats> self);

// The names of the clusters (role cluster) in a hub status, sorted.
std::vector<std::string> cluster_names(const protocol::HubStatus& hub);
std::string render_text(const ClusterReport& r);
boost::json::object to_json(const ClusterReport& r);

// `ipc-status`: the hub's settings and connected clients, and this side's configuration. A hub
// that speaks version 1 has no status: `v1_hub` names it and `v1_clusters` lists what it
// announced.
struct IpcStatusView {
  std::optional<protocol::HubStatus> hub;
  std::string v1_hub;
  std::vector<std::string> v1_clusters;
};
std::string render_ipc_status_text(const Config& cfg, const IpcStatusView& view);
boost::json::object ipc_status_json(const Config& cfg, const IpcStatusView& view);

// "1h 02m", "3m 05s", "12s".
std::string format_duration(double seconds);
// "0.3 ms", "42 ms": a decimal below 10 ms (loopback and same-region links).
std::string format_latency(double seconds);

} // namespace shardline::admin
