// The gateway wire format: parsing client commands (and the close code each malformed one
// earns), and the frames and dispatch bodies the simulator sends.

#include "sim/gateway_protocol.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

using namespace shardline;
using namespace shardline::sim;
namespace json = boost::json;

namespace {

std::uint16_t command_error(std::string_view text) {
  GatewayError err;
  auto c = parse_command(text, err);
  return c ? 0 : err.code;
}

std::uint16_t identify_error(std::string_view d) {
  GatewayError err;
  auto id = parse_identify(d, err);
  return id ? 0 : err.code;
}

} // namespace

TEST(SimGatewayProtocol, ParseCommand) {
  GatewayError err;
  auto hb = parse_command(R"({"op":1,"d":42})", err);
  ASSERT_TRUE(hb);
  EXPECT_EQ(hb->op, op::heartbeat);
  EXPECT_EQ(hb->heartbeat_seq, 42u);
  auto hb0 = parse_command(R"({"op":1,"d":null})", err);
  ASSERT_TRUE(hb0);
  EXPECT_FALSE(hb0->heartbeat_seq);
  auto id = parse_command(R"({"op":2,"d":{"token":"t"}})", err);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->d_json, R"({"token":"t"})");
  EXPECT_EQ(command_error(R"({"op":3,"d":{}})"), 0);
  EXPECT_EQ(command_error(R"({"op":8,"d":{}})"), 0);
  EXPECT_EQ(command_error(R"({"op":2.0,"d":{}})"), 0); // JavaScript numbers

  EXPECT_EQ(command_error("not json"), close_code::decode_error);
  EXPECT_EQ(command_error("[1,2]"), close_code::decode_error);
  EXPECT_EQ(command_error(R"({"d":1})"), close_code::decode_error);
  EXPECT_EQ(command_error(R"({"op":"1"})"), close_code::decode_error);
  EXPECT_EQ(command_error(R"({"op":-1})"), close_code::decode_error);
  EXPECT_EQ(command_error(R"({"op":0,"d":{}})"), close_code::unknown_opcode); // server-only op
  EXPECT_EQ(command_error(R"({"op":11})"), close_code::unknown_opcode);
  EXPECT_EQ(command_error(R"({"op":99})"), close_code::unknown_opcode);
  EXPECT_EQ(command_error(std::string(100, '[') + std::string(100, ']')), close_code::decode_error);
}

TEST(SimGatewayProtocol, ParseIdentify) {
  GatewayError err;
  auto id = parse_identify(
      R"({"token":"Bot abc","intents":513,"properties":{"os":"linux"},"shard":[3,8],"large_threshold":250})", err);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->token, "Bot abc");
  EXPECT_EQ(id->intents, 513u);
  EXPECT_EQ(id->shard_id, 3u);
  EXPECT_EQ(id->num_shards, 8u);
  EXPECT_EQ(id->large_threshold, 250u);
  auto plain = parse_identify(R"({"token":"x","intents":0})", err);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->shard_id, 0u);
  EXPECT_EQ(plain->num_shards, 1u);
  EXPECT_EQ(plain->large_threshold, 50u);

  EXPECT_EQ(identify_error(R"({"intents":0})"), close_code::decode_error);
  EXPECT_EQ(identify_error(R"({"token":5,"intents":0})"), close_code::decode_error);
  EXPECT_EQ(identify_error(R"({"token":"x"})"), close_code::invalid_intents);
  EXPECT_EQ(identify_error(R"({"token":"x","intents":1073741824})"), close_code::invalid_intents);
  EXPECT_EQ(identify_error(R"({"token":"x","intents":0,"shard":[2,2]})"), close_code::invalid_shard);
  EXPECT_EQ(identify_error(R"({"token":"x","intents":0,"shard":[0,0]})"), close_code::invalid_shard);
  EXPECT_EQ(identify_error(R"({"token":"x","intents":0,"shard":[1]})"), close_code::decode_error);
  EXPECT_EQ(identify_error(R"({"token":"x","intents":0,"shard":["0","1"]})"), close_code::decode_error);
  EXPECT_EQ(identify_error(R"({"token":"x","intents":0,"properties":"linux"})"), close_code::decode_error);
}

TEST(SimGatewayProtocol, ParseResume) {
  GatewayError err;
  auto r = parse_resume(R"({"token":"t","session_id":"abc","seq":17})", err);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->session_id, "abc");
  EXPECT_EQ(r->seq, 17u);
  auto null_seq = parse_resume(R"({"token":"t","session_id":"abc","seq":null})", err);
  ASSERT_TRUE(null_seq);
  EXPECT_EQ(null_seq->seq, 0u);
  EXPECT_FALSE(parse_resume(R"({"token":"t","seq":1})", err));
  EXPECT_EQ(err.code, close_code::decode_error);
  EXPECT_FALSE(parse_resume(R"({"token":"t","session_id":"a","seq":-1})", err));
}

