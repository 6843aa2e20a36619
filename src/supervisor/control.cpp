#include "supervisor/control.hpp"

#include "supervisor/supervisor_impl.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace shardline::supervisor {

// ---- the decision (pure) -----------------------------------------------------------------------

namespace {

Result<ControlDecision> decide_rolling(const protocol::LaunchRequest& request, const ControlState& state) {
  if (!request.rolling)
    return fail(Errc::bad_input, "only a rolling restart is offered: {\"action\": \"restart\", \"rolling\": true}");
  if (state.activity.stopping) return fail(Errc::refused, "the supervisor is stopping");
  if (state.activity.rolling) return fail(Errc::busy, "a rolling restart is already under way");
  if (state.activity.resharding) return fail(Errc::busy, "a reshard is under way");
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
  const ControlState state{activity(), slots_.size(), shard_count_, cfg_.shard_ids.empty()};
  auto decision = decide_control(request, state);
  if (!decision) return protocol::to_data(protocol::LaunchStarted{false, decision.error().message});
  switch (decision->action) {
  case ControlDecision::Action::status:
    return protocol::to_data(status());
  case ControlDecision::Action::rolling_restart:
    start_rolling();
    break;
  case ControlDecision::Action::reshard:
    start_reshard(decision->target);
    break;
  }
  return protocol::to_data(decision->answer);
}

protocol::SupervisorStatus Supervisor::status() const {
  protocol::SupervisorStatus st;
  for (auto& s : slots_)
    st.clusters.push_back({s->spec.name, s->spec.shard_ids, s->pid, s->generation, s->up(), s->restarts, s->given_up});
  st.shard_count = shard_count_;
  st.reshard = reshard_;
  st.rolling = rolling_;
  st.rolling.total = slots_.size();
  return st;
}

} // namespace shardline::supervisor
