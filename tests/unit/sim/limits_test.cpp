// Identify buckets, the session budget and the per-connection send limit, driven by a manual
// clock. The REST rate limits: rest_limiter_test.cpp.

#include "sim/identify_limiter.hpp"
#include "sim/send_limiter.hpp"

#include <gtest/gtest.h>

using namespace shardline;
using namespace shardline::sim;
using namespace std::chrono_literals;

TEST(SimIdentifyLimiter, OnePerBucketPerWindow) {
  ManualClock clock;
  IdentifyLimiter lim({/*max_concurrency*/ 1, 5000ms, 1000}, clock.clock());
  EXPECT_EQ(lim.try_identify(0), IdentifyVerdict::accepted);
  EXPECT_EQ(lim.try_identify(1), IdentifyVerdict::bucket_busy); // same bucket with concurrency 1
  clock.advance(4999ms);
  EXPECT_EQ(lim.try_identify(1), IdentifyVerdict::bucket_busy);
  clock.advance(1ms);
  EXPECT_EQ(lim.try_identify(1), IdentifyVerdict::accepted);
  EXPECT_EQ(lim.accepted_total(), 2u);
  EXPECT_EQ(lim.violations().at("identify_bucket"), 2u);
  EXPECT_EQ(lim.session_start_limit().remaining, 998u); // refusals cost no budget
}

TEST(SimIdentifyLimiter, BucketsAreShardModuloConcurrency) {
  ManualClock clock;
  IdentifyLimiter lim({4, 5000ms, 1000}, clock.clock());
  EXPECT_EQ(lim.bucket_of(0), 0u);
  EXPECT_EQ(lim.bucket_of(5), 1u);
  EXPECT_EQ(lim.bucket_of(15), 3u);
  // Shards 0-3 start together (one per bucket); shard 4 shares bucket 0 and must wait.
  for (std::uint32_t s = 0; s < 4; ++s) EXPECT_EQ(lim.try_identify(s), IdentifyVerdict::accepted) << s;
  EXPECT_EQ(lim.try_identify(4), IdentifyVerdict::bucket_busy);
  EXPECT_EQ(lim.bucket_free_at(4), clock.now() + 5000ms);
  clock.advance(5000ms);
  EXPECT_EQ(lim.bucket_free_at(4), clock.now());
  EXPECT_EQ(lim.try_identify(4), IdentifyVerdict::accepted);
  EXPECT_EQ(lim.accepted_per_bucket(), (std::vector<std::uint64_t>{2, 1, 1, 1}));
}

TEST(SimIdentifyLimiter, PacedStartupIsNeverFlagged) {
  ManualClock clock;
  IdentifyLimiter lim({16, 5000ms, 1000}, clock.clock());
  // 64 shards, started the way Discord asks: bucket by bucket, one wave per window.
  for (std::uint32_t wave = 0; wave < 4; ++wave) {
    for (std::uint32_t b = 0; b < 16; ++b) EXPECT_EQ(lim.try_identify(wave * 16 + b), IdentifyVerdict::accepted);
    clock.advance(5000ms);
  }
  EXPECT_TRUE(lim.violations().empty());
  EXPECT_EQ(lim.accepted_total(), 64u);
}

TEST(SimIdentifyLimiter, SessionBudgetSpentThenRefilled) {
  ManualClock clock;
  IdentifyLimiter lim({1, 5000ms, 3, 60'000ms}, clock.clock());
  auto ssl = lim.session_start_limit();
  EXPECT_EQ(ssl.total, 3u);
  EXPECT_EQ(ssl.remaining, 3u);
  EXPECT_EQ(ssl.reset_after_ms, 60'000u);
  EXPECT_EQ(ssl.max_concurrency, 1u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(lim.try_identify(0), IdentifyVerdict::accepted);
    clock.advance(5000ms);
  }
  EXPECT_EQ(lim.session_start_limit().remaining, 0u);
  EXPECT_EQ(lim.session_start_limit().reset_after_ms, 45'000u);
  EXPECT_EQ(lim.try_identify(0), IdentifyVerdict::budget_exhausted);
  EXPECT_EQ(lim.violations().at("session_budget"), 1u);
  clock.advance(45'000ms);
  EXPECT_EQ(lim.session_start_limit().remaining, 3u); // read-only view already refilled
  EXPECT_EQ(lim.try_identify(0), IdentifyVerdict::accepted);
  EXPECT_EQ(lim.session_start_limit().remaining, 2u);
  EXPECT_EQ(lim.session_start_limit().reset_after_ms, 60'000u);
}

TEST(SimIdentifyLimiter, ZeroConcurrencyTreatedAsOne) {
  ManualClock clock;
  IdentifyLimiter lim({0, 5000ms, 10}, clock.clock());
  EXPECT_EQ(lim.bucket_of(7), 0u);
  EXPECT_EQ(lim.session_start_limit().max_concurrency, 1u);
}

TEST(SimSendLimiter, HundredTwentyPerSixtySeconds) {
  ManualClock clock;
  SendLimiter lim(clock.clock());
  for (int i = 0; i < 120; ++i) ASSERT_TRUE(lim.allow()) << i;
  EXPECT_FALSE(lim.allow());
}

TEST(SimSendLimiter, WindowOpensAtFirstCommand) {
  ManualClock clock;
  SendLimiter lim(clock.clock(), 120, 60'000ms);
  for (int i = 0; i < 120; ++i) {
    ASSERT_TRUE(lim.allow());
    clock.advance(100ms); // 120 commands over 12 s
  }
  clock.advance(47'900ms); // 59.9 s after the first: still the same window
  EXPECT_FALSE(lim.allow());
  clock.advance(100ms); // 60 s after the first: a fresh window
  for (int i = 0; i < 120; ++i) ASSERT_TRUE(lim.allow()) << i;
  EXPECT_FALSE(lim.allow());
}

TEST(SimSendLimiter, SteadyHeartbeatsNeverHitIt) {
  ManualClock clock;
  SendLimiter lim(clock.clock());
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_TRUE(lim.allow());
    clock.advance(1000ms); // one command per second is 60 per window
  }
}
