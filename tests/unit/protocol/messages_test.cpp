// The typed messages (protocol/messages.hpp, hub_messages.hpp): what a peer may send is read or
// refused with the field named, what Shardline writes reads back the same, and the wire forms
// other peers rely on (null latencies, numeric author ids, error-only answers) hold.

#include "protocol/hub_messages.hpp"
#include "protocol/messages.hpp"
#include "protocol/ops.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace shardline::protocol {
namespace {

template <class T>
Result<T> from_text(std::string_view text) {
  return decode<T>(json::parse(text));
}

template <class T>
T round_trip(const T& m) {
  auto back = decode<T>(json::value_from(m));
  EXPECT_TRUE(back) << back.error().message;
  return back ? *back : T{};
}

const char* kNonce = "00112233445566778899aabbccddeeff";

TEST(AuthMessage, VersionTwoRoundTrips) {
  Auth a;
  a.proto = 2;
  a.cluster_name = "eu-1";
  a.shard_ids = {4, 5};
  a.shard_count = 8;
  a.guild_count = 1200;
  a.role = "admin";
  a.instance = "abcd";
  a.generation = 1700000000000;
  a.client_nonce = kNonce;
  auto b = round_trip(a);
  EXPECT_EQ(b.proto, 2);
  EXPECT_EQ(b.cluster_name, "eu-1");
  EXPECT_EQ(b.shard_ids, (std::vector<std::uint32_t>{4, 5}));
  EXPECT_EQ(b.shard_count, 8u);
  EXPECT_EQ(b.guild_count, 1200u);
  EXPECT_TRUE(b.admin());
  EXPECT_EQ(b.generation, 1700000000000);
  EXPECT_EQ(b.client_nonce, kNonce);
  EXPECT_FALSE(b.secret);
  EXPECT_FALSE(json::value_from(a).as_object().contains("secret")); // the secret never goes out in v2
}

TEST(AuthMessage, VersionOneCarriesTheSecretAndNothingOfVersionTwo) {
  auto a = from_text<Auth>(R"({"secret":"s","cluster_name":"py-1","shard_ids":[0,1],"shard_count":2,"guild_count":5})");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->proto, 1);
  EXPECT_EQ(a->secret, "s");
  EXPECT_EQ(a->role, "cluster");
  // Any proto other than the number 2 is version 1, which then needs the secret.
  auto no_secret = from_text<Auth>(R"({"proto":"2","cluster_name":"py-1"})");
  ASSERT_FALSE(no_secret);
  EXPECT_NE(no_secret.error().message.find("secret"), std::string::npos) << no_secret.error().message;
}

TEST(AuthMessage, RefusesWhatWouldMisrouteAndNamesTheField) {
  const std::pair<const char*, const char*> bad[] = {
      {R"({"proto":2,"cluster_name":"all","client_nonce":"00112233445566778899aabbccddeeff"})", "cluster_name"},
      {R"({"proto":2,"cluster_name":"a b","client_nonce":"00112233445566778899aabbccddeeff"})", "cluster_name"},
      {R"({"proto":2,"client_nonce":"00112233445566778899aabbccddeeff"})", "cluster_name"},
      {R"({"proto":2,"cluster_name":"a","shard_ids":["1"],"client_nonce":"00112233445566778899aabbccddeeff"})",
       "shard_ids[0]"},
      {R"({"proto":2,"cluster_name":"a","shard_ids":[1048576],"client_nonce":"00112233445566778899aabbccddeeff"})",
       "shard_ids"},
      {R"({"proto":2,"cluster_name":"a","shard_count":-1,"client_nonce":"00112233445566778899aabbccddeeff"})",
       "shard_count"},
      {R"({"proto":2,"cluster_name":"a","guild_count":1.5,"client_nonce":"00112233445566778899aabbccddeeff"})",
       "guild_count"},
      {R"({"proto":2,"cluster_name":"a","role":"root","client_nonce":"00112233445566778899aabbccddeeff"})", "role"},
      {R"({"proto":2,"cluster_name":"a","client_nonce":"0011"})", "client_nonce"},
      {R"({"proto":2,"cluster_name":"a","client_nonce":"00112233445566778899AABBCCDDEEFF"})", "client_nonce"},
      {R"({"proto":2,"cluster_name":"a","generation":-3,"client_nonce":"00112233445566778899aabbccddeeff"})",
       "generation"},
  };
  for (auto& [text, field] : bad) {
    auto a = from_text<Auth>(text);
    ASSERT_FALSE(a) << text;
    EXPECT_TRUE(a.error().is(Errc::bad_input));
    EXPECT_NE(a.error().message.find(field), std::string::npos) << text << " -> " << a.error().message;
  }
  auto long_instance = json::parse(R"({"proto":2,"cluster_name":"a","client_nonce":"00112233445566778899aabbccddeeff"})");
  long_instance.as_object()["instance"] = std::string(129, 'i');
  EXPECT_FALSE(decode<Auth>(long_instance));
}

TEST(AuthMessage, TheLargestShardCountTheSettingsAllowIsAccepted) {
  // SHARD_COUNT may be 2^20: ids 0..2^20-1.
  auto ok = from_text<Auth>(R"({"proto":2,"cluster_name":"a","shard_ids":[1048575],"shard_count":1048576,
                                "client_nonce":"00112233445566778899aabbccddeeff"})");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->shard_count, 1048576u);
  EXPECT_FALSE(from_text<Auth>(R"({"proto":2,"cluster_name":"a","shard_count":1048577,
                                   "client_nonce":"00112233445566778899aabbccddeeff"})"));
}

