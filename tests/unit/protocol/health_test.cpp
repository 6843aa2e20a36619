#include "protocol/health.hpp"

#include <gtest/gtest.h>

namespace shardline::protocol {
namespace {

TEST(Health, HeartbeatDefaultThresholds) {
  HealthThresholds t; // green < 60 s, yellow < 180 s, red otherwise
  EXPECT_EQ(health_from_heartbeat(0, t), Health::green);
  EXPECT_EQ(health_from_heartbeat(59.999, t), Health::green);
  EXPECT_EQ(health_from_heartbeat(60, t), Health::yellow);
  EXPECT_EQ(health_from_heartbeat(60.001, t), Health::yellow);
  EXPECT_EQ(health_from_heartbeat(179.999, t), Health::yellow);
  EXPECT_EQ(health_from_heartbeat(180, t), Health::red);
  EXPECT_EQ(health_from_heartbeat(1e9, t), Health::red);
}

TEST(Health, StatsDefaultThresholds) {
  HealthThresholds t; // green < 120 s, yellow < 300 s, hidden after
  EXPECT_EQ(health_from_stats(0, t), Health::green);
  EXPECT_EQ(health_from_stats(119.999, t), Health::green);
  EXPECT_EQ(health_from_stats(120, t), Health::yellow);
  EXPECT_EQ(health_from_stats(299.999, t), Health::yellow);
  EXPECT_EQ(health_from_stats(300, t), Health::hidden);
  EXPECT_EQ(health_from_stats(86400, t), Health::hidden);
}

TEST(Health, HeartbeatNeverHiddenStatsNeverRed) {
  HealthThresholds t;
  for (double age = 0; age < 1000; age += 0.5) {
    EXPECT_NE(health_from_heartbeat(age, t), Health::hidden) << age;
    EXPECT_NE(health_from_stats(age, t), Health::red) << age;
  }
}

TEST(Health, CustomThresholds) {
  HealthThresholds t;
  t.heartbeat_green_s = 2;
  t.heartbeat_yellow_s = 5;
  t.stats_green_s = 1;
  t.stats_hide_s = 3;
  EXPECT_EQ(health_from_heartbeat(1.9, t), Health::green);
  EXPECT_EQ(health_from_heartbeat(2, t), Health::yellow);
  EXPECT_EQ(health_from_heartbeat(4.9, t), Health::yellow);
  EXPECT_EQ(health_from_heartbeat(5, t), Health::red);
  EXPECT_EQ(health_from_heartbeat(59, t), Health::red); // would be green by default
  EXPECT_EQ(health_from_stats(0.9, t), Health::green);
  EXPECT_EQ(health_from_stats(1, t), Health::yellow);
  EXPECT_EQ(health_from_stats(3, t), Health::hidden);
  EXPECT_EQ(health_from_stats(100, t), Health::hidden); // would be green by default
}

TEST(Health, EqualGreenAndYellowSkipsYellow) {
  HealthThresholds t;
  t.heartbeat_green_s = 10;
  t.heartbeat_yellow_s = 10;
  EXPECT_EQ(health_from_heartbeat(9.99, t), Health::green);
  EXPECT_EQ(health_from_heartbeat(10, t), Health::red);
}

TEST(Health, Names) {
  EXPECT_EQ(to_string(Health::green), "green");
  EXPECT_EQ(to_string(Health::yellow), "yellow");
  EXPECT_EQ(to_string(Health::red), "red");
  EXPECT_EQ(to_string(Health::hidden), "hidden");
  EXPECT_EQ(to_emoji(Health::green), "\xF0\x9F\x9F\xA2");  // U+1F7E2
  EXPECT_EQ(to_emoji(Health::yellow), "\xF0\x9F\x9F\xA1"); // U+1F7E1
  EXPECT_EQ(to_emoji(Health::red), "\xF0\x9F\x94\xB4");    // U+1F534
}

} // namespace
} // namespace shardline::protocol
