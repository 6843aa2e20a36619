#include "protocol/body.hpp"

#include "protocol/envelope.hpp"
#include "protocol/json_read.hpp"
#include "protocol/messages.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <ctime>
#include <set>
#include <string>

namespace shardline::protocol {
namespace {

namespace json = boost::json;

bool u64_of(std::string_view json_text, std::uint64_t& out) {
  return read_snowflake(json::parse(json_text), out);
}

TEST(Snowflake, AcceptsNumbersUpToTwoToThe64MinusOne) {
  std::uint64_t v = 0;
  ASSERT_TRUE(u64_of("18446744073709551615", v));
  EXPECT_EQ(v, 18446744073709551615ull);
  ASSERT_TRUE(u64_of("9223372036854775808", v)); // 2^63: beyond int64
  EXPECT_EQ(v, 9223372036854775808ull);
  ASSERT_TRUE(u64_of("175928847299117063", v)); // a real-looking Discord id
  EXPECT_EQ(v, 175928847299117063ull);
  ASSERT_TRUE(u64_of("0", v));
  EXPECT_EQ(v, 0u);
}

TEST(Snowflake, AcceptsDecimalStrings) {
  std::uint64_t v = 0;
  ASSERT_TRUE(u64_of(R"("18446744073709551615")", v));
  EXPECT_EQ(v, 18446744073709551615ull);
  ASSERT_TRUE(u64_of(R"("175928847299117063")", v));
  EXPECT_EQ(v, 175928847299117063ull);
}

TEST(Snowflake, RefusesAnythingElse) {
  std::uint64_t v = 0;
  for (const char* bad : {"18446744073709551616", R"("18446744073709551616")", "-1", R"("-1")", "1.5",
                          R"("")", R"("12a")", R"(" 12")", R"("0x10")", R"("+5")", "null", "true", "[1]", "{}"})
    EXPECT_FALSE(u64_of(bad, v)) << bad;
}

TEST(Snowflake, PrecisionIsKeptAboveTwoToThe53) {
  // A double would round 2^53 + 1 to 2^53: ids must never go through one.
  std::uint64_t v = 0;
  ASSERT_TRUE(u64_of("9007199254740993", v));
  EXPECT_EQ(v, 9007199254740993ull);
  ASSERT_TRUE(u64_of(R"("9007199254740993")", v));
  EXPECT_EQ(v, 9007199254740993ull);
}

// Missing and ill-typed fields: an optional field reads as absent when missing or null, and
// as an error naming it when it has the wrong type; get_or falls back only when it is absent.
TEST(FieldAccess, OptionalFieldsAndIllTypedOnes) {
  auto v = json::parse(R"({"s":"text","i":-3,"u":18446744073709551615,"d":0.25,"n":null,"b":true,"arr":[]})");
  ObjectReader r(v);
  EXPECT_EQ(r.optional<std::string>("s"), "text");
  EXPECT_EQ(r.get_or<std::string>("missing", "fb"), "fb");
  EXPECT_EQ(r.get_or<std::string>("n", "fb"), "fb");
  EXPECT_THROW((void)r.optional<std::string>("i"), DecodeError);
  EXPECT_DOUBLE_EQ(r.required<double>("i"), -3);
  EXPECT_DOUBLE_EQ(r.required<double>("d"), 0.25);
  EXPECT_DOUBLE_EQ(r.required<double>("u"), 18446744073709551615.0);
  EXPECT_EQ(r.required<std::uint64_t>("u"), 18446744073709551615ull);
  EXPECT_DOUBLE_EQ(r.get_or<double>("missing", 9), 9);
  EXPECT_THROW((void)r.required<double>("s"), DecodeError);
  EXPECT_THROW((void)r.required<double>("b"), DecodeError);
  EXPECT_THROW((void)r.required<std::uint32_t>("i"), DecodeError); // negative
  try {
    (void)r.required<std::uint32_t>("missing");
    FAIL();
  } catch (const DecodeError& e) {
    EXPECT_STREQ(e.what(), "missing is required");
  }
}

TEST(ParseBody, NonFiniteOnlyInLegacyMode) {
  json::value v;
  const std::string body = R"({"op":"stats_broadcast","data":{"latency":NaN,"up":Infinity,"down":-Infinity,"s":"NaN"}})";
  EXPECT_FALSE(parse_body(body, false, v));
  ASSERT_TRUE(parse_body(body, true, v));
  auto& d = v.as_object().at("data").as_object();
  EXPECT_TRUE(d.at("latency").is_null());
  EXPECT_TRUE(d.at("up").is_null());
  EXPECT_TRUE(d.at("down").is_null());
  EXPECT_EQ(d.at("s").as_string(), "NaN");
}

TEST(ParseBody, MalformedIsRefusedInBothModes) {
  json::value v;
  EXPECT_FALSE(parse_body(R"({"op":)", false, v));
  EXPECT_FALSE(parse_body(R"({"op":)", true, v));
  EXPECT_FALSE(parse_body(R"({"op":NaN,)", true, v));
  ASSERT_TRUE(parse_body(R"({"op":"x"})", false, v));
  EXPECT_EQ(v.as_object().at("op").as_string(), "x");
}

TEST(BuildBody, EnvelopeFieldsFilledIn) {
  NonceSource nonces;
  OutFrame f;
  f.op = "stats_request";
  f.data = {{"k", 1}};
  f.source = "cluster-0";
  f.target = "cluster-1";
  f.id = "req-1";
  auto body = build_body(f, nonces);
  auto o = json::parse(body).as_object();
  EXPECT_EQ(o.at("op").as_string(), "stats_request");
  EXPECT_EQ(o.at("data").as_object().at("k").as_int64(), 1);
  EXPECT_EQ(o.at("source").as_string(), "cluster-0");
  EXPECT_EQ(o.at("target").as_string(), "cluster-1");
  EXPECT_EQ(o.at("id").as_string(), "req-1");
  EXPECT_FALSE(o.contains("reply_to"));
  ASSERT_TRUE(o.at("timestamp").is_number());
  EXPECT_NEAR(o.at("timestamp").to_number<double>(), static_cast<double>(std::time(nullptr)), 5);
  ASSERT_TRUE(o.at("nonce").is_string());
  EXPECT_FALSE(o.at("nonce").as_string().empty());

  // The hub's envelope parser reads what build_body writes.
  EnvelopeParser p;
  Envelope env;
  ASSERT_EQ(p.parse(body, false, env), EnvelopeStatus::ok);
  EXPECT_EQ(env.op, "stats_request");
  EXPECT_EQ(env.target, "cluster-1");
  EXPECT_EQ(env.id, "req-1");
  EXPECT_TRUE(env.has_nonce);
}

TEST(BuildBody, NonFiniteNumbersGoOutAsNull) {
  // Contract section 2: Shardline never emits NaN/Infinity, so a strict (v2) hub can read
  // a latency taken before the first gateway heartbeat.
  NonceSource nonces;
  OutFrame f;
  f.op = "stats_broadcast";
  f.source = "c";
  f.data = json::object{{"latency", std::nan("")},
                        {"nested", json::object{{"inf", HUGE_VAL}, {"list", json::array{-HUGE_VAL, 1.5}}}}};
  auto body = build_body(f, nonces);
  EXPECT_EQ(body.find("NaN"), std::string::npos) << body;
  EXPECT_EQ(body.find("Infinity"), std::string::npos) << body;
  Envelope env;
  EnvelopeParser parser;
  ASSERT_EQ(parser.parse(body, /*allow_non_finite=*/false, env), EnvelopeStatus::ok) << body;
  auto o = json::parse(body).as_object();
  EXPECT_TRUE(o.at("data").at("latency").is_null());
  EXPECT_TRUE(o.at("data").at("nested").at("inf").is_null());
  EXPECT_TRUE(o.at("data").at("nested").at("list").at(0).is_null());
  EXPECT_EQ(o.at("data").at("nested").at("list").at(1).as_double(), 1.5);
}

TEST(BuildBody, DefaultTargetIsAllAndReplyToWhenSet) {
  NonceSource nonces;
  OutFrame f;
  f.op = "stats_broadcast";
  f.source = "c";
  f.target = "";
  f.reply_to = "req-9";
  auto o = json::parse(build_body(f, nonces)).as_object();
  EXPECT_EQ(o.at("target").as_string(), "all");
  EXPECT_EQ(o.at("reply_to").as_string(), "req-9");
  EXPECT_FALSE(o.contains("id"));
  EXPECT_TRUE(o.at("data").is_object());
}

TEST(Nonces, UniqueWithinAndAcrossSources) {
  NonceSource a, b;
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(seen.insert(a.next()).second);
    ASSERT_TRUE(seen.insert(b.next()).second);
  }
}

// Expected values computed independently:
//   printf 'shardline-v2-client|cluster-0|<cn>|<sn>' | openssl dgst -sha256 -hmac <secret>
constexpr std::string_view kSecret = "s3cr3t-shared-by-every-cluster";
constexpr std::string_view kClientNonce = "00112233445566778899aabbccddeeff";
constexpr std::string_view kServerNonce = "ffeeddccbbaa99887766554433221100";

TEST(AuthMac, ClientMacMatchesContract) {
  EXPECT_EQ(client_mac(kSecret, "cluster-0", kClientNonce, kServerNonce),
            "c4eeb922e8758698cf3f5917f4d05cf02e9b2ffed0f2212df8baa0a71fa37803");
  EXPECT_EQ(client_mac(kSecret, "cluster-1", kClientNonce, kServerNonce),
            "a93d93c64b2665018456321d261166731a03509903dc32a7ea5833312c8fcf02");
}

TEST(AuthMac, ServerMacMatchesContract) {
  EXPECT_EQ(server_mac(kSecret, "cluster-0", kClientNonce, kServerNonce),
            "87f19cb8ddb4079f4a3cfbc8dff72e3401321bf0a13d2b2fc610ff93153c50f5");
}

TEST(AuthMac, EveryInputMatters) {
  auto base = client_mac(kSecret, "cluster-0", kClientNonce, kServerNonce);
  EXPECT_NE(client_mac("other-secret-0123456789", "cluster-0", kClientNonce, kServerNonce), base);
  EXPECT_NE(client_mac(kSecret, "cluster-0", kServerNonce, kClientNonce), base); // nonces swapped
  EXPECT_NE(client_mac(kSecret, "cluster-0", kClientNonce, "ffeeddccbbaa99887766554433221101"), base);
  // The server's proof can never be replayed as a client's, or the other way round.
  EXPECT_NE(server_mac(kSecret, "cluster-0", kClientNonce, kServerNonce), base);
}

} // namespace
} // namespace shardline::protocol
