#include "protocol/envelope.hpp"

#include <gtest/gtest.h>

#include <string>

namespace shardline::protocol {
namespace {

TEST(ReplaceNonFinite, ReplacesBareTokensWithNull) {
  std::string out;
  EXPECT_TRUE(replace_non_finite(R"({"a":NaN,"b":Infinity,"c":-Infinity,"d":[1,NaN,-Infinity]})", out));
  EXPECT_EQ(out, R"({"a":null,"b":null,"c":null,"d":[1,null,null]})");
}

TEST(ReplaceNonFinite, LeavesTokensInsideStringsAlone) {
  std::string out;
  const std::string in =
      R"({"NaN":"NaN","s":"Infinity and -Infinity","e":"quote \" NaN","b":"back\\","x":NaN})";
  EXPECT_TRUE(replace_non_finite(in, out));
  EXPECT_EQ(out, R"({"NaN":"NaN","s":"Infinity and -Infinity","e":"quote \" NaN","b":"back\\","x":null})");
}

TEST(ReplaceNonFinite, ReportsWhenNothingWasReplaced) {
  std::string out = "stale";
  const std::string in = R"({"op":"NaN","data":{"latency":0.25}})";
  EXPECT_FALSE(replace_non_finite(in, out));
  EXPECT_EQ(out, in);
}

class EnvelopeTest : public ::testing::Test {
protected:
  EnvelopeParser parser;
  Envelope env;
  EnvelopeStatus parse(std::string_view body, bool legacy = false) { return parser.parse(body, legacy, env); }
};

TEST_F(EnvelopeTest, ReadsEveryField) {
  ASSERT_EQ(parse(R"({"op":"stats_request","data":{"x":1},"source":"c1","target":"c2","timestamp":1700000000.25,
                      "nonce":"n-1","id":"req-7","reply_to":"req-3"})"),
            EnvelopeStatus::ok);
  EXPECT_EQ(env.op, "stats_request");
  EXPECT_EQ(env.source, "c1");
  EXPECT_TRUE(env.has_source);
  EXPECT_EQ(env.target, "c2");
  ASSERT_TRUE(env.timestamp.has_value());
  EXPECT_DOUBLE_EQ(*env.timestamp, 1700000000.25);
  EXPECT_EQ(env.nonce, "n-1");
  EXPECT_TRUE(env.has_nonce);
  EXPECT_EQ(env.id, "req-7");
  EXPECT_EQ(env.reply_to, "req-3");
  EXPECT_TRUE(env.has_data);
  // The data object is reachable through root().
  int64_t x = 0;
  ASSERT_FALSE(parser.root()["data"]["x"].get(x));
  EXPECT_EQ(x, 1);
}

TEST_F(EnvelopeTest, OptionalFieldsDefault) {
  ASSERT_EQ(parse(R"({"op":"heartbeat","data":{}})"), EnvelopeStatus::ok);
  EXPECT_EQ(env.op, "heartbeat");
  EXPECT_FALSE(env.has_source);
  EXPECT_FALSE(env.has_nonce);
  EXPECT_TRUE(env.target.empty()); // "all"
  EXPECT_TRUE(env.id.empty());
  EXPECT_TRUE(env.reply_to.empty());
  EXPECT_FALSE(env.timestamp.has_value());
}

TEST_F(EnvelopeTest, IntegerTimestampAndNullTarget) {
  ASSERT_EQ(parse(R"({"op":"x","data":{},"timestamp":1700000000,"target":null,"id":null})"), EnvelopeStatus::ok);
  ASSERT_TRUE(env.timestamp);
  EXPECT_DOUBLE_EQ(*env.timestamp, 1700000000.0);
  EXPECT_TRUE(env.target.empty());
  EXPECT_TRUE(env.id.empty());
}

TEST_F(EnvelopeTest, NonNumericTimestampIsIgnored) {
  ASSERT_EQ(parse(R"({"op":"x","data":{},"timestamp":"yesterday"})"), EnvelopeStatus::ok);
  EXPECT_FALSE(env.timestamp.has_value());
}

TEST_F(EnvelopeTest, UnknownKeysAreIgnored) {
  ASSERT_EQ(parse(R"({"future":{"deep":[1,2,3]},"op":"heartbeat","x-extra":true,"data":{},"z":null})"),
            EnvelopeStatus::ok);
  EXPECT_EQ(env.op, "heartbeat");
}

TEST_F(EnvelopeTest, PreviousResultIsClearedOnEachParse) {
  ASSERT_EQ(parse(R"({"op":"a","data":{},"nonce":"n","source":"s","id":"i","timestamp":1})"), EnvelopeStatus::ok);
  ASSERT_EQ(parse(R"({"op":"b","data":{}})"), EnvelopeStatus::ok);
  EXPECT_EQ(env.op, "b");
  EXPECT_FALSE(env.has_nonce);
  EXPECT_FALSE(env.has_source);
  EXPECT_TRUE(env.id.empty());
  EXPECT_FALSE(env.timestamp);
}

