// The coordinator's rules against a driven clock: what Discord's headers teach, and that no
// sequence of grants can exceed a bucket's or the global limit.
#include "ratelimit/rest_limit_state.hpp"

#include <gtest/gtest.h>

namespace shardline::ratelimit {
namespace {

using namespace std::chrono_literals;
using Kind = RestDecision::Kind;

RestObservation ok(std::string bucket, std::uint32_t limit, std::uint32_t remaining, double reset_after) {
  RestObservation o;
  o.status = 200;
  o.bucket = std::move(bucket);
  o.limit = limit;
  o.remaining = remaining;
  o.reset_after_s = reset_after;
  return o;
}

RestObservation too_many(std::string scope, double retry_after, bool global = false) {
  RestObservation o = ok("h1", 5, 0, retry_after);
  o.status = 429;
  o.scope = std::move(scope);
  o.global = global;
  o.retry_after_s = retry_after;
  return o;
}

struct RestLimits : ::testing::Test {
  ManualClock clock;
  RestLimitOptions opt;
  std::unique_ptr<RestLimitState> state;
  RestRoute channel1 = classify_rest_route("POST", "/channels/1/messages");
  RestRoute channel2 = classify_rest_route("POST", "/channels/2/messages");
  RestRoute callback = classify_rest_route("POST", "/interactions/5/tok/callback");
  int tags = 0;

  void make() { state = std::make_unique<RestLimitState>(opt, clock.clock()); }
  void SetUp() override { make(); }
  std::string submit(const RestRoute& r) {
    auto tag = std::to_string(++tags);
    state->submit(1, tag, r);
    return tag;
  }
  std::vector<RestDecision> granted() {
    std::vector<RestDecision> g;
    for (auto& d : state->poll())
      if (d.kind == Kind::granted) g.push_back(d);
    return g;
  }
};

TEST_F(RestLimits, AnUnknownBucketSendsOneProbeThenWhatItsHeadersAllow) {
  for (int i = 0; i < 7; ++i) submit(channel1);
  auto first = granted();
  ASSERT_EQ(first.size(), 1u) << "one request until the bucket is known";
  EXPECT_TRUE(granted().empty());
  state->report(first[0].grant, channel1, ok("h1", 5, 4, 5.0));
  auto next = granted();
  ASSERT_EQ(next.size(), 4u) << "the four left in the window";
  for (std::uint32_t i = 0; i < 4; ++i) state->report(next[i].grant, channel1, ok("h1", 5, 3 - i, 5.0));
  ASSERT_TRUE(state->next_due());
  clock.advance(4900ms);
  EXPECT_TRUE(granted().empty()) << "the window is not over";
  clock.advance(100ms);
  auto after = granted();
  EXPECT_EQ(after.size(), 2u) << "the new window: the two still queued";
}

TEST_F(RestLimits, GrantsStillOutWhenAWindowEndsCountAgainstTheNextOne) {
  for (int i = 0; i < 8; ++i) submit(channel1);
  auto probe = granted();
  ASSERT_EQ(probe.size(), 1u);
  state->report(probe[0].grant, channel1, ok("h1", 5, 4, 1.0));
  ASSERT_EQ(granted().size(), 4u); // never answered before the window ends
  clock.advance(1s);
  EXPECT_EQ(granted().size(), 1u) << "four may still land in the new window";
}

TEST_F(RestLimits, BucketsAreSplitByMajorParameterAndSharedByHash) {
  submit(channel1);
  auto g = granted();
  ASSERT_EQ(g.size(), 1u);
  state->report(g[0].grant, channel1, ok("h1", 2, 1, 5.0));
  // Another route under the same hash and channel shares the window...
  auto edit = classify_rest_route("PATCH", "/channels/1/messages/9");
  submit(edit);
  auto e = granted();
  ASSERT_EQ(e.size(), 1u) << "the edit is a probe of its own route";
  state->report(e[0].grant, edit, ok("h1", 2, 0, 4.9));
  submit(channel1);
  submit(edit);
  EXPECT_TRUE(granted().empty()) << "both routes wait for the shared bucket's window";
  // ...and another channel has a window of its own.
  submit(channel2);
  EXPECT_EQ(granted().size(), 1u);
}

TEST_F(RestLimits, TheGlobalLimitHoldsATokenUntilOneSecondAfterTheAnswer) {
  opt.global_per_sec = 3;
  make();
  std::vector<RestRoute> routes;
  for (int i = 0; i < 5; ++i) routes.push_back(classify_rest_route("GET", "/channels/" + std::to_string(10 + i)));
  for (auto& r : routes) submit(r);
  auto g = granted();
  ASSERT_EQ(g.size(), 3u);
  clock.advance(300ms);
  state->report(g[0].grant, routes[0], ok("a", 5, 4, 5));
  EXPECT_TRUE(granted().empty()) << "its token is held for a second after the answer";
  clock.advance(999ms);
  EXPECT_TRUE(granted().empty());
  clock.advance(1ms);
  EXPECT_EQ(granted().size(), 1u);
  // Interaction callbacks are not in the global limit.
  submit(callback);
  EXPECT_EQ(granted().size(), 1u);
}

TEST_F(RestLimits, A429OfScopeUserBlocksTheBucketForRetryAfterAndCountsAsInvalid) {
  submit(channel1);
  auto g = granted();
  state->report(g[0].grant, channel1, ok("h1", 5, 4, 5));
  submit(channel1);
  g = granted();
  ASSERT_EQ(g.size(), 1u);
  state->report(g[0].grant, channel1, too_many("user", 2.0));
  state->submit(1, "retry", channel1, true);
  EXPECT_TRUE(granted().empty());
  clock.advance(2s);
  auto r = granted();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].tag, "retry");
  auto s = state->stats();
  EXPECT_EQ(s.rate_limited_user, 1u);
  EXPECT_EQ(s.invalid_window, 1u);
}

