// The /_sim/ control API's request parsing: the faults a test injects and the world and
// sessions queries. What is accepted, with which defaults, and the 400 message for what is not.

#include "sim/control_requests.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace shardline;
using namespace shardline::sim;

namespace {

std::vector<QueryParam> query(std::initializer_list<std::pair<const char*, const char*>> params) {
  std::vector<QueryParam> out;
  for (auto& [k, v] : params) out.push_back({k, v});
  return out;
}

} // namespace

TEST(SimControlRequests, AFaultNeedsAShardAndAKindAndDefaultsTheRest) {
  auto f = parse_fault_request(R"({"shard": 3, "kind": "close"})");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->shard, 3u);
  EXPECT_EQ(f->kind, FaultKind::close);
  EXPECT_EQ(f->code, 4000); // resumable, as docs/simulator.md says
  EXPECT_FALSE(f->resumable);

  f = parse_fault_request(R"({"shard": 0, "kind": "invalid_session", "resumable": true, "code": 1000})");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->kind, FaultKind::invalid_session);
  EXPECT_TRUE(f->resumable);
  EXPECT_EQ(f->code, 1000);
}

TEST(SimControlRequests, EveryFaultKindIsKnownByItsName) {
  for (auto kind : {FaultKind::close, FaultKind::reconnect, FaultKind::invalid_session, FaultKind::reset,
                    FaultKind::stop_acks, FaultKind::stall, FaultKind::heartbeat}) {
    auto f = parse_fault_request(std::string(R"({"shard": 1, "kind": ")") + to_string(kind) + "\"}");
    ASSERT_TRUE(f) << to_string(kind);
    EXPECT_EQ(f->kind, kind);
  }
}

TEST(SimControlRequests, CloseCodesAreThoseAServerMaySend) {
  for (int code : {1000, 1001, 1011, 4000, 4999}) {
    auto f = parse_fault_request(R"({"shard": 0, "kind": "close", "code": )" + std::to_string(code) + "}");
    ASSERT_TRUE(f) << code;
    EXPECT_EQ(f->code, code);
  }
  // 1005, 1006 and 1015 cannot be sent in a close frame.
  for (const char* code : {"999", "5000", "1005", "1006", "1015", "-1", "4000.5", "\"4000\"", "null"}) {
    auto f = parse_fault_request(std::string(R"({"shard": 0, "kind": "close", "code": )") + code + "}");
    ASSERT_FALSE(f) << code;
    EXPECT_TRUE(f.error().is(Errc::bad_input));
    EXPECT_EQ(f.error().message, "code: a close code a server may send (1000-4999, not 1005, 1006 or 1015)") << code;
  }
}

TEST(SimControlRequests, ABadFaultIsRefusedWithTheFieldToFix) {
  struct Case {
    const char* body;
    const char* message;
  };
  const Case cases[] = {
      {"", "body must be a JSON object"},
      {"not json", "body must be a JSON object"},
      {R"([{"shard": 0, "kind": "close"}])", "body must be a JSON object"},
      {R"({"kind": "close"})", "shard: a non-negative integer"},
      {R"({"shard": -1, "kind": "close"})", "shard: a non-negative integer"},
      {R"({"shard": "0", "kind": "close"})", "shard: a non-negative integer"},
      {R"({"shard": 1.5, "kind": "close"})", "shard: a non-negative integer"},
      {R"({"shard": 0})", "kind: a string"},
      {R"({"shard": 0, "kind": 1})", "kind: a string"},
      {R"({"shard": 0, "kind": "explode"})",
       "kind: one of close, reconnect, invalid_session, reset, stop_acks, stall, heartbeat"},
      {R"({"shard": 0, "kind": "CLOSE"})",
       "kind: one of close, reconnect, invalid_session, reset, stop_acks, stall, heartbeat"},
      {R"({"shard": 0, "kind": "invalid_session", "resumable": "yes"})", "resumable: true or false"},
      // Nested deeper than 8: refused before anything is read from it.
      {R"({"shard": 0, "kind": "close", "x": [[[[[[[[[]]]]]]]]]})", "body must be a JSON object"},
  };
  for (const auto& c : cases) {
    auto f = parse_fault_request(c.body);
    ASSERT_FALSE(f) << c.body;
    EXPECT_TRUE(f.error().is(Errc::bad_input)) << c.body;
    EXPECT_EQ(f.error().message, c.message) << c.body;
  }
}

