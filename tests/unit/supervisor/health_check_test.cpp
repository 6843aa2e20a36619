// Who is alive and who is killed (docs/supervisor.md, "Health"), on a driven clock: the hub's
// status as the supervisor reads it every look, one look a second.
#include "supervisor/health_check.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <deque>

namespace shardline::supervisor {
namespace {

using namespace std::chrono_literals;

// One cluster process, and what the hub knows of it.
struct Cluster {
  std::string name = "cluster-0";
  pid_t pid = 4242;
  std::int64_t generation = 7;
  bool judged = true;
  Liveness life;
  // The last heartbeat the hub got under this name, and from which generation; none: the hub
  // does not list it.
  std::optional<steady::time_point> beat;
  std::int64_t beat_generation = 7;
  bool beating = false; // heartbeats every second while run_for() runs
};

class SupervisorHealthCheck : public ::testing::Test {
protected:
  // The defaults: dead after 90 s of silence, 60 s to join, 120 s for clusters to reconnect.
  HealthSettings settings{90s, 60s, 120s};
  ManualClock clock;
  HealthCheck check{settings, clock.clock()};
  std::deque<Cluster> clusters = std::deque<Cluster>(1); // a deque: references stay valid
  Cluster& c = clusters[0];
  HealthVerdict last;

  steady::time_point now() const { return clock.now(); }

  void spawn(Cluster& x, std::int64_t generation) {
    x.generation = generation;
    x.life.started(now());
  }

  // The hub's status: every cluster it lists, with the age of its last heartbeat.
  protocol::HubStatus hub_view() const {
    protocol::HubStatus st;
    for (auto& x : clusters) {
      if (!x.beat) continue;
      protocol::HubClient client;
      client.name = x.name;
      client.role = "cluster";
      client.generation = x.beat_generation;
      client.last_heartbeat_age = std::chrono::duration<double>(now() - *x.beat).count();
      st.clients.push_back(client);
    }
    return st;
  }

  // One look; `hub_answers` false: the hub did not answer this time.
  std::vector<HealthKill> look(bool hub_answers = true) {
    std::vector<WatchedCluster> watched;
    for (auto& x : clusters) watched.push_back({x.name, x.pid, x.generation, x.judged, &x.life});
    last = check.look(hub_answers ? std::optional(hub_view()) : std::nullopt, watched);
    return last.kills;
  }

  // Looks once a second for `d`; the kills, with when they came (since the start). A killed
  // process dies at once: the hub drops its connection and the supervisor reaps it.
  struct Timed {
    steady::duration at;
    HealthKill kill;
  };
  std::vector<Timed> run_for(steady::duration d, bool hub_answers = true) {
    std::vector<Timed> out;
    const auto from = now();
    while (now() - from < d) {
      clock.advance(1s);
      for (auto& x : clusters)
        if (x.beating) x.beat = now();
      for (auto& k : look(hub_answers)) {
        out.push_back({now() - from, k});
        clusters[k.cluster].beat.reset();
        clusters[k.cluster].pid = 0;
      }
    }
    return out;
  }

  // Joined: spawned, and heartbeating for a few seconds; then its heartbeats stop unless the
  // test says otherwise.
  void joined() {
    spawn(c, 7);
    c.beat_generation = 7;
    c.beating = true;
    ASSERT_TRUE(run_for(5s).empty());
    ASSERT_TRUE(c.life.last_alive.has_value());
    c.beating = false;
  }
};

TEST_F(SupervisorHealthCheck, AHeartbeatingClusterIsAliveAndNeverKilled) {
  joined();
  c.beating = true;
  EXPECT_TRUE(run_for(30min).empty());
  ASSERT_TRUE(c.life.last_alive);
  EXPECT_EQ(*c.life.last_alive, now());
}

TEST_F(SupervisorHealthCheck, ASilentClusterIsKilledOnceDeadAfterHasPassedAndNotBefore) {
  joined();
  // Its heartbeats stop now (frozen: kill -STOP).
  auto kills = run_for(100s);
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].kill.why, KillReason::silent);
  EXPECT_EQ(kills[0].kill.cluster, 0u);
  // 90 s of silence is still alive; the first look past it kills.
  EXPECT_EQ(kills[0].at, 91s);
  EXPECT_DOUBLE_EQ(kills[0].kill.silent_for.count(), 91.0);
}

