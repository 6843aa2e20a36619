#pragma once
// `shardline hub`: a standalone hub, no shards. Runs until SIGINT/SIGTERM.

#include "core/config.hpp"

#include <string>

namespace shardline::hub {

struct HubProcessOptions {
  std::string port_file; // written once the hub listens (tests and scripts read it)
  std::string name = "hub";
};

// Returns the process exit code (core/exit_codes.hpp): 0 after a clean stop, 1 when the hub
// cannot listen.
int run_hub(const Config& cfg, const HubProcessOptions& opt);

} // namespace shardline::hub
