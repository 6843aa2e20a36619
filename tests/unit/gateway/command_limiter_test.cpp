// The gateway send limiter: no 60-second span holds more than `limit` commands, ordinary
// commands leave `heartbeat_reserve` of them to heartbeats, and all timing comes from the
// injected clock (a ManualClock here: no waiting).

#include "gateway/command_limiter.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace shardline::gateway {
namespace {

using namespace std::chrono_literals;

TEST(GatewayCommandLimiter, OrdinaryCommandsStopAtTheReserve) {
  ManualClock clock;
  CommandLimiter limiter(clock.clock(), 10, 60'000ms, 3);
  for (int i = 0; i < 7; ++i) EXPECT_TRUE(limiter.try_acquire(false)) << i;
  EXPECT_FALSE(limiter.try_acquire(false));
  EXPECT_EQ(limiter.used(), 7u);
}

TEST(GatewayCommandLimiter, HeartbeatsUseTheReserveAfterOrdinaryCommandsAreBlocked) {
  ManualClock clock;
  CommandLimiter limiter(clock.clock(), 10, 60'000ms, 3);
  while (limiter.try_acquire(false)) {
  }
  EXPECT_TRUE(limiter.try_acquire(true));
  EXPECT_TRUE(limiter.try_acquire(true));
  EXPECT_TRUE(limiter.try_acquire(true));
  EXPECT_FALSE(limiter.try_acquire(true)) << "the whole limit is used";
  EXPECT_EQ(limiter.used(), 10u);
}

TEST(GatewayCommandLimiter, FailedAttemptsAreNotRecorded) {
  ManualClock clock;
  CommandLimiter limiter(clock.clock(), 4, 60'000ms, 2);
  EXPECT_TRUE(limiter.try_acquire(false));
  EXPECT_TRUE(limiter.try_acquire(false));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.try_acquire(false));
  EXPECT_EQ(limiter.used(), 2u);
}

TEST(GatewayCommandLimiter, SendsExpireExactlyOneWindowLater) {
  ManualClock clock;
  CommandLimiter limiter(clock.clock(), 3, 60'000ms, 0);
  ASSERT_TRUE(limiter.try_acquire(false)); // t = 0
  clock.advance(10s);
  ASSERT_TRUE(limiter.try_acquire(false)); // t = 10 s
  ASSERT_TRUE(limiter.try_acquire(false));
  EXPECT_FALSE(limiter.try_acquire(false));

  clock.advance(50s - 1ms); // 1 ms before the first send is a window old
  EXPECT_FALSE(limiter.try_acquire(false));
  EXPECT_EQ(limiter.used(), 3u);
  clock.advance(1ms);
  EXPECT_EQ(limiter.used(), 2u);
  EXPECT_TRUE(limiter.try_acquire(false));
  EXPECT_FALSE(limiter.try_acquire(false)) << "the two sends of t = 10 s are still in the window";
}

TEST(GatewayCommandLimiter, NextAllowedIsWhenTheBlockingSendExpires) {
  ManualClock clock;
  CommandLimiter limiter(clock.clock(), 4, 60'000ms, 2);
  EXPECT_EQ(limiter.next_allowed(false), clock.now()) << "nothing sent: now";
  const auto first = clock.now();
  ASSERT_TRUE(limiter.try_acquire(false));
  clock.advance(5s);
  ASSERT_TRUE(limiter.try_acquire(false));
  ASSERT_FALSE(limiter.try_acquire(false));

  // Ordinary commands wait for the first send to leave the window; heartbeats may go now.
  EXPECT_EQ(limiter.next_allowed(false), first + 60s);
  EXPECT_EQ(limiter.next_allowed(true), clock.now());

  ASSERT_TRUE(limiter.try_acquire(true));
  ASSERT_TRUE(limiter.try_acquire(true));
  // Four sends at 0, 5, 5, 5 s: a heartbeat waits for the one at 0 s, an ordinary command
  // needs three of them gone (the used count must fall below 4 - 2), i.e. until 5 s + 60 s.
  EXPECT_EQ(limiter.next_allowed(true), first + 60s);
  EXPECT_EQ(limiter.next_allowed(false), first + 65s);

  clock.advance(limiter.next_allowed(false) - clock.now());
  EXPECT_TRUE(limiter.try_acquire(false));
}

// However sends are timed, no 60 s span (and thus no window the server may use) holds more
// than `limit` of them, and ordinary ones never more than limit - reserve.
TEST(GatewayCommandLimiter, NoWindowEverHoldsMoreThanTheLimit) {
  ManualClock clock;
  constexpr std::uint32_t limit = 20, reserve = 4;
  CommandLimiter limiter(clock.clock(), limit, 60'000ms, reserve);
  std::mt19937 rng(7);
  std::vector<std::pair<steady::time_point, bool>> sent; // (time, heartbeat)
  for (int step = 0; step < 5000; ++step) {
    clock.advance(millis(rng() % 2000));
    const bool heartbeat = rng() % 5 == 0;
    if (limiter.try_acquire(heartbeat)) sent.emplace_back(clock.now(), heartbeat);
  }
  ASSERT_GT(sent.size(), 500u);
  for (std::size_t i = 0; i < sent.size(); ++i) {
    std::uint32_t total = 0;
    for (std::size_t j = i; j < sent.size() && sent[j].first < sent[i].first + 60s; ++j) ++total;
    ASSERT_LE(total, limit) << "window starting at send " << i;
  }
  // An ordinary send went only while fewer than limit - reserve sends were in its window.
  for (std::size_t j = 0; j < sent.size(); ++j) {
    if (sent[j].second) continue;
    std::uint32_t before = 0;
    for (std::size_t i = 0; i < j; ++i)
      if (sent[i].first + 60s > sent[j].first) ++before;
    ASSERT_LT(before, limit - reserve) << "ordinary send " << j;
  }
}

TEST(GatewayCommandLimiter, ReserveForCountsTheBeatsOfOneWindowPlusTwo) {
  EXPECT_EQ(CommandLimiter::reserve_for(41'250ms), 4u); // 2 beats + 2
  EXPECT_EQ(CommandLimiter::reserve_for(60'000ms), 3u); // 1 beat + 2
  EXPECT_EQ(CommandLimiter::reserve_for(30'000ms), 4u); // sends a window apart never share one
  EXPECT_EQ(CommandLimiter::reserve_for(29'999ms), 5u);
  EXPECT_EQ(CommandLimiter::reserve_for(5'000ms, 10'000ms), 4u);
}

TEST(GatewayCommandLimiter, SetHeartbeatReserveMovesTheOrdinaryCap) {
  ManualClock clock;
  CommandLimiter limiter(clock.clock(), 10, 60'000ms, 0);
  limiter.set_heartbeat_reserve(6);
  int ordinary = 0;
  while (limiter.try_acquire(false)) ++ordinary;
  EXPECT_EQ(ordinary, 4);
  limiter.set_heartbeat_reserve(2);
  EXPECT_TRUE(limiter.try_acquire(false));
  EXPECT_TRUE(limiter.try_acquire(false));
  EXPECT_TRUE(limiter.try_acquire(false));
  EXPECT_TRUE(limiter.try_acquire(false));
  EXPECT_FALSE(limiter.try_acquire(false));
}

// A reserve as large as the limit would block ordinary commands for good: one slot stays.
TEST(GatewayCommandLimiter, OversizedReserveLeavesOrdinaryCommandsOneSlot) {
  ManualClock clock;
  CommandLimiter limiter(clock.clock(), 5, 60'000ms, 50);
  EXPECT_TRUE(limiter.try_acquire(false));
  EXPECT_FALSE(limiter.try_acquire(false));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter.try_acquire(true));
  EXPECT_FALSE(limiter.try_acquire(true));
}

TEST(GatewayCommandLimiter, ResetStartsAnEmptyWindow) {
  ManualClock clock;
  CommandLimiter limiter(clock.clock(), 3, 60'000ms, 0);
  while (limiter.try_acquire(false)) {
  }
  limiter.reset();
  EXPECT_EQ(limiter.used(), 0u);
  EXPECT_EQ(limiter.next_allowed(false), clock.now());
  EXPECT_TRUE(limiter.try_acquire(false));
}

TEST(GatewayCommandLimiter, DefaultsStayUnderDiscordsLimit) {
  ManualClock clock;
  CommandLimiter limiter(clock.clock());
  std::uint32_t sent = 0;
  while (limiter.try_acquire(true)) ++sent;
  EXPECT_LT(sent, 120u);
  EXPECT_GT(sent, 100u);
}

} // namespace
} // namespace shardline::gateway
