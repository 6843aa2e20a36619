// Reading gateway payloads: op, s, t and the raw text of d from any payload, the fields a
// shard manager needs from HELLO, READY and GUILD_CREATE, and a clean `false` (never a
// crash) for anything malformed.

#include "gateway/gateway_payload.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

namespace shardline::gateway {
namespace {

TEST(GatewayPayload, DispatchGivesOpSeqTypeAndRawData) {
  PayloadParser parser;
  std::string text = R"({"op":0,"s":42,"t":"MESSAGE_CREATE","d":{"content":"hi","id":"7"}})";
  GatewayPayload p;
  std::string error;
  ASSERT_TRUE(parser.parse(text, p, error)) << error;
  EXPECT_EQ(p.op, opcode::dispatch);
  EXPECT_EQ(p.seq, 42u);
  EXPECT_EQ(p.type, "MESSAGE_CREATE");
  EXPECT_EQ(p.data, R"({"content":"hi","id":"7"})");
}

// Views point into the text; its contents stay as they were, with room for simdjson's
// padding now part of its allocation.
TEST(GatewayPayload, ParseLeavesTheTextUnchangedAndViewsIntoIt) {
  PayloadParser parser;
  const std::string original = R"( { "t" : "READY" , "s" : 1 , "d" : [ 1 , 2 ] , "op" : 0 } )";
  std::string text = original;
  text.shrink_to_fit();
  GatewayPayload p;
  std::string error;
  ASSERT_TRUE(parser.parse(text, p, error)) << error;
  EXPECT_EQ(text, original);
  EXPECT_GE(text.capacity(), text.size() + simdjson::SIMDJSON_PADDING);
  EXPECT_EQ(p.type, "READY");
  EXPECT_EQ(p.data, "[ 1 , 2 ]");
  EXPECT_GE(p.data.data(), text.data());
  EXPECT_LE(p.data.data() + p.data.size(), text.data() + text.size());
  EXPECT_GE(p.type.data(), text.data());
  EXPECT_LE(p.type.data() + p.type.size(), text.data() + text.size());
}

TEST(GatewayPayload, NonDispatchHasNoSeqOrType) {
  PayloadParser parser;
  std::string text = R"({"t":null,"s":null,"op":11,"d":null})";
  GatewayPayload p;
  std::string error;
  ASSERT_TRUE(parser.parse(text, p, error)) << error;
  EXPECT_EQ(p.op, opcode::heartbeat_ack);
  EXPECT_FALSE(p.seq.has_value());
  EXPECT_TRUE(p.type.empty());
  EXPECT_EQ(p.data, "null");
}

TEST(GatewayPayload, DataIsNullWhenNullOrAbsent) {
  PayloadParser parser;
  GatewayPayload p;
  std::string error;
  for (std::string text : {R"({"op":11})", R"({"op":11,"d":null})", R"({"op":11, "d" : null })",
                           R"({"d":null,"op":11})"}) {
    ASSERT_TRUE(parser.parse(text, p, error)) << text << ": " << error;
    EXPECT_EQ(p.data, "null") << text;
    EXPECT_EQ(p.op, 11) << text;
  }
}

TEST(GatewayPayload, ScalarDataIsItsJsonText) {
  PayloadParser parser;
  GatewayPayload p;
  std::string error;
  std::string text = R"({"op":9,"d":false})";
  ASSERT_TRUE(parser.parse(text, p, error)) << error;
  EXPECT_EQ(p.data, "false");
  text = R"({"op":1,"d":251})";
  ASSERT_TRUE(parser.parse(text, p, error)) << error;
  EXPECT_EQ(p.data, "251");
  text = R"({"op":0,"s":3,"t":"X","d":"a \"quoted\" string"})";
  ASSERT_TRUE(parser.parse(text, p, error)) << error;
  EXPECT_EQ(p.data, R"("a \"quoted\" string")");
}

