// The hub's rules without sockets (docs/protocol.md §3, §5): who may join under which name, where
// a frame goes, which shard count guild targets use, and what version-1 peers need.

#include "core/sharding.hpp"
#include "hub/admission.hpp"
#include "hub/directory.hpp"
#include "hub/legacy_v1.hpp"
#include "hub/router.hpp"
#include "protocol/body.hpp"

#include <gtest/gtest.h>

namespace shardline::hub {
namespace {

namespace json = boost::json;

constexpr std::string_view kSecret = "unit-test-secret-0123456789abcdef";
constexpr const char* kNonce = "00112233445566778899aabbccddeeff";

Member cluster(std::string name, std::vector<std::uint32_t> shards = {}, std::uint32_t count = 0) {
  Member m;
  m.name = std::move(name);
  m.proto = 2;
  m.shard_ids = std::move(shards);
  m.shard_count = count;
  return m;
}

Member admin(std::string name) {
  auto m = cluster(std::move(name));
  m.role = Member::Role::admin;
  return m;
}

std::vector<std::string> names(const Route& r) {
  std::vector<std::string> out;
  for (auto* m : r.to) out.push_back(m->name);
  return out;
}

std::string frame(std::string_view op, const json::object& data) {
  return json::serialize(json::object{{"op", op}, {"data", data}});
}

// ---- first frame --------------------------------------------------------------------------------

TEST(HubAdmission, FirstFrameMustBeAnAuthFrame) {
  using Next = FirstFrame::Next;
  EXPECT_EQ(judge_first_frame("not json", false, kSecret).next, Next::close);
  EXPECT_EQ(judge_first_frame("[1]", false, kSecret).next, Next::close);
  EXPECT_EQ(judge_first_frame(frame("heartbeat", {}), false, kSecret).next, Next::close);
  EXPECT_EQ(judge_first_frame(R"({"op":"auth","data":5})", false, kSecret).next, Next::close);
}

TEST(HubAdmission, VersionTwoGetsAChallengeWithWhatItAnnounced) {
  auto f = judge_first_frame(frame("auth", {{"proto", 2}, {"cluster_name", "eu-1"}, {"shard_ids", json::array{3, 4}},
                                            {"shard_count", 8}, {"client_nonce", kNonce}, {"role", "cluster"}}),
                             false, kSecret);
  ASSERT_EQ(f.next, FirstFrame::Next::challenge) << f.reason;
  EXPECT_EQ(f.auth.cluster_name, "eu-1");
  EXPECT_EQ(f.auth.shard_ids, (std::vector<std::uint32_t>{3, 4}));
}

TEST(HubAdmission, MalformedAuthIsInvalidAuthWhateverTheVersion) {
  for (auto data : {json::object{{"proto", 2}, {"cluster_name", "all"}, {"client_nonce", kNonce}},
                    json::object{{"proto", 2}, {"cluster_name", "a"}, {"client_nonce", "zz"}},
                    json::object{{"secret", kSecret}, {"cluster_name", "a"}, {"shard_ids", "0,1"}},
                    json::object{{"cluster_name", "a"}}}) {
    auto f = judge_first_frame(frame("auth", data), true, kSecret);
    EXPECT_EQ(f.next, FirstFrame::Next::refuse) << json::serialize(data);
    EXPECT_EQ(f.reason, "Invalid auth") << json::serialize(data);
  }
}

TEST(HubAdmission, VersionOneOnlyWithLegacyAuthAndTheRightSecret) {
  auto v1 = [](std::string_view secret) {
    return frame("auth", {{"secret", secret}, {"cluster_name", "py-1"}, {"shard_ids", json::array{0}}, {"shard_count", 1}});
  };
  auto off = judge_first_frame(v1(kSecret), false, kSecret);
  EXPECT_EQ(off.next, FirstFrame::Next::refuse);
  EXPECT_EQ(off.reason, "Legacy auth disabled");
  auto wrong = judge_first_frame(v1("guess"), true, kSecret);
  EXPECT_EQ(wrong.next, FirstFrame::Next::refuse);
  EXPECT_EQ(wrong.reason, "Invalid secret");
  auto ok = judge_first_frame(v1(kSecret), true, kSecret);
  EXPECT_EQ(ok.next, FirstFrame::Next::accept);
  EXPECT_EQ(ok.auth.proto, 1);
  // Python's NaN is read as null in legacy mode only.
  auto nan = std::string(R"({"op":"auth","data":{"secret":")") + std::string(kSecret) +
             R"(","cluster_name":"py-1","guild_count":NaN}})";
  EXPECT_EQ(judge_first_frame(nan, true, kSecret).next, FirstFrame::Next::accept);
  EXPECT_EQ(judge_first_frame(nan, false, kSecret).next, FirstFrame::Next::close);
}

