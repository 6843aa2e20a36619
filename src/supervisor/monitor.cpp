// The supervisor's look at its clusters: every 250 ms it asks the hub for its status, applies
// the health check's verdict (the kills), lets the bot reshard on its own past the guilds-per-
// shard threshold, and logs a status line every 10 s. And whether a cluster's shards are all
// READY, asked of the cluster itself (rolling restarts and reshards wait on it).
#include "supervisor/supervisor_impl.hpp"

#include "supervisor/child_process.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>

namespace shardline::supervisor {

namespace {

// The health check's cadence. The hub answers its status at once; a look costs one frame each
// way on loopback.
constexpr auto kMonitorEvery = std::chrono::milliseconds(250);
constexpr auto kStatusEvery = std::chrono::seconds(10);
// A cluster's readiness is known only by asking it (shard_status): asked again this often.
constexpr auto kReadyAskEvery = std::chrono::milliseconds(50);
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

} // namespace

asio::awaitable<void> Supervisor::monitor() {
  auto next_status = steady::now() + kStatusEvery;
  while (!stopping_) {
    monitor_.expires_after(kMonitorEvery);
    co_await monitor_.async_wait(use_tuple);
    if (stopping_) break;
    std::optional<protocol::HubStatus> hub;
    if (link_->linked()) {
      auto r = co_await link_->hub_status(kAskTimeout);
      if (r) hub = std::move(*r);
    }
    if (stopping_) break;
    check(hub);
    if (hub) {
      if (auto decision = auto_reshard_.decide(*hub, shard_count_, activity())) {
        spdlog::info("launch: {:.0f} guilds on {} shards is past {} per shard: resharding to {}", decision->guilds,
                     shard_count_, cfg_.launch.reshard_guilds_per_shard, decision->target);
        start_reshard(decision->target);
      }
    }
    if (steady::now() >= next_status) {
      next_status = steady::now() + kStatusEvery;
      log_status();
    }
  }
}

void Supervisor::check(const std::optional<protocol::HubStatus>& hub) {
  const auto slots = watched();
  std::vector<WatchedCluster> clusters;
  clusters.reserve(slots.size());
  for (auto* s : slots) clusters.push_back({s->spec.name, s->pid, s->generation, s->judged(), &s->life});
  const auto verdict = health_.look(hub, clusters);
  if (verdict.hub_back)
    spdlog::info("launch: the hub answers again; heartbeats are judged again in {:.0f} s", cfg_.reconnect_max_s);
  if (verdict.stalled) spdlog::warn("launch: the supervisor itself was stalled; heartbeats are judged from the next look");
  for (auto& kill : verdict.kills) {
    auto& s = *slots[kill.cluster];
    if (kill.why == KillReason::never_joined) {
      spdlog::warn("launch: {} (pid {}) did not join the hub within {:.0f} s: killing it", s.spec.name, s.pid,
                   cfg_.launch.start_timeout_s);
    } else {
      // Frozen or wedged: its replacement resumes the sessions. A process the supervisor cannot
      // kill (another machine's) is fenced at the hub by the replacement's higher generation.
      spdlog::warn("launch: {} (pid {}) sent no heartbeat for {:.1f} s: killing it", s.spec.name, s.pid,
                   kill.silent_for.count());
    }
    signal_group(s.pid, SIGKILL); // reaped, then restarted like any death
  }
}

void Supervisor::log_status() const {
  std::size_t up = 0, restarts = 0, given_up = 0;
  for (auto& s : slots_) {
    up += s->up();
    restarts += s->restarts;
    given_up += s->given_up;
  }
  spdlog::info("launch: {}/{} clusters up, {} restart(s){}", up, slots_.size(), restarts,
               given_up ? fmt::format(", {} given up", given_up) : std::string());
}

asio::awaitable<bool> Supervisor::wait_ready(Slot* s, steady::duration limit) {
  const auto deadline = steady::now() + limit;
  const auto generation = s->generation;
  auto gone = [this, s, generation] { return stopping_ || s->generation != generation; };
  while (!gone() && steady::now() < deadline) {
    if (s->pid && link_->linked()) {
      // Named, not temporaries in the co_await: g++ 12 destroys such temporaries twice.
      const protocol::EvalRequest query{"shard_status"};
      std::string target = s->spec.name;
      auto reply = co_await link_->request("eval_request", query, std::move(target), kAskTimeout);
      if (reply && !reply->is_error()) {
        auto answer = reply->as<protocol::EvalResponse>();
        if (answer && all_shards_ready(answer->result, s->spec.shard_ids.size())) co_return true;
      }
    }
    co_await changed_.wait_until(gone, std::min(deadline, steady::now() + kReadyAskEvery));
  }
  co_return false;
}

} // namespace shardline::supervisor