TEST(SimGatewayProtocol, FramesAreValidJson) {
  auto hello = json::parse(hello_frame(41250)).as_object();
  EXPECT_EQ(hello.at("op").as_int64(), 10);
  EXPECT_EQ(hello.at("d").at("heartbeat_interval").as_int64(), 41250);
  EXPECT_EQ(json::parse(heartbeat_ack_frame()).at("op").as_int64(), 11);
  EXPECT_EQ(json::parse(heartbeat_request_frame(0)).at("d"), nullptr);
  EXPECT_EQ(json::parse(heartbeat_request_frame(5)).at("d").as_int64(), 5);
  EXPECT_EQ(json::parse(reconnect_frame()).at("op").as_int64(), 7);
  auto inv = json::parse(invalid_session_frame(false));
  EXPECT_EQ(inv.at("op").as_int64(), 9);
  EXPECT_EQ(inv.at("d").as_bool(), false);
  auto d = json::parse(dispatch_frame("RESUMED", 12, resumed_data()));
  EXPECT_EQ(d.at("t").as_string(), "RESUMED");
  EXPECT_EQ(d.at("s").as_int64(), 12);
  EXPECT_EQ(d.at("op").as_int64(), 0);
}

TEST(SimGatewayProtocol, ReadyListsTheShardsGuildsUnavailable) {
  World w({300, 5});
  auto d = json::parse(ready_data(w, "sess", "ws://127.0.0.1:1", 1, 3)).as_object();
  EXPECT_EQ(d.at("v").as_int64(), 10);
  EXPECT_EQ(d.at("session_id").as_string(), "sess");
  EXPECT_EQ(d.at("resume_gateway_url").as_string(), "ws://127.0.0.1:1");
  EXPECT_EQ(d.at("shard").as_array(), (json::array{1, 3}));
  EXPECT_EQ(d.at("user").at("id").as_string(), std::to_string(w.bot_user_id()));
  EXPECT_TRUE(d.at("user").at("bot").as_bool());
  EXPECT_EQ(d.at("application").at("id").as_string(), std::to_string(w.application_id()));
  auto& guilds = d.at("guilds").as_array();
  EXPECT_EQ(guilds.size(), w.count_of_shard(1, 3));
  for (auto& g : guilds) {
    EXPECT_TRUE(g.at("unavailable").as_bool());
    auto id = std::stoull(std::string(g.at("id").as_string()));
    EXPECT_EQ(World::shard_of(id, 3), 1u);
  }
}

TEST(SimGatewayProtocol, GuildCreateShape) {
  World w({50, 5});
  Guild g = w.guilds()[3];
  g.member_count = 100;
  auto d = json::parse(guild_create_data(w, g, 50)).as_object();
  EXPECT_EQ(d.at("id").as_string(), std::to_string(g.id));
  EXPECT_EQ(d.at("name").as_string(), g.name);
  EXPECT_EQ(d.at("member_count").as_int64(), 100);
  EXPECT_FALSE(d.at("unavailable").as_bool());
  EXPECT_TRUE(d.at("large").as_bool());
  EXPECT_FALSE(json::parse(guild_create_data(w, g, 250)).at("large").as_bool());
  EXPECT_EQ(d.at("roles").at(0).at("id").as_string(), std::to_string(g.id)); // @everyone
  EXPECT_EQ(d.at("channels").at(0).at("guild_id").as_string(), std::to_string(g.id));
  EXPECT_EQ(d.at("members").at(0).at("user").at("id").as_string(), std::to_string(w.bot_user_id()));
  EXPECT_EQ(json::parse(guild_unavailable_data(g)).at("unavailable").as_bool(), true);
}

TEST(SimGatewayProtocol, Iso8601) {
  EXPECT_EQ(iso8601_ms(1462015105796ULL), "2016-04-30T11:18:25.796000+00:00");
  EXPECT_EQ(iso8601_ms(World::kDiscordEpochMs), "2015-01-01T00:00:00.000000+00:00");
}

TEST(SimGatewayProtocol, InteractionCreateShape) {
  World w({20, 5});
  auto& g = w.guilds()[2];
  ManualClock clock;
  InteractionStore store({}, clock.clock(), 1);
  auto& in = store.create(1234, InteractionSpec{"ping", R"([{"name":"n","type":4,"value":3}])", 99u << 22, g.id, g.id + 1});
  auto d = json::parse(interaction_create_data(w, in, 777)).as_object();
  EXPECT_EQ(d.at("id").as_string(), "1234");
  EXPECT_EQ(d.at("type").as_int64(), 2);
  EXPECT_EQ(d.at("token").as_string(), in.token);
  EXPECT_EQ(d.at("application_id").as_string(), std::to_string(w.application_id()));
  EXPECT_EQ(d.at("guild_id").as_string(), std::to_string(g.id));
  EXPECT_EQ(d.at("data").at("id").as_string(), "777");
  EXPECT_EQ(d.at("data").at("name").as_string(), "ping");
  EXPECT_EQ(d.at("data").at("options").at(0).at("value").as_int64(), 3);
  EXPECT_EQ(d.at("member").at("user").at("id").as_string(), std::to_string(99u << 22));

  auto m = json::parse(user_message_data(55, 1767225600000ULL, g.id, g.id + 1, 99u << 22, "hi \"there\"")).as_object();
  EXPECT_EQ(m.at("content").as_string(), "hi \"there\"");
  EXPECT_EQ(m.at("author").at("id").as_string(), std::to_string(99u << 22));
  EXPECT_FALSE(m.at("member").as_object().contains("user"));
}
