// Gateway sessions: sequence numbers, the replay buffer RESUME draws from, resumability, and
// the per-shard delivery record.

#include "sim/seq_ranges.hpp"
#include "sim/session_store.hpp"

#include <gtest/gtest.h>

using namespace shardline;
using namespace shardline::sim;
using namespace std::chrono_literals;

TEST(SimSeqRanges, MergesAndFindsGaps) {
  SeqRanges r;
  for (std::uint64_t s : {1, 2, 3, 7, 8, 5}) r.add(s);
  EXPECT_EQ(r.ranges(), (std::vector<SeqRanges::Range>{{1, 3}, {5, 5}, {7, 8}}));
  EXPECT_EQ(r.missing(10), (std::vector<SeqRanges::Range>{{4, 4}, {6, 6}, {9, 10}}));
  r.add(4);
  r.add(6);
  r.add(6);
  EXPECT_EQ(r.ranges(), (std::vector<SeqRanges::Range>{{1, 8}}));
  EXPECT_TRUE(r.missing(8).empty());
  EXPECT_TRUE(r.contains(8));
  EXPECT_FALSE(r.contains(9));
  EXPECT_EQ(r.count(), 8u);
  EXPECT_EQ(SeqRanges{}.missing(2), (std::vector<SeqRanges::Range>{{1, 2}}));
}

TEST(SimSession, SequencesAndReplay) {
  Session s("abc", 1, 4, ReplayLimits{5, 1 << 20});
  for (int i = 0; i < 8; ++i) EXPECT_EQ(s.append("MESSAGE_CREATE", "{}").seq, std::uint64_t(i + 1));
  EXPECT_EQ(s.last_seq(), 8u);
  EXPECT_EQ(s.buffered_events(), 5u); // 4..8 kept
  EXPECT_TRUE(s.can_replay_from(8));
  EXPECT_TRUE(s.can_replay_from(3));  // 4..8 are all there
  EXPECT_FALSE(s.can_replay_from(2)); // 3 is gone
  EXPECT_FALSE(s.can_replay_from(9)); // never sent
  auto ev = s.events_after(5);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0]->seq, 6u);
  EXPECT_EQ(ev[2]->seq, 8u);
  EXPECT_TRUE(s.events_after(8).empty());
  EXPECT_EQ(s.events_after(3).size(), 5u);
}

TEST(SimSession, ReplayBufferBoundedByBytes) {
  // Frames count whole: {"t":"T","s":N,"op":0,"d":<30 bytes>} is 57 or 58 bytes.
  Session s("abc", 0, 1, ReplayLimits{1000, 200});
  for (int i = 0; i < 10; ++i) s.append("T", std::string(30, 'x'));
  EXPECT_EQ(*s.events_after(9).at(0)->frame, "{\"t\":\"T\",\"s\":10,\"op\":0,\"d\":" + std::string(30, 'x') + "}");
  EXPECT_LE(s.buffered_bytes(), 200u);
  EXPECT_EQ(s.buffered_events(), 3u);
  s.append("T", std::string(500, 'x')); // bigger than the limit: kept alone
  EXPECT_EQ(s.buffered_events(), 1u);
  EXPECT_TRUE(s.can_replay_from(10));
}

TEST(SimSession, DeliveryRecordShowsGaps) {
  Session s("abc", 0, 1, {});
  for (int i = 0; i < 5; ++i) s.append("T", "{}");
  s.mark_delivered(1);
  s.mark_delivered(2);
  s.mark_delivered(5);
  EXPECT_EQ(s.undelivered(), (std::vector<SeqRanges::Range>{{3, 4}}));
}

