// Shard sessions held by the hub (docs/protocol.md §12): the store driven by a
// ManualClock and its frame parsers. The link's side against a real hub is in
// tests/unit/link/sessions_test.cpp.

#include "hub/session_registry.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shardline::hub {
namespace {

using namespace std::chrono_literals;
using Status = SessionReportResult::Status;
namespace json = boost::json;

const std::string kUrl = "wss://gateway-us-east1-b.discord.gg";

SessionReportItem live(std::uint32_t shard, std::string id, std::uint64_t seq, std::string url = kUrl) {
  return SessionReportItem{shard, std::move(id), seq, std::move(url)};
}
SessionReportItem gone(std::uint32_t shard) { return SessionReportItem{shard, std::nullopt, 0, {}}; }

SessionReport report(std::uint32_t count, std::vector<SessionReportItem> items) {
  return SessionReport{count, std::move(items)};
}

SessionLookup ask(std::uint32_t count, std::vector<std::uint32_t> ids) { return SessionLookup{count, std::move(ids)}; }

TEST(SessionRegistryValidation, SessionIdAndResumeUrl) {
  EXPECT_TRUE(protocol::valid_session_id("0123456789abcdef0123456789abcdef"));
  EXPECT_TRUE(protocol::valid_session_id("A_z-9"));
  EXPECT_TRUE(protocol::valid_session_id(std::string(128, 'a')));
  EXPECT_FALSE(protocol::valid_session_id(""));
  EXPECT_FALSE(protocol::valid_session_id(std::string(129, 'a')));
  for (const char* bad : {"a b", "a.b", "a/b", "a\"b", "\xc3\xa9", "a\nb"}) EXPECT_FALSE(protocol::valid_session_id(bad)) << bad;

  EXPECT_TRUE(protocol::valid_resume_url("ws://127.0.0.1:9000"));
  EXPECT_TRUE(protocol::valid_resume_url(kUrl));
  EXPECT_TRUE(protocol::valid_resume_url("wss://" + std::string(506, 'h'))); // 512 characters
  EXPECT_FALSE(protocol::valid_resume_url("wss://" + std::string(507, 'h')));
  for (const char* bad : {"", "wss://", "ws://", "https://gateway.discord.gg", "WSS://x", "wss://a b", "wss://a\"b",
                          "wss://a\\b", "wss://\x01"})
    EXPECT_FALSE(protocol::valid_resume_url(bad)) << bad;
}

// The typed message's reader, as the hub decodes a frame: "" or the error's message.
std::string parse_session_report(const json::value& data, SessionReport& out) {
  auto r = protocol::decode<SessionReport>(data);
  if (!r) return r.error().message;
  out = std::move(*r);
  return {};
}
std::string parse_session_lookup(const json::value& data, SessionLookup& out) {
  auto r = protocol::decode<SessionLookup>(data);
  if (!r) return r.error().message;
  out = std::move(*r);
  return {};
}

TEST(SessionRegistryValidation, ParseReportReadsFieldsAndNamesTheBadOne) {
  SessionReport r;
  auto ok = json::parse(R"({"shard_count":4,"sessions":[
      {"shard_id":0,"session_id":"abc","seq":42,"resume_url":"wss://x"},
      {"shard_id":3,"session_id":null},
      {"shard_id":2,"session_id":null,"seq":7,"resume_url":null}]})")
                .as_object();
  ASSERT_EQ(parse_session_report(ok, r), "");
  EXPECT_EQ(r.shard_count, 4u);
  ASSERT_EQ(r.sessions.size(), 3u);
  EXPECT_EQ(r.sessions[0].session_id, "abc");
  EXPECT_EQ(r.sessions[0].seq, 42u);
  EXPECT_EQ(r.sessions[0].resume_url, "wss://x");
  EXPECT_FALSE(r.sessions[1].session_id);
  EXPECT_EQ(r.sessions[2].shard_id, 2u);

  const std::pair<const char*, const char*> bad[] = {
      {R"({"sessions":[]})", "shard_count"},
      {R"({"shard_count":0,"sessions":[]})", "shard_count"},
      {R"({"shard_count":1048577,"sessions":[]})", "shard_count"},
      {R"({"shard_count":"4","sessions":[]})", "shard_count"},
      {R"({"shard_count":4})", "sessions"},
      {R"({"shard_count":4,"sessions":{}})", "sessions"},
      {R"({"shard_count":4,"sessions":[5]})", "sessions[0]"},
      {R"({"shard_count":4,"sessions":[{"session_id":"a","seq":1,"resume_url":"wss://x"}]})", "sessions[0].shard_id"},
      {R"({"shard_count":4,"sessions":[{"shard_id":4,"session_id":"a","seq":1,"resume_url":"wss://x"}]})",
       "sessions[0].shard_id 4 is not below shard_count 4"},
      {R"({"shard_count":4,"sessions":[{"shard_id":-1,"session_id":"a","seq":1,"resume_url":"wss://x"}]})",
       "sessions[0].shard_id"},
      {R"({"shard_count":4,"sessions":[{"shard_id":0,"seq":1,"resume_url":"wss://x"}]})", "sessions[0].session_id"},
      {R"({"shard_count":4,"sessions":[{"shard_id":0,"session_id":5,"seq":1,"resume_url":"wss://x"}]})",
       "sessions[0].session_id"},
      {R"({"shard_count":4,"sessions":[{"shard_id":0,"session_id":"","seq":1,"resume_url":"wss://x"}]})",
       "sessions[0].session_id"},
      {R"({"shard_count":4,"sessions":[{"shard_id":0,"session_id":"a b","seq":1,"resume_url":"wss://x"}]})",
       "sessions[0].session_id"},
      {R"({"shard_count":4,"sessions":[{"shard_id":0,"session_id":"a","resume_url":"wss://x"}]})",
       "sessions[0].seq"},
      {R"({"shard_count":4,"sessions":[{"shard_id":0,"session_id":"a","seq":1.5,"resume_url":"wss://x"}]})",
       "sessions[0].seq"},
      {R"({"shard_count":4,"sessions":[{"shard_id":0,"session_id":"a","seq":1}]})", "sessions[0].resume_url"},
      {R"({"shard_count":4,"sessions":[{"shard_id":0,"session_id":"a","seq":1,"resume_url":"https://x"}]})",
       "sessions[0].resume_url"},
      {R"({"shard_count":4,"sessions":[{"shard_id":0,"session_id":null,"seq":"x"}]})", "sessions[0].seq"},
      {R"({"shard_count":4,"sessions":[{"shard_id":0,"session_id":null,"resume_url":7}]})",
       "sessions[0].resume_url"},
      // The second entry is the bad one: the message says which.
      {R"({"shard_count":4,"sessions":[{"shard_id":0,"session_id":null},{"shard_id":9,"session_id":null}]})",
       "sessions[1].shard_id"},
  };
  for (auto& [text, words] : bad) {
    auto err = parse_session_report(json::parse(text).as_object(), r);
    EXPECT_NE(err.find(words), std::string::npos) << text << " -> " << err;
  }

  json::array many;
  for (std::uint32_t i = 0; i < protocol::kMaxSessionsPerFrame + 1; ++i)
    many.push_back(json::object{{"shard_id", 0}, {"session_id", nullptr}});
  json::object big{{"shard_count", 1}, {"sessions", many}};
  EXPECT_NE(parse_session_report(big, r).find("at most 4096"), std::string::npos);
  many.pop_back();
  big["sessions"] = many;
  EXPECT_EQ(parse_session_report(big, r), "");
}

TEST(SessionRegistryValidation, ParseLookup) {
  SessionLookup l;
  ASSERT_EQ(parse_session_lookup(json::parse(R"({"shard_count":8,"shard_ids":[0,7,7]})").as_object(), l), "");
  EXPECT_EQ(l.shard_count, 8u);
  EXPECT_EQ(l.shard_ids, (std::vector<std::uint32_t>{0, 7, 7}));
  for (const char* bad : {R"({"shard_ids":[0]})", R"({"shard_count":8})", R"({"shard_count":8,"shard_ids":[8]})",
                          R"({"shard_count":8,"shard_ids":["1"]})", R"({"shard_count":8,"shard_ids":[-1]})",
                          R"({"shard_count":0,"shard_ids":[]})", R"({"shard_count":8,"shard_ids":5})"})
    EXPECT_NE(parse_session_lookup(json::parse(bad).as_object(), l), "") << bad;
  json::array many(protocol::kMaxSessionsPerFrame + 1, json::value(0));
  EXPECT_NE(parse_session_lookup(json::object{{"shard_count", 1}, {"shard_ids", many}}, l), "");
}

TEST(SessionRegistry, StoresAndLooksUpPerLayout) {
  ManualClock clock;
  SessionRegistry reg(clock.clock());
  auto res =
      reg.report(report(4, {live(0, "s0", 10), live(1, "s1", 11), live(2, "s2", 12), live(3, "s3", 13)}), "alpha");
  EXPECT_EQ(res.status, Status::ok);
  EXPECT_EQ(res.stored, 4u);
  EXPECT_EQ(reg.size(), 4u);
  clock.advance(2500ms);

  auto got = reg.lookup(ask(4, {3, 1}));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].shard_id, 3u); // in the order asked
  EXPECT_EQ(got[0].shard_count, 4u);
  EXPECT_EQ(got[0].session_id, "s3");
  EXPECT_EQ(got[0].seq, 13u);
  EXPECT_EQ(got[0].resume_url, kUrl);
  EXPECT_EQ(got[0].reported_by, "alpha");
  EXPECT_EQ(clock.now() - got[0].reported_at, 2500ms);
  EXPECT_EQ(got[1].session_id, "s1");

  // Another layout is another shard: shard 1 of 8 is not shard 1 of 4.
  EXPECT_TRUE(reg.lookup(ask(8, {1})).empty());
}

