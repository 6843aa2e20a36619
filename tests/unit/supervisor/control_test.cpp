// Which launch_request starts what, and why one is refused (docs/protocol.md §13.1).
#include "supervisor/control.hpp"

#include <gtest/gtest.h>

namespace shardline::supervisor {
namespace {

protocol::LaunchRequest rolling_restart() {
  protocol::LaunchRequest r;
  r.action = "restart";
  r.rolling = true;
  return r;
}

protocol::LaunchRequest reshard_to(std::uint32_t shards) {
  protocol::LaunchRequest r;
  r.action = "reshard";
  r.shards = shards;
  return r;
}

// Four clusters of an 8-shard bot, nothing under way.
ControlState idle() { return {{}, 4, 8, true}; }

std::string refusal(const protocol::LaunchRequest& request, const ControlState& state) {
  auto d = decide_control(request, state);
  return d ? std::string("(started)") : d.error().message;
}

TEST(SupervisorControl, StatusIsAlwaysAnswered) {
  protocol::LaunchRequest status;
  status.action = "status";
  ControlState stopping = idle();
  stopping.activity.stopping = true;
  for (const auto& state : {idle(), stopping}) {
    auto d = decide_control(status, state);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->action, ControlDecision::Action::status);
  }
}

TEST(SupervisorControl, ARollingRestartStartsAndSaysHowManyClusters) {
  auto d = decide_control(rolling_restart(), idle());
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->action, ControlDecision::Action::rolling_restart);
  EXPECT_TRUE(d->answer.started);
  EXPECT_EQ(d->answer.clusters, 4u);
}

TEST(SupervisorControl, ARollingRestartIsRefusedWhileBusy) {
  auto r = rolling_restart();
  r.rolling = false;
  EXPECT_EQ(refusal(r, idle()), "restart needs rolling: true (the clusters, one at a time) or bots: true (the bot "
                                "processes, one cluster at a time)");
  auto state = idle();
  state.activity.stopping = true;
  EXPECT_EQ(refusal(rolling_restart(), state), "the supervisor is stopping");
  state = idle();
  state.activity.rolling = true;
  EXPECT_EQ(refusal(rolling_restart(), state), "a rolling restart is already under way");
  state = idle();
  state.activity.resharding = true;
  EXPECT_EQ(refusal(rolling_restart(), state), "a reshard is under way");
  state = idle();
  state.clusters = 0;
  EXPECT_EQ(refusal(rolling_restart(), state), "no cluster is planned yet");
}

protocol::LaunchRequest bot_restart() {
  protocol::LaunchRequest r;
  r.action = "restart";
  r.bots = true;
  return r;
}

ControlState with_bots() {
  auto state = idle();
  state.runs_bots = true;
  return state;
}

TEST(SupervisorControl, ABotRestartStartsWhenTheSupervisorRunsBots) {
  auto d = decide_control(bot_restart(), with_bots());
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->action, ControlDecision::Action::bot_restart);
  EXPECT_TRUE(d->answer.started);
  EXPECT_EQ(d->answer.clusters, 4u);
}

TEST(SupervisorControl, ABotRestartIsRefusedWithoutBotsOrWhileBusy) {
  EXPECT_EQ(refusal(bot_restart(), idle()),
            "this supervisor runs no bot processes (set SHARD_BOT_COMMAND to run one per cluster)");
  auto both = bot_restart();
  both.rolling = true;
  EXPECT_EQ(refusal(both, with_bots()),
            "restart either the clusters (rolling: true) or the bot processes (bots: true)");
  auto state = with_bots();
  state.activity.bots = true;
  EXPECT_EQ(refusal(bot_restart(), state), "a restart of the bot processes is already under way");
  // Cluster restarts and reshards stop and start bots themselves: one job at a time.
  state = with_bots();
  state.activity.rolling = true;
  EXPECT_EQ(refusal(bot_restart(), state), "a rolling restart is under way");
  state = with_bots();
  state.activity.resharding = true;
  EXPECT_EQ(refusal(bot_restart(), state), "a reshard is under way");
  state = with_bots();
  state.activity.stopping = true;
  EXPECT_EQ(refusal(bot_restart(), state), "the supervisor is stopping");
  state = with_bots();
  state.activity.bots = true;
  EXPECT_EQ(refusal(rolling_restart(), state), "a restart of the bot processes is under way");
  EXPECT_EQ(refusal(reshard_to(16), state), "a restart of the bot processes is under way");
}

TEST(SupervisorControl, AReshardStartsAndSaysFromAndTo) {
  auto d = decide_control(reshard_to(16), idle());
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->action, ControlDecision::Action::reshard);
  EXPECT_EQ(d->target, 16u);
  EXPECT_TRUE(d->answer.started);
  EXPECT_EQ(d->answer.from, 8u);
  EXPECT_EQ(d->answer.to, 16u);
}

TEST(SupervisorControl, AReshardIsRefusedWhenItCannotRunNow) {
  EXPECT_EQ(refusal(reshard_to(8), idle()), "the bot already has 8 shards");
  EXPECT_EQ(refusal(reshard_to(0), idle()), "reshard needs shards: a shard count (1..65536)");
  EXPECT_EQ(refusal(reshard_to(65537), idle()), "reshard needs shards: a shard count (1..65536)");
  auto no_shards = reshard_to(1);
  no_shards.shards.reset();
  EXPECT_EQ(refusal(no_shards, idle()), "reshard needs shards: a shard count (1..65536)");
  auto state = idle();
  state.activity.rolling = true;
  EXPECT_EQ(refusal(reshard_to(16), state), "a rolling restart is under way");
  state = idle();
  state.activity.resharding = true;
  EXPECT_EQ(refusal(reshard_to(16), state), "a reshard is already under way");
  state = idle();
  state.activity.stopping = true;
  EXPECT_EQ(refusal(reshard_to(16), state), "the supervisor is stopping");
  state = idle();
  state.owns_every_shard = false;
  EXPECT_EQ(refusal(reshard_to(16), state),
            "this supervisor owns only SHARD_IDS; resharding needs one supervisor that owns every shard");
}

TEST(SupervisorControl, AnUnknownActionIsRefused) {
  protocol::LaunchRequest r;
  r.action = "explode";
  EXPECT_EQ(refusal(r, idle()), "unknown action (status, restart, reshard)");
}

} // namespace
} // namespace shardline::supervisor
