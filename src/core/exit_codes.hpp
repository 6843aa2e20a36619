#pragma once
// Process exit codes, the same for every subcommand (README, "Subcommands"). The supervisor
// reads them to decide whether a cluster is worth restarting.

namespace shardline {

inline constexpr int kExitOk = 0;
// A runtime failure: cannot connect, auth refused, port in use.
inline constexpr int kExitFailure = 1;
// A configuration or usage error: starting again would fail the same way.
inline constexpr int kExitConfig = 2;
// A cluster fenced at the hub by a newer generation of itself (docs/protocol.md §3.5).
inline constexpr int kExitSuperseded = 3;

} // namespace shardline
