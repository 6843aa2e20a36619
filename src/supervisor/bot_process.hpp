#pragma once
// The bot processes of `shardline launch` (SHARD_BOT_COMMAND, docs/supervisor.md "Bot
// processes"): the pure parts. One bot process runs beside each cluster process, started once
// that cluster's shards are READY and its endpoint's port is known, and pointed at it. What is
// decided here, without processes or sockets: the settings, which port each cluster's endpoint
// is given, the URLs and the environment a bot gets, and when a bot is restarted (its own
// RestartPolicy, on a Clock tests drive).

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "protocol/hub_messages.hpp"
#include "supervisor/cluster_plan.hpp"
#include "supervisor/restart_policy.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <sys/types.h>

namespace shardline::supervisor {

struct BotSettings {
  std::vector<std::string> words; // SHARD_BOT_COMMAND split into words; empty: no bots
  // The endpoint the clusters serve: on when there are bots, or when SHARD_PROXY_PORT asks for
  // it. `base_port` 0: each cluster binds a free port (auto) and writes it to its port file;
  // otherwise cluster i of the layout listens on base_port + i.
  bool endpoint = false;
  std::string host = "127.0.0.1"; // SHARD_PROXY_HOST
  std::uint16_t base_port = 0;
  RestartLimits limits;                               // SHARD_RESTART_*: a budget of its own per bot
  steady::duration settle = std::chrono::seconds(2);  // SHARD_BOT_SETTLE_S
  // After the cluster's shards are READY, how long its port file may take to appear before the
  // cluster is taken for one without an endpoint.
  steady::duration endpoint_wait = std::chrono::seconds(10);

  bool enabled() const { return !words.empty(); }

  // bad_input (a configuration error) when SHARD_BOT_COMMAND cannot be split into words.
  static Result<BotSettings> from_config(const Config& cfg);
};

// The port a new cluster's endpoint is given when SHARD_PROXY_PORT is a fixed port: the lowest
// base + k that no running cluster's endpoint holds (`taken`). At the start of a layout of n
// clusters that is base + i for cluster i; the new layout of a reshard, started beside the old,
// takes the next free ones. nullopt when they run past 65535.
std::optional<std::uint16_t> next_endpoint_port(std::uint16_t base, std::span<const std::uint16_t> taken);

// Where a bot finds its cluster's endpoint.
struct BotEndpoint {
  std::string host; // SHARD_PROXY_HOST
  std::uint16_t port = 0;

  // The host as a URL names it: a wildcard address is reached on loopback, an IPv6 address is
  // bracketed.
  std::string url_host() const;
  std::string api_url() const;     // http://HOST:PORT/api/v10 (DISCORD_API_URL)
  std::string gateway_url() const; // ws://HOST:PORT (SHARD_PROXY_URL)
};

// What a bot process is told about where it runs.
struct BotContext {
  std::string cluster;
  std::vector<std::uint32_t> shard_ids;
  std::uint32_t shard_count = 0;
  BotEndpoint endpoint;
  std::string ipc_host; // the hub, as the supervisor's own clusters reach it
  std::uint16_t ipc_port = 0;
  std::string ipc_secret;
  std::string ipc_tls_ca; // "" when the hub has no TLS
  std::string token;      // DISCORD_TOKEN, "" when the supervisor has none
};

// The whole environment of a bot process: `inherited` (the supervisor's own) with SHARD_IDS,
// SHARD_COUNT, SHARD_CLUSTER_NAME, DISCORD_API_URL, SHARD_PROXY_URL, SHARD_PROXY_HOST/PORT and
// the IPC settings (SHARD_IPC_MODE=client, HOST, PORT, SECRET, TLS_CA) set to this cluster's.
// Settings that only mean something to a cluster process (its generation, standby) are removed.
std::map<std::string, std::string> bot_environment(std::map<std::string, std::string> inherited, const BotContext& ctx);

// Reads a port file as `shardline run --proxy-port-file` writes it (a decimal port and a
// newline, renamed into place); nullopt while it is absent or does not hold a port.
std::optional<std::uint16_t> read_port_file(const std::string& path);

// What the supervisor keeps of one cluster slot's bot process.
struct BotProcess {
  BotProcess(RestartLimits limits, Clock clock) : policy(limits, std::move(clock)) {}

  enum class State { waiting, running, restarting, given_up, no_endpoint };

  pid_t pid = 0;                // the current process, 0 when none
  pid_t next = 0;               // restart --bots: the replacement, until it has settled
  std::int64_t generation = 0;  // of the cluster process it serves
  std::optional<BotEndpoint> endpoint;
  steady::time_point started_at{};
  std::uint32_t restarts = 0;   // after its own deaths
  RestartPolicy policy;
  State state = State::waiting;
  std::string error;            // why it is not running

  protocol::SupervisedBot status(steady::time_point now) const;
};

std::string_view to_string(BotProcess::State s);

} // namespace shardline::supervisor
