#pragma once
// The admin tools (`shardline clusters`, `ipc-status`, `broadcast`, `query`): short-lived
// connections with role admin. Each returns the process exit code.

#include "core/config.hpp"

#include <string>

namespace shardline::admin {

struct AdminOptions {
  bool json = false;
  int timeout_ms = 3000;
};

int clusters_command(const Config& cfg, const AdminOptions& o);
int ipc_status_command(const Config& cfg, const AdminOptions& o);
int broadcast_command(const Config& cfg, const AdminOptions& o, const std::string& message);
// `shardline restart --rolling`: asks the supervisor hosting the hub for a rolling restart and
// follows it until done (or `timeout_s`). `--bots` instead: the bot processes (SHARD_BOT_COMMAND)
// are replaced one cluster at a time, and the clusters are not touched.
int restart_command(const Config& cfg, const AdminOptions& o, bool rolling, bool bots, int timeout_s);
// `shardline reshard --shards N`: asks the supervisor hosting the hub to move the bot to N
// shards without downtime and follows it until done (or `timeout_s`).
int reshard_command(const Config& cfg, const AdminOptions& o, std::uint32_t shards, int timeout_s);
// `repeat` > 1 runs the query that many times in a row and adds latency percentiles.
int query_command(const Config& cfg, const AdminOptions& o, const std::string& preset, const std::string& target,
                  int repeat = 1);

} // namespace shardline::admin
