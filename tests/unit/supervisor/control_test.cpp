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
  EXPECT_EQ(refusal(r, idle()), "only a rolling restart is offered: {\"action\": \"restart\", \"rolling\": true}");
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