TEST(SimControlRequests, TheWorldNeedsAShardCountOfOneTo4096) {
  EXPECT_EQ(parse_world_shards(query({{"shards", "1"}})).value(), 1u);
  EXPECT_EQ(parse_world_shards(query({{"shards", "4096"}})).value(), 4096u);
  EXPECT_EQ(parse_world_shards(query({{"x", "y"}, {"shards", "16"}})).value(), 16u);
  EXPECT_EQ(parse_world_shards(query({{"shards", "2"}, {"shards", "3"}})).value(), 3u);
  // The integration test's 400s: none, out of range, not a number, a wrong key, a bad repeat.
  for (auto q : {query({}), query({{"shards", "0"}}), query({{"shards", "4097"}}), query({{"shards", "abc"}}),
                 query({{"shards", "2x"}}), query({{"shards", "-1"}}), query({{"shards", ""}}),
                 query({{"shard", "2"}}), query({{"shards", "2"}, {"shards", "x"}}),
                 query({{"shards", "x"}, {"shards", "2"}})}) {
    auto r = parse_world_shards(q);
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(Errc::bad_input));
    EXPECT_EQ(r.error().message, "shards=N (a shard count, 1-4096) is required");
  }
}

TEST(SimControlRequests, SessionsNeedAShardId) {
  EXPECT_EQ(parse_sessions_shard(query({{"shard", "0"}})).value(), 0u);
  EXPECT_EQ(parse_sessions_shard(query({{"shard", "4095"}})).value(), 4095u);
  // The last well-formed one counts; malformed ones are passed over.
  EXPECT_EQ(parse_sessions_shard(query({{"shard", "x"}, {"shard", "3"}})).value(), 3u);
  EXPECT_EQ(parse_sessions_shard(query({{"shard", "3"}, {"shard", "x"}})).value(), 3u);
  for (auto q : {query({}), query({{"shard", "x"}}), query({{"shard", "-1"}}), query({{"shards", "2"}})}) {
    auto r = parse_sessions_shard(q);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "shard=N (a shard id) is required");
  }
}

TEST(SimControlRequests, ASharedLimitNamesARouteACountAndARetryAfter) {
  auto r = parse_shared_limit_request(
      R"({"route": "PUT /channels/{channel}/messages/{message}/reactions/{emoji}/@me", "count": 3,
          "retry_after_ms": 1500})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->route, "PUT /channels/{channel}/messages/{message}/reactions/{emoji}/@me");
  EXPECT_EQ(r->count, 3u);
  EXPECT_EQ(r->retry_after_ms, 1500u);
  auto zero = parse_shared_limit_request(R"({"route": "reactions", "count": 0, "retry_after_ms": 0})");
  ASSERT_TRUE(zero) << zero.error().message; // clears what is pending

  struct Bad {
    const char* body;
    const char* field;
  };
  for (auto [body, field] : std::vector<Bad>{
           {"[]", "JSON object"},
           {"{", "JSON object"},
           {R"({"count": 1, "retry_after_ms": 1})", "route:"},
           {R"({"route": "", "count": 1, "retry_after_ms": 1})", "route:"},
           {R"({"route": 5, "count": 1, "retry_after_ms": 1})", "route:"},
           {R"({"route": "bans", "retry_after_ms": 1})", "count:"},
           {R"({"route": "bans", "count": -1, "retry_after_ms": 1})", "count:"},
           {R"({"route": "bans", "count": 1000001, "retry_after_ms": 1})", "count:"},
           {R"({"route": "bans", "count": 1.5, "retry_after_ms": 1})", "count:"},
           {R"({"route": "bans", "count": 1})", "retry_after_ms:"},
           {R"({"route": "bans", "count": 1, "retry_after_ms": 3600001})", "retry_after_ms:"},
       }) {
    auto bad = parse_shared_limit_request(body);
    ASSERT_FALSE(bad) << body;
    EXPECT_NE(bad.error().message.find(field), std::string::npos) << body << ": " << bad.error().message;
  }
}