// A session's binding (what it belongs to) is kept as reported and handed back; a report
// without one leaves the entry unbound, and a malformed one refuses the report.
TEST(SessionRegistry, KeepsEachSessionsBindingAsReported) {
  ManualClock clock;
  SessionRegistry reg(clock.clock());
  auto bound = live(0, "s0", 10);
  bound.binding = std::string(64, 'f');
  ASSERT_EQ(reg.report(report(2, {bound, live(1, "s1", 11)}), "alpha").status, Status::ok);
  auto got = reg.lookup(ask(2, {0, 1}));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].binding, std::string(64, 'f'));
  EXPECT_EQ(got[1].binding, "");
  // A newer report without a binding replaces the bound entry whole.
  ASSERT_EQ(reg.report(report(2, {live(0, "s0", 12)}), "alpha").status, Status::ok);
  EXPECT_EQ(reg.lookup(ask(2, {0}))[0].binding, "");

  SessionReport parsed;
  json::value frame = json::parse(R"({"shard_count":2,"sessions":[{"shard_id":0,"session_id":"s","seq":1,)"
                                  R"("resume_url":"wss://x","binding":"ab12"}]})");
  ASSERT_EQ(parse_session_report(frame, parsed), "");
  EXPECT_EQ(parsed.sessions[0].binding, "ab12");
  frame.as_object()["sessions"].as_array()[0].as_object()["binding"] = "a b";
  EXPECT_NE(parse_session_report(frame, parsed).find("sessions[0].binding"), std::string::npos);
  frame.as_object()["sessions"].as_array()[0].as_object()["binding"] = nullptr; // null: none
  ASSERT_EQ(parse_session_report(frame, parsed), "");
  EXPECT_EQ(parsed.sessions[0].binding, "");
}

