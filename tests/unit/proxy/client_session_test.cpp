// The endpoint's gateway protocol, driven frame by frame with a manual clock: what a bot's
// library sees (READY, GUILD_CREATEs, its own sequence numbers, RESUME), every close code for
// bad input, and member chunks going back only to the client that asked.

#include "proxy/client_session.hpp"
#include "proxy/endpoint.hpp"
#include "proxy/resumable_session.hpp"

#include "core/clock.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shardline::proxy {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kToken = "bot-token";

// A connection's outbound side: keeps what was sent, and can play a slow client.
struct FakeOutput : ClientOutput {
  std::vector<json::value> frames;
  std::optional<std::uint16_t> close_code;
  std::string close_reason;
  std::size_t capacity = 1'000'000;
  bool send(std::string frame) override {
    if (frames.size() >= capacity) return false;
    frames.push_back(json::parse(frame));
    return true;
  }
  void close(std::uint16_t code, std::string reason) override {
    close_code = code;
    close_reason = std::move(reason);
  }
  // Dispatches sent so far: (t, s).
  std::vector<std::pair<std::string, std::uint64_t>> dispatches() const {
    std::vector<std::pair<std::string, std::uint64_t>> out;
    for (auto& f : frames)
      if (f.at("op").to_number<int>() == 0)
        out.emplace_back(std::string(f.at("t").as_string()), f.at("s").to_number<std::uint64_t>());
    return out;
  }
  const json::value& last() const { return frames.back(); }
};

// One client: its output and protocol state.
struct Client {
  FakeOutput out;
  std::unique_ptr<ClientSession> session;
  Client(Endpoint& e) : session(std::make_unique<ClientSession>(e, out)) { session->start(); }
  void say(const json::value& v) { session->on_text(json::serialize(v)); }
  void identify(std::uint32_t shard = 0, std::uint32_t count = 2, std::string token = kToken) {
    say({{"op", 2},
         {"d", {{"token", token}, {"intents", 513}, {"properties", json::object{}}, {"shard", {shard, count}}}}});
  }
  void resume(const std::string& id, std::uint64_t seq, std::string token = kToken) {
    say({{"op", 6}, {"d", {{"token", token}, {"session_id", id}, {"seq", seq}}}});
  }
  std::string session_id() const {
    for (auto& f : out.frames)
      if (f.at("op").to_number<int>() == 0 && f.at("t").as_string() == "READY")
        return std::string(f.at("d").at("session_id").as_string());
    return {};
  }
};

class ClientSessionTest : public ::testing::Test {
protected:
  ClientSessionTest() {
    EndpointSettings s;
    s.token = kToken;
    s.shard_count = 2;
    s.ws_url = "ws://127.0.0.1:9999";
    s.limits.heartbeat_interval = 1000ms;
    s.limits.identify_timeout = 5000ms;
    s.resume_events = 100;
    s.resume_for = 60s;
    endpoint = std::make_unique<Endpoint>(s, clock.clock());
    endpoint->set_command_sink([this](std::uint32_t shard, int op, std::string_view d) {
      sent.push_back({shard, op, json::parse(d)});
      return true;
    });
    feed = &endpoint->add_shard(0);
  }

  void shard_ready(std::initializer_list<std::uint64_t> guilds) {
    json::array list;
    for (auto g : guilds) list.push_back({{"id", std::to_string(g)}, {"unavailable", true}});
    feed->on_dispatch("READY", json::serialize(json::object{{"v", 10},
                                                            {"session_id", "discord-session"},
                                                            {"resume_gateway_url", "wss://discord"},
                                                            {"user", {{"id", "42"}, {"username", "bot"}}},
                                                            {"application", {{"id", "42"}}},
                                                            {"guilds", std::move(list)}}));
    for (auto g : guilds) guild_create(g);
  }
  void guild_create(std::uint64_t g) {
    feed->on_dispatch("GUILD_CREATE",
                      json::serialize(json::object{{"id", std::to_string(g)}, {"name", "g"}, {"channels", json::array{}}}));
  }
  void message(int n) { feed->on_dispatch("MESSAGE_CREATE", json::serialize(json::object{{"id", std::to_string(n)}})); }

