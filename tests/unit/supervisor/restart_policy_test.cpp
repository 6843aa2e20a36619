// When a dead cluster is started again (docs/supervisor.md, "Health"), on a driven clock.
#include "core/exit_codes.hpp"
#include "supervisor/restart_policy.hpp"

#include <gtest/gtest.h>

#include <csignal>

#include <sys/wait.h>

namespace shardline::supervisor {
namespace {

// The defaults of SHARD_RESTART_*: 1 s to 60 s of backoff, 5 restarts within 600 s, healthy
// after a minute up.
RestartLimits defaults() { return {millis(1000), millis(60'000), 5, millis(600'000), millis(60'000)}; }

TEST(SupervisorRestartPolicy, TheFirstDeathRestartsAtOnce) {
  ManualClock clock;
  RestartPolicy p(defaults(), clock.clock());
  p.started();
  clock.advance(millis(5000)); // killed by hand or by the OOM killer after 5 s
  auto wait = p.died();
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(wait->count(), 0); // back within its start-up: its shards still RESUME
}

TEST(SupervisorRestartPolicy, BacksOffFromTheSecondDeathInTheWindowUpToTheMaximum) {
  ManualClock clock;
  RestartPolicy p({millis(1000), millis(5000), 100, millis(3'600'000), millis(60'000)}, clock.clock());
  std::vector<long> waits;
  for (int i = 0; i < 6; ++i) {
    p.started();
    clock.advance(millis(100));
    waits.push_back(p.died()->count());
  }
  EXPECT_EQ(waits, (std::vector<long>{0, 1000, 2000, 4000, 5000, 5000}));
}

TEST(SupervisorRestartPolicy, DeathsFurtherApartThanTheWindowAreEachAFirstDeath) {
  ManualClock clock;
  RestartPolicy p({millis(1000), millis(60'000), 5, millis(600'000), millis(3'600'000)}, clock.clock());
  for (int i = 0; i < 10; ++i) {
    p.started();
    clock.advance(millis(600'000)); // never "stable" (an hour), but the window moved on
    ASSERT_EQ(p.died()->count(), 0) << i;
  }
}

TEST(SupervisorRestartPolicy, GivesUpOnceTheCapIsReachedWithinTheWindow) {
  ManualClock clock;
  RestartPolicy p(defaults(), clock.clock());
  for (int i = 0; i < 5; ++i) {
    p.started();
    clock.advance(millis(1000));
    ASSERT_TRUE(p.died().has_value()) << "death " << i + 1;
  }
  p.started();
  clock.advance(millis(1000));
  EXPECT_FALSE(p.died().has_value()); // the sixth death within 600 s: given up
  // The operator's line counts the deaths: the restarts in the window and this one.
  EXPECT_EQ(p.restarts_in_window() + 1, 6u);
}

TEST(SupervisorRestartPolicy, RestartsLeaveTheWindowAfterItsLength) {
  ManualClock clock;
  RestartPolicy p({millis(10), millis(10), 3, millis(60'000), millis(600'000)}, clock.clock());
  for (int i = 0; i < 3; ++i) {
    p.started();
    ASSERT_TRUE(p.died().has_value()) << i;
  }
  p.started();
  EXPECT_FALSE(p.died().has_value()); // the fourth death within a minute
  clock.advance(millis(60'000));      // the window has moved past the three restarts
  p.started();
  EXPECT_TRUE(p.died().has_value());
}

TEST(SupervisorRestartPolicy, AStableSpawnResetsTheBackoff) {
  ManualClock clock;
  RestartPolicy p({millis(1000), millis(60'000), 100, millis(3'600'000), millis(60'000)}, clock.clock());
  p.started();
  EXPECT_EQ(p.died()->count(), 0);
  p.started();
  EXPECT_EQ(p.died()->count(), 1000);
  p.started();
  EXPECT_EQ(p.died()->count(), 2000);
  p.started();
  clock.advance(millis(59'999)); // not quite a minute: still the crash loop
  EXPECT_EQ(p.died()->count(), 4000);
  p.started();
  clock.advance(millis(60'000)); // up for a minute: healthy, so its death is a first death
  EXPECT_EQ(p.died()->count(), 0);
  p.started();
  EXPECT_EQ(p.died()->count(), 1000); // and the backoff starts over from the minimum
}

TEST(SupervisorRestartPolicy, LimitsComeFromTheSettings) {
  Config cfg;
  cfg.launch.backoff_min_s = 0.2;
  cfg.launch.backoff_max_s = 1;
  cfg.launch.restart_max = 3;
  cfg.launch.restart_window_s = 600;
  auto limits = RestartLimits::from_config(cfg);
  EXPECT_EQ(limits.backoff_min, millis(200));
  EXPECT_EQ(limits.backoff_max, millis(1000));
  EXPECT_EQ(limits.max_restarts, 3u);
  EXPECT_EQ(limits.window, millis(600'000));
  EXPECT_EQ(limits.stable_after, millis(60'000));
}

TEST(SupervisorRestartPolicy, ExitCodes2And3AreNeverRestarted) {
  EXPECT_EQ(final_exit(W_EXITCODE(kExitConfig, 0)), FinalExit::config_error);
  EXPECT_EQ(final_exit(W_EXITCODE(kExitSuperseded, 0)), FinalExit::superseded);
  EXPECT_EQ(kExitConfig, 2);
  EXPECT_EQ(kExitSuperseded, 3);
}

TEST(SupervisorRestartPolicy, EveryOtherExitIsADeathToRestart) {
  EXPECT_EQ(final_exit(W_EXITCODE(1, 0)), std::nullopt);   // a crash
  EXPECT_EQ(final_exit(W_EXITCODE(0, 0)), std::nullopt);   // it ended on its own: still needed
  EXPECT_EQ(final_exit(W_EXITCODE(127, 0)), std::nullopt); // exec failed
  EXPECT_EQ(final_exit(SIGKILL), std::nullopt);            // kill -9, the OOM killer
  EXPECT_EQ(final_exit(SIGSEGV | 0x80), std::nullopt);     // a crash with a core dump
  EXPECT_EQ(final_exit(W_EXITCODE(0, SIGTERM)), std::nullopt);
}

} // namespace
} // namespace shardline::supervisor
