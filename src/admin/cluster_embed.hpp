#pragma once
// The Discord side of the shared rendering: the same ClusterReport and hub status that
// `shardline clusters` and `shardline ipc-status` print as tables, as embeds for /clusters and
// /ipcstatus. Every embed stays within Discord's limits (25 fields, 1,024 characters a field,
// 4,096 a description, 6,000 in all).

#include "admin/cluster_report.hpp"
#include "core/config.hpp"
#include "link/hub_link.hpp"

#include <boost/json.hpp>

namespace shardline::admin {

inline constexpr std::uint32_t kColourGreen = 0x2ECC71, kColourYellow = 0xF1C40F, kColourRed = 0xE74C3C;

// /clusters: a field per cluster (health mark, guilds, users, shards, latency, uptime), the
// totals, the hub's status, and the clusters that did not answer in time. The colour is the
// worst health shown.
boost::json::object clusters_embed(const ClusterReport& r);

// /ipcstatus: this cluster's IPC settings (secret masked), then on the hub the connected
// clients with their heartbeat ages, or on a client its link to the hub.
boost::json::object ipc_status_embed(const Config& cfg, const std::optional<protocol::HubStatus>& hub,
                                     const link::LinkStatus* link, const boost::json::object* own_rest = nullptr);

// A broadcast posted to SHARD_BROADCAST_CHANNEL_ID.
boost::json::object broadcast_embed(const link::BroadcastMessage& b);

// 1234567 -> "1,234,567".
std::string with_thousands(std::uint64_t n);

} // namespace shardline::admin
