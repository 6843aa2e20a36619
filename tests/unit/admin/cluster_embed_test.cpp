#include "admin/cluster_embed.hpp"

#include "admin/cluster_report.hpp"
#include "core/text.hpp"

#include "admin/cluster_report_fixtures.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

namespace shardline::admin {
namespace {

namespace json = boost::json;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;

using fixtures::client;
using fixtures::hub_with;
using fixtures::status_of;
using fixtures::stats_reply;

std::size_t chars(const json::value* v) { return v && v->is_string() ? utf8_length(v->get_string()) : 0; }

// Discord's limits on an embed: title 256, description 4,096, 25 fields, field name 256,
// field value 1,024, 6,000 characters in title, description, field names and values, footer
// and author together.
void expect_within_discord_limits(const json::object& e) {
  EXPECT_LE(chars(e.if_contains("title")), 256u);
  EXPECT_LE(chars(e.if_contains("description")), 4096u);
  std::size_t total = chars(e.if_contains("title")) + chars(e.if_contains("description"));
  if (auto* f = e.if_contains("footer"); f && f->is_object()) {
    EXPECT_LE(chars(f->get_object().if_contains("text")), 2048u);
    total += chars(f->get_object().if_contains("text"));
  }
  if (auto* fs = e.if_contains("fields")) {
    EXPECT_LE(fs->as_array().size(), 25u);
    for (auto& f : fs->as_array()) {
      auto& o = f.as_object();
      EXPECT_GE(chars(o.if_contains("name")), 1u);
      EXPECT_LE(chars(o.if_contains("name")), 256u);
      EXPECT_GE(chars(o.if_contains("value")), 1u);
      EXPECT_LE(chars(o.if_contains("value")), 1024u);
      total += chars(o.if_contains("name")) + chars(o.if_contains("value"));
    }
  }
  EXPECT_LE(total, 6000u);
}

const json::object* field_named(const json::object& e, std::string_view name) {
  for (auto& f : e.at("fields").as_array())
    if (f.as_object().at("name").as_string() == name) return &f.as_object();
  return nullptr;
}

std::string value_of(const json::object* f) { return f ? std::string(f->at("value").as_string()) : std::string(); }
std::string description(const json::object& e) { return std::string(e.at("description").as_string()); }
std::uint64_t colour(const json::object& e) { return e.at("color").to_number<std::uint64_t>(); }

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    std::size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (!n || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

// --- /clusters --------------------------------------------------------------------------

TEST(ClustersEmbed, AFieldPerClusterWithHealthNameAndReadableCounts) {
  auto hub = hub_with({client("alpha", "cluster", "green", 3), client("beta", "cluster", "green", 2),
                       client("admin-1", "admin", "green", 0)});
  link::FanoutResult stats;
  stats.replies["alpha"] = stats_reply("alpha", 1234567, 98765432, 4);
  stats.replies["beta"] = stats_reply("beta", 999, 1000, 2);
  auto e = clusters_embed(build_report(status_of(hub), stats, 1500));
  expect_within_discord_limits(e);

  auto* alpha = field_named(e, "🟢 alpha");
  ASSERT_NE(alpha, nullptr) << json::serialize(e);
  EXPECT_THAT(value_of(alpha), HasSubstr("1,234,567"));
  EXPECT_THAT(value_of(alpha), HasSubstr("98,765,432"));
  EXPECT_THAT(value_of(alpha), HasSubstr("50 ms"));
  EXPECT_THAT(value_of(alpha), HasSubstr("1h 02m"));
  auto* beta = field_named(e, "🟢 beta");
  ASSERT_NE(beta, nullptr);
  EXPECT_THAT(value_of(beta), HasSubstr("999"));
  EXPECT_THAT(value_of(beta), HasSubstr("1,000"));
  EXPECT_EQ(field_named(e, "🟢 admin-1"), nullptr) << "the admin tool is not a cluster";

  // The totals, with separators too.
  bool totals = false;
  for (auto& f : e.at("fields").as_array())
    if (value_of(&f.as_object()).find("1,235,566") != std::string::npos &&
        value_of(&f.as_object()).find("98,766,432") != std::string::npos)
      totals = true;
  EXPECT_TRUE(totals) << json::serialize(e);

  EXPECT_EQ(colour(e), kColourGreen);
  EXPECT_THAT(description(e), HasSubstr("cluster-0"));
  EXPECT_THAT(description(e), Not(HasSubstr("Not answering")));
}

TEST(ClustersEmbed, AClusterThatDidNotAnswerSaysSoAndIsListed) {
  auto hub = hub_with({client("alpha", "cluster", "green", 3), client("gamma", "cluster", "red", 400)});
  link::FanoutResult stats;
  stats.replies["alpha"] = stats_reply("alpha", 10, 100, 1);
  stats.missing = {"gamma"};
  auto e = clusters_embed(build_report(status_of(hub), stats, 2500));
  expect_within_discord_limits(e);
  auto* gamma = field_named(e, "🔴 gamma");
  ASSERT_NE(gamma, nullptr) << json::serialize(e);
  EXPECT_THAT(value_of(gamma), HasSubstr("No answer"));
  EXPECT_THAT(value_of(gamma), HasSubstr("2500 ms"));
  EXPECT_THAT(value_of(gamma), HasSubstr("6m 40s")) << "the last heartbeat's age";
  EXPECT_THAT(description(e), HasSubstr("gamma"));
  EXPECT_THAT(description(e), HasSubstr("Not answering within 2500 ms: gamma"));
  EXPECT_EQ(colour(e), kColourRed);
}

TEST(ClustersEmbed, ColourIsTheWorstHealth) {
  auto report_with = [](std::string b_health, bool b_answers) {
    auto hub = hub_with({client("a", "cluster", "green", 1), client("b", "cluster", b_health, 5)});
    link::FanoutResult stats;
    stats.replies["a"] = stats_reply("a", 1, 1, 1);
    if (b_answers)
      stats.replies["b"] = stats_reply("b", 1, 1, 1);
    else
      stats.missing = {"b"};
    return clusters_embed(build_report(status_of(hub), stats, 1000));
  };
  EXPECT_EQ(colour(report_with("green", true)), kColourGreen);
  EXPECT_EQ(colour(report_with("yellow", true)), kColourYellow);
  EXPECT_EQ(colour(report_with("red", true)), kColourRed);
  EXPECT_EQ(colour(report_with("green", false)), kColourYellow) << "a cluster that did not answer is at least yellow";
  EXPECT_EQ(colour(report_with("yellow", false)), kColourYellow);
  EXPECT_EQ(colour(report_with("red", false)), kColourRed);
}

TEST(ClustersEmbed, HubThatDidNotAnswerIsRed) {
  link::FanoutResult stats;
  stats.replies["a"] = stats_reply("a", 1, 1, 1);
  auto e = clusters_embed(build_report(std::nullopt, stats, 1000));
  expect_within_discord_limits(e);
  EXPECT_THAT(description(e), HasSubstr("did not answer"));
  EXPECT_EQ(colour(e), kColourRed);
}

TEST(ClustersEmbed, KeptStatsAreShownWithTheirAge) {
  link::FanoutResult stats;
  stats.missing = {"fresh"};
  auto c = client("fresh", "cluster", "green", 5);
  c["stats"] = json::object{{"cluster_name", "fresh"}, {"guild_count", 4000}, {"user_count", 40000},
                            {"shard_count", 2}, {"shard_ids", json::array{4, 5}}, {"latency", nullptr},
                            {"uptime", 60.0}, {"mode", "client"}};
  c["stats_age"] = 45.0;
  auto e = clusters_embed(build_report(status_of(hub_with({c})), stats, 1000));
  auto* f = field_named(e, "🟢 fresh");
  ASSERT_NE(f, nullptr) << json::serialize(e);
  EXPECT_THAT(value_of(f), HasSubstr("4,000"));
  EXPECT_THAT(value_of(f), HasSubstr("40,000"));
  EXPECT_THAT(value_of(f), HasSubstr("45s"));
  EXPECT_THAT(value_of(f), Not(HasSubstr("No answer")));
}

std::string long_name(int i) { return fmt::format("cluster-{:03}-", i) + std::string(64 - 12, 'x'); }

void expect_every_cluster_accounted_for(const json::object& e, std::size_t clusters) {
  std::size_t shown = 0;
  std::size_t more = 0;
  for (auto& f : e.at("fields").as_array()) {
    auto name = std::string(f.as_object().at("name").as_string());
    if (name.find("cluster-") != std::string::npos) ++shown;
    auto value = value_of(&f.as_object());
    if (auto pos = value.find(" more"); pos != std::string::npos && name.find("cluster-") == std::string::npos) {
      auto start = value.find_last_not_of("0123456789", pos - 1);
      more = std::stoul(value.substr(start == std::string::npos ? 0 : start + 1, pos));
    }
  }
  EXPECT_EQ(shown + more, clusters) << json::serialize(e);
  if (shown < clusters) {
    EXPECT_GT(more, 0u) << "the embed must say how many clusters it leaves out";
  }
}

TEST(ClustersEmbed, FortyClustersWithLongNamesStayWithinDiscordLimits) {
  json::array clients;
  link::FanoutResult stats;
  for (int i = 0; i < 40; ++i) {
    auto name = long_name(i);
    ASSERT_EQ(name.size(), 64u);
    clients.push_back(client(name, "cluster", i % 3 == 0 ? "yellow" : "green", 10));
    if (i % 4 == 3) {
      stats.missing.push_back(name);
    } else {
      auto r = stats_reply(name, 123456789, 9876543210ULL, 16);
      json::array ids;
      for (int s = 0; s < 16; ++s) ids.push_back(i * 16 + s);
      r.data["shard_ids"] = ids;
      stats.replies[name] = r;
    }
  }
  auto e = clusters_embed(build_report(status_of(hub_with(clients)), stats, 1500));
  expect_within_discord_limits(e);
  EXPECT_LE(e.at("fields").as_array().size(), 25u);
  expect_every_cluster_accounted_for(e, 40);
  EXPECT_THAT(description(e), HasSubstr("40 cluster"));
}

TEST(ClustersEmbed, FortyClustersWithTheLongestValuesStayWithinDiscordLimits) {
  // Every field as long as the contract allows: 64-character names, 20-digit counts, kept
  // stats (an extra line), a shard list that is cut: 23 such fields alone pass 6,000 characters.
  json::array clients;
  link::FanoutResult stats;
  for (int i = 0; i < 40; ++i) {
    auto name = long_name(i);
    auto c = client(name, "cluster", "yellow", 100);
    json::array ids;
    for (int s = 0; s < 64; ++s) ids.push_back(1000 + s);
    c["stats"] = json::object{{"cluster_name", name}, {"guild_count", 1.8e19}, {"user_count", 1.8e19},
                              {"shard_count", 1.8e19}, {"shard_ids", ids}, {"latency", 123.456},
                              {"uptime", 9e9}, {"mode", "client"}};
    c["stats_age"] = 299.0;
    clients.push_back(c);
    stats.missing.push_back(name);
  }
  auto e = clusters_embed(build_report(status_of(hub_with(clients)), stats, 1500));
  expect_within_discord_limits(e);
  expect_every_cluster_accounted_for(e, 40);
  // The scenario is meant to need fewer than 23 cluster fields to fit.
  EXPECT_LT(e.at("fields").as_array().size(), 25u);
}

TEST(ClustersEmbed, FortySilentClustersWithLongNamesStayWithinDiscordLimits) {
  json::array clients;
  link::FanoutResult stats;
  for (int i = 0; i < 40; ++i) {
    auto name = long_name(i);
    clients.push_back(client(name, "cluster", "red", 100000));
    stats.missing.push_back(name);
  }
  auto e = clusters_embed(build_report(status_of(hub_with(clients)), stats, 1500));
  expect_within_discord_limits(e);
  expect_every_cluster_accounted_for(e, 40);
  EXPECT_EQ(colour(e), kColourRed);
}

TEST(ClustersEmbed, ManyClustersWithMultiByteNamesStayWithinDiscordLimits) {
  // 64 characters of 4 bytes each: the limits count characters, not bytes.
  json::array clients;
  link::FanoutResult stats;
  for (int i = 0; i < 40; ++i) {
    std::string name = fmt::format("cluster-{:03}-", i);
    while (utf8_length(name) < 64) name += "🚀";
    clients.push_back(client(name, "cluster", "green", 1));
    auto r = stats_reply(name, 1, 1, 1);
    stats.replies[name] = r;
  }
  auto e = clusters_embed(build_report(status_of(hub_with(clients)), stats, 1500));
  expect_within_discord_limits(e);
  expect_every_cluster_accounted_for(e, 40);
  for (auto& f : e.at("fields").as_array()) {
    EXPECT_TRUE(valid_utf8(f.as_object().at("name").as_string()));
    EXPECT_TRUE(valid_utf8(f.as_object().at("value").as_string()));
  }
  EXPECT_TRUE(valid_utf8(description(e)));
}

TEST(ClustersEmbed, FieldCountAtTheBoundary) {
  for (int n : {23, 24, 25, 26}) {
    json::array clients;
    link::FanoutResult stats;
    for (int i = 0; i < n; ++i) {
      auto name = fmt::format("cluster-{:03}", i);
      clients.push_back(client(name, "cluster", "green", 1));
      stats.replies[name] = stats_reply(name, 1, 1, 1);
    }
    auto e = clusters_embed(build_report(status_of(hub_with(clients)), stats, 1000));
    SCOPED_TRACE(n);
    expect_within_discord_limits(e);
    expect_every_cluster_accounted_for(e, n);
  }
}

// --- with_thousands ---------------------------------------------------------------------

TEST(ClustersEmbed, WithThousands) {
  EXPECT_EQ(with_thousands(0), "0");
  EXPECT_EQ(with_thousands(7), "7");
  EXPECT_EQ(with_thousands(999), "999");
  EXPECT_EQ(with_thousands(1000), "1,000");
  EXPECT_EQ(with_thousands(12345), "12,345");
  EXPECT_EQ(with_thousands(123456), "123,456");
  EXPECT_EQ(with_thousands(1234567), "1,234,567");
  EXPECT_EQ(with_thousands(UINT64_MAX), "18,446,744,073,709,551,615");
}

// --- /ipcstatus -------------------------------------------------------------------------

Config server_config() {
  Config cfg;
  cfg.ipc_secret = "super-secret-value-0123456789";
  cfg.ipc_mode = IpcMode::server;
  cfg.ipc_port = 20000;
  return cfg;
}

TEST(IpcStatusEmbed, NeverShowsTheSecret) {
  auto cfg = server_config();
  link::LinkStatus link;
  link.linked = false;
  link.last_error = "connection refused";
  auto hub = hub_with({client("a", "cluster", "green", 1)});
  for (auto mode : {IpcMode::server, IpcMode::client}) {
    cfg.ipc_mode = mode;
    for (const auto& h : {hub, json::object{}})
      for (const link::LinkStatus* l : std::vector<const link::LinkStatus*>{nullptr, &link}) {
        auto text = json::serialize(ipc_status_embed(cfg, status_of(h), l));
        EXPECT_THAT(text, Not(HasSubstr(cfg.ipc_secret)));
        EXPECT_THAT(text, Not(HasSubstr("secret-value")));
        EXPECT_THAT(text, HasSubstr(mask_secret(cfg.ipc_secret)));
      }
  }
}

TEST(IpcStatusEmbed, ServerListsConnectedClientsWithHeartbeatAges) {
  auto cfg = server_config();
  auto hub = hub_with({client("alpha", "cluster", "green", 4), client("beta", "cluster", "yellow", 75),
                       client("admin-77", "admin", "green", 0)});
  auto e = ipc_status_embed(cfg, status_of(hub), nullptr);
  expect_within_discord_limits(e);
  auto d = description(e);
  EXPECT_THAT(d, HasSubstr("Connected clients (3)"));
  EXPECT_THAT(d, HasSubstr("alpha"));
  EXPECT_THAT(d, HasSubstr("beta"));
  EXPECT_THAT(d, HasSubstr("admin-77"));
  EXPECT_THAT(d, HasSubstr("4s ago"));
  EXPECT_THAT(d, HasSubstr("1m 15s ago"));
  EXPECT_THAT(d, HasSubstr("20000"));
  EXPECT_THAT(d, HasSubstr("cluster-0"));
  EXPECT_EQ(colour(e), kColourYellow) << "beta is yellow";
}

TEST(IpcStatusEmbed, ServerWhoseHubDidNotAnswerIsRed) {
  auto e = ipc_status_embed(server_config(), std::nullopt, nullptr);
  EXPECT_THAT(description(e), HasSubstr("did not answer"));
  EXPECT_EQ(colour(e), kColourRed);
}

TEST(IpcStatusEmbed, ClientShowsItsLink) {
  auto cfg = server_config();
  cfg.ipc_mode = IpcMode::client;
  link::LinkStatus link;
  link.linked = true;
  link.hub = "cluster-0";
  link.host = "10.0.0.5";
  link.port = 20001;
  link.linked_for_s = 125;
  link.last_ack_age_s = 3;
  link.latency_s = 0.0123;
  link.connects = 2;
  auto e = ipc_status_embed(cfg, status_of(hub_with({client("a", "cluster", "green", 1)})), &link);
  expect_within_discord_limits(e);
  auto text = json::serialize(e);
  EXPECT_THAT(text, HasSubstr("linked to **cluster-0**"));
  EXPECT_THAT(text, Not(HasSubstr("not linked")));
  EXPECT_THAT(text, HasSubstr("2m 05s"));
  EXPECT_THAT(text, HasSubstr("12.3 ms"));
  EXPECT_THAT(description(e), HasSubstr("20001")) << "the port of the link";
  EXPECT_EQ(colour(e), kColourGreen);

  link.linked = false;
  link.last_error = "connection refused";
  e = ipc_status_embed(cfg, std::nullopt, &link);
  expect_within_discord_limits(e);
  text = json::serialize(e);
  EXPECT_THAT(text, HasSubstr("not linked"));
  EXPECT_THAT(text, HasSubstr("connection refused"));
  EXPECT_EQ(colour(e), kColourRed);
}

TEST(IpcStatusEmbed, AThousandClientsStayWithinTheDescriptionLimit) {
  auto cfg = server_config();
  json::array clients;
  for (int i = 0; i < 1000; ++i)
    clients.push_back(client(fmt::format("cluster-{:04}-", i) + std::string(50, 'n'), "cluster", "green", i));
  auto e = ipc_status_embed(cfg, status_of(hub_with(clients)), nullptr);
  expect_within_discord_limits(e);
  auto d = description(e);
  EXPECT_LE(utf8_length(d), 4096u);
  EXPECT_THAT(d, HasSubstr("Connected clients (1000)"));
  // It says how many it leaves out, and that number is right.
  std::size_t listed = 0;
  for (std::size_t pos = 0; (pos = d.find("heartbeat", pos)) != std::string::npos; ++pos) ++listed;
  EXPECT_GT(listed, 0u);
  EXPECT_LT(listed, 1000u);
  EXPECT_THAT(d, HasSubstr(fmt::format("and {} more", 1000 - listed)));
  EXPECT_TRUE(valid_utf8(d));
}

// --- broadcasts -------------------------------------------------------------------------

TEST(BroadcastEmbed, ShowsSourceAuthorAndMessage) {
  link::BroadcastMessage b;
  b.message = "Deploying at 18:00";
  b.author = "alice";
  b.author_id = 300000000000000001ULL;
  b.source = "cluster-3";
  auto e = broadcast_embed(b);
  expect_within_discord_limits(e);
  EXPECT_THAT(std::string(e.at("title").as_string()), HasSubstr("cluster-3"));
  EXPECT_EQ(description(e), "Deploying at 18:00");
  EXPECT_THAT(json::serialize(e.at("footer")), HasSubstr("alice"));
}

TEST(BroadcastEmbed, MessageCappedAt500CharactersWithoutCuttingOne) {
  link::BroadcastMessage b;
  b.source = "cluster-1";
  b.author = "alice";

  b.message = std::string(500, 'a');
  EXPECT_EQ(description(broadcast_embed(b)), b.message) << "exactly 500 is kept whole";

  b.message = std::string(501, 'a');
  EXPECT_EQ(description(broadcast_embed(b)), std::string(500, 'a'));

  std::string e600;
  for (int i = 0; i < 600; ++i) e600 += "é";
  b.message = e600;
  auto d = description(broadcast_embed(b));
  EXPECT_EQ(utf8_length(d), 500u);
  EXPECT_EQ(d.size(), 1000u);
  EXPECT_TRUE(valid_utf8(d));

  // A 4-byte character straddling the limit is dropped whole.
  b.message = std::string(499, 'a') + "🚀🚀" + "tail";
  d = description(broadcast_embed(b));
  EXPECT_EQ(d, std::string(499, 'a') + "🚀");
  EXPECT_TRUE(valid_utf8(d));

  b.message = std::string(498, 'a') + "日本語";
  d = description(broadcast_embed(b));
  EXPECT_EQ(d, std::string(498, 'a') + "日本");

  // 500 characters of 4 bytes (2,000 bytes) are not cut.
  std::string rockets;
  for (int i = 0; i < 500; ++i) rockets += "🚀";
  b.message = rockets;
  EXPECT_EQ(description(broadcast_embed(b)), rockets);
}

TEST(BroadcastEmbed, LongSourceAndAuthorStayWithinLimits) {
  link::BroadcastMessage b;
  b.source = std::string(1000, 's');
  b.author = std::string(5000, 'u');
  b.message = std::string(5000, 'm');
  auto e = broadcast_embed(b);
  expect_within_discord_limits(e);
}

// --- core/text.hpp ----------------------------------------------------------------------

TEST(TextUtf8, Length) {
  EXPECT_EQ(utf8_length(""), 0u);
  EXPECT_EQ(utf8_length("abc"), 3u);
  EXPECT_EQ(utf8_length("é"), 1u);
  EXPECT_EQ(utf8_length("日本語"), 3u);
  EXPECT_EQ(utf8_length("🚀"), 1u);
  EXPECT_EQ(utf8_length("a🚀b"), 3u);
  EXPECT_EQ(utf8_length("🟢 alpha"), 7u);
}

TEST(TextUtf8, CapCharacters) {
  EXPECT_EQ(cap_characters("", 5), "");
  EXPECT_EQ(cap_characters("hello", 0), "");
  EXPECT_EQ(cap_characters("hello", 3), "hel");
  EXPECT_EQ(cap_characters("hello", 5), "hello");
  EXPECT_EQ(cap_characters("hello", 50), "hello");
  EXPECT_EQ(cap_characters("héllo", 2), "hé");
  EXPECT_EQ(cap_characters("日本語", 2), "日本");
  EXPECT_EQ(cap_characters("日本語", 3), "日本語");
  EXPECT_EQ(cap_characters("🚀🚀🚀", 1), "🚀");
  EXPECT_EQ(cap_characters("a🚀b", 2), "a🚀");
  EXPECT_EQ(cap_characters("🚀🚀🚀", 0), "");
}

} // namespace
} // namespace shardline::admin