  struct Sent {
    std::uint32_t shard;
    int op;
    json::value d;
  };

  ManualClock clock;
  std::unique_ptr<Endpoint> endpoint;
  ShardFeed* feed = nullptr;
  std::vector<Sent> sent;
};

TEST_F(ClientSessionTest, HelloCarriesTheHeartbeatInterval) {
  Client c(*endpoint);
  ASSERT_EQ(c.out.frames.size(), 1u);
  EXPECT_EQ(c.out.frames[0].at("op").to_number<int>(), 10);
  EXPECT_EQ(c.out.frames[0].at("d").at("heartbeat_interval").to_number<int>(), 1000);
}

TEST_F(ClientSessionTest, IdentifyGetsReadyFromTheCacheThenOneGuildCreatePerGuildNumberedFromOne) {
  shard_ready({100, 200});
  Client c(*endpoint);
  c.identify();
  auto d = c.out.dispatches();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0], std::make_pair(std::string("READY"), std::uint64_t{1}));
  EXPECT_EQ(d[1], std::make_pair(std::string("GUILD_CREATE"), std::uint64_t{2}));
  EXPECT_EQ(d[2], std::make_pair(std::string("GUILD_CREATE"), std::uint64_t{3}));
  auto& ready = c.out.frames[1].at("d").as_object();
  // The client's own session, resumed at this endpoint; never the shard's Discord session.
  EXPECT_NE(ready.at("session_id").as_string(), "discord-session");
  EXPECT_EQ(ready.at("resume_gateway_url").as_string(), "ws://127.0.0.1:9999");
  EXPECT_EQ(ready.at("shard").as_array()[1].to_number<int>(), 2);
  EXPECT_EQ(ready.at("guilds").as_array().size(), 2u);
  EXPECT_FALSE(c.out.close_code);
}

TEST_F(ClientSessionTest, LiveDispatchesContinueEachClientsOwnSequenceAndEveryClientGetsEvery) {
  shard_ready({100});
  Client a(*endpoint);
  a.identify();
  message(1); // a: seq 3
  Client b(*endpoint);
  b.identify(); // b: READY 1, GUILD_CREATE 2
  message(2);
  message(3);
  auto da = a.out.dispatches(), db = b.out.dispatches();
  ASSERT_EQ(da.size(), 5u);
  EXPECT_EQ(da[4], std::make_pair(std::string("MESSAGE_CREATE"), std::uint64_t{5}));
  ASSERT_EQ(db.size(), 4u);
  EXPECT_EQ(db[2], std::make_pair(std::string("MESSAGE_CREATE"), std::uint64_t{3}));
  EXPECT_EQ(b.out.frames.back().at("d").at("id").as_string(), "3");
  EXPECT_EQ(feed->client_count(), 2u);
  // The shard's own READY/RESUMED later (its reconnects) are not the clients' business.
  feed->on_dispatch("RESUMED", "{}");
  EXPECT_EQ(a.out.dispatches().size(), 5u);
}

TEST_F(ClientSessionTest, IdentifyBeforeTheShardIsReadyWaitsForItsReady) {
  Client c(*endpoint);
  c.identify();
  EXPECT_TRUE(c.out.dispatches().empty());
  EXPECT_FALSE(c.out.close_code);
  shard_ready({100, 200}); // READY: the client's READY lists both; GUILD_CREATEs then arrive live
  auto d = c.out.dispatches();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].first, "READY");
  EXPECT_EQ(d[2], std::make_pair(std::string("GUILD_CREATE"), std::uint64_t{3}));
}

TEST_F(ClientSessionTest, HeartbeatsAreAcked) {
  Client c(*endpoint);
  c.say({{"op", 1}, {"d", nullptr}});
  EXPECT_EQ(c.out.last().at("op").to_number<int>(), 11);
}

