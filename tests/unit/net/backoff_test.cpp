#include "net/backoff.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace shardline::net {
namespace {

using namespace std::chrono_literals;
using seconds_d = std::chrono::duration<double>;

std::vector<double> schedule(Backoff& b, int n) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(b.next().count());
  return out;
}

TEST(Backoff, ContractScheduleWithoutJitter) {
  Backoff b(5s, 120s, 0.0);
  EXPECT_EQ(schedule(b, 9), (std::vector<double>{5, 10, 20, 40, 80, 120, 120, 120, 120}));
}

TEST(Backoff, DefaultsAreTheContractValues) {
  Backoff b; // 5 s .. 120 s
  std::vector<double> bases;
  for (int i = 0; i < 7; ++i) {
    bases.push_back(b.peek_base().count());
    b.next();
  }
  EXPECT_EQ(bases, (std::vector<double>{5, 10, 20, 40, 80, 120, 120}));
}

// Drives the backoff as the link's reconnect loop does: the link drops at t = 0, every
// attempt fails, and each failure waits next() before the following attempt.
TEST(Backoff, FailedAttemptsHappenAtCumulativeTimes) {
  Backoff b(5s, 120s, 0.0);
  seconds_d clock{0};
  std::vector<double> attempts;
  for (int i = 0; i < 8; ++i) {
    clock += b.next();
    attempts.push_back(clock.count());
  }
  EXPECT_EQ(attempts, (std::vector<double>{5, 15, 35, 75, 155, 275, 395, 515}));

  // Attempt at t = 515 succeeds: authentication resets the delay. The link drops again at
  // t = 1000 and the first retry comes 5 s later, then 10 s after that.
  b.reset();
  EXPECT_EQ(b.attempt(), 0u);
  clock = seconds_d(1000);
  clock += b.next();
  EXPECT_DOUBLE_EQ(clock.count(), 1005);
  clock += b.next();
  EXPECT_DOUBLE_EQ(clock.count(), 1015);
}

TEST(Backoff, RefusedAuthKeepsBackingOff) {
  // A refused authentication is just another failed attempt: no reset, the delay keeps growing.
  Backoff b(5s, 120s, 0.0);
  b.next();
  b.next();
  EXPECT_EQ(b.attempt(), 2u);
  EXPECT_DOUBLE_EQ(b.next().count(), 20);
}

TEST(Backoff, PeekBaseDoesNotAdvance) {
  Backoff b(5s, 120s, 0.5, 42);
  EXPECT_DOUBLE_EQ(b.peek_base().count(), 5);
  EXPECT_DOUBLE_EQ(b.peek_base().count(), 5);
  EXPECT_EQ(b.attempt(), 0u);
  b.next();
  EXPECT_DOUBLE_EQ(b.peek_base().count(), 10);
}

TEST(Backoff, JitterIsNonNegativeAndBounded) {
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    Backoff b(5s, 120s, 0.1, seed);
    for (int i = 0; i < 50; ++i) {
      double base = b.peek_base().count();
      double d = b.next().count();
      ASSERT_GE(d, base) << "seed " << seed << " attempt " << i;
      ASSERT_LE(d, base * 1.1) << "seed " << seed << " attempt " << i;
    }
  }
}

TEST(Backoff, JitterActuallySpreadsDelays) {
  // Many clients restarting together must not all retry on the same tick.
  std::vector<double> first;
  for (std::uint64_t seed = 0; seed < 50; ++seed) first.push_back(Backoff(5s, 120s, 0.1, seed).next().count());
  std::sort(first.begin(), first.end());
  EXPECT_GT(first.back() - first.front(), 0.1); // spread over more than 0.1 s of the 0.5 s window
  EXPECT_LE(first.back(), 5.5);
}

TEST(Backoff, SameSeedSameSchedule) {
  Backoff a(5s, 120s, 0.1, 7), b(5s, 120s, 0.1, 7);
  EXPECT_EQ(schedule(a, 10), schedule(b, 10));
}

TEST(Backoff, NonPositiveJitterMeansExactDelays) {
  Backoff b(5s, 120s, -0.3, 1);
  EXPECT_EQ(schedule(b, 3), (std::vector<double>{5, 10, 20}));
}

TEST(Backoff, ResetAfterReachingTheCap) {
  Backoff b(5s, 120s, 0.0);
  schedule(b, 20);
  EXPECT_DOUBLE_EQ(b.peek_base().count(), 120);
  b.reset();
  EXPECT_EQ(schedule(b, 3), (std::vector<double>{5, 10, 20}));
}

TEST(Backoff, CustomMinAndMax) {
  Backoff b(seconds_d(0.25), seconds_d(3), 0.0);
  EXPECT_EQ(schedule(b, 6), (std::vector<double>{0.25, 0.5, 1, 2, 3, 3}));
  Backoff c(1s, 8s, 0.0);
  EXPECT_EQ(schedule(c, 5), (std::vector<double>{1, 2, 4, 8, 8}));
}

TEST(Backoff, MaxBelowMinIsRaisedToMin) {
  Backoff b(10s, 2s, 0.0);
  EXPECT_EQ(schedule(b, 3), (std::vector<double>{10, 10, 10}));
}

TEST(Backoff, ManyAttemptsStayAtTheCap) {
  Backoff b(5s, 120s, 0.0);
  for (int i = 0; i < 5000; ++i) {
    double d = b.next().count();
    ASSERT_GE(d, 5);
    ASSERT_LE(d, 120);
  }
  EXPECT_DOUBLE_EQ(b.next().count(), 120);
}

} // namespace
} // namespace shardline::net
