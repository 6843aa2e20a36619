#pragma once
// `shardline launch`: plans the shards into clusters, hosts the hub (server mode) or joins one
// (client mode, for a supervisor on another machine), starts every cluster as a child
// `shardline run` at once, and keeps them alive: a cluster whose process exits or whose
// heartbeats stop is replaced by a new generation (which fences the old one at the hub and
// resumes its shards' sessions), with backoff and a restart cap. docs/supervisor.md.

#include "core/config.hpp"
#include "core/exit_codes.hpp"

namespace shardline::supervisor {

struct LaunchOptions {
  std::string port_file;   // server mode: written once the hub listens
  std::string env_file;    // passed on to the clusters (--env-file)
  std::string config_file; // passed on to the clusters (--config)
};

// Runs until SIGINT/SIGTERM (every cluster is stopped and saves its sessions). Returns the
// process exit code: 0 after a clean stop, 1 when the hub cannot listen, 2 on a configuration
// error (the message says what to change).
int run_launch(const Config& cfg, const LaunchOptions& opt);

} // namespace shardline::supervisor