TEST_F(ClientSessionTest, WrongTokenCloses4004) {
  shard_ready({100});
  Client c(*endpoint);
  c.identify(0, 2, "not-the-token");
  EXPECT_EQ(c.out.close_code, 4004);
  EXPECT_EQ(endpoint->session_count(), 0u);
}

TEST_F(ClientSessionTest, TokenWithTheBotPrefixIsAccepted) {
  shard_ready({100});
  Client c(*endpoint);
  c.identify(0, 2, std::string("Bot ") + kToken);
  EXPECT_FALSE(c.out.close_code);
  EXPECT_EQ(c.out.dispatches().size(), 2u);
}

TEST_F(ClientSessionTest, AShardHeldElsewhereCloses4010NamingItsCluster) {
  endpoint->set_holder_lookup([](std::uint32_t shard, std::uint32_t count) -> std::optional<std::string> {
    if (shard == 1 && count == 2) return "cluster-7";
    return std::nullopt;
  });
  Client c(*endpoint);
  c.identify(1, 2);
  EXPECT_EQ(c.out.close_code, 4010);
  EXPECT_NE(c.out.close_reason.find("cluster-7"), std::string::npos) << c.out.close_reason;
}

TEST_F(ClientSessionTest, AShardNobodyIsKnownToHoldCloses4010SayingWhatIsHeldHere) {
  Client c(*endpoint);
  c.identify(1, 2);
  EXPECT_EQ(c.out.close_code, 4010);
  EXPECT_NE(c.out.close_reason.find("holds 0"), std::string::npos) << c.out.close_reason;
}

TEST_F(ClientSessionTest, AnotherShardCountCloses4010) {
  Client c(*endpoint);
  c.identify(0, 4);
  EXPECT_EQ(c.out.close_code, 4010);
  EXPECT_NE(c.out.close_reason.find("2 shards"), std::string::npos) << c.out.close_reason;
}

TEST_F(ClientSessionTest, IdentifyTwiceCloses4005) {
  shard_ready({100});
  Client c(*endpoint);
  c.identify();
  c.identify();
  EXPECT_EQ(c.out.close_code, 4005);
}

TEST_F(ClientSessionTest, ResumeAfterIdentifyCloses4005) {
  shard_ready({100});
  Client c(*endpoint);
  c.identify();
  c.resume(c.session_id(), 2);
  EXPECT_EQ(c.out.close_code, 4005);
}

TEST_F(ClientSessionTest, ACommandBeforeIdentifyCloses4003) {
  Client c(*endpoint);
  c.say({{"op", 3}, {"d", {{"status", "online"}}}});
  EXPECT_EQ(c.out.close_code, 4003);
  EXPECT_TRUE(sent.empty());
}

TEST_F(ClientSessionTest, NoIdentifyInTimeCloses4003) {
  Client c(*endpoint);
  clock.advance(900ms);
  c.say({{"op", 1}, {"d", nullptr}}); // heartbeats alone do not authenticate
  clock.advance(900ms);
  c.say({{"op", 1}, {"d", nullptr}});
  c.session->tick();
  EXPECT_FALSE(c.out.close_code);
  for (int i = 0; i < 4; ++i) {
    clock.advance(900ms);
    c.say({{"op", 1}, {"d", nullptr}});
  }
  c.session->tick();
  EXPECT_EQ(c.out.close_code, 4003);
}

TEST_F(ClientSessionTest, NoHeartbeatWithinOneAndAHalfIntervalsCloses4009AndEndsTheSession) {
  shard_ready({100});
  Client c(*endpoint);
  c.identify();
  clock.advance(1400ms);
  c.session->tick();
  EXPECT_FALSE(c.out.close_code);
  clock.advance(200ms);
  c.session->tick();
  EXPECT_EQ(c.out.close_code, 4009);
  EXPECT_EQ(endpoint->session_count(), 0u); // 4009: start a new session
}

