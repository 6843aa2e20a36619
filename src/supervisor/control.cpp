#include "supervisor/control.hpp"

#include "supervisor/supervisor_impl.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace shardline::supervisor {

// ---- the decision (pure) -----------------------------------------------------------------------

namespace {

// `restart` with bots: true: the bot processes, one cluster at a time; the clusters go on.
Result<ControlDecision> decide_bot_restart(const ControlState& state) {
  if (state.activity.stopping) return fail(Errc::refused, "the supervisor is stopping");
  if (!state.runs_bots)
    return fail(Errc::refused, "this supervisor runs no bot processes (set SHARD_BOT_COMMAND to run one per cluster)");
  if (state.activity.bots) return fail(Errc::busy, "a restart of the bot processes is already under way");
  if (state.activity.rolling) return fail(Errc::busy, "a rolling restart is under way");
  if (state.activity.resharding) return fail(Errc::busy, "a reshard is under way");
  if (state.clusters == 0) return fail(Errc::refused, "no cluster is planned yet");
  ControlDecision d;
  d.action = ControlDecision::Action::bot_restart;
  d.answer.started = true;
  d.answer.clusters = state.clusters;
  return d;
}

Result<ControlDecision> decide_rolling(const protocol::LaunchRequest& request, const ControlState& state) {
  if (request.rolling && request.bots)
    return fail(Errc::bad_input, "restart either the clusters (rolling: true) or the bot processes (bots: true)");
  if (request.bots) return decide_bot_restart(state);
  if (!request.rolling)
    return fail(Errc::bad_input, "restart needs rolling: true (the clusters, one at a time) or bots: true (the bot "
                                 "processes, one cluster at a time)");
  if (state.activity.stopping) return fail(Errc::refused, "the supervisor is stopping");
  if (state.activity.rolling) return fail(Errc::busy, "a rolling restart is already under way");
  if (state.activity.resharding) return fail(Errc::busy, "a reshard is under way");
  if (state.activity.bots) return fail(Errc::busy, "a restart of the bot processes is under way");
  if (state.clusters == 0) return fail(Errc::refused, "no cluster is planned yet");
  ControlDecision d;
  d.action = ControlDecision::Action::rolling_restart;
  d.answer.started = true;
  d.answer.clusters = state.clusters;
  return d;
}

Result<ControlDecision> decide_reshard(const protocol::LaunchRequest& request, const ControlState& state) {
  if (!request.shards || *request.shards < 1 || *request.shards > 65536)
    return fail(Errc::bad_input, "reshard needs shards: a shard count (1..65536)");
  const auto target = *request.shards;
  if (state.activity.stopping) return fail(Errc::refused, "the supervisor is stopping");
  if (state.activity.resharding) return fail(Errc::busy, "a reshard is already under way");
  if (state.activity.rolling) return fail(Errc::busy, "a rolling restart is under way");
  if (state.activity.bots) return fail(Errc::busy, "a restart of the bot processes is under way");
  if (!state.owns_every_shard)
    return fail(Errc::refused,
                "this supervisor owns only SHARD_IDS; resharding needs one supervisor that owns every shard");
  if (target == state.shard_count)
    return fail(Errc::refused, fmt::format("the bot already has {} shards", target));
  ControlDecision d;
  d.action = ControlDecision::Action::reshard;
  d.target = target;
  d.answer.started = true;
  d.answer.from = state.shard_count;
  d.answer.to = target;
  return d;
}

} // namespace

Result<ControlDecision> decide_control(const protocol::LaunchRequest& request, const ControlState& state) {
  if (request.action == "status") return ControlDecision{};
  if (request.action == "restart") return decide_rolling(request, state);
  if (request.action == "reshard") return decide_reshard(request, state);
  return fail(Errc::bad_input, "unknown action (status, restart, reshard)");
}

// ---- the supervisor's answers ------------------------------------------------------------------

void Supervisor::watch_hangup() {
  hangup_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    spdlog::info("SIGHUP: rolling restart");
    start_rolling();
    watch_hangup();
  });
}

json::object Supervisor::control(const protocol::LaunchRequest& request) {
  const ControlState state{activity(), slots_.size(), shard_count_, cfg_.shard_ids.empty(), bots_.enabled()};
  auto decision = decide_control(request, state);
  if (!decision) return protocol::to_data(protocol::LaunchStarted{false, decision.error().message});
  switch (decision->action) {
  case ControlDecision::Action::status:
    return protocol::to_data(status());
  case ControlDecision::Action::rolling_restart:
    start_rolling();
    break;
  case ControlDecision::Action::bot_restart:
    start_bot_restart();
    break;
  case ControlDecision::Action::reshard:
    start_reshard(decision->target);
    break;
  }
  return protocol::to_data(decision->answer);
}

protocol::SupervisorStatus Supervisor::status() const {
  protocol::SupervisorStatus st;
  const auto now = clock_();
  for (auto& s : slots_) {
    st.clusters.push_back({s->spec.name, s->spec.shard_ids, s->pid, s->generation, s->up(), s->restarts, s->given_up});
    if (s->bot) st.clusters.back().bot = s->bot->status(now);
  }
  st.shard_count = shard_count_;
  st.reshard = reshard_;
  st.rolling = rolling_;
  st.rolling.total = slots_.size();
  st.bots = bot_job_;
  st.bots.total = slots_.size();
  return st;
}

} // namespace shardline::supervisor
