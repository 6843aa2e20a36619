// IDENTIFY-slot coordination (docs/protocol.md, "IDENTIFY slots"): the hub's scheduler driven by a
// ManualClock. The link's side against a real hub is in tests/unit/link/identify_slots_test.cpp.

#include "hub/identify_scheduler.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

namespace shardline::hub {
namespace {

using namespace std::chrono_literals;
using Kind = IdentifyOutcome::Kind;
using Status = IdentifySubmitResult::Status;

IdentifyRequest req(std::uint32_t shard, std::uint32_t count, std::uint32_t mc, std::uint32_t window_ms = 5000,
                    std::optional<SessionBudget> budget = std::nullopt) {
  IdentifyRequest r;
  r.shard_id = shard;
  r.shard_count = count;
  r.max_concurrency = mc;
  r.window_ms = window_ms;
  r.budget = budget;
  return r;
}

struct Granted {
  IdentifyOutcome outcome;
  steady::time_point at;
};

// Polls at every due time until nothing is queued (bounded: a scheduler that never empties fails).
std::vector<Granted> drain(IdentifyScheduler& s, ManualClock& clock, int max_polls = 1000) {
  std::vector<Granted> out;
  for (int i = 0; i < max_polls; ++i) {
    for (auto& o : s.poll()) out.push_back({o, clock.now()});
    auto next = s.next_due();
    if (!next) return out;
    if (*next > clock.now()) clock.advance(*next - clock.now());
  }
  ADD_FAILURE() << "the queue did not empty within " << max_polls << " polls";
  return out;
}

TEST(IdentifyScheduler, SpacingIsWindowPlusSlack) {
  EXPECT_EQ(IdentifyScheduler::spacing(5000), 5250ms); // window/20
  EXPECT_EQ(IdentifyScheduler::spacing(300), 400ms);   // at least 100 ms
  EXPECT_EQ(IdentifyScheduler::spacing(60000), 63000ms);
}

TEST(IdentifyScheduler, TwentyFourShardsFromThreeClustersWithinSixWindows) {
  ManualClock clock;
  IdentifyScheduler s(clock.clock());
  const auto t0 = clock.now();
  // Three clusters of 8 shards each, requests interleaved as their processes start.
  for (std::uint32_t i = 0; i < 8; ++i)
    for (std::uint64_t cluster = 0; cluster < 3; ++cluster) {
      auto shard = static_cast<std::uint32_t>(cluster * 8 + i);
      ASSERT_EQ(s.submit(cluster, fmt::format("r{}", shard), req(shard, 24, 4)).status, Status::accepted);
    }
  EXPECT_EQ(s.stats().queued, 24u);
  auto grants = drain(s, clock);
  ASSERT_EQ(grants.size(), 24u);
  std::map<std::uint32_t, std::vector<steady::time_point>> per_bucket;
  std::set<std::uint32_t> shards;
  for (auto& g : grants) {
    EXPECT_EQ(g.outcome.kind, Kind::grant);
    EXPECT_EQ(g.outcome.bucket, g.outcome.shard_id % 4);
    EXPECT_EQ(g.outcome.tag, fmt::format("r{}", g.outcome.shard_id));
    EXPECT_EQ(g.outcome.requester, g.outcome.shard_id / 8);
    EXPECT_FALSE(g.outcome.remaining); // no budget reported: unknown
    shards.insert(g.outcome.shard_id);
    per_bucket[g.outcome.bucket].push_back(g.at);
  }
  EXPECT_EQ(shards.size(), 24u);
  EXPECT_LE(grants.back().at - t0, 6 * 5000ms); // ceil(24 / 4) windows
  for (auto& [bucket, times] : per_bucket) {
    ASSERT_EQ(times.size(), 6u) << "bucket " << bucket;
    for (std::size_t i = 1; i < times.size(); ++i)
      EXPECT_GE(times[i] - times[i - 1], IdentifyScheduler::spacing(5000)) << "bucket " << bucket;
  }
  auto st = s.stats();
  EXPECT_EQ(st.granted, 24u);
  EXPECT_EQ(st.queued, 0u);
  EXPECT_EQ(st.max_concurrency, 4u);
  EXPECT_EQ(st.window_ms, 5000u);
  EXPECT_FALSE(s.next_due());
}

TEST(IdentifyScheduler, NeverTwoGrantsOfABucketWithinWindowPlusSlack) {
  ManualClock clock;
  IdentifyScheduler s(clock.clock());
  ASSERT_EQ(s.submit(1, "a", req(0, 2, 1, 1000)).status, Status::accepted);
  ASSERT_EQ(s.poll().size(), 1u);
  const auto first = clock.now();
  ASSERT_EQ(s.submit(2, "b", req(1, 2, 1, 1000)).status, Status::accepted);
  EXPECT_EQ(s.next_due(), first + 1100ms);
  // Polling early, even a millisecond before the slack is over, gives nothing.
  clock.advance(1000ms);
  EXPECT_TRUE(s.poll().empty());
  clock.advance(99ms);
  EXPECT_TRUE(s.poll().empty());
  clock.advance(1ms);
  auto g = s.poll();
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].tag, "b");
  // A late poll counts from when the grant really went out, not from when it was due.
  clock.advance(700ms);
  ASSERT_EQ(s.submit(1, "c", req(0, 2, 1, 1000)).status, Status::accepted);
  EXPECT_EQ(s.next_due(), clock.now() - 700ms + 1100ms);
}

