#include "supervisor/reshard.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace shardline::supervisor {

// ---- the plan and the decision (pure) ----------------------------------------------------------

Result<std::vector<ClusterSpec>> plan_reshard(const Config& cfg, std::uint32_t target) {
  auto clusters = cfg.launch.clusters ? std::min<std::uint32_t>(cfg.launch.clusters, target) : 0u;
  return plan_layout(target, {}, clusters, cfg.launch.per_cluster, fmt::format("{}-{}s", cfg.launch.prefix, target));
}

AutoReshardSettings AutoReshardSettings::from_config(const Config& cfg) {
  return {cfg.launch.reshard_guilds_per_shard, cfg.shard_ids.empty(), cfg.ipc_mode == IpcMode::server};
}

std::optional<AutoReshardDecision> AutoReshard::decide(const protocol::HubStatus& hub, std::uint32_t shard_count,
                                                       const Activity& activity) {
  const auto limit = settings_.guilds_per_shard;
  if (!limit || !settings_.owns_every_shard || !settings_.hosts_hub || shard_count == 0) return std::nullopt;
  if (activity.resharding || activity.rolling || activity.stopping) return std::nullopt;
  const auto now = clock_();
  if (last_ && now - *last_ < kAutoReshardEvery) return std::nullopt;
  double guilds = 0;
  for (auto& c : hub.clients)
    if (c.stats && c.stats->layout.value_or(0) == shard_count) guilds += static_cast<double>(c.stats->guild_count);
  if (guilds / shard_count <= limit) return std::nullopt;
  last_ = now;
  return AutoReshardDecision{
      guilds, std::max<std::uint32_t>(shard_count + 1, static_cast<std::uint32_t>(std::ceil(guilds / 1000.0)))};
}

} // namespace shardline::supervisor