TEST_F(EnvelopeTest, MissingOrBadOpIsBadEnvelope) {
  EXPECT_EQ(parse(R"({"data":{}})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(parse(R"({"op":"","data":{}})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(parse(R"({"op":42,"data":{}})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(parse(R"({"op":null,"data":{}})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(parse(R"({})"), EnvelopeStatus::bad_envelope);
}

TEST_F(EnvelopeTest, DataThatIsNotAnObjectIsBadEnvelope) {
  for (const char* data : {"[]", "null", "\"text\"", "1", "true"}) {
    std::string body = std::string(R"({"op":"heartbeat","data":)") + data + "}";
    EXPECT_EQ(parse(body), EnvelopeStatus::bad_envelope) << body;
  }
}

TEST_F(EnvelopeTest, BadEnvelopeStillReportsTheRequestId) {
  // The hub answers a v2 protocol error with reply_to = the request's id.
  EXPECT_EQ(parse(R"({"op":"eval_request","data":[],"id":"req-9"})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(env.id, "req-9");
}

TEST_F(EnvelopeTest, IllTypedStringFieldsAreBadEnvelope) {
  EXPECT_EQ(parse(R"({"op":"x","data":{},"source":5})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(parse(R"({"op":"x","data":{},"nonce":{}})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(parse(R"({"op":"x","data":{},"target":["all"]})"), EnvelopeStatus::bad_envelope);
}

TEST_F(EnvelopeTest, TopLevelNonObjectIsRefused) {
  EXPECT_NE(parse(R"([{"op":"x","data":{}}])"), EnvelopeStatus::ok);
  EXPECT_NE(parse(R"("op")"), EnvelopeStatus::ok);
  EXPECT_NE(parse("42"), EnvelopeStatus::ok);
}

TEST_F(EnvelopeTest, MalformedJsonIsBadJson) {
  for (const char* body : {"", "{", R"({"op":"x","data":{})", R"({"op":"x",})", R"({op:"x"})",
                           R"({"op":"x","data":{}} trailing)", "\xff\xfe", R"({"op":"x","data":{"a":01}})"}) {
    EXPECT_EQ(parse(body), EnvelopeStatus::bad_json) << body;
    EXPECT_EQ(parse(body, true), EnvelopeStatus::bad_json) << body;
  }
}

TEST_F(EnvelopeTest, NonFiniteNumbersOnlyInLegacyMode) {
  for (const char* tok : {"NaN", "Infinity", "-Infinity"}) {
    std::string body = std::string(R"({"op":"stats_broadcast","data":{"latency":)") + tok + R"(},"timestamp":)" +
                       tok + "}";
    EXPECT_EQ(parse(body, false), EnvelopeStatus::bad_json) << body;
    ASSERT_EQ(parse(body, true), EnvelopeStatus::ok) << body;
    EXPECT_EQ(env.op, "stats_broadcast");
    EXPECT_FALSE(env.timestamp.has_value()); // read as null
    EXPECT_TRUE(parser.root()["data"]["latency"].is_null());
  }
}

TEST_F(EnvelopeTest, LegacyModeLeavesStringsIntact) {
  ASSERT_EQ(parse(R"({"op":"broadcast_message","data":{"message":"NaN Infinity","v":NaN},"source":"NaN"})", true),
            EnvelopeStatus::ok);
  EXPECT_EQ(env.source, "NaN");
  std::string_view msg;
  ASSERT_FALSE(parser.root()["data"]["message"].get(msg));
  EXPECT_EQ(msg, "NaN Infinity");
}

TEST_F(EnvelopeTest, LegacyModeStillChecksTheEnvelope) {
  EXPECT_EQ(parse(R"({"data":{"latency":NaN}})", true), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(parse(R"({"op":"x","data":NaN})", true), EnvelopeStatus::bad_envelope);
}

// The hub reads the first occurrence of a key, Boost.JSON and Python the last: a repeated
// envelope key could pass the hub's source check and still spoof the source at the receiver.
TEST_F(EnvelopeTest, RepeatedEnvelopeKeysAreRefused) {
  EXPECT_EQ(parse(R"({"op":"heartbeat","data":{},"source":"me","source":"victim"})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(parse(R"({"op":"heartbeat","op":"eval_request","data":{}})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(parse(R"({"op":"x","data":{},"data":{}})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(parse(R"({"op":"x","data":{},"target":"a","target":"b"})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(parse(R"({"op":"x","data":{},"nonce":"a","nonce":"b"})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(parse(R"({"op":"x","data":{},"reply_to":"a","reply_to":"b"})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(parse(R"({"op":"x","data":{},"timestamp":1,"timestamp":2})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(parse(R"({"op":"x","data":{},"id":"a","id":"b"})"), EnvelopeStatus::bad_envelope);
  EXPECT_EQ(env.id, "a"); // still known for the error's reply_to
  // Repeated keys that are not part of the envelope are nobody's business here.
  EXPECT_EQ(parse(R"({"op":"x","data":{"k":1,"k":2},"extra":1,"extra":2})"), EnvelopeStatus::ok);
}

} // namespace
} // namespace shardline::protocol
