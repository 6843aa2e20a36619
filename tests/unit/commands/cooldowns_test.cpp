#include "commands/cooldowns.hpp"

#include "core/clock.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace shardline::commands {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kAlice = 300000000000000001ULL, kBob = 300000000000000002ULL;

TEST(CommandCooldowns, SecondUseWithinThePeriodIsRefusedWithTheTimeLeft) {
  ManualClock clock;
  Cooldowns cd(clock.clock(), 10s);
  EXPECT_EQ(cd.try_use(kAlice, "clusters"), std::nullopt);

  clock.advance(3500ms);
  auto left = cd.try_use(kAlice, "clusters");
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(*left, 6500ms);

  // A fraction of a millisecond left still counts as a whole millisecond (rounded up).
  clock.advance(1234567ns); // 1.234567 ms
  left = cd.try_use(kAlice, "clusters");
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(*left, 6499ms);

  clock.advance(6498ms); // 9.999234567 s after the use: 0.765433 ms left, shown as 1 ms
  left = cd.try_use(kAlice, "clusters");
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(*left, 1ms);
}

TEST(CommandCooldowns, OneNanosecondShortIsStillRefusedForOneMillisecond) {
  ManualClock clock;
  Cooldowns cd(clock.clock(), 10s);
  ASSERT_EQ(cd.try_use(kAlice, "clusters"), std::nullopt);
  clock.advance(10s - 1ns);
  auto left = cd.try_use(kAlice, "clusters");
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(*left, 1ms);
}

TEST(CommandCooldowns, AllowedAgainAfterExactlyThePeriodAndThatUseRestartsIt) {
  ManualClock clock;
  Cooldowns cd(clock.clock(), 10s);
  ASSERT_EQ(cd.try_use(kAlice, "clusters"), std::nullopt);
  clock.advance(10s);
  EXPECT_EQ(cd.try_use(kAlice, "clusters"), std::nullopt);
  // The new use starts a new period.
  auto left = cd.try_use(kAlice, "clusters");
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(*left, 10000ms);
  clock.advance(10s);
  EXPECT_EQ(cd.try_use(kAlice, "clusters"), std::nullopt);
}

TEST(CommandCooldowns, RefusedAttemptsDoNotExtendTheCooldown) {
  ManualClock clock;
  Cooldowns cd(clock.clock(), 10s);
  ASSERT_EQ(cd.try_use(kAlice, "clusters"), std::nullopt);
  for (int i = 0; i < 9; ++i) {
    clock.advance(1s);
    ASSERT_TRUE(cd.try_use(kAlice, "clusters").has_value());
  }
  clock.advance(1s); // 10 s after the one use that was allowed
  EXPECT_EQ(cd.try_use(kAlice, "clusters"), std::nullopt);
}

TEST(CommandCooldowns, UsersAndCommandsAreIndependent) {
  ManualClock clock;
  Cooldowns cd(clock.clock(), 10s);
  ASSERT_EQ(cd.try_use(kAlice, "clusters"), std::nullopt);
  clock.advance(2s);
  EXPECT_EQ(cd.try_use(kBob, "clusters"), std::nullopt) << "another user is not in Alice's cooldown";
  EXPECT_EQ(cd.try_use(kAlice, "ipcstatus"), std::nullopt) << "another command is not in cooldown";
  EXPECT_EQ(cd.try_use(kAlice, "broadcastmsg"), std::nullopt);

  EXPECT_EQ(cd.try_use(kAlice, "clusters"), std::optional<millis>(8000ms));
  EXPECT_EQ(cd.try_use(kBob, "clusters"), std::optional<millis>(10000ms));
  EXPECT_EQ(cd.try_use(kAlice, "ipcstatus"), std::optional<millis>(10000ms));
  EXPECT_EQ(cd.try_use(kBob, "ipcstatus"), std::nullopt);

  clock.advance(8s);
  EXPECT_EQ(cd.try_use(kAlice, "clusters"), std::nullopt);
  EXPECT_EQ(cd.try_use(kBob, "clusters"), std::optional<millis>(2000ms));
}

TEST(CommandCooldowns, ZeroPeriodNeverRefuses) {
  ManualClock clock;
  Cooldowns cd(clock.clock(), 0ms);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(cd.try_use(kAlice, "clusters"), std::nullopt);
  EXPECT_EQ(cd.size(), 0u) << "nothing to remember when there is no cooldown";
}

TEST(CommandCooldowns, MemoryIsBoundedByMaxEntries) {
  ManualClock clock;
  Cooldowns cd(clock.clock(), 10s, 100);
  for (std::uint64_t user = 1; user <= 5000; ++user) {
    EXPECT_EQ(cd.try_use(user, "clusters"), std::nullopt) << user;
    ASSERT_LE(cd.size(), 100u);
    if (user % 7 == 0) clock.advance(3ms);
  }
  EXPECT_LE(cd.size(), 100u);
}

TEST(CommandCooldowns, ExpiredEntriesAreForgotten) {
  ManualClock clock;
  Cooldowns cd(clock.clock(), 10s, 3);
  for (std::uint64_t user = 1; user <= 3; ++user) ASSERT_EQ(cd.try_use(user, "clusters"), std::nullopt);
  EXPECT_EQ(cd.size(), 3u);
  clock.advance(10s); // every cooldown is over
  EXPECT_EQ(cd.try_use(4, "clusters"), std::nullopt);
  EXPECT_EQ(cd.size(), 1u) << "the expired entries make room instead of staying";
  // The forgotten users are not refused either.
  for (std::uint64_t user = 1; user <= 2; ++user) EXPECT_EQ(cd.try_use(user, "clusters"), std::nullopt);
  EXPECT_EQ(cd.size(), 3u);
}

TEST(CommandCooldowns, FullTableOfLiveEntriesStillAdmitsANewUser) {
  ManualClock clock;
  Cooldowns cd(clock.clock(), 10s, 3);
  for (std::uint64_t user = 1; user <= 3; ++user) {
    ASSERT_EQ(cd.try_use(user, "clusters"), std::nullopt);
    clock.advance(1s);
  }
  // All three are still in cooldown; a user who never used the command must not be refused.
  EXPECT_EQ(cd.try_use(4, "clusters"), std::nullopt);
  EXPECT_LE(cd.size(), 3u);
  // The room is made by the oldest entry only: the newer ones keep their cooldown.
  EXPECT_EQ(cd.try_use(2, "clusters"), std::optional<millis>(8000ms));
  EXPECT_EQ(cd.try_use(3, "clusters"), std::optional<millis>(9000ms));
  EXPECT_EQ(cd.try_use(4, "clusters"), std::optional<millis>(10000ms));
}

} // namespace
} // namespace shardline::commands