TEST(HubAdmission, ProofIsTheClientMacOfThisExchange) {
  const std::string sn = "ffeeddccbbaa99887766554433221100";
  auto mac = protocol::client_mac(kSecret, "eu-1", kNonce, sn);
  EXPECT_TRUE(proof_ok(kSecret, "eu-1", kNonce, sn, mac));
  EXPECT_FALSE(proof_ok(kSecret, "eu-2", kNonce, sn, mac));     // another name
  EXPECT_FALSE(proof_ok("other-secret", "eu-1", kNonce, sn, mac)); // another secret
  EXPECT_FALSE(proof_ok(kSecret, "eu-1", kNonce, sn, protocol::server_mac(kSecret, "eu-1", kNonce, sn)));
  EXPECT_FALSE(proof_ok(kSecret, "eu-1", kNonce, sn, ""));
}

// ---- names ----------------------------------------------------------------------------------------

TEST(HubAdmission, NameRules) {
  using Kind = Admission::Kind;
  Directory d;
  auto old = cluster("eu-1");
  old.instance = "proc-a";
  old.generation = 100;
  d.add(old);

  auto fresh = cluster("eu-2");
  EXPECT_EQ(judge_name(d, fresh, "hub", "").kind, Kind::accept);

  auto same_process = cluster("eu-1");
  same_process.instance = "proc-a";
  auto r = judge_name(d, same_process, "hub", "");
  EXPECT_EQ(r.kind, Kind::replace);
  EXPECT_EQ(r.old, &old);

  auto newer = cluster("eu-1");
  newer.instance = "proc-b";
  newer.generation = 101;
  EXPECT_EQ(judge_name(d, newer, "hub", "").kind, Kind::supersede);

  auto older = newer;
  older.generation = 99;
  EXPECT_EQ(judge_name(d, older, "hub", "").kind, Kind::refuse);
  auto equal = newer;
  equal.generation = 100;
  EXPECT_EQ(judge_name(d, equal, "hub", "").kind, Kind::refuse);

  // A version-1 peer has no generation to prove it is newer.
  auto v1 = newer;
  v1.proto = 1;
  v1.instance.clear();
  EXPECT_EQ(judge_name(d, v1, "hub", "").kind, Kind::refuse);
}

TEST(HubAdmission, TheHubsOwnNameIsOnlyForTheClusterItRunsIn) {
  using Kind = Admission::Kind;
  Directory d;
  auto impostor = cluster("cluster-0");
  impostor.instance = "x";
  impostor.generation = 1LL << 50; // no generation takes it
  EXPECT_EQ(judge_name(d, impostor, "cluster-0", "local").kind, Kind::refuse);
  EXPECT_EQ(judge_name(d, impostor, "cluster-0", "").kind, Kind::refuse); // standalone hub: nobody
  auto local = cluster("cluster-0");
  local.instance = "local";
  EXPECT_EQ(judge_name(d, local, "cluster-0", "local").kind, Kind::accept);
}

// ---- directory and routing -----------------------------------------------------------------------

TEST(HubDirectory, ShardOwnersAndGuildLayoutByMajorityOfOwners) {
  Directory d;
  auto a = cluster("a", {0, 1}, 4), b = cluster("b", {2, 3}, 4), c = cluster("c", {0, 1, 2}, 3),
       tool = cluster("monitor", {}, 7);
  EXPECT_FALSE(d.add(a));
  EXPECT_FALSE(d.add(b));
  EXPECT_FALSE(d.add(tool)); // owns no shards: does not vote
  EXPECT_EQ(d.guild_shard_count(), 4u);
  EXPECT_TRUE(d.add(c)); // another layout: the hub warns
  EXPECT_EQ(d.guild_shard_count(), 4u); // two owners say 4, one says 3
  EXPECT_EQ(d.owner_of(3), &b);
  EXPECT_EQ(d.owner_of(0), &c); // the latest to announce a shard owns it
  EXPECT_EQ(d.owner_of(9), nullptr);
  EXPECT_TRUE(d.remove(a));
  EXPECT_TRUE(d.remove(b));
  EXPECT_EQ(d.guild_shard_count(), 3u);
  EXPECT_FALSE(d.remove(a)); // not registered any more
  EXPECT_EQ(d.clusters().size(), 2u);
}

