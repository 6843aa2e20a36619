#include "supervisor/health_check.hpp"

#include <fmt/format.h>

namespace shardline::supervisor {

namespace {

steady::duration seconds(double s) {
  return std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(s));
}

} // namespace

HealthSettings HealthSettings::from_config(const Config& cfg) {
  return {seconds(cfg.launch.dead_after_s), seconds(cfg.launch.start_timeout_s), seconds(cfg.reconnect_max_s)};
}

Result<void> check_dead_after(const Config& cfg) {
  if (cfg.launch.dead_after_s > cfg.heartbeat_s) return {};
  return fail(Errc::bad_input,
              fmt::format("SHARD_DEAD_AFTER_S ({} s) is not above SHARD_IPC_HEARTBEAT_S ({} s): a healthy cluster "
                          "would look dead between two heartbeats; raise SHARD_DEAD_AFTER_S (3 heartbeats or more)",
                          cfg.launch.dead_after_s, cfg.heartbeat_s));
}

HealthVerdict HealthCheck::look(const std::optional<protocol::HubStatus>& hub,
                                std::span<const WatchedCluster> clusters) {
  HealthVerdict verdict;
  const auto now = clock_();
  if (!hub) {
    hub_lost_ = hub_seen_;
    return verdict;
  }
  for (auto& c : hub->clients)
    for (auto& w : clusters)
      if (w.pid && w.name == c.name && w.generation == c.generation)
        w.life->last_alive = now - seconds(c.last_heartbeat_age);
  hub_seen_ = true;
  if (hub_lost_) {
    hub_lost_ = false;
    hub_back_at_ = now;
    verdict.hub_back = true;
  }
  verdict.stalled = last_look_ && now - *last_look_ > settings_.dead_after / 2;
  last_look_ = now;
  const bool reconnected = !hub_back_at_ || now - *hub_back_at_ > settings_.reconnect_max;
  if (verdict.stalled || !reconnected) return verdict;
  for (std::size_t i = 0; i < clusters.size(); ++i) {
    auto& w = clusters[i];
    if (!w.pid || !w.judged) continue;
    auto& life = *w.life;
    if (!life.last_alive) {
      if (now - life.spawned_at > settings_.start_timeout) verdict.kills.push_back({i, KillReason::never_joined, {}});
      continue;
    }
    const auto silent = now - *life.last_alive;
    if (silent <= settings_.dead_after) continue;
    // Frozen or wedged: killed, and started again like any death. Until its exit is reaped it
    // counts as just started, so the start timeout does not kill it a second time.
    verdict.kills.push_back({i, KillReason::silent, silent});
    life.started(now);
  }
  return verdict;
}

bool all_shards_ready(const boost::json::value& shard_status, std::size_t expected) {
  const auto* shards = shard_status.if_array();
  if (!shards || shards->empty() || shards->size() != expected) return false;
  for (auto& shard : *shards) {
    const auto* status = shard.is_object() ? shard.get_object().if_contains("status") : nullptr;
    if (!status || !status->is_string() || status->get_string() != "ready") return false;
  }
  return true;
}

} // namespace shardline::supervisor
