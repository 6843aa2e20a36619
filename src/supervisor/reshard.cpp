#include "supervisor/reshard.hpp"

#include "net/spawn_owned.hpp"
#include "supervisor/supervisor_impl.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

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
  if (activity.resharding || activity.rolling || activity.bots || activity.stopping) return std::nullopt;
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

// ---- the phases (the supervisor) ---------------------------------------------------------------

namespace {

constexpr auto kReadyWait = std::chrono::minutes(10);
// The old layout's processes exit within 3 s of SIGTERM (killed after 10 s): waited for, so
// the reshard is reported done once they are gone.
constexpr auto kRetireWait = std::chrono::seconds(15);

} // namespace

void Supervisor::start_reshard(std::uint32_t target) {
  reshard_.running = true;
  reshard_.target = target;
  reshard_.error.clear();
  net::spawn_owned(io_, reshard(target), "reshard");
}

asio::awaitable<bool> Supervisor::set_layout_active(std::vector<Slot*> slots, bool active) {
  bool all = true;
  for (auto* s : slots) {
    bool ok = false;
    for (int attempt = 0; attempt < 3 && !ok && link_->linked(); ++attempt) {
      // Named, not temporaries in the co_await: g++ 12 destroys such temporaries twice.
      const protocol::Layout layout{active};
      std::string target = s->spec.name;
      auto r = co_await link_->request("layout_request", layout, std::move(target), kAskTimeout);
      ok = r && r->op == "layout_response";
    }
    if (!ok) spdlog::warn("launch: {} did not confirm it is {}", s->spec.name, active ? "active" : "in standby");
    all = all && ok;
  }
  co_return all;
}

// Starts the new layout beside the old one (its shards IDENTIFY through the hub's slots, and
// give bot code no events yet), switches event handling over once every new shard is READY,
// then closes the old layout. Events reach both layouts while both are connected (Discord
// sends each to every session of the guild's shard), so every event is handled by the old
// layout, the new one, or both for the moment of the switch.
asio::awaitable<void> Supervisor::reshard(std::uint32_t target) {
  const auto began = steady::now();
  const auto from = shard_count_;
  spdlog::info("launch: resharding from {} to {} shards", from, target);
  auto plan = plan_reshard(cfg_, target);
  if (!plan) reshard_.error = plan.error().message;
  std::vector<std::unique_ptr<Slot>> fresh;
  if (reshard_.error.empty()) {
    reshard_.phase = kPhaseStarting;
    for (auto& spec : *plan) {
      fresh.push_back(std::make_unique<Slot>(spec, RestartPolicy(limits_, clock_), io_));
      fresh.back()->shard_count = target;
      fresh.back()->standby_start = true;
      spawn(*fresh.back());
    }
    // Watched like every cluster (exits, heartbeats) while it starts.
    for (auto& f : fresh) starting_.push_back(f.get());
    for (auto& f : fresh)
      if (reshard_.error.empty() && !co_await wait_ready(f.get(), kReadyWait))
        reshard_.error = fmt::format("{}'s shards were not all READY within 10 minutes", f->spec.name);
    starting_.clear();
  }
  if (reshard_.error.empty() && !stopping_) {
    reshard_.phase = kPhaseSwitching;
    std::vector<Slot*> news, olds;
    for (auto& f : fresh) news.push_back(f.get());
    for (auto& o : slots_) olds.push_back(o.get());
    // New first, then old: for a moment both hand events to bot code, never neither.
    if (!co_await set_layout_active(news, true)) reshard_.error = "the new layout did not confirm the switch";
    else co_await set_layout_active(olds, false);
  }
  if (!reshard_.error.empty() || stopping_) {
    if (!reshard_.error.empty())
      spdlog::error("launch: reshard to {} shards abandoned: {}; the {} shards go on", target, reshard_.error, from);
    retire(std::move(fresh));
    reshard_.phase.clear();
    reshard_.running = false;
    co_return;
  }
  reshard_.phase = kPhaseClosing;
  for (auto& f : fresh) f->standby_start = false; // a respawn of the new layout starts active
  auto old = std::move(slots_);
  slots_ = std::move(fresh);
  shard_count_ = target;
  retire(std::move(old));
  auto retired = [this] { return fenced_.empty(); };
  co_await changed_.wait_for(retired, kRetireWait);
  spdlog::info("launch: reshard done: {} -> {} shards in {:.1f} s", from, target,
               std::chrono::duration<double>(steady::now() - began).count());
  reshard_.phase = kPhaseDone;
  reshard_.running = false;
  auto_reshard_.resharded();
}

} // namespace shardline::supervisor