class SimSessionStore : public ::testing::Test {
protected:
  ManualClock clock;
  SessionStore store{SessionLimits{ReplayLimits{100, 1 << 20}, 60'000ms, 1000}, clock.clock(), 7};
};

TEST_F(SimSessionStore, CreateGivesUniqueHexIds) {
  auto& a = store.create(0, 2);
  auto& b = store.create(1, 2);
  EXPECT_EQ(a.id().size(), 32u);
  EXPECT_NE(a.id(), b.id());
  EXPECT_EQ(store.find(a.id()), &a);
  EXPECT_EQ(store.find("nope"), nullptr);
  EXPECT_EQ(store.live(), 2u);
  EXPECT_EQ(store.live_per_shard(), (std::map<std::uint32_t, std::size_t>{{0, 1}, {1, 1}}));
  EXPECT_EQ(store.shard_counters().at(0).sessions_started, 1u);
}

TEST_F(SimSessionStore, ResumeReplaysWhatWasMissed) {
  auto& s = store.create(3, 4);
  for (int i = 0; i < 10; ++i) s.append("GUILD_CREATE", "{}");
  for (std::uint64_t q = 1; q <= 6; ++q) store.delivered(s, q, false);
  store.detach(s, false);
  EXPECT_EQ(store.live(), 0u);
  clock.advance(30s);
  auto r = store.resume(s.id(), 6);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.session, &s);
  auto missed = s.events_after(6);
  ASSERT_EQ(missed.size(), 4u);
  for (auto* e : missed) store.delivered(s, e->seq, true);
  EXPECT_TRUE(s.undelivered().empty());
  EXPECT_EQ(store.resumes_total(), 1u);
  EXPECT_EQ(s.resumes, 1u);
  auto& c = store.shard_counters().at(3);
  EXPECT_EQ(c.resumes, 1u);
  EXPECT_EQ(c.events_sent, 10u);
  EXPECT_EQ(c.events_replayed, 4u);
  EXPECT_EQ(store.live(), 1u);
}

TEST_F(SimSessionStore, ResumeRefusals) {
  EXPECT_EQ(store.resume("unknown", 0).refusal, ResumeRefusal::unknown_session);

  auto& s = store.create(0, 1);
  for (int i = 0; i < 150; ++i) s.append("T", "{}"); // buffer keeps 51..150
  store.detach(s, false);
  EXPECT_EQ(store.resume(s.id(), 151).refusal, ResumeRefusal::seq_ahead);
  EXPECT_EQ(store.resume(s.id(), 49).refusal, ResumeRefusal::seq_too_old);
  EXPECT_FALSE(s.attached); // a refusal changes nothing
  clock.advance(60s);
  EXPECT_EQ(store.resume(s.id(), 150).refusal, ResumeRefusal::expired);

  auto& t = store.create(0, 1);
  store.detach(t, true); // closed with 1000
  EXPECT_EQ(store.resume(t.id(), 0).refusal, ResumeRefusal::invalidated);
}

TEST_F(SimSessionStore, ResumeWithinTtlAndFromZero) {
  auto& s = store.create(0, 1);
  s.append("T", "{}");
  store.detach(s, false);
  clock.advance(59'999ms);
  auto r = store.resume(s.id(), 0);
  ASSERT_TRUE(r);
  EXPECT_EQ(s.events_after(0).size(), 1u);
}

TEST_F(SimSessionStore, SweepDropsOnlyUnresumable) {
  auto& live = store.create(0, 1);
  auto& waiting = store.create(0, 1);
  auto& dead = store.create(0, 1);
  store.detach(waiting, false);
  store.detach(dead, true);
  EXPECT_EQ(store.sweep(), 1u);
  EXPECT_EQ(store.size(), 2u);
  clock.advance(61s);
  EXPECT_EQ(store.sweep(), 1u);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.find(live.id()), &live);
  EXPECT_EQ(store.sessions_of_shard(0).size(), 1u);
}

TEST_F(SimSessionStore, ResumeOfAnAttachedSessionSucceeds) {
  // The client gave up on a zombie connection that still holds the session: the resume is
  // judged on the session alone (the server then closes the old connection).
  auto& s = store.create(0, 1);
  s.append("T", "{}");
  auto r = store.resume(s.id(), 1);
  ASSERT_TRUE(r);
  EXPECT_TRUE(s.attached);
  EXPECT_EQ(store.live(), 1u);
}

TEST_F(SimSessionStore, ActiveSessionsTakeEvents) {
  auto& live = store.create(0, 1);
  auto& away = store.create(1, 2);
  auto& over = store.create(1, 2);
  store.detach(away, false);
  store.detach(over, true);
  EXPECT_EQ(store.active(), (std::vector<Session*>{&live, &away}));
  clock.advance(60s);
  EXPECT_EQ(store.active(), (std::vector<Session*>{&live}));
  EXPECT_EQ(live.intents, ~std::uint64_t{0}); // every event unless IDENTIFY narrowed it
}

TEST(SimSessionStoreCap, DropsOldestDetachedWhenFull) {
  ManualClock clock;
  SessionStore store{SessionLimits{{}, 60'000ms, 3}, clock.clock()};
  auto& a = store.create(0, 1);
  auto& b = store.create(0, 1);
  auto& c = store.create(0, 1);
  store.detach(b, false);
  auto b_id = b.id();
  auto& d = store.create(0, 1);
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.find(b_id), nullptr);
  EXPECT_EQ(store.find(a.id()), &a);
  EXPECT_EQ(store.find(c.id()), &c);
  EXPECT_EQ(store.find(d.id()), &d);
}