TEST(SessionRegistry, UnknownShardsAreLeftOutAndDuplicatesAnsweredOnce) {
  ManualClock clock;
  SessionRegistry reg(clock.clock());
  EXPECT_TRUE(reg.lookup(ask(4, {0, 1, 2, 3})).empty());
  reg.report(report(4, {live(2, "s2", 1)}), "alpha");
  auto got = reg.lookup(ask(4, {0, 2, 1, 2, 3}));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].shard_id, 2u);
  EXPECT_TRUE(reg.lookup(ask(4, {})).empty());
  EXPECT_TRUE(reg.lookup(ask(4, {4})).empty()); // invalid: nothing
}

TEST(SessionRegistry, SameSessionHigherSeqWinsLowerSeqIsIgnored) {
  ManualClock clock;
  SessionRegistry reg(clock.clock());
  reg.report(report(2, {live(0, "s0", 100)}), "alpha");
  clock.advance(1s);
  // Sent before a reconnect, arrived after the newer report: must not roll the seq back.
  auto stale = reg.report(report(2, {live(0, "s0", 90, "wss://old.example")}), "alpha-old");
  EXPECT_EQ(stale.status, Status::ok);
  EXPECT_EQ(stale.stored, 0u);
  EXPECT_EQ(stale.ignored, 1u);
  auto got = reg.lookup(ask(2, {0}));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, 100u);
  EXPECT_EQ(got[0].resume_url, kUrl);
  EXPECT_EQ(got[0].reported_by, "alpha");
  EXPECT_EQ(clock.now() - got[0].reported_at, 1s); // a stale report does not refresh the age either

  auto newer = reg.report(report(2, {live(0, "s0", 150, "wss://new.example")}), "beta");
  EXPECT_EQ(newer.stored, 1u);
  got = reg.lookup(ask(2, {0}));
  EXPECT_EQ(got[0].seq, 150u);
  EXPECT_EQ(got[0].resume_url, "wss://new.example");
  EXPECT_EQ(got[0].reported_by, "beta");
  EXPECT_EQ(got[0].reported_at, clock.now());

  // The same seq again refreshes the entry (a quiet shard keeps its session alive at the hub).
  clock.advance(300s);
  EXPECT_EQ(reg.report(report(2, {live(0, "s0", 150, "wss://new.example")}), "beta").stored, 1u);
  EXPECT_EQ(reg.lookup(ask(2, {0}))[0].reported_at, clock.now());
}