TEST(GatewayPayload, EscapedTypeIsUnescaped) {
  PayloadParser parser;
  std::string text = R"({"op":0,"s":1,"t":"READ\u0059","d":{}})";
  GatewayPayload p;
  std::string error;
  ASSERT_TRUE(parser.parse(text, p, error)) << error;
  EXPECT_EQ(p.type, "READY");
}

TEST(GatewayPayload, MalformedPayloadsAreRejectedWithAReason) {
  const char* cases[] = {
      "",                                     // empty
      "   ",                                  // whitespace only
      "{",                                    // truncated
      R"({"op":0,"d":{"a":1})",               // unbalanced
      R"({"op":0,"d":{"a":1}}})",             // extra bracket
      R"({"op":0} {"op":1})",                 // two documents
      R"({"op":0} x)",                        // trailing garbage
      "[]",                                   // not an object
      "1",                                    // not an object
      R"("op")",                              // not an object
      "null",                                 // not an object
      R"({"s":1,"t":"READY","d":{}})",        // op missing
      R"({"op":"0"})",                        // op a string
      R"({"op":1.5})",                        // op not an integer
      R"({"op":null})",                       // op null
      R"({"op":-1})",                         // op negative
      R"({"op":99999999999})",                // op out of range
      R"({"op":0,"s":"1"})",                  // s a string
      R"({"op":0,"s":-3})",                   // s negative
      R"({"op":0,"s":1.5})",                  // s not an integer
      R"({"op":0,"s":1,"t":5})",              // t a number
      R"({"op":0,"s":1,"t":{"x":1}})",        // t an object
      R"({"op":0,"d":tru})",                  // bad literal
      R"({"op":0,"d":01})",                   // bad number
      R"({"op":0 "d":1})",                    // missing comma
      R"({op:0})",                            // unquoted key
      "{\"op\":0,\"t\":\"\xff\xfe\"}",        // invalid UTF-8
  };
  PayloadParser parser;
  for (const char* c : cases) {
    std::string text = c;
    GatewayPayload p;
    std::string error;
    EXPECT_FALSE(parser.parse(text, p, error)) << "accepted: " << c;
    EXPECT_FALSE(error.empty()) << c;
  }
  // The parser is still good afterwards.
  std::string text = R"({"op":10,"d":{"heartbeat_interval":41250}})";
  GatewayPayload p;
  std::string error;
  ASSERT_TRUE(parser.parse(text, p, error)) << error;
}

TEST(GatewayPayload, HelloInterval) {
  PayloadParser parser;
  std::string text = R"({"t":null,"s":null,"op":10,"d":{"_trace":["gw"],"heartbeat_interval":41250}})";
  GatewayPayload p;
  std::string error;
  ASSERT_TRUE(parser.parse(text, p, error)) << error;
  std::uint32_t interval = 0;
  ASSERT_TRUE(parser.hello_interval(p.data, interval));
  EXPECT_EQ(interval, 41250u);

  for (std::string bad : {R"({"op":10,"d":{}})", R"({"op":10,"d":{"heartbeat_interval":"41250"}})",
                          R"({"op":10,"d":{"heartbeat_interval":0}})", R"({"op":10,"d":{"heartbeat_interval":-5}})",
                          R"({"op":10,"d":null})"}) {
    ASSERT_TRUE(parser.parse(bad, p, error)) << error;
    EXPECT_FALSE(parser.hello_interval(p.data, interval)) << bad;
  }
}