TEST_F(RestLimits, ASharedScope429WaitsButIsNotInvalidAndAGlobalOneStopsEveryone) {
  submit(channel1);
  auto g = granted();
  state->report(g[0].grant, channel1, too_many("shared", 1.0));
  EXPECT_EQ(state->stats().invalid_window, 0u);
  EXPECT_EQ(state->stats().rate_limited_shared, 1u);
  submit(channel2);
  g = granted();
  ASSERT_EQ(g.size(), 1u);
  state->report(g[0].grant, channel2, too_many("global", 3.0, true));
  submit(classify_rest_route("GET", "/guilds/3"));
  submit(callback);
  auto after = granted();
  ASSERT_EQ(after.size(), 1u) << "only the interaction callback goes during a global 429";
  clock.advance(3s);
  EXPECT_EQ(granted().size(), 1u);
}

TEST_F(RestLimits, ARequestThatWouldWaitLongerThanMaxWaitIsRefusedAtOnceWithTheWait) {
  opt.max_wait = 3s;
  make();
  submit(channel1);
  auto g = granted();
  state->report(g[0].grant, channel1, ok("h1", 1, 0, 5.0));
  submit(channel1);
  auto d = state->poll();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, Kind::refused_wait);
  EXPECT_NEAR(d[0].retry_after_s, 5.0, 0.01);
}

TEST_F(RestLimits, AnAnswerFromAWindowAlreadyRolledOverDoesNotMoveTheNewWindow) {
  submit(channel1);
  auto g = granted();
  state->report(g[0].grant, channel1, ok("h1", 2, 1, 1.0));
  submit(channel1);
  auto late = granted();
  ASSERT_EQ(late.size(), 1u);
  clock.advance(1s); // the window rolls over with the second request still out
  for (int i = 0; i < 3; ++i) submit(channel1);
  auto fresh = granted();
  EXPECT_EQ(fresh.size(), 1u) << "the request still out may land in the new window: it counts";
  clock.advance(20ms);
  state->report(late[0].grant, channel1, ok("h1", 2, 0, 0.010)); // answered by the old window
  EXPECT_TRUE(granted().empty());
  clock.advance(20ms);
  EXPECT_TRUE(granted().empty()) << "the old window's end must not roll the new one";
}