TEST(IdentifyScheduler, BucketsDueTogetherAreGrantedInBucketOrder) {
  ManualClock clock;
  IdentifyScheduler s(clock.clock());
  for (std::uint32_t shard : {7u, 2u, 5u, 0u, 3u, 1u, 6u, 4u})
    ASSERT_EQ(s.submit(shard % 3, std::to_string(shard), req(shard, 8, 4)).status, Status::accepted);
  auto first = s.poll();
  ASSERT_EQ(first.size(), 4u);
  for (std::uint32_t b = 0; b < 4; ++b) EXPECT_EQ(first[b].bucket, b);
  // Arrival order within each bucket: 2 before 6, 5 before 1, 7 before 3, 0 before 4.
  EXPECT_EQ(first[0].shard_id, 0u);
  EXPECT_EQ(first[1].shard_id, 5u);
  EXPECT_EQ(first[2].shard_id, 2u);
  EXPECT_EQ(first[3].shard_id, 7u);
  clock.advance(IdentifyScheduler::spacing(5000));
  auto second = s.poll();
  ASSERT_EQ(second.size(), 4u);
  std::vector<std::uint32_t> order;
  for (auto& o : second) order.push_back(o.shard_id);
  EXPECT_EQ(order, (std::vector<std::uint32_t>{4, 1, 6, 3}));
}

TEST(IdentifyScheduler, FifoWithinABucketAcrossRequesters) {
  ManualClock clock;
  IdentifyScheduler s(clock.clock());
  // Bucket 0 of max_concurrency 2: shards 4, 0, 2, 6 arrive in that order from three clusters.
  ASSERT_EQ(s.submit(3, "s4", req(4, 8, 2)).status, Status::accepted);
  ASSERT_EQ(s.submit(1, "s0", req(0, 8, 2)).status, Status::accepted);
  ASSERT_EQ(s.submit(2, "s2", req(2, 8, 2)).status, Status::accepted);
  ASSERT_EQ(s.submit(1, "s6", req(6, 8, 2)).status, Status::accepted);
  std::vector<std::string> tags;
  for (auto& g : drain(s, clock)) tags.push_back(g.outcome.tag);
  EXPECT_EQ(tags, (std::vector<std::string>{"s4", "s0", "s2", "s6"}));
}

TEST(IdentifyScheduler, DifferentShardCountsShareBuckets) {
  // A reshard runs two layouts side by side: Discord counts shard_id % max_concurrency only.
  ManualClock clock;
  IdentifyScheduler s(clock.clock());
  ASSERT_EQ(s.submit(1, "old", req(1, 4, 2)).status, Status::accepted);
  ASSERT_EQ(s.submit(2, "new", req(3, 8, 2)).status, Status::accepted);
  auto grants = drain(s, clock);
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_EQ(grants[0].outcome.bucket, 1u);
  EXPECT_EQ(grants[1].outcome.bucket, 1u);
  EXPECT_GE(grants[1].at - grants[0].at, IdentifyScheduler::spacing(5000));
}

