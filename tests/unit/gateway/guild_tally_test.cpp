// The guilds and members a shard reports (shard_status, stats, the guild snapshot), as READY and
// the GUILD_* dispatches tell them.

#include "gateway/guild_tally.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace shardline::gateway {
namespace {

GuildInfo created(std::uint64_t id, std::uint64_t members) { return {id, members, true, false}; }
GuildInfo outage(std::uint64_t id) { return {id, 0, false, true}; }
GuildInfo left(std::uint64_t id) { return {id, 0, false, false}; }

TEST(GatewayGuildTally, ReadyListsGuildsUnavailableUntilTheirCreate) {
  GuildTally t;
  t.start_session({1, 2, 3});
  EXPECT_EQ(t.count(), 3u);
  EXPECT_EQ(t.unavailable(), 3u);
  t.apply("GUILD_CREATE", created(1, 10));
  t.apply("GUILD_CREATE", created(2, 5));
  EXPECT_EQ(t.unavailable(), 1u);
  EXPECT_EQ(t.members(), 15u);
  t.apply("GUILD_CREATE", created(1, 12)); // counted once, with its latest count
  EXPECT_EQ(t.members(), 17u);
}

TEST(GatewayGuildTally, AnOutageKeepsTheGuildAndLeavingDropsIt) {
  GuildTally t;
  t.start_session({});
  t.apply("GUILD_CREATE", created(1, 10));
  t.apply("GUILD_DELETE", outage(1));
  EXPECT_EQ(t.count(), 1u);
  EXPECT_EQ(t.unavailable(), 1u);
  EXPECT_EQ(t.members(), 10u);
  t.apply("GUILD_DELETE", left(1));
  EXPECT_EQ(t.count(), 0u);
  EXPECT_EQ(t.unavailable(), 0u);
  EXPECT_EQ(t.members(), 0u);
}

TEST(GatewayGuildTally, AnUpdateWithoutMemberCountKeepsTheCount) {
  GuildTally t;
  t.apply("GUILD_CREATE", created(7, 40));
  t.apply("GUILD_UPDATE", GuildInfo{7, 0, false, false});
  EXPECT_EQ(t.members(), 40u);
}

TEST(GatewayGuildTally, TakeReportsChangesAndRestoreIsNotOne) {
  GuildTally t;
  t.restore({{1, 10, false}, {2, 0, true}});
  EXPECT_FALSE(t.changed());
  EXPECT_EQ(t.members(), 10u);
  EXPECT_EQ(t.unavailable(), 1u);
  t.apply("GUILD_CREATE", created(2, 3));
  EXPECT_TRUE(t.changed());
  auto list = t.take();
  EXPECT_FALSE(t.changed());
  std::sort(list.begin(), list.end(), [](auto& a, auto& b) { return a.id < b.id; });
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1].id, 2u);
  EXPECT_EQ(list[1].member_count, 3u);
  EXPECT_FALSE(list[1].unavailable);
}

} // namespace
} // namespace shardline::gateway
