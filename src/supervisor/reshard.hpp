#pragma once
// Resharding without downtime (docs/supervisor.md, "Resharding without downtime"): the new
// layout starts beside the old one in standby, takes over event handling once every new shard is
// READY, then the old layout is closed. The phases run in the supervisor (reshard.cpp); what is
// decided here is pure and unit-tested: the new layout's plan, and when the supervisor reshards
// on its own.

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "protocol/hub_messages.hpp"
#include "supervisor/cluster_plan.hpp"

#include <optional>
#include <vector>

namespace shardline::supervisor {

// What the supervisor is busy with besides keeping its clusters alive. A rolling restart or a
// reshard starts only when it does none of these.
struct Activity {
  bool stopping = false;
  bool rolling = false;    // a rolling restart is under way
  bool resharding = false; // a reshard is under way
  bool bots = false;       // the bot processes are being replaced (`shardline restart --bots`)
};

// The new layout of a reshard to `target` shards: every shard, in SHARD_CLUSTERS processes (at
// most one per shard) or SHARD_PER_CLUSTER shards each, named <prefix>-<target>s-<n> so its
// names never collide with the layout it replaces.
Result<std::vector<ClusterSpec>> plan_reshard(const Config& cfg, std::uint32_t target);

// The phases a status shows while a reshard runs (protocol::ReshardJob::phase).
inline constexpr const char* kPhaseStarting = "starting the new layout";
inline constexpr const char* kPhaseSwitching = "switching event handling";
inline constexpr const char* kPhaseClosing = "closing the old layout";
inline constexpr const char* kPhaseDone = "done";

// How often a reshard may start on its own.
inline constexpr auto kAutoReshardEvery = std::chrono::minutes(10);

struct AutoReshardSettings {
  std::uint32_t guilds_per_shard = 1500; // SHARD_RESHARD_GUILDS_PER_SHARD; 0: never on its own
  bool owns_every_shard = true;          // no SHARD_IDS: a reshard needs every shard
  bool hosts_hub = true;                 // SHARD_IPC_MODE=server

  static AutoReshardSettings from_config(const Config& cfg);
};

struct AutoReshardDecision {
  double guilds = 0;       // on the current layout
  std::uint32_t target = 0; // the new shard count
};

// When the clusters of the current layout hold on average more than `guilds_per_shard` guilds
// per shard, reshard to about 1,000 per shard (Discord's own recommendation), never fewer than
// one shard more than now; at most once every 10 minutes, and never while the supervisor is busy.
class AutoReshard {
public:
  AutoReshard(AutoReshardSettings settings, Clock clock) : settings_(settings), clock_(std::move(clock)) {}

  // The reshard to start now, if any. Only the clusters reporting the current layout
  // (`shard_count`) count: a new layout still starting, or a cluster whose stats have not come
  // yet, does not. A decision starts the 10 minutes.
  std::optional<AutoReshardDecision> decide(const protocol::HubStatus& hub, std::uint32_t shard_count,
                                            const Activity& activity);
  // A reshard (started on its own or by an operator) finished now: 10 minutes before the next.
  void resharded() { last_ = clock_(); }

private:
  AutoReshardSettings settings_;
  Clock clock_;
  std::optional<steady::time_point> last_;
};

} // namespace shardline::supervisor