TEST(IdentifyScheduler, SecondRequestForTheSameShardReplacesTheQueuedOne) {
  ManualClock clock;
  IdentifyScheduler s(clock.clock());
  ASSERT_EQ(s.submit(1, "a", req(0, 4, 1)).status, Status::accepted);
  ASSERT_EQ(s.submit(2, "x", req(1, 4, 1)).status, Status::accepted);
  ASSERT_EQ(s.submit(1, "b", req(0, 4, 1)).status, Status::accepted); // a retry: keeps its place
  // The same shard in another layout is another session, not a replacement.
  ASSERT_EQ(s.submit(1, "c", req(0, 8, 1)).status, Status::accepted);
  EXPECT_EQ(s.stats().queued, 3u);
  std::vector<std::string> tags;
  for (auto& g : drain(s, clock)) tags.push_back(g.outcome.tag);
  EXPECT_EQ(tags, (std::vector<std::string>{"b", "x", "c"})); // "a" is never answered
}

TEST(IdentifyScheduler, DropForgetsARequesterWithoutBlockingOthers) {
  ManualClock clock;
  IdentifyScheduler s(clock.clock());
  ASSERT_EQ(s.submit(9, "first", req(0, 8, 2)).status, Status::accepted);
  ASSERT_EQ(s.poll().size(), 1u); // bucket 0 busy for one spacing
  const auto t0 = clock.now();
  ASSERT_EQ(s.submit(1, "gone-2", req(2, 8, 2)).status, Status::accepted);
  ASSERT_EQ(s.submit(1, "gone-4", req(4, 8, 2)).status, Status::accepted);
  ASSERT_EQ(s.submit(2, "kept-6", req(6, 8, 2)).status, Status::accepted);
  EXPECT_EQ(s.drop(1), 2u);
  EXPECT_EQ(s.drop(1), 0u);
  EXPECT_EQ(s.stats().queued, 1u);
  auto grants = drain(s, clock);
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0].outcome.tag, "kept-6");
  EXPECT_EQ(grants[0].at, t0 + IdentifyScheduler::spacing(5000)); // the next slot, not later
  // A dropped requester may queue again.
  ASSERT_EQ(s.submit(1, "back", req(2, 8, 2)).status, Status::accepted);
  EXPECT_EQ(drain(s, clock).size(), 1u);
}

TEST(IdentifyScheduler, MaxConcurrencyChangeHoldsEveryBucketOneSpacing) {
  ManualClock clock;
  IdentifyScheduler s(clock.clock());
  ASSERT_EQ(s.submit(1, "s0", req(0, 8, 2)).status, Status::accepted);
  ASSERT_EQ(s.poll().size(), 1u);
  const auto last = clock.now();
  ASSERT_EQ(s.submit(1, "s2", req(2, 8, 2)).status, Status::accepted); // bucket 0 of 2
  clock.advance(1s);
  // Discord now says 4: buckets 1..3 never granted still wait a full spacing after the
  // latest grant, and the queued shard 2 moves to bucket 2 of 4.
  ASSERT_EQ(s.submit(2, "s1", req(1, 8, 4)).status, Status::accepted);
  EXPECT_EQ(s.stats().max_concurrency, 4u);
  EXPECT_TRUE(s.poll().empty());
  EXPECT_EQ(s.next_due(), last + IdentifyScheduler::spacing(5000));
  clock.advance(*s.next_due() - clock.now());
  auto g = s.poll();
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].shard_id, 1u);
  EXPECT_EQ(g[0].bucket, 1u);
  EXPECT_EQ(g[1].shard_id, 2u);
  EXPECT_EQ(g[1].bucket, 2u);
}

TEST(IdentifyScheduler, FirstMaxConcurrencyHasNoHold) {
  ManualClock clock;
  IdentifyScheduler s(clock.clock());
  ASSERT_EQ(s.submit(1, "s0", req(0, 1, 16)).status, Status::accepted);
  ASSERT_TRUE(s.next_due());
  EXPECT_LE(*s.next_due(), clock.now()); // due already
  EXPECT_EQ(s.poll().size(), 1u);
}

