#include "admin/cluster_report.hpp"

#include "admin/cluster_report_fixtures.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace shardline::admin {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::Not;

using fixtures::client;
using fixtures::hub_with;
using fixtures::status_of;
using fixtures::stats_reply;

TEST(FormatDuration, Units) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(12.9), "12s");
  EXPECT_EQ(format_duration(59.999), "59s");
  EXPECT_EQ(format_duration(60), "1m 00s");
  EXPECT_EQ(format_duration(185), "3m 05s");
  EXPECT_EQ(format_duration(3599), "59m 59s");
  EXPECT_EQ(format_duration(3600), "1h 00m");
  EXPECT_EQ(format_duration(3720), "1h 02m");
  EXPECT_EQ(format_duration(86399), "23h 59m");
  EXPECT_EQ(format_duration(86400), "1d 00h");
  EXPECT_EQ(format_duration(90000), "1d 01h");
  EXPECT_EQ(format_duration(-1), "-");
  EXPECT_EQ(format_duration(std::nan("")), "-");
}

TEST(BuildReport, TotalsCountOnlyClustersThatAnswered) {
  auto hub = hub_with({client("b", "cluster", "green", 3), client("a", "cluster", "yellow", 70),
                       client("c", "cluster", "red", 400), client("admin-1234", "admin", "green", 0)});
  link::FanoutResult stats;
  stats.replies["a"] = stats_reply("a", 100, 1000, 2);
  stats.replies["b"] = stats_reply("b", 50, 500, 3);
  stats.replies["b"].data["shard_ids"] = json::array{2, 3, 4}; // its 3 shards, after a's 0 and 1
  stats.missing = {"c"};
  auto r = build_report(status_of(hub), stats, 1500);

  ASSERT_EQ(r.rows.size(), 3u); // the admin tool is not a cluster
  EXPECT_EQ(r.rows[0].name, "a");
  EXPECT_EQ(r.rows[1].name, "b");
  EXPECT_EQ(r.rows[2].name, "c");
  EXPECT_EQ(r.total_guilds, 150u);
  EXPECT_EQ(r.total_users, 1500u);
  EXPECT_EQ(r.total_shards, 5u);
  EXPECT_EQ(r.missing, (std::vector<std::string>{"c"}));
  EXPECT_EQ(r.timeout_ms, 1500);

  EXPECT_TRUE(r.rows[0].answered);
  EXPECT_EQ(r.rows[0].health, "yellow"); // as the hub sees it
  EXPECT_DOUBLE_EQ(r.rows[0].heartbeat_age, 70);
  EXPECT_EQ(r.rows[0].guilds, 100u);
  ASSERT_TRUE(r.rows[0].latency);
  EXPECT_DOUBLE_EQ(*r.rows[0].latency, 0.05);
  EXPECT_EQ(r.rows[0].shard_ids, (std::vector<std::uint32_t>{0, 1}));
  EXPECT_FALSE(r.rows[2].answered);
  EXPECT_EQ(r.rows[2].health, "red");
}

TEST(BuildReport, FailedReplyIsNotCounted) {
  auto hub = hub_with({client("a", "cluster", "green", 1), client("b", "cluster", "green", 1)});
  link::FanoutResult stats;
  stats.replies["a"] = stats_reply("a", 10, 10, 1);
  stats.replies["b"] = fixtures::error_reply("b", "no_route");
  auto r = build_report(status_of(hub), stats, 1000);
  EXPECT_EQ(r.total_guilds, 10u);
  EXPECT_EQ(r.missing, (std::vector<std::string>{"b"}));
}

TEST(BuildReport, ClusterUnknownToHubButAnsweringIsGreen) {
  link::FanoutResult stats;
  stats.replies["z"] = stats_reply("z", 1, 2, 1);
  auto r = build_report(std::nullopt, stats, 1000);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].health, "green");
  EXPECT_TRUE(r.missing.empty());
}

