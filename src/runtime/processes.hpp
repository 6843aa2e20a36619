#pragma once
// The long-running processes: `shardline hub` (a standalone hub) and `shardline run` (a
// cluster; in server mode it hosts the hub in-process, as the seed's cluster-0 does).
// Each returns the process exit code.

#include "core/config.hpp"

#include <string>

namespace shardline::runtime {

struct ProcessOptions {
  std::string port_file; // written once the hub listens (tests and scripts read it)
  std::string hub_name = "hub";
};

// Exit codes: 0 clean stop, 1 runtime failure (port in use...), 2 configuration, 3 fenced
// by a newer generation of this cluster.
inline constexpr int kExitSuperseded = 3;

int run_hub(const Config& cfg, const ProcessOptions& opt);
int run_cluster(const Config& cfg, const ProcessOptions& opt);

} // namespace shardline::runtime
