// The bot processes of `shardline launch` (SHARD_BOT_COMMAND): the endpoint port each cluster is
// given, what a bot is told, and when a dead bot is started again, on a driven clock.
#include "supervisor/bot_process.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

namespace shardline::supervisor {
namespace {

using ::testing::HasSubstr;
using Ports = std::vector<std::uint16_t>;

TEST(SupervisorBotSettings, TheCommandIsSplitIntoWordsAndTurnsTheEndpointOn) {
  Config cfg;
  cfg.launch.bot_command = "python3 'my bot.py' --verbose";
  auto s = BotSettings::from_config(cfg);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->words, (std::vector<std::string>{"python3", "my bot.py", "--verbose"}));
  EXPECT_TRUE(s->enabled());
  EXPECT_TRUE(s->endpoint); // a bot needs its cluster's endpoint
  EXPECT_EQ(s->base_port, 0); // SHARD_PROXY_PORT unset: each cluster binds a free port
}

TEST(SupervisorBotSettings, WithoutABotTheEndpointIsOnOnlyWhenAsked) {
  Config cfg;
  auto none = BotSettings::from_config(cfg);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->enabled());
  EXPECT_FALSE(none->endpoint);
  cfg.proxy.port = 9000;
  auto fixed = BotSettings::from_config(cfg);
  ASSERT_TRUE(fixed);
  EXPECT_TRUE(fixed->endpoint);
  EXPECT_EQ(fixed->base_port, 9000);
  cfg.proxy.port = 0;
  cfg.proxy.port_auto = true;
  EXPECT_EQ(BotSettings::from_config(cfg)->base_port, 0);
}

TEST(SupervisorBotSettings, AnUnreadableCommandIsAConfigurationError) {
  Config cfg;
  cfg.launch.bot_command = "node \"bot.js";
  auto s = BotSettings::from_config(cfg);
  ASSERT_FALSE(s);
  EXPECT_TRUE(s.error().is(Errc::bad_input));
  EXPECT_THAT(s.error().message, HasSubstr("SHARD_BOT_COMMAND: a double quote is not closed"));
}

TEST(SupervisorBotSettings, SettleTimeComesFromTheSetting) {
  Config cfg;
  cfg.launch.bot_settle_s = 0.25;
  EXPECT_EQ(BotSettings::from_config(cfg)->settle, std::chrono::milliseconds(250));
}

TEST(SupervisorEndpointPort, ClusterIOfALayoutGetsBasePlusI) {
  Ports taken;
  for (int i = 0; i < 4; ++i) {
    auto p = next_endpoint_port(9000, taken);
    ASSERT_TRUE(p);
    taken.push_back(*p);
  }
  EXPECT_EQ(taken, (Ports{9000, 9001, 9002, 9003}));
}

TEST(SupervisorEndpointPort, ANewLayoutBesideTheOldTakesTheNextFreePorts) {
  // A reshard: the old layout holds 9000..9001 while the new one starts.
  EXPECT_EQ(next_endpoint_port(9000, Ports{9000, 9001}), 9002);
  // Once the old one left, its ports are free again.
  EXPECT_EQ(next_endpoint_port(9000, Ports{9002, 9003}), 9000);
}

TEST(SupervisorEndpointPort, NoneLeftPast65535) {
  EXPECT_EQ(next_endpoint_port(65535, Ports{}), 65535);
  EXPECT_FALSE(next_endpoint_port(65535, Ports{65535}).has_value());
}

TEST(SupervisorBotEndpoint, UrlsNameAnAddressABotCanReach) {
  BotEndpoint e{"127.0.0.1", 4567};
  EXPECT_EQ(e.api_url(), "http://127.0.0.1:4567/api/v10");
  EXPECT_EQ(e.gateway_url(), "ws://127.0.0.1:4567");
  EXPECT_EQ((BotEndpoint{"0.0.0.0", 1}).api_url(), "http://127.0.0.1:1/api/v10");
  EXPECT_EQ((BotEndpoint{"::", 2}).gateway_url(), "ws://[::1]:2");
  EXPECT_EQ((BotEndpoint{"fd00::5", 3}).api_url(), "http://[fd00::5]:3/api/v10");
  EXPECT_EQ((BotEndpoint{"bots.internal", 4}).gateway_url(), "ws://bots.internal:4");
}

BotContext context() {
  BotContext c;
  c.cluster = "cluster-2";
  c.shard_ids = {4, 5};
  c.shard_count = 8;
  c.endpoint = {"127.0.0.1", 4567};
  c.ipc_host = "127.0.0.1";
  c.ipc_port = 20000;
  c.ipc_secret = "s3cret";
  c.token = "bot-token";
  return c;
}

TEST(SupervisorBotEnvironment, SaysWhatTheBotRunsAndKeepsTheSupervisorsOwn) {
  auto env = bot_environment({{"PATH", "/usr/bin"}, {"MY_BOT_SETTING", "x"}, {"SHARD_IDS", "0-7"},
                              {"SHARD_PROXY_PORT", "auto"}, {"SHARD_IPC_MODE", "server"}},
                             context());
  EXPECT_EQ(env["PATH"], "/usr/bin");
  EXPECT_EQ(env["MY_BOT_SETTING"], "x");
  EXPECT_EQ(env["SHARD_CLUSTER_NAME"], "cluster-2");
  EXPECT_EQ(env["SHARD_IDS"], "4-5"); // as SHARD_IDS is written for a cluster
  EXPECT_EQ(env["SHARD_COUNT"], "8");
  EXPECT_EQ(env["DISCORD_API_URL"], "http://127.0.0.1:4567/api/v10");
  EXPECT_EQ(env["SHARD_PROXY_URL"], "ws://127.0.0.1:4567");
  EXPECT_EQ(env["SHARD_PROXY_PORT"], "4567");
  EXPECT_EQ(env["SHARD_IPC_MODE"], "client");
  EXPECT_EQ(env["SHARD_IPC_HOST"], "127.0.0.1");
  EXPECT_EQ(env["SHARD_IPC_PORT"], "20000");
  EXPECT_EQ(env["SHARD_IPC_SECRET"], "s3cret");
  EXPECT_EQ(env["DISCORD_TOKEN"], "bot-token");
  EXPECT_EQ(env.count("SHARD_IPC_TLS_CA"), 0u);
}

