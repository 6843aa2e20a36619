// Discord's REST rate limits as the simulator enforces them, driven by a manual clock: buckets
// shared by routes and split by major parameter, each group's own limit, Reset-After rounded up
// so a client that waits it is let through, the global window and what it leaves out,
// shared-scope 429s, the invalid requests' sliding window, and the ban.

#include "sim/rest_limiter.hpp"
#include "sim/route_table.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace shardline;
using namespace shardline::sim;
using namespace std::chrono_literals;

namespace {

RestModelOptions options(std::uint32_t global_per_sec = 1000) {
  RestModelOptions o;
  o.global_per_sec = global_per_sec;
  return o;
}

std::size_t group(const RestLimiter& lim, RouteId route) {
  auto g = lim.model().group_of(route);
  EXPECT_TRUE(g) << "route " << static_cast<int>(route) << " has no group";
  return g.value_or(0);
}

std::size_t named(const RestLimiter& lim, std::string_view name) {
  auto g = lim.model().find(name);
  EXPECT_TRUE(g) << name;
  return g.value_or(0);
}

// How many requests in a row the bucket lets through before its first refusal (at most 1,000).
std::uint32_t burst(RestLimiter& lim, std::size_t g, std::uint64_t major) {
  for (std::uint32_t n = 0; n < 1000; ++n)
    if (!lim.check(g, major).allowed()) return n;
  return 1000;
}

} // namespace

TEST(SimRestLimiter, RoutesOfAGroupShareOneBucketPerMajorParameter) {
  ManualClock clock;
  RestLimiter lim(RestModel(options()), clock.clock());
  // A message create and an edit share one hash; the bucket is split by channel.
  const auto create = group(lim, RouteId::channel_message_create);
  EXPECT_EQ(create, group(lim, RouteId::channel_message_edit));
  EXPECT_NE(create, group(lim, RouteId::channel_message_delete)); // deletes have their own bucket
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(lim.check(create, 111).allowed());
  auto v = lim.check(group(lim, RouteId::channel_message_edit), 111);
  ASSERT_TRUE(v.allowed());
  EXPECT_EQ(v.remaining, 1u); // the edit spent the creates' bucket
  EXPECT_TRUE(lim.check(create, 111).allowed());
  auto refused = lim.check(group(lim, RouteId::channel_message_edit), 111);
  EXPECT_EQ(refused.refused, RestScope::user);
  // Another channel: the same hash, a state of its own.
  auto other = lim.check(create, 222);
  EXPECT_TRUE(other.allowed());
  EXPECT_EQ(other.remaining, 4u);
  EXPECT_EQ(other.group->hash, refused.group->hash);
  EXPECT_EQ(other.group->hash.size(), 32u);
  // Hashes differ between groups, and stay the same from one model to the next.
  EXPECT_NE(lim.model().group(create).hash, lim.model().group(group(lim, RouteId::reaction_add)).hash);
  EXPECT_EQ(RestModel(options()).group(create).hash, lim.model().group(create).hash);
  EXPECT_EQ(lim.bucket_states(), 2u);
}