TEST_F(ClientSessionTest, OversizeMalformedAndBinaryClose4002) {
  Client big(*endpoint);
  big.session->on_text(std::string(4097, ' '));
  EXPECT_EQ(big.out.close_code, 4002);
  Client bad(*endpoint);
  bad.session->on_text("{\"op\":");
  EXPECT_EQ(bad.out.close_code, 4002);
  Client no_op(*endpoint);
  no_op.session->on_text("[1,2]");
  EXPECT_EQ(no_op.out.close_code, 4002);
  Client bin(*endpoint);
  bin.session->on_binary();
  EXPECT_EQ(bin.out.close_code, 4002);
}

TEST_F(ClientSessionTest, UnknownOpcodeCloses4001) {
  Client c(*endpoint);
  c.say({{"op", 42}, {"d", nullptr}});
  EXPECT_EQ(c.out.close_code, 4001);
}

TEST_F(ClientSessionTest, MoreThan120CommandsA60SecondWindowCloses4008) {
  Client c(*endpoint);
  for (int i = 0; i < 120; ++i) c.say({{"op", 1}, {"d", nullptr}});
  EXPECT_FALSE(c.out.close_code);
  clock.advance(30s);
  c.say({{"op", 1}, {"d", nullptr}});
  EXPECT_EQ(c.out.close_code, 4008);
}

TEST_F(ClientSessionTest, CommandsSpreadOverTheWindowAreFine) {
  Client c(*endpoint);
  for (int i = 0; i < 300; ++i) {
    clock.advance(600ms);
    c.say({{"op", 1}, {"d", nullptr}});
  }
  EXPECT_FALSE(c.out.close_code);
}

TEST_F(ClientSessionTest, PresenceAndVoiceUpdatesGoToDiscordThroughTheShard) {
  shard_ready({100});
  Client c(*endpoint);
  c.identify();
  c.say({{"op", 3}, {"d", {{"status", "idle"}, {"afk", false}, {"since", nullptr}, {"activities", json::array{}}}}});
  c.say({{"op", 4}, {"d", {{"guild_id", "100"}, {"channel_id", nullptr}, {"self_mute", false}, {"self_deaf", false}}}});
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].shard, 0u);
  EXPECT_EQ(sent[0].op, 3);
  EXPECT_EQ(sent[0].d.at("status").as_string(), "idle");
  EXPECT_EQ(sent[1].op, 4);
}

TEST_F(ClientSessionTest, ResumeReplaysWhatTheClientMissedWithTheSameNumbersThenResumed) {
  shard_ready({100});
  Client a(*endpoint);
  a.identify();
  message(1); // seq 3
  message(2); // seq 4, lost in flight
  const auto id = a.session_id();
  a.session->on_disconnected(std::nullopt); // the process died: no close frame
  message(3);
  message(4);
  Client again(*endpoint);
  again.resume(id, 3);
  auto d = again.out.dispatches();
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0], std::make_pair(std::string("MESSAGE_CREATE"), std::uint64_t{4}));
  EXPECT_EQ(again.out.frames[1].at("d").at("id").as_string(), "2");
  EXPECT_EQ(d[2], std::make_pair(std::string("MESSAGE_CREATE"), std::uint64_t{6}));
  EXPECT_EQ(d[3], std::make_pair(std::string("RESUMED"), std::uint64_t{7}));
  message(5);
  EXPECT_EQ(again.out.dispatches().back(), std::make_pair(std::string("MESSAGE_CREATE"), std::uint64_t{8}));
  // ...and a second RESUME from before the first one's RESUMED: the events follow on from the
  // client's seq without a gap (the earlier RESUMED, not an event of the shard, is not replayed).
  again.session->on_disconnected(4000);
  Client third(*endpoint);
  third.resume(id, 5);
  auto d3 = third.out.dispatches();
  ASSERT_EQ(d3.size(), 3u);
  EXPECT_EQ(third.out.frames[1].at("d").at("id").as_string(), "4");
  EXPECT_EQ(d3[0].second, 6u);
  EXPECT_EQ(third.out.frames[2].at("d").at("id").as_string(), "5");
  EXPECT_EQ(d3[1], std::make_pair(std::string("MESSAGE_CREATE"), std::uint64_t{7}));
  EXPECT_EQ(d3[2], std::make_pair(std::string("RESUMED"), std::uint64_t{8}));
  message(6);
  EXPECT_EQ(third.out.dispatches().back(), std::make_pair(std::string("MESSAGE_CREATE"), std::uint64_t{9}));
}