TEST(SupervisorBotEnvironment, DropsWhatOnlyAClusterProcessReadsAndPassesTheHubsCa) {
  auto ctx = context();
  ctx.ipc_tls_ca = "/etc/shardline/ca.pem";
  auto env = bot_environment({{"SHARD_CLUSTER_GENERATION", "5"}, {"SHARD_STANDBY", "true"},
                              {"ENABLE_SHARD_MANAGER", "true"}},
                             ctx);
  EXPECT_EQ(env.count("SHARD_CLUSTER_GENERATION"), 0u);
  EXPECT_EQ(env.count("SHARD_STANDBY"), 0u);
  EXPECT_EQ(env.count("ENABLE_SHARD_MANAGER"), 0u);
  EXPECT_EQ(env["SHARD_IPC_TLS_CA"], "/etc/shardline/ca.pem");
}

TEST(SupervisorPortFile, OnlyAWholePortCounts) {
  auto dir = std::filesystem::temp_directory_path() / ("bot-port-file-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "cluster-0.proxy-port").string();
  auto write = [&](const std::string& text) { std::ofstream(path, std::ios::trunc) << text; };
  EXPECT_FALSE(read_port_file(path).has_value()); // absent
  write("4567\n");
  EXPECT_EQ(read_port_file(path), 4567);
  for (auto bad : {"", "0\n", "70000\n", "45a7\n", "-1\n"}) {
    write(bad);
    EXPECT_FALSE(read_port_file(path).has_value()) << bad;
  }
  std::filesystem::remove_all(dir);
}

// SHARD_RESTART_* defaults: 1 s to 60 s, 5 restarts within 600 s, healthy after a minute.
RestartLimits defaults() { return {millis(1000), millis(60'000), 5, millis(600'000), millis(60'000)}; }

TEST(SupervisorBotRestarts, AKilledBotIsBackAtOnceThenBacksOffThenIsGivenUp) {
  ManualClock clock;
  BotProcess bot(defaults(), clock.clock());
  std::vector<long> waits;
  for (int i = 0; i < 5; ++i) {
    bot.policy.started();
    clock.advance(millis(500)); // a bot that dies at start: a crash loop
    auto wait = bot.policy.died();
    ASSERT_TRUE(wait) << i;
    waits.push_back(wait->count());
  }
  EXPECT_EQ(waits, (std::vector<long>{0, 1000, 2000, 4000, 8000}));
  bot.policy.started();
  clock.advance(millis(500));
  EXPECT_FALSE(bot.policy.died().has_value()); // the sixth death within 600 s
}

TEST(SupervisorBotRestarts, ABotThatRanAMinuteIsBackAtOnceAgain) {
  ManualClock clock;
  BotProcess bot(defaults(), clock.clock());
  bot.policy.started();
  clock.advance(millis(100));
  EXPECT_EQ(bot.policy.died()->count(), 0);
  bot.policy.started();
  clock.advance(millis(100));
  EXPECT_EQ(bot.policy.died()->count(), 1000);
  bot.policy.started();
  clock.advance(millis(61'000)); // healthy for a minute
  EXPECT_EQ(bot.policy.died()->count(), 0);
}

TEST(SupervisorBotRestarts, EachBotHasABudgetOfItsOwn) {
  // One bot's crash loop neither slows nor stops another's restart, nor its cluster's.
  ManualClock clock;
  BotProcess crashing(defaults(), clock.clock()), other(defaults(), clock.clock());
  RestartPolicy cluster(defaults(), clock.clock());
  for (int i = 0; i < 6; ++i) {
    crashing.policy.started();
    clock.advance(millis(10));
    (void)crashing.policy.died();
  }
  other.policy.started();
  cluster.started();
  clock.advance(millis(10));
  EXPECT_EQ(other.policy.died()->count(), 0);
  EXPECT_EQ(cluster.died()->count(), 0);
}

TEST(SupervisorBotStatus, ReportsPidUptimeRestartsAndWhereItConnects) {
  ManualClock clock;
  BotProcess bot(defaults(), clock.clock());
  auto waiting = bot.status(clock.now());
  EXPECT_EQ(waiting.state, "waiting");
  EXPECT_EQ(waiting.pid, 0);
  EXPECT_EQ(waiting.api_url, "");
  bot.pid = 4242;
  bot.started_at = clock.now();
  bot.state = BotProcess::State::running;
  bot.restarts = 2;
  bot.endpoint = BotEndpoint{"127.0.0.1", 4567};
  clock.advance(millis(65'500));
  auto running = bot.status(clock.now());
  EXPECT_EQ(running.pid, 4242);
  EXPECT_DOUBLE_EQ(running.uptime, 65.5);
  EXPECT_EQ(running.restarts, 2u);
  EXPECT_EQ(running.state, "running");
  EXPECT_EQ(running.api_url, "http://127.0.0.1:4567/api/v10");
}

} // namespace
} // namespace shardline::supervisor
