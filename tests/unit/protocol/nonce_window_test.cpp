#include "protocol/nonce_window.hpp"

#include <gtest/gtest.h>

#include <string>

namespace shardline::protocol {
namespace {

std::string n(int i) { return "nonce-" + std::to_string(i); }

TEST(NonceWindow, NewNonceAcceptedReplayRefused) {
  NonceWindow w;
  EXPECT_TRUE(w.insert("abc-1"));
  EXPECT_TRUE(w.insert("abc-2"));
  EXPECT_FALSE(w.insert("abc-1"));
  EXPECT_FALSE(w.insert("abc-2"));
  EXPECT_FALSE(w.insert("abc-1")); // still refused the second time
  EXPECT_EQ(w.size(), 2u);         // a replay is not stored again
}

TEST(NonceWindow, DefaultWindowIsTenThousand) {
  NonceWindow w;
  EXPECT_EQ(w.capacity(), 10'000u);
}

TEST(NonceWindow, RemembersTheLastTenThousand) {
  NonceWindow w;
  ASSERT_TRUE(w.insert("first"));
  for (int i = 0; i < 9'999; ++i) ASSERT_TRUE(w.insert(n(i)));
  // "first" is the oldest of exactly 10,000 nonces: still a replay.
  EXPECT_FALSE(w.insert("first"));
  // Every one of the 10,000 is still refused.
  for (int i = 0; i < 9'999; ++i) ASSERT_FALSE(w.insert(n(i))) << i;
  EXPECT_EQ(w.size(), 10'000u);
}

TEST(NonceWindow, OldestIsForgottenOnceTenThousandNewerArrived) {
  NonceWindow w;
  ASSERT_TRUE(w.insert("first"));
  ASSERT_TRUE(w.insert("second"));
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(w.insert(n(i)));
  // 10,001 newer than "first", 10,000 newer than "second": both out of the window...
  EXPECT_TRUE(w.insert("first"));
  // ...whereas the ones still inside are refused.
  EXPECT_FALSE(w.insert(n(9'999)));
  EXPECT_FALSE(w.insert(n(5'000)));
  EXPECT_EQ(w.size(), 10'000u);
}

TEST(NonceWindow, SizeNeverExceedsCapacity) {
  NonceWindow w(100);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(w.insert(n(i)));
    ASSERT_LE(w.size(), 100u);
  }
  EXPECT_EQ(w.size(), 100u);
  // Exactly the last 100 are remembered, in a sliding window.
  for (int i = 900; i < 1000; ++i) EXPECT_FALSE(w.insert(n(i))) << i;
  EXPECT_TRUE(w.insert(n(899)));
  // Inserting 899 evicted the oldest remembered one (900); 902 is still there.
  EXPECT_TRUE(w.insert(n(900)));
  EXPECT_FALSE(w.insert(n(902)));
}

TEST(NonceWindow, CapacityOneRemembersOnlyTheLast) {
  NonceWindow w(1);
  EXPECT_TRUE(w.insert("a"));
  EXPECT_FALSE(w.insert("a"));
  EXPECT_TRUE(w.insert("b"));
  EXPECT_TRUE(w.insert("a"));
  EXPECT_FALSE(w.insert("a"));
  EXPECT_EQ(w.size(), 1u);
}

TEST(NonceWindow, CapacityZeroRemembersNothing) {
  NonceWindow w(0);
  EXPECT_TRUE(w.insert("a"));
  EXPECT_TRUE(w.insert("a"));
  EXPECT_EQ(w.size(), 0u);
}

TEST(NonceWindow, EmptyNonceIsANonceLikeAnyOther) {
  NonceWindow w;
  EXPECT_TRUE(w.insert(""));
  EXPECT_FALSE(w.insert(""));
}

} // namespace
} // namespace shardline::protocol