TEST(AuthResponseMessage, RefusalCarriesOnlyTheError) {
  auto o = to_data(AuthResponse{false, "Invalid secret"});
  EXPECT_EQ(json::serialize(o), R"({"success":false,"error":"Invalid secret"})");
  AuthResponse ok;
  ok.success = true;
  ok.server_cluster = "hub";
  ok.connected_clients = {"a", "b"};
  ok.proto = 2;
  ok.server_mac = "ff";
  auto back = round_trip(ok);
  EXPECT_TRUE(back.success);
  EXPECT_EQ(back.connected_clients, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(back.server_mac, "ff");
  EXPECT_EQ(back.proto, 2);
}

TEST(ClusterStatsMessage, ReadsWhatVersionOnePeersSendLeniently) {
  // Python peers: a null latency (NaN already read as null), float counts, missing fields,
  // strings where numbers belong; nothing of it is refused, what is unreadable reads as absent.
  auto s = from_text<ClusterStats>(R"({"cluster_name":"py","guild_count":12.0,"user_count":"many","latency":null,
                                       "shard_ids":[0,"x",2],"uptime":-1,"extra":{"a":1}})");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->guild_count, 12u);
  EXPECT_EQ(s->user_count, 0u);
  EXPECT_FALSE(s->latency);
  EXPECT_EQ(s->shard_ids, (std::vector<std::uint32_t>{0, 2}));
  auto huge = from_text<ClusterStats>(R"({"guild_count":1e30,"user_count":-5})");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->guild_count, UINT64_MAX); // saturates instead of an undefined conversion
  EXPECT_EQ(huge->user_count, 0u);
}

TEST(ClusterStatsMessage, NeverWritesNaN) {
  ClusterStats s;
  s.cluster_name = "c";
  s.latency = std::numeric_limits<double>::quiet_NaN();
  auto text = json::serialize(json::value_from(s));
  EXPECT_EQ(text.find("NaN"), std::string::npos) << text;
  EXPECT_TRUE(json::parse(text).as_object().at("latency").is_null());
  s.latency = 0.25;
  s.active = false;
  s.layout = 16;
  auto back = round_trip(s);
  EXPECT_EQ(back.latency, 0.25);
  EXPECT_EQ(back.active, false);
  EXPECT_EQ(back.layout, 16u);
}

TEST(BroadcastMessage, CutAtFiveHundredCharactersAndAuthorIdEitherWay) {
  auto b = from_text<Broadcast>(R"({"message":")" + std::string(600, 'x') + R"(","author_id":"175928847299117063"})");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->message.size(), 500u);
  EXPECT_EQ(b->author, "?");
  EXPECT_EQ(b->author_id, 175928847299117063ull);
  EXPECT_TRUE(json::value_from(*b).as_object().at("author_id").is_number()); // as the seed writes it
}

TEST(LayoutMessage, NeedsABoolean) {
  EXPECT_TRUE(from_text<Layout>(R"({"active":false})"));
  auto bad = from_text<Layout>(R"({"active":"yes"})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("active"), std::string::npos);
}

TEST(HubStatusMessage, RoundTripsWithClientsAndTheirStats) {
  HubStatus h;
  h.hub = "hub";
  h.mode = "server";
  h.port = 20000;
  h.legacy_auth = true;
  h.identify.budget_remaining = 7;
  h.thresholds.stats_hide_s = 30;
  HubClient c;
  c.name = "a";
  c.role = "cluster";
  c.shard_ids = {1};
  c.health = "yellow";
  c.stats = ClusterStats{};
  c.stats->guild_count = 9;
  c.stats_age = 3;
  h.clients = {c, HubClient{"dash", "admin"}};
  auto back = round_trip(h);
  EXPECT_EQ(back.port, 20000);
  EXPECT_TRUE(back.legacy_auth);
  EXPECT_EQ(back.identify.budget_remaining, 7u);
  EXPECT_EQ(back.thresholds.stats_hide_s, 30);
  ASSERT_EQ(back.clients.size(), 2u);
  EXPECT_EQ(back.clients[0].stats->guild_count, 9u);
  ASSERT_EQ(back.clusters().size(), 1u);
  EXPECT_EQ(back.clusters()[0]->name, "a");
  // Unknown is null on the wire, not 0.
  h.identify.budget_remaining.reset();
  EXPECT_TRUE(json::value_from(h).at("identify").at("budget_remaining").is_null());
}

TEST(LaunchMessages, AnswersKeepTheirWireForms) {
  EXPECT_EQ(json::serialize(to_data(LaunchStarted{false, "a reshard is under way"})),
            R"({"error":"a reshard is under way"})");
  LaunchStarted restart{true};
  restart.clusters = 4;
  EXPECT_EQ(json::serialize(to_data(restart)), R"({"started":true,"clusters":4})");
  LaunchStarted reshard{true};
  reshard.from = 8;
  reshard.to = 16;
  EXPECT_EQ(json::serialize(to_data(reshard)), R"({"started":true,"from":8,"to":16})");
  auto q = from_text<LaunchRequest>(R"({"action":"reshard","shards":"16"})");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->shards, 16u);
  EXPECT_FALSE(from_text<LaunchRequest>(R"({"action":"reshard","shards":-1})"));
}

TEST(Ops, EveryOpOfTheTableIsClassifiedAndNothingElse) {
  for (auto& o : kOps) EXPECT_EQ(classify(o.name), o.kind) << o.name;
  for (auto unknown : {"", "Heartbeat", "eval", "stats_broadcast ", "shard:1"}) EXPECT_EQ(classify(unknown), OpKind::unknown);
  // What a client may never send.
  for (auto hub_only : {"auth_challenge", "heartbeat_ack", "fanout", "identify_grant", "cluster_join"})
    EXPECT_EQ(classify(hub_only), OpKind::hub_only) << hub_only;
}

} // namespace
} // namespace shardline::protocol