TEST(HubDirectory, RemoveOnlyTheRegisteredHolderOfAName) {
  Directory d;
  auto first = cluster("x", {0}, 1), second = cluster("x", {0}, 1);
  d.add(first);
  d.add(second); // replaced under the name (the hub settled the conflict)
  EXPECT_EQ(d.find("x"), &second);
  EXPECT_FALSE(d.remove(first)); // the old connection closing later must not unregister the new
  EXPECT_EQ(d.find("x"), &second);
}

TEST(HubRouter, EveryTargetKind) {
  Directory d;
  auto a = cluster("a", {0, 1}, 4), b = cluster("b", {2, 3}, 4), dash = admin("dash");
  d.add(a);
  d.add(b);
  d.add(dash);

  auto all = route(d, "all", a, false);
  EXPECT_TRUE(all.fanout);
  EXPECT_EQ(names(all), (std::vector<std::string>{"b"})); // never the sender, never admins
  EXPECT_EQ(names(route(d, "", dash, false)), (std::vector<std::string>{"a", "b"}));

  EXPECT_EQ(names(route(d, "b", a, false)), (std::vector<std::string>{"b"}));
  EXPECT_EQ(names(route(d, "shard:3", a, false)), (std::vector<std::string>{"b"}));
  // A guild maps to shard (id >> 22) % 4.
  const std::uint64_t guild = (std::uint64_t{6} << 22) | 12345; // shard 6 % 4 = 2
  ASSERT_EQ(shard_for_guild(guild, 4), 2u);
  EXPECT_EQ(names(route(d, "guild:" + std::to_string(guild), a, false)), (std::vector<std::string>{"b"}));

  // Admins receive replies only.
  EXPECT_TRUE(route(d, "dash", a, false).no_route);
  EXPECT_EQ(names(route(d, "dash", a, true)), (std::vector<std::string>{"dash"}));

  for (auto bad : {"nobody", "shard:9", "shard:x", "shard:", "shard:-1", "guild:abc", "guild:", "shard:1 "})
    EXPECT_TRUE(route(d, bad, a, false).no_route) << bad;
}

TEST(HubRouter, GuildTargetsNeedAShardOwningCluster) {
  Directory d;
  auto tool = cluster("monitor");
  d.add(tool);
  EXPECT_TRUE(route(d, "guild:4194304", tool, false).no_route);
}

// ---- version-1 peers ------------------------------------------------------------------------------

TEST(HubLegacyV1, AnswersAreMatchedToRequestsInOrder) {
  V1PendingRequests q(3);
  q.remember("dash", "r1", "stats_request");
  q.remember("dash", "r2", "eval_request");
  q.remember("cli", "r3", "eval_request");
  q.remember("cli", "", "eval_request");      // no id: nothing to tag
  q.remember("cli", "r9", "broadcast_message"); // not a request a v1 peer answers
  EXPECT_EQ(q.answered("eval_response", "cli")->id, "r3");
  EXPECT_EQ(q.answered("eval_response", "dash")->id, "r2");
  EXPECT_EQ(q.answered("eval_response", "dash"), std::nullopt);
  EXPECT_EQ(q.answered("stats_broadcast", "dash")->id, "r1");
  EXPECT_TRUE(q.empty());
  // An eval_request asked through stats: the stats answer it, and say which preset.
  q.remember_eval("cli", "r4", "guild_count");
  auto a = q.answered("stats_broadcast", "cli");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->id, "r4");
  EXPECT_EQ(a->eval_query, "guild_count");
}

TEST(HubLegacyV1, ThePendingListIsBounded) {
  V1PendingRequests q(2);
  q.remember("a", "1", "stats_request");
  q.remember("a", "2", "stats_request");
  q.remember("a", "3", "stats_request"); // the oldest is forgotten
  EXPECT_EQ(q.answered("stats_broadcast", "a")->id, "2");
  EXPECT_EQ(q.answered("stats_broadcast", "a")->id, "3");
  EXPECT_EQ(q.answered("stats_broadcast", "a"), std::nullopt);
}

TEST(HubLegacyV1, AFieldInsertedFirstKeepsTheFrameValid) {
  auto out = with_first_field(R"({"op":"x","data":{}})", "reply_to", R"("r-1")");
  auto v = json::parse(out);
  EXPECT_EQ(v.at("reply_to").as_string(), "r-1");
  EXPECT_EQ(v.at("op").as_string(), "x");
  EXPECT_EQ(v1_reply_op("guild_count_request"), "guild_count_response");
  EXPECT_EQ(v1_reply_op("broadcast_message"), "");
}

} // namespace
} // namespace shardline::hub