TEST_F(ClientSessionTest, ResumeOfAnUnknownSessionIsAnInvalidSession) {
  Client c(*endpoint);
  c.resume("no-such-session", 5);
  EXPECT_EQ(c.out.last().at("op").to_number<int>(), 9);
  EXPECT_FALSE(c.out.last().at("d").as_bool());
  EXPECT_FALSE(c.out.close_code);
  // It may IDENTIFY on the same connection afterwards.
  shard_ready({100});
  c.identify();
  EXPECT_EQ(c.out.dispatches().front().first, "READY");
}

TEST_F(ClientSessionTest, ResumeOlderThanTheBufferIsAnInvalidSession) {
  shard_ready({100});
  Client a(*endpoint);
  a.identify();
  const auto id = a.session_id();
  a.session->on_disconnected(std::nullopt);
  for (int i = 0; i < 150; ++i) message(i); // the buffer keeps 100
  Client again(*endpoint);
  again.resume(id, 2);
  EXPECT_EQ(again.out.last().at("op").to_number<int>(), 9);
  EXPECT_EQ(endpoint->session_count(), 0u);
}

TEST_F(ClientSessionTest, ResumeWithASeqNeverSentIsAnInvalidSession) {
  shard_ready({100});
  Client a(*endpoint);
  a.identify();
  const auto id = a.session_id();
  a.session->on_disconnected(std::nullopt);
  Client again(*endpoint);
  again.resume(id, 99);
  EXPECT_EQ(again.out.last().at("op").to_number<int>(), 9);
}

TEST_F(ClientSessionTest, ResumeAfterTheClientClosedWith1000IsAnInvalidSession) {
  shard_ready({100});
  Client a(*endpoint);
  a.identify();
  const auto id = a.session_id();
  a.session->on_disconnected(1000);
  Client again(*endpoint);
  again.resume(id, 2);
  EXPECT_EQ(again.out.last().at("op").to_number<int>(), 9);
}

TEST_F(ClientSessionTest, DetachedSessionsExpire) {
  shard_ready({100});
  Client a(*endpoint);
  a.identify();
  const auto id = a.session_id();
  a.session->on_disconnected(std::nullopt);
  clock.advance(59s);
  endpoint->sweep();
  EXPECT_EQ(endpoint->session_count(), 1u);
  clock.advance(2s);
  endpoint->sweep();
  EXPECT_EQ(endpoint->session_count(), 0u);
  Client again(*endpoint);
  again.resume(id, 2);
  EXPECT_EQ(again.out.last().at("op").to_number<int>(), 9);
}

TEST_F(ClientSessionTest, ResumeWhileTheOldConnectionStillLooksAliveTakesTheSessionOver) {
  shard_ready({100});
  Client a(*endpoint);
  a.identify();
  message(1);
  Client b(*endpoint);
  b.resume(a.session_id(), 3);
  EXPECT_EQ(a.out.close_code, 4000);
  EXPECT_EQ(b.out.dispatches().back().first, "RESUMED");
  message(2);
  EXPECT_EQ(b.out.dispatches().back(), std::make_pair(std::string("MESSAGE_CREATE"), std::uint64_t{5}));
  EXPECT_EQ(feed->client_count(), 1u);
}

TEST_F(ClientSessionTest, ASlowClientIsClosedResumablyAndOthersKeepReceiving) {
  shard_ready({100});
  Client slow(*endpoint), fast(*endpoint);
  slow.identify();
  fast.identify();
  slow.out.capacity = slow.out.frames.size() + 1;
  message(1);
  message(2); // over the slow client's queue
  message(3);
  EXPECT_EQ(slow.out.close_code, 4000);
  EXPECT_EQ(fast.out.dispatches().size(), 5u);
  // Its session resumes from what it got.
  Client again(*endpoint);
  again.resume(slow.session_id(), 3);
  auto d = again.out.dispatches();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(again.out.frames[1].at("d").at("id").as_string(), "2");
}