TEST(GatewayPayload, ReadyGivesSessionAndGuilds) {
  PayloadParser parser;
  // Snowflakes as Discord sends them (strings), and as numbers, which are accepted too.
  std::string text = R"({"t":"READY","s":1,"op":0,"d":{
    "v":10,"user_settings":{},
    "user":{"username":"bot","id":"80351110224678912","bot":true},
    "session_type":"normal","session_id":"e7f1c2d3",
    "resume_gateway_url":"wss://gateway-us-east1-b.discord.gg",
    "relationships":[],"private_channels":[],
    "guilds":[{"unavailable":true,"id":"41771983423143937"},{"id":41771983423143938,"unavailable":true}],
    "application":{"id":"80351110224678913","flags":565248},
    "_trace":["[\"gateway-prd\",{\"micros\":1}]"]}})";
  GatewayPayload p;
  std::string error;
  ASSERT_TRUE(parser.parse(text, p, error)) << error;
  ReadyInfo ready;
  ASSERT_TRUE(parser.ready(p.data, ready));
  EXPECT_EQ(ready.session_id, "e7f1c2d3");
  EXPECT_EQ(ready.resume_gateway_url, "wss://gateway-us-east1-b.discord.gg");
  EXPECT_EQ(ready.guild_ids, (std::vector<std::uint64_t>{41771983423143937ULL, 41771983423143938ULL}));
  EXPECT_EQ(ready.user_id, 80351110224678912ULL);
  EXPECT_EQ(ready.application_id, 80351110224678913ULL);
}

TEST(GatewayPayload, ReadyWithoutSessionOrWithBadSnowflakesIsRejected) {
  PayloadParser parser;
  ReadyInfo ready;
  const char* cases[] = {
      R"({"resume_gateway_url":"wss://x","guilds":[],"user":{"id":"1"}})",                  // no session_id
      R"({"session_id":"s","guilds":[],"user":{"id":"1"}})",                                // no resume url
      R"({"session_id":"s","resume_gateway_url":"wss://x","user":{"id":"1"}})",             // no guilds
      R"({"session_id":"s","resume_gateway_url":"wss://x","guilds":[]})",                   // no user
      R"({"session_id":1,"resume_gateway_url":"wss://x","guilds":[],"user":{"id":"1"}})",   // mistyped
      R"({"session_id":"s","resume_gateway_url":"wss://x","guilds":[{"id":"12a"}],"user":{"id":"1"}})",
      R"({"session_id":"s","resume_gateway_url":"wss://x","guilds":[{"id":""}],"user":{"id":"1"}})",
      R"({"session_id":"s","resume_gateway_url":"wss://x","guilds":[{"id":-4}],"user":{"id":"1"}})",
      R"({"session_id":"s","resume_gateway_url":"wss://x","guilds":[{}],"user":{"id":"1"}})",
      R"({"session_id":"s","resume_gateway_url":"wss://x","guilds":[],"user":{"id":"99999999999999999999"}})",
      R"(["not","an","object"])",
  };
  for (const char* c : cases) EXPECT_FALSE(parser.ready(c, ready)) << c;
}

// A view that is not into the last parsed text (here: a literal) is copied and padded.
TEST(GatewayPayload, ExtractorsAcceptViewsOutsideTheParsedText) {
  PayloadParser parser;
  GuildInfo guild;
  ASSERT_TRUE(parser.guild(R"({"id":"5","member_count":3})", guild));
  EXPECT_EQ(guild.id, 5u);
  EXPECT_EQ(guild.member_count, 3u);
  std::uint32_t interval = 0;
  const std::string hello = R"({"heartbeat_interval":45000})";
  ASSERT_TRUE(parser.hello_interval(hello, interval));
  EXPECT_EQ(interval, 45000u);
}

TEST(GatewayPayload, GuildDeleteIsUnavailableWithoutMembers) {
  PayloadParser parser;
  std::string text = R"({"op":0,"s":9,"t":"GUILD_DELETE","d":{"unavailable":true,"id":"41771983423143937"}})";
  GatewayPayload p;
  std::string error;
  ASSERT_TRUE(parser.parse(text, p, error)) << error;
  GuildInfo guild;
  ASSERT_TRUE(parser.guild(p.data, guild));
  EXPECT_EQ(guild.id, 41771983423143937ULL);
  EXPECT_TRUE(guild.unavailable);
  EXPECT_EQ(guild.member_count, 0u);
}

TEST(GatewayPayload, GuildWithMissingOrMistypedFieldsIsRejected) {
  PayloadParser parser;
  GuildInfo guild;
  EXPECT_FALSE(parser.guild(R"({"member_count":3})", guild));
  EXPECT_FALSE(parser.guild(R"({"id":"5","member_count":"3"})", guild));
  EXPECT_FALSE(parser.guild(R"({"id":"5","unavailable":"yes"})", guild));
  EXPECT_FALSE(parser.guild(R"({"id":true})", guild));
  EXPECT_FALSE(parser.guild("null", guild));
  EXPECT_FALSE(parser.guild(R"({"id":"5",)", guild));
}