TEST(IdentifyScheduler, BudgetTakesTheLowestReportAndTheLatestReset) {
  ManualClock clock;
  IdentifyScheduler s(clock.clock());
  EXPECT_FALSE(s.stats().budget_remaining);
  ASSERT_EQ(s.submit(1, "a", req(0, 4, 4, 5000, SessionBudget{1000, 900, 60'000})).status, Status::accepted);
  EXPECT_EQ(s.stats().budget_remaining, 900u);
  // An older snapshot with a higher number does not raise the hub's view.
  ASSERT_EQ(s.submit(2, "b", req(1, 4, 4, 5000, SessionBudget{1000, 950, 30'000})).status, Status::accepted);
  EXPECT_EQ(s.stats().budget_remaining, 900u);
  ASSERT_EQ(s.submit(3, "c", req(2, 4, 4, 5000, SessionBudget{1000, 800, 10'000})).status, Status::accepted);
  EXPECT_EQ(s.stats().budget_remaining, 800u);
  // Every grant takes one; the grant says what is left after it.
  auto g = s.poll();
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0].remaining, 799u);
  EXPECT_EQ(g[1].remaining, 798u);
  EXPECT_EQ(g[2].remaining, 797u);
  EXPECT_EQ(s.stats().budget_remaining, 797u);
  // The reset is the latest one reported (60 s), not the 10 s of the last report.
  clock.advance(59s);
  EXPECT_EQ(s.stats().budget_remaining, 797u);
  clock.advance(1s);
  EXPECT_EQ(s.stats().budget_remaining, 1000u);
}

TEST(IdentifyScheduler, RefusesBelowTheReserveAndDoesNotQueue) {
  ManualClock clock;
  IdentifyScheduler s(clock.clock(), IdentifySchedulerOptions{10});
  ASSERT_EQ(s.submit(1, "a", req(0, 4, 1, 5000, SessionBudget{1000, 12, 90'500})).status, Status::accepted);
  ASSERT_EQ(s.submit(1, "b", req(1, 4, 1)).status, Status::accepted); // 12 - 2 queued = 10 left after
  auto r = s.submit(1, "c", req(2, 4, 1));                              // would leave 9
  EXPECT_EQ(r.status, Status::refused_budget);
  EXPECT_EQ(r.message, "session_start_limit: 10 IDENTIFYs left, keeping 10 in reserve; resets in 91 s");
  auto st = s.stats();
  EXPECT_EQ(st.queued, 2u);
  EXPECT_EQ(st.refused_budget, 1u);
  EXPECT_EQ(st.budget_remaining, 12u);
  auto grants = drain(s, clock);
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_EQ(grants[1].outcome.remaining, 10u);
  EXPECT_EQ(s.submit(2, "d", req(3, 4, 1)).status, Status::refused_budget);
  // When the reset time passes, the whole total is there again.
  clock.advance(91s);
  ASSERT_EQ(s.submit(2, "e", req(3, 4, 1)).status, Status::accepted);
  auto g = drain(s, clock);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].outcome.remaining, 999u);
}

TEST(IdentifyScheduler, BudgetThatShrinksWhileQueuedRefusesAtGrantTime) {
  ManualClock clock;
  IdentifyScheduler s(clock.clock(), IdentifySchedulerOptions{10});
  ASSERT_EQ(s.submit(1, "a", req(0, 4, 1, 5000, SessionBudget{1000, 500, 3'600'000})).status,
            Status::accepted);
  ASSERT_EQ(s.poll().size(), 1u);
  ASSERT_EQ(s.submit(1, "b", req(1, 4, 1)).status, Status::accepted);
  ASSERT_EQ(s.submit(1, "c", req(2, 4, 1)).status, Status::accepted);
  // Another cluster now reports only 11 left: one of the two queued requests can still be
  // served. The report's own request is refused at once (the queued ones come first).
  EXPECT_EQ(s.submit(2, "d", req(3, 4, 1, 5000, SessionBudget{1000, 11, 3'600'000})).status,
            Status::refused_budget);
  auto out = drain(s, clock);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].outcome.kind, Kind::grant);
  EXPECT_EQ(out[0].outcome.tag, "b");
  EXPECT_EQ(out[0].outcome.remaining, 10u);
  EXPECT_EQ(out[1].outcome.kind, Kind::refused_budget);
  EXPECT_EQ(out[1].outcome.tag, "c");
  EXPECT_NE(out[1].outcome.message.find("10 IDENTIFYs left, keeping 10 in reserve"), std::string::npos);
  EXPECT_EQ(s.stats().refused_budget, 2u);
}

TEST(IdentifyScheduler, BadRequestsChangeNothing) {
  ManualClock clock;
  IdentifyScheduler s(clock.clock());
  ASSERT_EQ(s.submit(1, "a", req(0, 4, 2)).status, Status::accepted);
  EXPECT_EQ(s.submit(1, "x", req(4, 4, 2)).status, Status::bad_request);  // shard_id >= shard_count
  EXPECT_EQ(s.submit(1, "x", req(0, 0, 2)).status, Status::bad_request);  // shard_count 0
  EXPECT_EQ(s.submit(1, "x", req(0, 4, 0)).status, Status::bad_request);  // max_concurrency 0
  EXPECT_EQ(s.submit(1, "x", req(0, 4, 2, 99)).status, Status::bad_request);
  EXPECT_EQ(s.submit(1, "x", req(0, 4, 2, 60'001)).status, Status::bad_request);
  EXPECT_EQ(s.submit(1, "x", req(0, 4, 2, 5000, SessionBudget{10, 11, 0})).status, Status::bad_request);
  auto st = s.stats();
  EXPECT_EQ(st.queued, 1u);
  EXPECT_EQ(st.max_concurrency, 2u);
  EXPECT_FALSE(st.budget_remaining);
  auto g = s.poll();
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].tag, "a"); // the queued request was not replaced by the bad one
}

TEST(IdentifyScheduler, PerRequesterQueueIsBounded) {
  ManualClock clock;
  IdentifyScheduler s(clock.clock(), IdentifySchedulerOptions{10, 3});
  for (std::uint32_t i = 0; i < 3; ++i) ASSERT_EQ(s.submit(1, "", req(i, 8, 1)).status, Status::accepted);
  EXPECT_EQ(s.submit(1, "", req(3, 8, 1)).status, Status::bad_request);
  EXPECT_EQ(s.submit(1, "", req(0, 8, 1)).status, Status::accepted); // a replacement still fits
  EXPECT_EQ(s.submit(2, "", req(3, 8, 1)).status, Status::accepted);
}

TEST(IdentifySchedulerParse, ReadsFieldsAndRefusesWrongTypes) {
  namespace json = boost::json;
  auto ok = protocol::decode<IdentifyRequest>(json::parse(R"({"shard_id":3,"shard_count":8,"max_concurrency":2,"window_ms":300,
                            "budget":{"total":1000,"remaining":990,"reset_after_ms":86400000}})"));
  ASSERT_TRUE(ok) << ok.error().message;
  auto& r = *ok;
  EXPECT_EQ(r.shard_id, 3u);
  EXPECT_EQ(r.shard_count, 8u);
  EXPECT_EQ(r.max_concurrency, 2u);
  EXPECT_EQ(r.window_ms, 300u);
  ASSERT_TRUE(r.budget);
  EXPECT_EQ(r.budget->remaining, 990u);
  EXPECT_EQ(r.budget->reset_after_ms, 86'400'000u);

  auto defaults = protocol::decode<IdentifyRequest>(json::parse(R"({"shard_id":0,"shard_count":1,"max_concurrency":1,"budget":null})"));
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->window_ms, 5000u);
  EXPECT_FALSE(defaults->budget);

  for (const char* bad : {R"({"shard_count":1,"max_concurrency":1})",
                          R"({"shard_id":"0","shard_count":1,"max_concurrency":1})",
                          R"({"shard_id":-1,"shard_count":1,"max_concurrency":1})",
                          R"({"shard_id":0.5,"shard_count":1,"max_concurrency":1})",
                          R"({"shard_id":0,"shard_count":4294967296,"max_concurrency":1})",
                          R"({"shard_id":0,"shard_count":1,"max_concurrency":true})",
                          R"({"shard_id":0,"shard_count":1,"max_concurrency":1,"budget":5})",
                          R"({"shard_id":0,"shard_count":1,"max_concurrency":1,"budget":{"total":1}})"}) {
    auto r2 = protocol::decode<IdentifyRequest>(json::parse(bad));
    EXPECT_FALSE(r2) << bad;
    if (!r2) {
      EXPECT_TRUE(r2.error().is(Errc::bad_input)) << bad;
    }
  }
}

} // namespace
} // namespace shardline::hub