TEST_F(SupervisorHealthCheck, AKillForSilenceIsNotFollowedByAStartTimeoutKill) {
  joined();
  ASSERT_TRUE(run_for(90s).empty());
  clock.advance(1s);
  ASSERT_EQ(look().size(), 1u);
  // The hub dropped its connection, but its exit is not reaped yet (the pid stays): the start
  // timeout, counted from its start long ago, must not kill it a second time.
  c.beat.reset();
  EXPECT_FALSE(c.life.last_alive.has_value());
  EXPECT_TRUE(run_for(60s).empty());
}

TEST_F(SupervisorHealthCheck, NothingIsJudgedWhileTheHubDoesNotAnswer) {
  joined();
  clusters.push_back({});
  auto& fresh = clusters[1]; // never joins
  fresh.name = "cluster-1";
  fresh.pid = 4343;
  spawn(fresh, 8);
  clock.advance(1s);
  look();
  // The hub stops answering; both clusters are silent for ten minutes.
  EXPECT_TRUE(run_for(10min, false).empty());
}

TEST_F(SupervisorHealthCheck, AfterTheHubComesBackSilenceIsJudgedOnlyOnceReconnectMaxHasPassed) {
  joined();
  // The hub goes away for 30 s (restarted): its view of the cluster is lost.
  EXPECT_TRUE(run_for(30s, false).empty());
  // It answers again, and lists the cluster as silent since before it went away.
  clock.advance(1s);
  EXPECT_TRUE(look().empty());
  EXPECT_TRUE(last.hub_back);
  EXPECT_FALSE(last.stalled);
  // Not judged while clusters may still be reconnecting (120 s), although 90 s passed long ago.
  auto kills = run_for(2min + 10s);
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].at, 121s); // the first look more than 120 s after the hub came back
  EXPECT_EQ(kills[0].kill.why, KillReason::silent);
}

TEST_F(SupervisorHealthCheck, AClusterThatReconnectsAfterTheHubCameBackIsNotKilled) {
  joined();
  EXPECT_TRUE(run_for(30s, false).empty());
  // The hub is back; the cluster reconnects 100 s later (its own backoff) and heartbeats again.
  EXPECT_TRUE(run_for(100s).empty());
  c.beating = true;
  EXPECT_TRUE(run_for(10min).empty());
}

TEST_F(SupervisorHealthCheck, TheHubsReturnIsReportedOnce) {
  joined();
  run_for(5s, false);
  clock.advance(1s);
  look();
  EXPECT_TRUE(last.hub_back);
  clock.advance(1s);
  look();
  EXPECT_FALSE(last.hub_back);
}

TEST_F(SupervisorHealthCheck, NotOnTheFirstLookAfterTheSupervisorItselfStalled) {
  joined();
  // The supervisor is suspended for 100 s (no look); so was the cluster's heartbeat, as far as
  // the ages the hub reports after it can tell.
  clock.advance(100s);
  EXPECT_TRUE(look().empty());
  EXPECT_TRUE(last.stalled);
  // The next look judges again: still silent, it is killed.
  clock.advance(1s);
  auto kills = look();
  EXPECT_FALSE(last.stalled);
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].why, KillReason::silent);
}

TEST_F(SupervisorHealthCheck, AStallIsAGapOfMoreThanHalfDeadAfterBetweenTwoLooks) {
  joined();
  clock.advance(45s); // exactly half: the supervisor was slow, not stalled
  look();
  EXPECT_FALSE(last.stalled);
  clock.advance(46s); // 46 s between two looks; the cluster silent for 91 s
  EXPECT_TRUE(look().empty());
  EXPECT_TRUE(last.stalled);
}