TEST(BuildReport, NullOrNonFiniteLatencyIsAbsent) {
  link::FanoutResult stats;
  stats.replies["a"] = stats_reply("a", 1, 1, 1, nullptr);
  auto r = build_report(std::nullopt, stats, 1000);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_FALSE(r.rows[0].latency.has_value());
  auto j = to_json(r);
  EXPECT_TRUE(j.at("clusters").as_array()[0].as_object().at("latency").is_null());
}

TEST(BuildReport, NegativeOrIllTypedCountsReadAsZero) {
  link::FanoutResult stats;
  auto r1 = stats_reply("a", 0, 0, 0);
  r1.data["guild_count"] = -5;
  r1.data["user_count"] = "many";
  stats.replies["a"] = r1;
  auto r = build_report(std::nullopt, stats, 1000);
  EXPECT_EQ(r.total_guilds, 0u);
  EXPECT_EQ(r.total_users, 0u);
}

TEST(BuildReport, CountsPastTwoToThe64SaturateInsteadOfWrapping) {
  // A hostile or broken peer may send any JSON number; the report must neither wrap nor
  // hit the undefined double-to-integer conversion.
  link::FanoutResult stats;
  auto r1 = stats_reply("a", 0, 0, 0);
  r1.data["guild_count"] = 1e30;
  r1.data["user_count"] = 18446744073709551616.0; // exactly 2^64
  stats.replies["a"] = r1;
  auto r = build_report(std::nullopt, stats, 1000);
  EXPECT_EQ(r.total_guilds, UINT64_MAX);
  EXPECT_EQ(r.total_users, UINT64_MAX);
}

TEST(BuildReport, ShardTotalsCountDistinctIdsWhateverConventionAPeerUses) {
  // A 6-shard bot: a Shardline cluster reports its own 3 shards, a seed cluster (version 1)
  // the bot's total 6 with its own ids.
  auto hub = hub_with({client("shardline-0", "cluster", "green", 1), client("py-1", "cluster", "green", 1)});
  hub["clients"].as_array()[1].as_object()["proto"] = 1;
  link::FanoutResult stats;
  auto own = stats_reply("shardline-0", 10, 10, 3);
  own.data["shard_ids"] = json::array{0, 1, 2};
  auto seed = stats_reply("py-1", 10, 10, 6);
  seed.data["shard_ids"] = json::array{3, 4, 5};
  stats.replies["shardline-0"] = own;
  stats.replies["py-1"] = seed;
  auto r = build_report(status_of(hub), stats, 1000);
  EXPECT_EQ(r.total_shards, 6u); // not 9, and not 3 + 3 by luck: distinct ids
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].name, "py-1");
  EXPECT_EQ(r.rows[0].shards, 3u); // its ids, not the bot's total it reported
  // Two clusters claiming the same shard (a reshard's layouts, a stale peer) count it once.
  stats.replies["shardline-0"].data["shard_ids"] = json::array{0, 1, 2, 3};
  EXPECT_EQ(build_report(status_of(hub), stats, 1000).total_shards, 6u);
}

json::object with_kept_stats(json::object c, std::uint64_t guilds, double age) {
  c["stats"] = json::object{{"cluster_name", c.at("name")}, {"guild_count", guilds}, {"user_count", guilds * 10},
                            {"shard_count", 2}, {"shard_ids", json::array{4, 5}}, {"latency", nullptr},
                            {"uptime", 60.0}, {"mode", "client"}};
  c["stats_age"] = age;
  return c;
}

TEST(BuildReport, SilentClusterCountsFromHubStatsUntilTheyAreTooOld) {
  // Contract section 7: totals ignore stats older than 300 s (stats_hide_s).
  link::FanoutResult stats;
  stats.replies["a"] = stats_reply("a", 100, 1000, 2);
  stats.missing = {"fresh", "stale"};
  auto hub = hub_with(json::array{client("a", "cluster", "green", 1),
                                  with_kept_stats(client("fresh", "cluster", "yellow", 90), 40, 45),
                                  with_kept_stats(client("stale", "cluster", "red", 400), 7, 300)});
  auto r = build_report(status_of(hub), stats, 1000);
  EXPECT_EQ(r.total_guilds, 140u);
  EXPECT_EQ(r.total_users, 1400u);
  EXPECT_EQ(r.missing, (std::vector<std::string>{"fresh", "stale"})); // neither answered in time
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[1].name, "fresh");
  ASSERT_TRUE(r.rows[1].stats_age);
  EXPECT_EQ(*r.rows[1].stats_age, 45);
  EXPECT_EQ(r.rows[1].guilds, 40u);
  EXPECT_EQ(r.rows[1].shard_ids, (std::vector<std::uint32_t>{4, 5}));
  EXPECT_FALSE(r.rows[2].stats_age);
  EXPECT_EQ(r.rows[2].guilds, 0u);
  EXPECT_THAT(render_text(r), HasSubstr("(stats 45s old)"));
  EXPECT_EQ(to_json(r).at("clusters").at(1).at("stats_age").as_double(), 45);
}