TEST_F(RestLimits, TheGuardBlocksARouteOverItsShareAndLetsOthersThrough) {
  opt.route_invalid_limit = 3;
  opt.invalid_limit = 10;
  opt.invalid_window = 60s;
  make();
  auto ban = classify_rest_route("PUT", "/guilds/1/bans/2");
  RestObservation forbidden = ok("bans", 100, 99, 1);
  forbidden.status = 403;
  for (int i = 0; i < 3; ++i) {
    submit(ban);
    auto g = granted();
    ASSERT_EQ(g.size(), 1u);
    state->report(g[0].grant, ban, forbidden);
  }
  auto alerts = state->take_alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_NE(alerts[0].find("PUT /guilds/{guild}/bans/{id}"), std::string::npos) << alerts[0];
  submit(ban);
  submit(channel1);
  auto d = state->poll();
  ASSERT_EQ(d.size(), 2u);
  int refused = 0, ok_count = 0;
  for (auto& x : d) (x.kind == Kind::refused_guard ? refused : ok_count)++;
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(ok_count, 1);
  clock.advance(60s);
  submit(ban);
  EXPECT_EQ(granted().size(), 1u) << "allowed again once its answers age out";
}

TEST_F(RestLimits, HintsAfterARestartMakeABucketWaitAndProbe) {
  state->hint(RestHint{channel1.route, channel1.major, "h1", 5, 0, 2.0});
  submit(channel1);
  EXPECT_TRUE(granted().empty()) << "nothing left in the window the processes saw";
  clock.advance(2s);
  auto g = granted();
  ASSERT_EQ(g.size(), 1u);
  submit(channel1);
  EXPECT_TRUE(granted().empty()) << "a hinted bucket probes one request at a time";
  state->report(g[0].grant, channel1, ok("h1", 5, 4, 5));
  EXPECT_EQ(granted().size(), 1u);
}

TEST_F(RestLimits, AGrantNeverReportedIsReleasedWhenItsLeaseEnds) {
  opt.lease = 5s;
  opt.global_per_sec = 1;
  make();
  submit(channel1);
  ASSERT_EQ(granted().size(), 1u);
  submit(channel2);
  EXPECT_TRUE(granted().empty());
  clock.advance(5s);
  EXPECT_TRUE(granted().empty()) << "the lapsed grant may have reached Discord: a second more";
  clock.advance(1s);
  EXPECT_EQ(granted().size(), 1u);
}

} // namespace
} // namespace shardline::ratelimit

namespace shardline::ratelimit {
namespace {

TEST(RestLimitsFlood, ARequesterWithTooManyQueuedIsRefusedAndOthersAreNot) {
  ManualClock clock;
  RestLimitOptions opt;
  opt.max_queued_per_requester = 3;
  RestLimitState state(opt, clock.clock());
  auto route = classify_rest_route("POST", "/channels/1/messages");
  for (int i = 0; i < 5; ++i) state.submit(7, "f" + std::to_string(i), route);
  state.submit(8, "other", route);
  int refused = 0, granted = 0;
  for (auto& d : state.poll()) {
    if (d.kind == RestDecision::Kind::refused_wait) {
      EXPECT_EQ(d.requester, 7u);
      ++refused;
    } else {
      ++granted;
    }
  }
  EXPECT_EQ(refused, 2);
  EXPECT_EQ(granted, 1) << "the probe; the rest wait for its answer";
  EXPECT_EQ(state.drop(7), 2u);
  state.submit(7, "again", route);
  EXPECT_TRUE(state.poll().empty()) << "queued again after its requests left";
}

} // namespace
} // namespace shardline::ratelimit

