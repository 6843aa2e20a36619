#pragma once
// `shardline run`: one cluster process. It runs its gateway shards (gateway/shard_cluster),
// joins the IPC network through a hub link, answers the operator commands, and in server mode
// hosts the hub in-process, as the seed's cluster-0 does.

#include "core/config.hpp"

#include <string>

namespace shardline::cluster {

struct ClusterProcessOptions {
  std::string port_file; // server mode: written once the hub listens (tests and scripts read it)
  // With the bot endpoint on (SHARD_PROXY_PORT): written once it listens (SHARD_PROXY_PORT=auto).
  std::string proxy_port_file;
};

// Runs until SIGINT/SIGTERM. Returns the process exit code (core/exit_codes.hpp).
int run_cluster(const Config& cfg, const ClusterProcessOptions& opt);

} // namespace shardline::cluster