TEST(BuildReport, HubStatsAgeLimitFollowsTheHubsThreshold) {
  link::FanoutResult stats;
  stats.missing = {"fresh"};
  auto hub = hub_with(json::array{with_kept_stats(client("fresh", "cluster", "green", 5), 40, 45)});
  hub["thresholds"] = json::object{{"stats_hide_s", 30.0}};
  auto r = build_report(status_of(hub), stats, 1000);
  EXPECT_EQ(r.total_guilds, 0u);
  hub["thresholds"] = json::object{{"stats_hide_s", 60.0}};
  EXPECT_EQ(build_report(status_of(hub), stats, 1000).total_guilds, 40u);
}

TEST(ClusterReportJson, TotalsAndMissing) {
  auto hub = hub_with({client("a", "cluster", "green", 1), client("c", "cluster", "red", 999)});
  link::FanoutResult stats;
  stats.replies["a"] = stats_reply("a", 7, 70, 2);
  stats.missing = {"c"};
  auto j = to_json(build_report(status_of(hub), stats, 1000));
  auto& t = j.at("totals").as_object();
  EXPECT_EQ(t.at("guilds").to_number<int>(), 7);
  EXPECT_EQ(t.at("users").to_number<int>(), 70);
  EXPECT_EQ(t.at("shards").to_number<int>(), 2);
  EXPECT_EQ(json::serialize(j.at("missing")), R"(["c"])");
  auto& clusters = j.at("clusters").as_array();
  ASSERT_EQ(clusters.size(), 2u);
  EXPECT_EQ(clusters[0].as_object().at("name").as_string(), "a");
  EXPECT_EQ(clusters[0].as_object().at("answered").as_bool(), true);
  EXPECT_EQ(clusters[1].as_object().at("answered").as_bool(), false);
  EXPECT_EQ(j.at("hub").as_object().at("hub").as_string(), "cluster-0");
}

TEST(ClusterReportText, ShowsRowsTotalsAndTheSilentClusters) {
  auto hub = hub_with({client("alpha", "cluster", "green", 1), client("gamma", "cluster", "red", 999)});
  link::FanoutResult stats;
  stats.replies["alpha"] = stats_reply("alpha", 1234, 56789, 4);
  stats.missing = {"gamma"};
  auto text = render_text(build_report(status_of(hub), stats, 2500));
  EXPECT_THAT(text, HasSubstr("alpha"));
  EXPECT_THAT(text, HasSubstr("1234"));
  EXPECT_THAT(text, HasSubstr("56789"));
  EXPECT_THAT(text, HasSubstr("50 ms"));   // latency in ms
  EXPECT_THAT(text, HasSubstr("1h 02m"));  // uptime
  EXPECT_THAT(text, HasSubstr("TOTAL"));
  EXPECT_THAT(text, HasSubstr("no answer"));
  EXPECT_THAT(text, HasSubstr("Not answering within 2500 ms: gamma"));
  EXPECT_THAT(text, HasSubstr("Hub cluster-0"));
}

TEST(ClusterReportText, HubThatDidNotAnswer) {
  auto text = render_text(build_report(std::nullopt, link::FanoutResult{}, 1000));
  EXPECT_THAT(text, HasSubstr("Hub: did not answer"));
  EXPECT_THAT(text, Not(HasSubstr("Not answering")));
}