namespace shardline::ratelimit {
namespace {

using namespace std::chrono_literals;

struct RestLimitsReview : ::testing::Test {
  ManualClock clock;
  RestLimitState state{RestLimitOptions{}, clock.clock()};
  std::vector<RestDecision> granted() {
    std::vector<RestDecision> g;
    for (auto& d : state.poll())
      if (d.kind == RestDecision::Kind::granted) g.push_back(d);
    return g;
  }
};

TEST_F(RestLimitsReview, ABucketWhoseNewWindowAnswersCarryNoHeadersProbesInsteadOfStalling) {
  auto r = classify_rest_route("POST", "/channels/1/messages");
  state.submit(1, "a", r);
  auto g = granted();
  state.report(g[0].grant, r, ok("h", 1, 0, 1.0));
  clock.advance(1s);
  state.submit(1, "b", r);
  g = granted();
  ASSERT_EQ(g.size(), 1u);
  RestObservation bad_gateway;
  bad_gateway.status = 502; // no headers: nothing learned of the window
  state.report(g[0].grant, r, bad_gateway);
  state.submit(1, "c", r);
  EXPECT_EQ(granted().size(), 1u) << "nothing in flight to tell the window's end: one probes";
}

TEST_F(RestLimitsReview, QueuedRequestsOfAnotherMajorJoinTheLearnedBucketAndOtherRoutesStayPut) {
  auto post_a = classify_rest_route("POST", "/channels/1/messages");
  auto post_b = classify_rest_route("POST", "/channels/2/messages");
  state.submit(1, "a1", post_a);
  state.submit(1, "b1", post_b);
  auto g = granted();
  ASSERT_EQ(g.size(), 2u); // a probe per channel
  state.submit(1, "b2", post_b);
  state.submit(1, "b3", post_b);
  EXPECT_TRUE(granted().empty());
  state.report(g[0].grant, post_a, ok("msg", 2, 1, 5.0)); // learns the hash on channel 1
  EXPECT_TRUE(granted().empty()) << "channel 2's requests wait for its own probe's answer";
  state.report(g[1].grant, post_b, ok("msg", 2, 1, 5.0));
  auto after = granted();
  ASSERT_EQ(after.size(), 1u) << "one left in channel 2's window, whichever key they queued under";
  EXPECT_EQ(after[0].tag, "b2");
}

TEST_F(RestLimitsReview, AnAnswerToAGrantOfTheWindowBeforeDoesNotEndTheNewOne) {
  auto r = classify_rest_route("DELETE", "/channels/1/messages/5");
  state.submit(1, "p", r);
  auto g = granted();
  state.report(g[0].grant, r, ok("del", 5, 4, 1.0));
  for (int i = 0; i < 4; ++i) state.submit(1, "x" + std::to_string(i), r);
  auto old = granted();
  ASSERT_EQ(old.size(), 4u);
  for (int i = 0; i < 3; ++i) state.report(old[i].grant, r, ok("del", 5, 3 - i, 0.9));
  clock.advance(1s); // rolls over with one grant still out
  for (int i = 0; i < 5; ++i) state.submit(1, "y" + std::to_string(i), r);
  auto fresh = granted();
  EXPECT_EQ(fresh.size(), 4u) << "the one still out may land in the new window";
  // The late one answers a full window later than its own window's end would say.
  clock.advance(600ms);
  state.report(old[3].grant, r, ok("del", 5, 0, 0.5));
  clock.advance(500ms);
  EXPECT_TRUE(granted().empty()) << "the window before's answer must not end this one";
}

TEST(RestRouteReview, TokensNeverStayInARouteAndWebhooksAreBucketedPerToken) {
  auto odd = classify_rest_route("POST", "/webhooks/not-a-number/SECRETTOKEN");
  EXPECT_EQ(odd.route.find("SECRET"), std::string::npos) << odd.route;
  auto a = classify_rest_route("POST", "/webhooks/9/token-a");
  auto b = classify_rest_route("POST", "/webhooks/9/token-b");
  EXPECT_EQ(a.route, b.route);
  EXPECT_NE(a.major, b.major);
  EXPECT_EQ(a.major.find("token"), std::string::npos);
  EXPECT_LE(a.major.size(), 48u);
}

} // namespace
} // namespace shardline::ratelimit