// A GUILD_CREATE of a large guild as Discord sends it: over a megabyte of members, channels
// and roles, whose own "id" fields must not be taken for the guild's, with the guild's
// fields scattered before and after them.
std::string big_guild_create(std::uint64_t guild_id, int members, int channels) {
  std::string d = R"({"name":"big \"guild\" id","member_count":)" + std::to_string(members) + R"(,"members":[)";
  for (int i = 0; i < members; ++i) {
    if (i) d += ',';
    d += R"({"user":{"id":")" + std::to_string(100000000000000000ULL + i) + R"(","username":"member)" +
         std::to_string(i) + R"(","avatar":null,"discriminator":"0"},"roles":[")" + std::to_string(200000 + i % 7) +
         R"("],"joined_at":"2024-03-01T12:00:00.000000+00:00","deaf":false,"mute":false,"flags":0})";
  }
  d += R"(],"channels":[)";
  for (int i = 0; i < channels; ++i) {
    if (i) d += ',';
    d += R"({"id":")" + std::to_string(300000000000000000ULL + i) + R"(","type":0,"name":"channel-)" +
         std::to_string(i) + R"(","topic":"talk about \"member_count\": \u00e9t\u00e9","position":)" +
         std::to_string(i) + R"(,"permission_overwrites":[{"id":"1","type":0,"allow":"0","deny":"1024"}]})";
  }
  d += R"(],"roles":[{"id":"200000","name":"@everyone"}],"large":true,"unavailable":false,"id":")" +
       std::to_string(guild_id) + R"("})";
  return R"({"t":"GUILD_CREATE","s":5,"op":0,"d":)" + d + "}";
}

TEST(GatewayPayload, MegabyteGuildCreateParses) {
  PayloadParser parser;
  std::string text = big_guild_create(41771983423143937ULL, 6000, 2000);
  ASSERT_GT(text.size(), 1u << 20);
  GatewayPayload p;
  std::string error;
  ASSERT_TRUE(parser.parse(text, p, error)) << error;
  EXPECT_EQ(p.type, "GUILD_CREATE");
  EXPECT_EQ(p.seq, 5u);
  EXPECT_EQ(p.data.size(), text.size() - std::string_view(R"({"t":"GUILD_CREATE","s":5,"op":0,"d":)").size() - 1);
  GuildInfo guild;
  ASSERT_TRUE(parser.guild(p.data, guild));
  EXPECT_EQ(guild.id, 41771983423143937ULL);
  EXPECT_EQ(guild.member_count, 6000u);
  EXPECT_FALSE(guild.unavailable);

  // The same parser reads the next payload (a smaller one, into a new text).
  std::string next = R"({"op":0,"s":6,"t":"GUILD_DELETE","d":{"id":"9","unavailable":true}})";
  ASSERT_TRUE(parser.parse(next, p, error)) << error;
  ASSERT_TRUE(parser.guild(p.data, guild));
  EXPECT_EQ(guild.id, 9u);
  EXPECT_TRUE(guild.unavailable);
}

TEST(GatewayPayload, InvalidSessionResumableOnlyForTrue) {
  EXPECT_TRUE(PayloadParser::invalid_session_resumable("true"));
  EXPECT_TRUE(PayloadParser::invalid_session_resumable(" true\n"));
  EXPECT_FALSE(PayloadParser::invalid_session_resumable("false"));
  EXPECT_FALSE(PayloadParser::invalid_session_resumable("null"));
  EXPECT_FALSE(PayloadParser::invalid_session_resumable("\"true\""));
  EXPECT_FALSE(PayloadParser::invalid_session_resumable("1"));
  EXPECT_FALSE(PayloadParser::invalid_session_resumable(""));
}

} // namespace
} // namespace shardline::gateway