TEST(IpcStatus, NeverShowsTheSecret) {
  Config cfg;
  cfg.ipc_secret = "super-secret-value-0123456789";
  auto hub = hub_with({client("a", "cluster", "green", 1)});
  for (const auto& h : {hub, json::object{}}) {
    auto text = render_ipc_status_text(cfg, IpcStatusView{status_of(h)});
    EXPECT_THAT(text, Not(HasSubstr(cfg.ipc_secret)));
    EXPECT_THAT(text, HasSubstr(mask_secret(cfg.ipc_secret)));
    auto j = ipc_status_json(cfg, IpcStatusView{status_of(h)});
    EXPECT_THAT(json::serialize(j), Not(HasSubstr(cfg.ipc_secret)));
    EXPECT_EQ(j.at("secret").as_string(), mask_secret(cfg.ipc_secret));
  }
}

TEST(IpcStatus, JsonDescribesThisSideAndTheHub) {
  Config cfg;
  cfg.ipc_secret = "super-secret-value-0123456789";
  cfg.ipc_mode = IpcMode::client;
  cfg.ipc_port = 20005;
  auto j = ipc_status_json(cfg, IpcStatusView{status_of(hub_with({client("a", "cluster", "green", 1)}))});
  EXPECT_EQ(j.at("mode").as_string(), "client");
  EXPECT_EQ(j.at("port").to_number<int>(), 20005);
  EXPECT_EQ(j.at("hub").as_string(), "cluster-0");
  EXPECT_EQ(j.at("clients").as_array().size(), 1u);
  EXPECT_FALSE(j.at("tls").as_bool());
  auto none = ipc_status_json(cfg, IpcStatusView{});
  EXPECT_TRUE(none.at("hub").is_null());
  EXPECT_TRUE(none.at("clients").as_array().empty());
}

TEST(IpcStatus, ShowsTheHubsSettingsBesideThisToolsOwn) {
  Config cfg; // this tool: legacy auth off
  cfg.ipc_secret = "super-secret-value-0123456789";
  auto hub = hub_with({client("a", "cluster", "green", 1)});
  hub["legacy_auth"] = true;
  hub["tls"] = true;
  auto j = ipc_status_json(cfg, IpcStatusView{status_of(hub)});
  EXPECT_FALSE(j.at("legacy_auth").as_bool());
  EXPECT_TRUE(j.at("hub_legacy_auth").as_bool());
  EXPECT_TRUE(j.at("hub_tls").as_bool());
  EXPECT_EQ(j.at("hub_protocol").to_number<int>(), 2);
  auto text = render_ipc_status_text(cfg, IpcStatusView{status_of(hub)});
  EXPECT_THAT(text, HasSubstr("legacy auth on · TLS on"));     // the hub's
  EXPECT_THAT(text, HasSubstr("This tool: mode server"));      // and this tool's, labelled
  // A version-1 hub: its name and what it announced, no status.
  IpcStatusView v1;
  v1.v1_hub = "cluster-0";
  v1.v1_clusters = {"py-1", "py-2"};
  auto j1 = ipc_status_json(cfg, v1);
  EXPECT_EQ(j1.at("hub").as_string(), "cluster-0");
  EXPECT_EQ(j1.at("hub_protocol").to_number<int>(), 1);
  EXPECT_EQ(j1.at("clients").as_array().size(), 2u);
  EXPECT_THAT(render_ipc_status_text(cfg, v1), HasSubstr("protocol version 1"));
}

TEST(IpcStatus, TextListsConnectedClients) {
  Config cfg;
  cfg.ipc_secret = "super-secret-value-0123456789";
  auto text = render_ipc_status_text(cfg, IpcStatusView{status_of(hub_with({client("a", "cluster", "yellow", 75)}))});
  EXPECT_THAT(text, HasSubstr("Connected clients (1)"));
  EXPECT_THAT(text, HasSubstr("1m 15s ago"));
  EXPECT_THAT(text, HasSubstr("yellow"));
  EXPECT_THAT(render_ipc_status_text(cfg, IpcStatusView{}), HasSubstr("Hub: did not answer"));
}

} // namespace
} // namespace shardline::admin
