// The payloads a shard sends, serialized (not formatted): whatever a token, a session id or a
// bot's command holds, Discord receives well-formed JSON with the fields it asks for.

#include "gateway/gateway_commands.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace shardline::gateway {
namespace {

namespace json = boost::json;

json::object parsed(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return v.is_object() ? v.as_object() : json::object();
}

TEST(GatewayCommands, IdentifyCarriesWhatDiscordAsks) {
  const std::string token = "a\"b\\c\n\x01";
  auto o = parsed(identify_payload({token, 33281, 5, 16, 50}));
  EXPECT_EQ(o.at("op").as_int64(), 2);
  auto& d = o.at("d").as_object();
  EXPECT_EQ(d.at("token").as_string(), token); // escaped on the wire, the same once read
  EXPECT_EQ(d.at("intents").to_number<std::uint64_t>(), 33281u);
  EXPECT_EQ(d.at("shard"), json::value(json::array{5, 16}));
  EXPECT_EQ(d.at("large_threshold").to_number<int>(), 50);
  EXPECT_EQ(d.at("compress"), json::value(false));
  auto& props = d.at("properties").as_object();
  EXPECT_EQ(props.at("os").as_string(), "linux");
  EXPECT_EQ(props.at("browser").as_string(), "shardline");
  EXPECT_EQ(props.at("device").as_string(), "shardline");
}

TEST(GatewayCommands, ResumeCarriesTokenSessionAndSequence) {
  auto o = parsed(resume_payload("tok\"en", "0123abcd", 18446744073709551615ull));
  EXPECT_EQ(o.at("op").as_int64(), 6);
  auto& d = o.at("d").as_object();
  EXPECT_EQ(d.at("token").as_string(), "tok\"en");
  EXPECT_EQ(d.at("session_id").as_string(), "0123abcd");
  EXPECT_EQ(d.at("seq").to_number<std::uint64_t>(), 18446744073709551615ull);
}

TEST(GatewayCommands, HeartbeatIsNullBeforeTheFirstDispatch) {
  EXPECT_EQ(heartbeat_payload(0), R"({"op":1,"d":null})");
  EXPECT_EQ(heartbeat_payload(1234), R"({"op":1,"d":1234})");
}

TEST(GatewayCommands, ACommandKeepsItsData) {
  const std::string d = R"({"guild_id":"41771983423143937","query":"é\"","limit":0,"presences":true,"user_ids":null})";
  auto r = command_payload(8, d);
  ASSERT_TRUE(r) << r.error().message;
  auto o = parsed(*r);
  EXPECT_EQ(o.at("op").as_int64(), 8);
  EXPECT_EQ(o.at("d"), json::parse(d));
}

TEST(GatewayCommands, ACommandWhoseDataIsNotJsonIsRefused) {
  for (std::string_view bad : {"", "{", R"({"a":1} {"b":2})", "{'a':1}", R"({"a":})", "nul", R"("unterminated)"}) {
    auto r = command_payload(3, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(r.error().is(Errc::bad_input));
  }
  auto ok = command_payload(3, "null");
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, R"({"op":3,"d":null})");
}

} // namespace
} // namespace shardline::gateway