TEST(SimRestLimiter, EachGroupHasItsOwnLimitAndMajor) {
  struct Want {
    RouteId route;
    const char* name;
    std::uint32_t limit;
    millis window;
    Major major;
  };
  const Want wants[] = {
      {RouteId::channel_message_create, "messages", 5, 5000ms, Major::channel},
      {RouteId::channel_message_delete, "message_delete", 5, 1000ms, Major::channel},
      {RouteId::reaction_remove, "reactions", 1, 250ms, Major::channel},
      {RouteId::guild_member_edit, "member", 10, 10'000ms, Major::guild},
      {RouteId::member_role_remove, "member_roles", 10, 10'000ms, Major::guild},
      {RouteId::ban_create, "bans", 5, 5000ms, Major::guild},
      {RouteId::bans_list, "bans", 5, 5000ms, Major::guild},
      {RouteId::role_delete, "roles", 10, 10'000ms, Major::guild},
      {RouteId::gateway_bot, "gateway_bot", 5, 5000ms, Major::none},
      {RouteId::guild_commands_overwrite, "guild_commands_put", 5, 5000ms, Major::guild},
  };
  ManualClock clock;
  RestLimiter lim(RestModel(options()), clock.clock());
  for (const auto& w : wants) {
    const auto& g = lim.model().group(group(lim, w.route));
    EXPECT_EQ(g.name, w.name);
    EXPECT_EQ(g.limit, w.limit) << w.name;
    EXPECT_EQ(g.window, w.window) << w.name;
    EXPECT_EQ(g.major, w.major) << w.name;
  }
  for (const char* name : {"messages", "message_delete", "reactions", "member", "member_roles", "bans", "roles"}) {
    const auto g = named(lim, name);
    EXPECT_EQ(burst(lim, g, 7), lim.model().group(g).limit) << name;
    clock.advance(lim.model().group(g).window); // a window later the bucket is whole again
    EXPECT_EQ(burst(lim, g, 7), lim.model().group(g).limit) << name;
  }
}

TEST(SimRestLimiter, ResetAfterIsRoundedUpSoWaitingItIsEnough) {
  ManualClock clock;
  RestLimiter lim(RestModel(options()), clock.clock());
  const auto reactions = named(lim, "reactions"); // 1 per 250 ms
  auto first = lim.check(reactions, 9);
  ASSERT_TRUE(first.allowed());
  EXPECT_EQ(first.remaining, 0u);
  EXPECT_EQ(first.reset_after_ms, 250u);
  clock.advance(100'400us); // 149.6 ms left: announced as 150
  auto refused = lim.check(reactions, 9);
  EXPECT_EQ(refused.refused, RestScope::user);
  EXPECT_EQ(refused.reset_after_ms, 150u);
  EXPECT_EQ(refused.retry_after_ms, 150u);
  EXPECT_EQ(seconds_text(refused.reset_after_ms), "0.150");
  clock.advance(millis(refused.retry_after_ms)); // exactly what it said: let through
  EXPECT_TRUE(lim.check(reactions, 9).allowed());
  clock.advance(249'999us); // 1 µs short of the window: refused, and told to wait 1 ms
  auto last = lim.check(reactions, 9);
  EXPECT_EQ(last.refused, RestScope::user);
  EXPECT_EQ(last.retry_after_ms, 1u);
  EXPECT_EQ(seconds_text(1250), "1.250");
  EXPECT_EQ(seconds_text(5000), "5.000");
  EXPECT_EQ(seconds_text(7), "0.007");
}

TEST(SimRestLimiter, GlobalWindowCountsEveryLimitedRoute) {
  ManualClock clock;
  RestLimiter lim(RestModel(options(/*global_per_sec*/ 4)), clock.clock());
  ASSERT_TRUE(lim.check(named(lim, "messages"), 1).allowed()); // opens the global window
  clock.advance(300ms);
  ASSERT_TRUE(lim.check(named(lim, "messages"), 2).allowed());
  ASSERT_TRUE(lim.check(named(lim, "bans"), 3).allowed());
  ASSERT_TRUE(lim.check(named(lim, "current_user"), 0).allowed());
  auto v = lim.check(named(lim, "member"), 3);
  EXPECT_EQ(v.refused, RestScope::global);
  EXPECT_EQ(v.retry_after_ms, 700u); // the window opened with the first request
  EXPECT_EQ(v.remaining, 10u);       // the member bucket was not spent
  clock.advance(699ms);
  EXPECT_EQ(lim.check(named(lim, "member"), 3).refused, RestScope::global);
  clock.advance(1ms);
  EXPECT_TRUE(lim.check(named(lim, "member"), 3).allowed());
  EXPECT_EQ(lim.counters().by_group[named(lim, "member")].refused, 2u);
}

TEST(SimRestLimiter, TheInteractionCallbackAndWebhooksAreOutsideTheGlobalLimit) {
  // They have no bucket at all, so the limiter never sees them; every other route of the bot
  // (its token's routes, unknown paths aside) has one.
  RestModel model(options());
  std::set<RouteId> seen;
  for (const auto& row : route_table()) {
    if (!is_discord_route(row) || !seen.insert(row.id).second) continue;
    const bool limited = row.auth == Auth::bot && row.id != RouteId::api_unknown;
    EXPECT_EQ(model.group_of(row.id).has_value(), limited) << route_text(row);
  }
  for (auto exempt : {RouteId::interaction_callback, RouteId::webhook_followup, RouteId::webhook_edit_original}) {
    EXPECT_TRUE(is_global_exempt(exempt));
    EXPECT_FALSE(model.group_of(exempt));
  }
  EXPECT_FALSE(is_global_exempt(RouteId::channel_message_create));
}

TEST(SimRestLimiter, SharedScopeRefusalsAreNotInvalidAndSpendNothing) {
  ManualClock clock;
  RestLimiter lim(RestModel(options()), clock.clock());
  const auto reactions = named(lim, "reactions");
  lim.share_limit(reactions, 2, 1500ms);
  for (int i = 0; i < 2; ++i) {
    auto v = lim.check(reactions, 5);
    EXPECT_EQ(v.refused, RestScope::shared);
    EXPECT_EQ(v.retry_after_ms, 1500u);
    EXPECT_FALSE(lim.answered(429, v.refused));
  }
  EXPECT_TRUE(lim.check(reactions, 5).allowed()); // the bucket was not spent by them
  EXPECT_EQ(lim.invalid_in_window(), 0u);
  EXPECT_EQ(lim.counters().shared, 2u);
  EXPECT_EQ(lim.counters().invalid_total, 0u);
  // A user-scope 429 does count.
  auto user = lim.check(reactions, 5);
  EXPECT_EQ(user.refused, RestScope::user);
  lim.answered(429, user.refused);
  EXPECT_EQ(lim.invalid_in_window(), 1u);
  // Asking again replaces what was left; 0 clears it.
  lim.share_limit(reactions, 5, 100ms);
  lim.share_limit(reactions, 0, 100ms);
  clock.advance(250ms);
  EXPECT_TRUE(lim.check(reactions, 5).allowed());
}

TEST(SimRestLimiter, InvalidRequestsSlideOutOfTheirWindow) {
  ManualClock clock;
  auto o = options();
  o.invalid_window_ms = 1000;
  RestLimiter lim(RestModel(o), clock.clock());
  for (unsigned status : {401u, 403u, 429u}) lim.answered(status, status == 429 ? RestScope::user : RestScope::none);
  for (unsigned status : {200u, 204u, 400u, 404u, 405u, 500u}) lim.answered(status, RestScope::none);
  EXPECT_EQ(lim.invalid_in_window(), 3u);
  clock.advance(500ms);
  lim.answered(401, RestScope::none);
  lim.answered(403, RestScope::none);
  EXPECT_EQ(lim.invalid_in_window(), 5u);
  clock.advance(499ms);
  EXPECT_EQ(lim.invalid_in_window(), 5u);
  clock.advance(1ms); // the first three are a window old
  EXPECT_EQ(lim.invalid_in_window(), 2u);
  clock.advance(500ms);
  EXPECT_EQ(lim.invalid_in_window(), 0u);
  const auto& c = lim.counters();
  EXPECT_EQ(c.invalid_total, 5u);
  EXPECT_EQ(c.requests, 11u);
  EXPECT_EQ(c.ok, 2u);
  EXPECT_EQ(c.user, 1u);
}

TEST(SimRestLimiter, TheDefaultWindowIsTenMinutesInBoundedSteps) {
  SlidingCount count(600'000ms);
  ManualClock clock;
  for (int i = 0; i < 100'000; ++i) {
    count.add(clock.now());
    clock.advance(6ms); // 10 minutes of a steady 166 invalid requests a second
  }
  // The first arrived exactly 10 minutes ago: its 600 ms step (100 events) has just left.
  EXPECT_EQ(count.count(clock.now() - 1ms), 100'000u);
  EXPECT_EQ(count.count(clock.now()), 99'900u);
  clock.advance(300'000ms);
  EXPECT_EQ(count.count(clock.now()), 49'900u); // half of them left, less one step
  clock.advance(300'000ms);
  EXPECT_EQ(count.count(clock.now()), 0u);
}

TEST(SimRestLimiter, ReachingTheInvalidLimitBansForBanMsWithoutHeaders) {
  ManualClock clock;
  auto o = options();
  o.invalid_limit = 3;
  o.ban_ms = 2000;
  RestLimiter lim(RestModel(o), clock.clock());
  EXPECT_FALSE(lim.ban_left());
  EXPECT_FALSE(lim.answered(401, RestScope::none));
  EXPECT_FALSE(lim.answered(403, RestScope::none));
  EXPECT_FALSE(lim.ban_left());
  EXPECT_TRUE(lim.answered(429, RestScope::global)); // the third: banned from now
  EXPECT_EQ(lim.ban_left(), 2000ms);
  // Banned: every request is answered 429 (by the server, without headers) and counts again,
  // without starting another ban.
  EXPECT_FALSE(lim.answered(429, RestScope::banned));
  EXPECT_EQ(lim.counters().banned, 1u);
  EXPECT_EQ(lim.invalid_in_window(), 4u);
  clock.advance(1999'500us);
  EXPECT_EQ(lim.ban_left(), 1ms); // rounded up
  clock.advance(500us);
  EXPECT_FALSE(lim.ban_left()); // lifted after exactly ban_ms
  EXPECT_TRUE(lim.check(named(lim, "current_user"), 0).allowed());
  // Still over the limit within the window: the next invalid answer bans again.
  EXPECT_TRUE(lim.answered(403, RestScope::none));
  EXPECT_EQ(lim.ban_left(), 2000ms);
}

TEST(SimRestLimiter, ResetForgetsBucketsCountersAndTheBan) {
  ManualClock clock;
  auto o = options();
  o.invalid_limit = 1;
  RestLimiter lim(RestModel(o), clock.clock());
  const auto reactions = named(lim, "reactions");
  ASSERT_TRUE(lim.check(reactions, 1).allowed());
  lim.share_limit(named(lim, "bans"), 3, 10ms);
  EXPECT_TRUE(lim.answered(401, RestScope::none));
  ASSERT_TRUE(lim.ban_left());
  lim.reset();
  EXPECT_FALSE(lim.ban_left());
  EXPECT_EQ(lim.invalid_in_window(), 0u);
  EXPECT_EQ(lim.counters().requests, 0u);
  EXPECT_EQ(lim.counters().by_group[reactions].requests, 0u);
  EXPECT_EQ(lim.bucket_states(), 0u);
  EXPECT_TRUE(lim.check(reactions, 1).allowed()); // the spent bucket is whole again
  EXPECT_TRUE(lim.check(named(lim, "bans"), 1).allowed()); // no shared 429 left
}

TEST(SimRestLimiter, BucketStatesAreBoundedDroppingEndedWindowsFirst) {
  ManualClock clock;
  auto o = options();
  o.max_bucket_states = 3;
  RestLimiter lim(RestModel(o), clock.clock());
  const auto messages = named(lim, "messages"), reactions = named(lim, "reactions");
  ASSERT_TRUE(lim.check(messages, 1).allowed());  // ends in 5 s
  ASSERT_TRUE(lim.check(reactions, 1).allowed()); // ends in 250 ms
  ASSERT_TRUE(lim.check(messages, 2).allowed());
  clock.advance(300ms);
  ASSERT_TRUE(lim.check(messages, 3).allowed()); // full: the reaction bucket, ended, goes
  EXPECT_EQ(lim.bucket_states(), 3u);
  EXPECT_EQ(lim.check(messages, 1).remaining, 3u); // the older message buckets were kept
  EXPECT_EQ(lim.check(messages, 2).remaining, 3u);
  // None has ended: the one whose window ends first goes (channel 1, the oldest).
  ASSERT_TRUE(lim.check(reactions, 2).allowed());
  EXPECT_EQ(lim.bucket_states(), 3u);
  EXPECT_EQ(lim.check(messages, 3).remaining, 3u);
  EXPECT_EQ(lim.check(messages, 1).remaining, 4u); // forgotten: a fresh window
}

TEST(SimRestModel, OverridesByNameAndTheGenericLimits) {
  auto o = options();
  o.route_limit = 3;
  o.route_window_ms = 400;
  o.buckets = {{"messages", 50, 1000}, {"reactions", 2, 500}, {"messages", 40, 2000}};
  RestModel model(o);
  auto at = [&](std::string_view name) { return model.group(*model.find(name)); };
  EXPECT_EQ(at("messages").limit, 40u); // the last override wins
  EXPECT_EQ(at("messages").window, 2000ms);
  EXPECT_EQ(at("reactions").limit, 2u);
  EXPECT_EQ(at("current_user").limit, 3u); // generic: --rest-route-limit
  EXPECT_EQ(at("current_user").window, 400ms);
  EXPECT_EQ(at("bans").limit, 5u); // not generic: its own default
  // A group is found by its name or by any of its routes, as /_sim/rest/limits lists them.
  EXPECT_EQ(model.find("PUT /channels/{channel}/messages/{message}/reactions/{emoji}/@me"), model.find("reactions"));
  EXPECT_EQ(model.find("GET /guilds/{guild}/bans"), model.find("bans"));
  EXPECT_FALSE(model.find("POST /interactions/{interaction}/{token}/callback"));
  EXPECT_FALSE(model.find("nope"));
}

TEST(SimRestModel, ParsesBucketOverrides) {
  auto ok = parse_rest_bucket("messages=50/1000");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->name, "messages");
  EXPECT_EQ(ok->limit, 50u);
  EXPECT_EQ(ok->window_ms, 1000u);
  auto unknown = parse_rest_bucket("mesages=50/1000");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown REST bucket 'mesages'"), std::string::npos);
  EXPECT_NE(unknown.error().message.find("reactions"), std::string::npos); // the names to pick from
  for (const char* bad : {"", "messages", "messages=50", "messages=/1000", "messages=0/1000", "messages=50/0",
                          "messages=50/3600001", "messages=1000001/10", "messages=5x/10", "messages=-1/10",
                          "=5/10"})
    EXPECT_FALSE(parse_rest_bucket(bad)) << bad;
  for (auto name : rest_group_names()) EXPECT_TRUE(parse_rest_bucket(std::string(name) + "=1/1")) << name;
}

TEST(SimRestModel, MajorParametersComeFromThePath) {
  RouteCaptures at;
  at.channel = 10;
  at.guild = 20;
  at.app = 30;
  at.token = "tok";
  EXPECT_EQ(major_of(Major::none, at), 0u);
  EXPECT_EQ(major_of(Major::channel, at), 10u);
  EXPECT_EQ(major_of(Major::guild, at), 20u);
  const auto webhook = major_of(Major::webhook, at);
  at.token = "other";
  EXPECT_NE(major_of(Major::webhook, at), webhook); // a webhook's bucket is split by its token too
}