TEST_F(ClientSessionTest, MemberChunksGoOnlyToTheClientThatAskedWithItsNonce) {
  shard_ready({100});
  Client a(*endpoint), b(*endpoint);
  a.identify();
  b.identify();
  a.say({{"op", 8}, {"d", {{"guild_id", "100"}, {"query", ""}, {"limit", 0}, {"nonce", "mine"}}}});
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].op, 8);
  const std::string proxy_nonce(sent[0].d.at("nonce").as_string());
  EXPECT_NE(proxy_nonce, "mine");
  EXPECT_LE(proxy_nonce.size(), 32u);
  auto chunk = [&](int index, int count) {
    feed->on_dispatch("GUILD_MEMBERS_CHUNK", json::serialize(json::object{{"guild_id", "100"},
                                                                          {"members", json::array{}},
                                                                          {"chunk_index", index},
                                                                          {"chunk_count", count},
                                                                          {"nonce", proxy_nonce}}));
  };
  chunk(0, 2);
  message(1);
  chunk(1, 2);
  auto da = a.out.dispatches(), db = b.out.dispatches();
  ASSERT_EQ(da.size(), 5u);
  EXPECT_EQ(da[2], std::make_pair(std::string("GUILD_MEMBERS_CHUNK"), std::uint64_t{3}));
  EXPECT_EQ(a.out.frames[3].at("d").at("nonce").as_string(), "mine");
  EXPECT_EQ(da[4], std::make_pair(std::string("GUILD_MEMBERS_CHUNK"), std::uint64_t{5}));
  ASSERT_EQ(db.size(), 3u); // READY, GUILD_CREATE, the message: numbered without the gap
  EXPECT_EQ(db[2], std::make_pair(std::string("MESSAGE_CREATE"), std::uint64_t{3}));
  EXPECT_EQ(feed->member_requests(), 0u); // the last chunk ended the request
  // A chunk nobody asked for through the endpoint (no nonce) goes to everyone.
  feed->on_dispatch("GUILD_MEMBERS_CHUNK", R"({"guild_id":"100","members":[],"chunk_index":0,"chunk_count":1})");
  EXPECT_EQ(b.out.dispatches().back(), std::make_pair(std::string("GUILD_MEMBERS_CHUNK"), std::uint64_t{4}));
  // b resumes from before the others' chunks: it gets its own events, numbered as before.
  const auto id = b.session_id();
  b.session->on_disconnected(std::nullopt);
  Client again(*endpoint);
  again.resume(id, 2);
  auto d = again.out.dispatches();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0], std::make_pair(std::string("MESSAGE_CREATE"), std::uint64_t{3}));
  EXPECT_EQ(d[1], std::make_pair(std::string("GUILD_MEMBERS_CHUNK"), std::uint64_t{4}));
}

TEST_F(ClientSessionTest, AMemberRequestWithoutANonceGetsChunksWithoutOne) {
  shard_ready({100});
  Client a(*endpoint);
  a.identify();
  a.say({{"op", 8}, {"d", {{"guild_id", "100"}, {"query", ""}, {"limit", 0}}}});
  ASSERT_EQ(sent.size(), 1u);
  feed->on_dispatch("GUILD_MEMBERS_CHUNK", json::serialize(json::object{{"guild_id", "100"},
                                                                        {"chunk_index", 0},
                                                                        {"chunk_count", 1},
                                                                        {"nonce", sent[0].d.at("nonce")}}));
  EXPECT_EQ(a.out.last().at("t").as_string(), "GUILD_MEMBERS_CHUNK");
  EXPECT_FALSE(a.out.last().at("d").as_object().contains("nonce"));
}

} // namespace
} // namespace shardline::proxy