TEST_F(SupervisorHealthCheck, AClusterThatNeverJoinsIsKilledAfterTheStartTimeout) {
  spawn(c, 7); // the hub never lists it
  auto kills = run_for(2min);
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].kill.why, KillReason::never_joined);
  EXPECT_EQ(kills[0].at, 61s); // 60 s to join is allowed
}

TEST_F(SupervisorHealthCheck, AHeartbeatOfAnOlderGenerationDoesNotCountForTheNewOne) {
  joined();
  // Replaced by generation 8; the hub still lists the name with generation 7's heartbeats
  // (the old process, frozen on another machine or not yet fenced, still beats).
  spawn(c, 8);
  c.beat_generation = 7;
  c.beating = true;
  auto kills = run_for(2min);
  EXPECT_FALSE(c.life.last_alive.has_value()); // never seen alive: `up` stays false
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].kill.why, KillReason::never_joined);
  EXPECT_EQ(kills[0].at, 61s);
}

TEST_F(SupervisorHealthCheck, TheNewGenerationsOwnHeartbeatKeepsItAlive) {
  joined();
  spawn(c, 8);
  c.beat_generation = 8;
  c.beating = true;
  EXPECT_TRUE(run_for(5min).empty());
  EXPECT_TRUE(c.life.last_alive.has_value());
}

TEST_F(SupervisorHealthCheck, AClusterNotJudgedIsNeverKilled) {
  joined();
  c.judged = false; // a restart pending, given up, or stopped by a rolling restart
  EXPECT_TRUE(run_for(10min).empty());
  c.judged = true;
  c.pid = 0; // no process
  EXPECT_TRUE(run_for(10min).empty());
}

TEST_F(SupervisorHealthCheck, OnlyTheSilentClusterIsKilled) {
  joined();
  clusters.push_back({});
  auto& other = clusters[1];
  other.name = "cluster-1";
  other.pid = 4343;
  spawn(other, 9);
  other.beat_generation = 9;
  other.beating = true; // cluster-1 heartbeats; cluster-0 is silent
  auto kills = run_for(2min);
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].kill.cluster, 0u);
  EXPECT_NE(other.pid, 0);
}

TEST(SupervisorHealthSettings, DeadAfterMustBeAboveTheHeartbeat) {
  Config cfg;
  cfg.heartbeat_s = 30;
  cfg.launch.dead_after_s = 30;
  auto refused = check_dead_after(cfg);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().is(Errc::bad_input));
  EXPECT_NE(refused.error().message.find("raise SHARD_DEAD_AFTER_S"), std::string::npos);
  cfg.launch.dead_after_s = 90;
  EXPECT_TRUE(check_dead_after(cfg));
}

TEST(SupervisorHealthSettings, ComeFromTheSettings) {
  Config cfg;
  cfg.launch.dead_after_s = 2;
  cfg.launch.start_timeout_s = 2.5;
  cfg.reconnect_max_s = 1;
  auto s = HealthSettings::from_config(cfg);
  EXPECT_EQ(s.dead_after, 2s);
  EXPECT_EQ(s.start_timeout, 2500ms);
  EXPECT_EQ(s.reconnect_max, 1s);
}

TEST(SupervisorReadiness, EveryShardOfTheClusterMustBeReady) {
  auto status = [](std::initializer_list<const char*> states) {
    boost::json::array a;
    std::uint32_t id = 0;
    for (auto* s : states) a.push_back(boost::json::object{{"shard_id", id++}, {"status", s}});
    return boost::json::value(std::move(a));
  };
  EXPECT_TRUE(all_shards_ready(status({"ready", "ready"}), 2));
  EXPECT_FALSE(all_shards_ready(status({"ready", "resuming"}), 2));
  EXPECT_FALSE(all_shards_ready(status({"ready"}), 2)); // a shard not reported yet
  EXPECT_FALSE(all_shards_ready(status({}), 0));         // nothing reported is not ready
  EXPECT_FALSE(all_shards_ready(boost::json::value("unknown_query"), 2));
  EXPECT_FALSE(all_shards_ready(boost::json::value(boost::json::array{1, 2}), 2));
}

} // namespace
} // namespace shardline::supervisor