TEST(SessionRegistry, NewSessionIdReplacesWhateverItsSeq) {
  ManualClock clock;
  SessionRegistry reg(clock.clock());
  reg.report(report(1, {live(0, "old", 5000)}), "alpha");
  // A fresh IDENTIFY starts a new session at a low seq: it replaces the old one.
  auto res = reg.report(report(1, {live(0, "new", 1)}), "alpha");
  EXPECT_EQ(res.stored, 1u);
  auto got = reg.lookup(ask(1, {0}));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].session_id, "new");
  EXPECT_EQ(got[0].seq, 1u);
  EXPECT_EQ(reg.size(), 1u);
}

TEST(SessionRegistry, NullSessionIdDeletes) {
  ManualClock clock;
  SessionRegistry reg(clock.clock());
  reg.report(report(4, {live(0, "s0", 1), live(1, "s1", 1)}), "alpha");
  auto res = reg.report(report(4, {gone(1), gone(3)}), "alpha");
  EXPECT_EQ(res.status, Status::ok);
  EXPECT_EQ(res.deleted, 1u);
  EXPECT_EQ(res.ignored, 1u); // shard 3 had nothing to delete
  EXPECT_EQ(reg.size(), 1u);
  auto got = reg.lookup(ask(4, {0, 1}));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].shard_id, 0u);
  // Entries apply in order: delete then store leaves the new session.
  reg.report(report(4, {gone(0), live(0, "again", 2)}), "alpha");
  EXPECT_EQ(reg.lookup(ask(4, {0}))[0].session_id, "again");
}

TEST(SessionRegistry, BadReportStoresNothing) {
  ManualClock clock;
  SessionRegistry reg(clock.clock());
  reg.report(report(4, {live(0, "s0", 1)}), "alpha");
  // The second entry is bad: the first (a deletion) must not happen either.
  auto res = reg.report(report(4, {gone(0), live(1, "no spaces allowed", 1)}), "alpha");
  EXPECT_EQ(res.status, Status::bad_request);
  EXPECT_NE(res.message.find("sessions[1].session_id"), std::string::npos) << res.message;
  EXPECT_EQ(reg.size(), 1u);
  EXPECT_EQ(reg.report(report(4, {live(4, "s4", 1)}), "alpha").status, Status::bad_request);
  EXPECT_EQ(reg.report(report(0, {}), "alpha").status, Status::bad_request);
  EXPECT_EQ(reg.report(report(4, {live(2, "s2", 1, "http://x")}), "alpha").status, Status::bad_request);
  EXPECT_EQ(reg.size(), 1u);
}

TEST(SessionRegistry, CapRefusesWholeReportsThatWouldPassIt) {
  ManualClock clock;
  SessionRegistry reg(clock.clock(), SessionRegistryOptions{4, 600s});
  EXPECT_EQ(reg.report(report(8, {live(0, "a", 1), live(1, "b", 1), live(2, "c", 1)}), "alpha").status, Status::ok);
  // Two new shards would make 5: refused whole, shard 3 is not stored either.
  auto res = reg.report(report(8, {live(3, "d", 1), live(4, "e", 1)}), "alpha");
  EXPECT_EQ(res.status, Status::too_many_sessions);
  EXPECT_NE(res.message.find("at most 4"), std::string::npos) << res.message;
  EXPECT_EQ(reg.size(), 3u);
  EXPECT_TRUE(reg.lookup(ask(8, {3})).empty());
  // Updates of stored shards never count as new, even at the cap.
  EXPECT_EQ(reg.report(report(8, {live(3, "d", 1)}), "alpha").status, Status::ok);
  EXPECT_EQ(reg.report(report(8, {live(0, "a", 2), live(1, "b2", 1)}), "alpha").status, Status::ok);
  // A report is judged by what it leaves: deleting one makes room for another.
  EXPECT_EQ(reg.report(report(8, {live(5, "f", 1)}), "alpha").status, Status::too_many_sessions);
  EXPECT_EQ(reg.report(report(8, {gone(2), live(5, "f", 1)}), "alpha").status, Status::ok);
  EXPECT_EQ(reg.size(), 4u);
  // Expired entries make room too.
  clock.advance(601s);
  EXPECT_EQ(reg.report(report(8, {live(6, "g", 1), live(7, "h", 1)}), "alpha").status, Status::ok);
  EXPECT_EQ(reg.size(), 2u);
}

TEST(SessionRegistry, EntriesOlderThanMaxAgeAreNotReturnedAndAreDropped) {
  ManualClock clock;
  SessionRegistry reg(clock.clock(), SessionRegistryOptions{100, 600s});
  reg.report(report(2, {live(0, "s0", 1)}), "alpha");
  clock.advance(300s);
  reg.report(report(2, {live(1, "s1", 1)}), "alpha");
  clock.advance(300s); // shard 0 exactly 600 s old: still served
  EXPECT_EQ(reg.lookup(ask(2, {0, 1})).size(), 2u);
  clock.advance(1ms);
  auto got = reg.lookup(ask(2, {0, 1}));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].shard_id, 1u);
  EXPECT_EQ(reg.size(), 1u); // dropped, not merely hidden
  // A newer report of the expired shard is a fresh entry, whatever its seq.
  reg.report(report(2, {live(0, "s0", 1)}), "beta");
  EXPECT_EQ(reg.lookup(ask(2, {0}))[0].reported_by, "beta");
  clock.advance(301s);
  EXPECT_EQ(reg.expire(), 1u); // shard 1
  EXPECT_EQ(reg.size(), 1u);
  clock.advance(300s);
  EXPECT_EQ(reg.size(), 0u);
}

TEST(SessionRegistry, RefreshMovesAnEntryBackInTheExpiryOrder) {
  ManualClock clock;
  SessionRegistry reg(clock.clock(), SessionRegistryOptions{100, 10s});
  reg.report(report(2, {live(0, "s0", 1), live(1, "s1", 1)}), "alpha");
  clock.advance(8s);
  reg.report(report(2, {live(0, "s0", 2)}), "alpha");
  clock.advance(5s);
  auto got = reg.lookup(ask(2, {0, 1}));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].shard_id, 0u);
  EXPECT_EQ(got[0].seq, 2u);
}

} // namespace
} // namespace shardline::hub
