#include "core/config.hpp"

#include "test_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace shardline {
namespace {

using ::testing::HasSubstr;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Not;

const std::string kSecret = "a-long-random-secret-0123456789"; // 31 characters

// Every test runs in its own empty working directory, so a stray ./.env or ./config.json
// never leaks in, and the implicit "./.env if present" lookup can be tested.
class ConfigTest : public ::testing::Test {
protected:
  test::TempDir dir;
  test::ScopedCwd cwd{dir.path()};

  ConfigSources sources(std::map<std::string, std::string> env = {}) {
    ConfigSources s;
    s.environment = std::move(env);
    return s;
  }
  ConfigSources with_secret(std::map<std::string, std::string> env = {}) {
    env.emplace("SHARD_IPC_SECRET", kSecret);
    return sources(std::move(env));
  }
  // The ConfigError message for `env` (plus a good secret); empty if it did not throw.
  std::string error_for(std::map<std::string, std::string> env) {
    try {
      load_config(with_secret(std::move(env)));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return {};
  }
};

TEST_F(ConfigTest, DefaultsWhenNothingIsSet) {
  auto c = load_config(with_secret());
  EXPECT_FALSE(c.enable_shard_manager);
  EXPECT_EQ(c.ipc_secret, kSecret);
  EXPECT_EQ(c.ipc_host, "127.0.0.1");
  EXPECT_EQ(c.ipc_port, 20000);
  EXPECT_EQ(c.ipc_mode, IpcMode::server);
  EXPECT_EQ(c.cluster_name, "cluster-0");
  ASSERT_TRUE(c.shard_count.has_value());
  EXPECT_EQ(*c.shard_count, 1u);
  EXPECT_TRUE(c.shard_ids.empty());
  EXPECT_EQ(c.generation, 0);
  EXPECT_FALSE(c.legacy_auth);
  EXPECT_FALSE(c.tls_enabled());
  EXPECT_DOUBLE_EQ(c.heartbeat_s, 30);
  EXPECT_DOUBLE_EQ(c.stats_interval_s, 60);
  EXPECT_DOUBLE_EQ(c.auth_timeout_s, 10);
  EXPECT_DOUBLE_EQ(c.body_timeout_s, 30);
  EXPECT_DOUBLE_EQ(c.idle_timeout_s, 120);
  EXPECT_DOUBLE_EQ(c.reconnect_min_s, 5);
  EXPECT_DOUBLE_EQ(c.reconnect_max_s, 120);
  EXPECT_DOUBLE_EQ(c.health.heartbeat_green_s, 60);
  EXPECT_DOUBLE_EQ(c.health.heartbeat_yellow_s, 180);
  EXPECT_DOUBLE_EQ(c.health.stats_green_s, 120);
  EXPECT_DOUBLE_EQ(c.health.stats_hide_s, 300);
  EXPECT_EQ(c.data_dir, std::filesystem::path("./data/shard_manager"));
  EXPECT_TRUE(c.warnings.empty());
}

TEST_F(ConfigTest, PrecedenceEnvironmentOverDotenvOverConfigJsonOverDefaults) {
  auto json = dir.write("cfg.json", R"({"shardline": {
      "SHARD_IPC_PORT": 1111, "SHARD_IPC_HOST": "10.0.0.1", "SHARD_CLUSTER_NAME": "from-json",
      "SHARD_IPC_SECRET": "secret-from-json-0123456789"}})");
  auto env = dir.write("vars.env",
                       "SHARD_IPC_HOST=10.0.0.2\nSHARD_CLUSTER_NAME=from-dotenv\n"
                       "SHARD_IPC_SECRET=secret-from-dotenv-0123456789\n");

  auto s = sources({{"SHARD_CLUSTER_NAME", "from-env"}});
  s.config_json = json;
  s.env_file = env;
  auto c = load_config(s);
  EXPECT_EQ(c.ipc_port, 1111);                    // only config.json sets it
  EXPECT_EQ(c.ipc_host, "10.0.0.2");              // .env beats config.json
  EXPECT_EQ(c.cluster_name, "from-env");          // the environment beats both
  EXPECT_EQ(c.ipc_secret, "secret-from-dotenv-0123456789");
  EXPECT_EQ(c.ipc_mode, IpcMode::server);         // nobody sets it: default

  // Without the environment layer, .env wins.
  s.environment.clear();
  EXPECT_EQ(load_config(s).cluster_name, "from-dotenv");
  // Without .env, config.json wins.
  s.env_file.reset();
  c = load_config(s);
  EXPECT_EQ(c.cluster_name, "from-json");
  EXPECT_EQ(c.ipc_host, "10.0.0.1");
  EXPECT_EQ(c.ipc_secret, "secret-from-json-0123456789");
}

TEST_F(ConfigTest, ImplicitDotenvAndConfigJsonInWorkingDirectory) {
  dir.write(".env", "SHARD_CLUSTER_NAME=implicit-dotenv\n");
  dir.write("config.json", R"({"shardline": {"SHARD_IPC_PORT": 2222}})");
  auto c = load_config(with_secret());
  EXPECT_EQ(c.cluster_name, "implicit-dotenv");
  EXPECT_EQ(c.ipc_port, 2222);

  // An explicit file replaces the implicit one.
  auto other = dir.write("other.env", "SHARD_IPC_MODE=client\n");
  auto s = with_secret();
  s.env_file = other;
  c = load_config(s);
  EXPECT_EQ(c.ipc_mode, IpcMode::client);
  EXPECT_EQ(c.cluster_name, "cluster-0");
}

TEST_F(ConfigTest, DotenvIgnoresVariablesShardlineDoesNotRead) {
  auto env = dir.write(".env", "PYTHONPATH=/x\nSOME_BOT_SETTING=hello world\nSHARD_IPC_PORT=3333\n");
  auto s = with_secret();
  s.env_file = env;
  EXPECT_EQ(load_config(s).ipc_port, 3333);
}

TEST_F(ConfigTest, MissingExplicitFilesAreErrors) {
  auto s = with_secret();
  s.env_file = dir.path() / "nope.env";
  EXPECT_THROW(load_config(s), ConfigError);
  s.env_file.reset();
  s.config_json = dir.path() / "nope.json";
  EXPECT_THROW(load_config(s), ConfigError);
}

TEST_F(ConfigTest, ConfigJsonMustBeAnObject) {
  for (const char* text : {"[1, 2]", "{not json", "", "42"}) {
    auto s = with_secret();
    s.config_json = dir.write("bad.json", text);
    EXPECT_THROW(load_config(s), ConfigError) << text;
  }
}

TEST_F(ConfigTest, FrameworkEnableShardManager) {
  auto s = with_secret();
  s.config_json = dir.write("on.json", R"({"framework": {"enable_shard_manager": true, "other": 1}})");
  EXPECT_TRUE(load_config(s).enable_shard_manager);
  s.config_json = dir.write("off.json", R"({"framework": {"enable_shard_manager": false}})");
  EXPECT_FALSE(load_config(s).enable_shard_manager);
  s.config_json = dir.write("str.json", R"({"framework": {"enable_shard_manager": "yes"}})");
  EXPECT_TRUE(load_config(s).enable_shard_manager);
  s.config_json = dir.write("bad.json", R"({"framework": {"enable_shard_manager": "perhaps"}})");
  try {
    load_config(s);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("ENABLE_SHARD_MANAGER"));
  }
  // The environment still overrides config.json.
  s.config_json = dir.write("on2.json", R"({"framework": {"enable_shard_manager": true}})");
  s.environment["ENABLE_SHARD_MANAGER"] = "false";
  EXPECT_FALSE(load_config(s).enable_shard_manager);
}

TEST_F(ConfigTest, ShardlineBlockInConfigJson) {
  auto s = sources();
  s.config_json = dir.write("config.json", R"({
    "framework": {"enable_shard_manager": true},
    "shardline": {
      "shard_ipc_secret": "json-secret-0123456789abcdef",
      "SHARD_IPC_MODE": "client",
      "SHARD_IPC_PORT": 20001,
      "SHARD_COUNT": 8,
      "SHARD_IDS": [4, 5, 6, 7],
      "SHARD_IPC_LEGACY_AUTH": true,
      "SHARD_IPC_HEARTBEAT_S": 1.5,
      "SHARD_IPC_IDLE_TIMEOUT_S": 30.0,
      "SHARD_CLUSTER_NAME": "eu-west.1",
      "BOT_OWNER_ID": "123456789012345678",
      "SHARD_IPC_MAX_OUTBUF_KB": 64
    }})");
  auto c = load_config(s);
  EXPECT_TRUE(c.enable_shard_manager);
  EXPECT_EQ(c.ipc_secret, "json-secret-0123456789abcdef"); // key case does not matter
  EXPECT_EQ(c.ipc_mode, IpcMode::client);
  EXPECT_EQ(c.ipc_port, 20001);
  ASSERT_TRUE(c.shard_count);
  EXPECT_EQ(*c.shard_count, 8u);
  EXPECT_EQ(c.shard_ids, (std::vector<std::uint32_t>{4, 5, 6, 7}));
  EXPECT_TRUE(c.legacy_auth);
  EXPECT_DOUBLE_EQ(c.heartbeat_s, 1.5);
  EXPECT_DOUBLE_EQ(c.idle_timeout_s, 30.0);
  EXPECT_EQ(c.cluster_name, "eu-west.1");
  EXPECT_EQ(c.bot_owner_id, "123456789012345678");
  EXPECT_EQ(c.max_outbuf_bytes, 64u * 1024);
}

TEST_F(ConfigTest, UnknownSettingInShardlineBlockIsNamed) {
  auto s = with_secret();
  s.config_json = dir.write("config.json", R"({"shardline": {"SHARD_IPC_PROT": 1}})");
  try {
    load_config(s);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("SHARD_IPC_PROT"));
  }
}

TEST_F(ConfigTest, AcceptedValues) {
  auto c = load_config(with_secret({{"SHARD_IPC_MODE", " Client "},
                                    {"SHARD_IPC_PORT", "65535"},
                                    {"SHARD_COUNT", "16"},
                                    {"SHARD_IDS", "0-3, 8,10-11"},
                                    {"SHARD_IPC_HEARTBEAT_S", "0.5"},
                                    {"SHARD_IPC_RECONNECT_MIN_S", "1"},
                                    {"SHARD_IPC_RECONNECT_MAX_S", "8"},
                                    {"SHARD_CLUSTER_GENERATION", "7"},
                                    {"SHARD_IPC_MAX_PENDING", "10"},
                                    {"SHARD_DATA_DIR", " /var/lib/shardline "}}));
  EXPECT_EQ(c.ipc_mode, IpcMode::client);
  EXPECT_EQ(c.ipc_port, 65535);
  EXPECT_EQ(c.shard_ids, (std::vector<std::uint32_t>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_DOUBLE_EQ(c.heartbeat_s, 0.5);
  EXPECT_DOUBLE_EQ(c.reconnect_min_s, 1);
  EXPECT_DOUBLE_EQ(c.reconnect_max_s, 8);
  EXPECT_EQ(c.generation, 7);
  EXPECT_EQ(c.max_pending, 10u);
  EXPECT_EQ(c.data_dir, std::filesystem::path("/var/lib/shardline"));
}

TEST_F(ConfigTest, ShardIdRangesAndOrdering) {
  auto ids = [&](const std::string& v) {
    return load_config(with_secret({{"SHARD_COUNT", "64"}, {"SHARD_IDS", v}})).shard_ids;
  };
  EXPECT_EQ(ids("0-7"), (std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(ids("5"), (std::vector<std::uint32_t>{5}));
  EXPECT_EQ(ids("9,3,1"), (std::vector<std::uint32_t>{1, 3, 9}));
  EXPECT_EQ(ids("4-4"), (std::vector<std::uint32_t>{4}));
  EXPECT_EQ(ids("60-63,0"), (std::vector<std::uint32_t>{0, 60, 61, 62, 63}));
  EXPECT_EQ(ids(" 1 , 2 ,"), (std::vector<std::uint32_t>{1, 2}));
  EXPECT_TRUE(ids("").empty());
}

TEST_F(ConfigTest, ShardCountAuto) {
  auto c = load_config(with_secret({{"SHARD_COUNT", "AUTO"}, {"SHARD_IDS", "100-101"}}));
  EXPECT_FALSE(c.shard_count.has_value());
  // With "auto" the ids cannot be checked against the count yet.
  EXPECT_EQ(c.shard_ids, (std::vector<std::uint32_t>{100, 101}));
}

TEST_F(ConfigTest, ProxyPortOffFixedOrAuto) {
  EXPECT_FALSE(load_config(with_secret({})).proxy.enabled());
  EXPECT_FALSE(load_config(with_secret({{"SHARD_PROXY_PORT", "0"}})).proxy.enabled());
  auto fixed = load_config(with_secret({{"SHARD_PROXY_PORT", "8081"}})).proxy;
  EXPECT_TRUE(fixed.enabled());
  EXPECT_EQ(fixed.port, 8081);
  EXPECT_FALSE(fixed.port_auto);
  auto free_port = load_config(with_secret({{"SHARD_PROXY_PORT", "Auto"}})).proxy;
  EXPECT_TRUE(free_port.enabled());
  EXPECT_TRUE(free_port.port_auto);
  EXPECT_EQ(free_port.port, 0);
}

TEST_F(ConfigTest, BooleanSpellings) {
  for (const char* yes : {"true", "TRUE", "1", "yes", "on", " True "})
    EXPECT_TRUE(load_config(with_secret({{"SHARD_IPC_LEGACY_AUTH", yes}})).legacy_auth) << yes;
  for (const char* no : {"false", "FALSE", "0", "no", "off", ""})
    EXPECT_FALSE(load_config(with_secret({{"SHARD_IPC_LEGACY_AUTH", no}})).legacy_auth) << no;
}

// Each invalid value must be refused with a message naming the setting (and never the secret).
struct BadValue {
  std::string setting;
  std::string value;
  std::map<std::string, std::string> also = {};
};

// What gtest prints for a case (instead of the struct's bytes).
void PrintTo(const BadValue& v, std::ostream* os) { *os << v.setting << "=" << v.value; }

class ConfigBadValueTest : public ConfigTest, public ::testing::WithParamInterface<BadValue> {};

TEST_P(ConfigBadValueTest, ThrowsNamingTheSetting) {
  auto p = GetParam();
  auto env = p.also;
  env[p.setting] = p.value;
  auto msg = error_for(env);
  ASSERT_FALSE(msg.empty()) << p.setting << "=" << p.value << " was accepted";
  EXPECT_THAT(msg, HasSubstr(p.setting));
  EXPECT_THAT(msg, Not(HasSubstr(kSecret)));
}

const std::map<std::string, std::string> kCount16 = {{"SHARD_COUNT", "16"}};

INSTANTIATE_TEST_SUITE_P(
    Config, ConfigBadValueTest,
    ::testing::Values(
        BadValue{"SHARD_IPC_PORT", "65536"}, BadValue{"SHARD_IPC_PORT", "-1"}, BadValue{"SHARD_IPC_PORT", "abc"},
        BadValue{"SHARD_IPC_PORT", ""}, BadValue{"SHARD_IPC_PORT", "20000x"}, BadValue{"SHARD_IPC_PORT", "99999999999999999999999"},
        BadValue{"SHARD_IPC_MODE", "hub"}, BadValue{"SHARD_IPC_MODE", ""}, BadValue{"SHARD_IPC_MODE", "servers"},
        BadValue{"SHARD_IDS", "a", kCount16}, BadValue{"SHARD_IDS", "-1", kCount16},
        BadValue{"SHARD_IDS", "3-1", kCount16}, BadValue{"SHARD_IDS", "0,0", kCount16},
        BadValue{"SHARD_IDS", "0-3,2", kCount16}, BadValue{"SHARD_IDS", "1.5", kCount16},
        BadValue{"SHARD_IDS", "0-", kCount16}, BadValue{"SHARD_IDS", "0-x", kCount16},
        BadValue{"SHARD_IDS", "16", kCount16}, BadValue{"SHARD_IDS", "8-16", kCount16},
        BadValue{"SHARD_IDS", "1"}, // default SHARD_COUNT is 1, so only shard 0 exists
        BadValue{"SHARD_CLUSTER_NAME", "all"}, BadValue{"SHARD_CLUSTER_NAME", "hub"},
        BadValue{"SHARD_CLUSTER_NAME", "shard:1"}, BadValue{"SHARD_CLUSTER_NAME", "guild:42"},
        BadValue{"SHARD_CLUSTER_NAME", ""}, BadValue{"SHARD_CLUSTER_NAME", "two words"},
        BadValue{"SHARD_CLUSTER_NAME", "a/b"}, BadValue{"SHARD_CLUSTER_NAME", std::string(65, 'x')},
        BadValue{"SHARD_COUNT", "0"}, BadValue{"SHARD_COUNT", "-1"}, BadValue{"SHARD_COUNT", "abc"},
        BadValue{"SHARD_COUNT", "1.5"}, BadValue{"SHARD_COUNT", "1048577"}, BadValue{"SHARD_COUNT", ""},
        BadValue{"ENABLE_SHARD_MANAGER", "maybe"}, BadValue{"ENABLE_SHARD_MANAGER", "2"},
        BadValue{"SHARD_IPC_LEGACY_AUTH", "tru"}, BadValue{"SHARD_IPC_LEGACY_AUTH", "enabled"},
        BadValue{"SHARD_IPC_HEARTBEAT_S", "-1"}, BadValue{"SHARD_IPC_HEARTBEAT_S", "0"},
        BadValue{"SHARD_IPC_HEARTBEAT_S", "nan"}, BadValue{"SHARD_IPC_HEARTBEAT_S", "inf"},
        BadValue{"SHARD_IPC_HEARTBEAT_S", "30s"}, BadValue{"SHARD_IPC_HEARTBEAT_S", ""},
        BadValue{"SHARD_IPC_STATS_INTERVAL_S", "-60"}, BadValue{"SHARD_IPC_AUTH_TIMEOUT_S", "-5"},
        BadValue{"SHARD_IPC_AUTH_TIMEOUT_S", "601"}, BadValue{"SHARD_IPC_BODY_TIMEOUT_S", "-0.5"},
        BadValue{"SHARD_IPC_IDLE_TIMEOUT_S", "-1"}, BadValue{"SHARD_IPC_RECONNECT_MIN_S", "-1"},
        BadValue{"SHARD_IPC_RECONNECT_MAX_S", "-1"}, BadValue{"SHARD_HEALTH_GREEN_S", "-1"},
        BadValue{"SHARD_HEALTH_YELLOW_S", "-1"}, BadValue{"SHARD_STATS_GREEN_S", "-1"},
        BadValue{"SHARD_STATS_HIDE_S", "-1"},
        BadValue{"BOT_OWNER_ID", "abc"}, BadValue{"BOT_OWNER_ID", "-5"},
        BadValue{"BOT_OWNER_ID", "18446744073709551616"},
        BadValue{"SHARD_IPC_HOST", "   "},
        BadValue{"SHARD_IPC_MAX_PENDING", "0"}, BadValue{"SHARD_IPC_MAX_PENDING", "many"},
        BadValue{"SHARD_IPC_MAX_OUTBUF_KB", "1"}, BadValue{"SHARD_CLUSTER_GENERATION", "-1"},
        BadValue{"SHARD_DATA_DIR", " "},
        BadValue{"SHARD_COMMANDS", "sometimes"}, BadValue{"SHARD_COMMAND_PREFIX", "a b"},
        BadValue{"SHARD_COMMAND_PREFIX", std::string(17, '!')}, BadValue{"SHARD_COMMAND_COOLDOWN_S", "-1"},
        BadValue{"SHARD_COMMAND_TIMEOUT_MS", "50"}, BadValue{"SHARD_COMMAND_TIMEOUT_MS", "60001"},
        BadValue{"SHARD_BROADCAST_CHANNEL_ID", "general"}, BadValue{"SHARD_BROADCAST_CHANNEL_ID", "0"},
        BadValue{"SHARD_CLUSTERS", "-1"}, BadValue{"SHARD_PER_CLUSTER", "0"},
        BadValue{"SHARD_CLUSTER_PREFIX", "us east"}, BadValue{"SHARD_CLUSTER_PREFIX", std::string(57, 'x')},
        BadValue{"SHARD_DEAD_AFTER_S", "0"}, BadValue{"SHARD_START_TIMEOUT_S", "0.5"},
        BadValue{"SHARD_RESTART_MAX", "many"}, BadValue{"SHARD_RESTART_WINDOW_S", "0"},
        BadValue{"SHARD_RESTART_BACKOFF_MAX_S", "0.5", {{"SHARD_RESTART_BACKOFF_MIN_S", "2"}}},
        // Cross-setting rules name the setting to change.
        BadValue{"SHARD_IPC_RECONNECT_MAX_S", "2", {{"SHARD_IPC_RECONNECT_MIN_S", "10"}}},
        BadValue{"SHARD_HEALTH_YELLOW_S", "30"}, // below the default green of 60
        BadValue{"SHARD_STATS_HIDE_S", "60"},    // below the default stats green of 120
        BadValue{"SHARD_IPC_TLS_CERT", "/nonexistent/cert.pem", {{"SHARD_IPC_TLS_KEY", "/nonexistent/key.pem"}}},
        BadValue{"SHARD_IPC_TLS_CERT", "cert-without-key.pem"},
        BadValue{"SHARD_IPC_TLS_CA", "/nonexistent/ca.pem"}, BadValue{"SHARD_PROXY_PORT", "65536"},
        BadValue{"SHARD_PROXY_PORT", "web"}, BadValue{"SHARD_PROXY_HOST", " "},
        BadValue{"SHARD_PROXY_RESUME_EVENTS", "-1"}, BadValue{"SHARD_PROXY_RESUME_S", "forever"},
        BadValue{"SHARD_PROXY_CACHE_MEMBERS", "maybe"}, BadValue{"SHARD_BOT_SETTLE_S", "-1"}),
    // Stable, readable names (the default prints the struct's bytes, pointers included, so
    // ctest's list changed from build to build): the index, the setting, then the value's
    // letters and digits.
    [](const ::testing::TestParamInfo<BadValue>& param_info) {
      std::string name = std::to_string(param_info.index) + "_" + param_info.param.setting;
      for (char c : param_info.param.value.substr(0, 24))
        if (std::isalnum(static_cast<unsigned char>(c))) name += c;
      return name;
    });

TEST_F(ConfigTest, OperatorCommandSettings) {
  auto d = load_config(with_secret({}));
  EXPECT_TRUE(d.commands_enabled);
  EXPECT_EQ(d.command_prefix, "!");
  EXPECT_EQ(d.command_cooldown_s, 10);
  EXPECT_EQ(d.command_timeout_ms, 3000u);
  EXPECT_EQ(d.broadcast_channel_id, 0u);
  auto c = load_config(with_secret({{"SHARD_COMMANDS", "false"},
                                    {"SHARD_COMMAND_PREFIX", "sl!"},
                                    {"SHARD_COMMAND_COOLDOWN_S", "0"},
                                    {"SHARD_COMMAND_TIMEOUT_MS", "1500"},
                                    {"SHARD_BROADCAST_CHANNEL_ID", "175928847299117064"}}));
  EXPECT_FALSE(c.commands_enabled);
  EXPECT_EQ(c.command_prefix, "sl!");
  EXPECT_EQ(c.command_cooldown_s, 0);
  EXPECT_EQ(c.command_timeout_ms, 1500u);
  EXPECT_EQ(c.broadcast_channel_id, 175928847299117064u);
  // An empty prefix turns the prefix form off; an empty channel posts nowhere.
  auto e = load_config(with_secret({{"SHARD_COMMAND_PREFIX", ""}, {"SHARD_BROADCAST_CHANNEL_ID", ""}}));
  EXPECT_EQ(e.command_prefix, "");
  EXPECT_EQ(e.broadcast_channel_id, 0u);
}

TEST_F(ConfigTest, LaunchSettings) {
  auto d = load_config(with_secret({}));
  EXPECT_EQ(d.launch.clusters, 0u);
  EXPECT_EQ(d.launch.per_cluster, 8u);
  EXPECT_EQ(d.launch.prefix, "cluster");
  EXPECT_EQ(d.launch.dead_after_s, 90);
  EXPECT_EQ(d.launch.restart_max, 5u);
  EXPECT_EQ(d.launch.bot_settle_s, 2);
  EXPECT_EQ(load_config(with_secret({{"SHARD_BOT_SETTLE_S", "0.5"}})).launch.bot_settle_s, 0.5);
  auto c = load_config(with_secret({{"SHARD_CLUSTERS", "4"},
                                    {"SHARD_CLUSTER_PREFIX", "us-west"},
                                    {"SHARD_CLUSTER_COMMAND", " /opt/bot/bin/mybot --cluster "},
                                    {"SHARD_DEAD_AFTER_S", "2.5"},
                                    {"SHARD_RESTART_MAX", "0"}}));
  EXPECT_EQ(c.launch.clusters, 4u);
  EXPECT_EQ(c.launch.prefix, "us-west");
  EXPECT_EQ(c.launch.command, "/opt/bot/bin/mybot --cluster");
  EXPECT_EQ(c.launch.dead_after_s, 2.5);
  EXPECT_EQ(c.launch.restart_max, 0u);
}

TEST_F(ConfigTest, TlsFilesThatExistAreAccepted) {
  auto cert = dir.write("cert.pem", "x");
  auto key = dir.write("key.pem", "x");
  auto c = load_config(with_secret({{"SHARD_IPC_TLS_CERT", cert.string()}, {"SHARD_IPC_TLS_KEY", key.string()}}));
  EXPECT_TRUE(c.tls_enabled());
  EXPECT_EQ(c.tls_cert, cert.string());
}

TEST_F(ConfigTest, EmptyOrMissingSecretIsRefused) {
  for (auto env : {std::map<std::string, std::string>{}, std::map<std::string, std::string>{{"SHARD_IPC_SECRET", ""}}}) {
    try {
      load_config(sources(env));
      FAIL() << "an empty secret was accepted";
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(), HasSubstr("SHARD_IPC_SECRET"));
    }
  }
}

TEST_F(ConfigTest, DefaultSecretIsRefused) {
  try {
    load_config(sources({{"SHARD_IPC_SECRET", "change_me_please"}}));
    FAIL() << "the default secret was accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("SHARD_IPC_SECRET"));
  }
}

TEST_F(ConfigTest, SecretNotRequiredWhenTheCommandDoesNotNeedIt) {
  auto s = sources();
  s.secret = SecretRule::optional;
  auto c = load_config(s);
  EXPECT_TRUE(c.ipc_secret.empty());
  EXPECT_TRUE(c.warnings.empty());
}

TEST_F(ConfigTest, ShortSecretWarnsWithoutShowingIt) {
  const std::string short_secret = "fifteen-chars!!"; // 15
  ASSERT_EQ(short_secret.size(), 15u);
  auto c = load_config(sources({{"SHARD_IPC_SECRET", short_secret}}));
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_THAT(c.warnings[0], HasSubstr("SHARD_IPC_SECRET"));
  EXPECT_THAT(c.warnings[0], Not(HasSubstr(short_secret)));

  const std::string tiny = "tinysecr"; // 8: fully masked
  c = load_config(sources({{"SHARD_IPC_SECRET", tiny}}));
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_THAT(c.warnings[0], Not(HasSubstr(tiny)));

  // 16 characters is enough.
  EXPECT_TRUE(load_config(sources({{"SHARD_IPC_SECRET", "sixteen-chars!!!"}})).warnings.empty());
}

TEST_F(ConfigTest, LegacyAuthWarnsButNeverShowsTheSecret) {
  auto c = load_config(with_secret({{"SHARD_IPC_LEGACY_AUTH", "true"}}));
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_THAT(c.warnings[0], HasSubstr("SHARD_IPC_LEGACY_AUTH"));
  for (auto& w : c.warnings) EXPECT_THAT(w, Not(HasSubstr(kSecret)));
}

TEST_F(ConfigTest, SecretNeverAppearsInErrorsFromAnySource) {
  // The secret itself is valid; something else is wrong. Whatever the source, the
  // message must not echo the secret.
  auto s = sources();
  s.env_file = dir.write("bad.env", "SHARD_IPC_SECRET=" + kSecret + "\nthis line is broken\n");
  try {
    load_config(s);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), Not(HasSubstr(kSecret)));
  }
  s = sources();
  s.config_json = dir.write("bad.json", R"({"shardline": {"SHARD_IPC_SECRET": ")" + kSecret + R"(", "NOPE": 1}})");
  try {
    load_config(s);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), Not(HasSubstr(kSecret)));
  }
  s = sources();
  s.config_json = dir.write("broken.json", R"({"shardline": {"SHARD_IPC_SECRET": ")" + kSecret + R"(",)");
  try {
    load_config(s);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), Not(HasSubstr(kSecret)));
  }
}

TEST(MaskSecret, NeverShowsTheSecret) {
  EXPECT_EQ(mask_secret(""), "");
  EXPECT_EQ(mask_secret("abc"), "***");
  EXPECT_EQ(mask_secret("abcdefgh"), "********");
  EXPECT_EQ(mask_secret("abcdefghi"), "ab*****hi");
  EXPECT_EQ(mask_secret("0123456789abcdef"), "01************ef");
  std::string secret;
  for (int n = 1; n <= 64; ++n) {
    secret.push_back(static_cast<char>('a' + n % 26));
    auto m = mask_secret(secret);
    EXPECT_EQ(m.size(), secret.size());
    EXPECT_EQ(m.find(secret), std::string::npos) << n;
    // At most 4 characters are revealed.
    EXPECT_GE(std::count(m.begin(), m.end(), '*'), static_cast<long>(secret.size()) - 4);
  }
}

TEST(ParseDotenv, KeyValueLinesCommentsExportAndQuotes) {
  auto m = parse_dotenv(
      "# a comment\n"
      "\n"
      "   # indented comment\n"
      "PLAIN=value\n"
      "export EXPORTED=yes\n"
      "SPACED = around equals \n"
      "DOUBLE=\"with spaces # not a comment\"\n"
      "SINGLE='single quoted'\n"
      "TRAILING=value # a trailing comment\n"
      "HASH=abc#def\n"
      "EQUALS=a=b=c\n"
      "EMPTY=\n"
      "EMPTY_QUOTES=\"\"\n"
      "CRLF=windows\r\n"
      "QUOTED_COMMENT=\"quoted value\" # why it is set\n"
      "SINGLE_COMMENT='x y'   # note\n",
      "test.env");
  EXPECT_EQ(m.at("PLAIN"), "value");
  EXPECT_EQ(m.at("EXPORTED"), "yes");
  EXPECT_EQ(m.count("export EXPORTED"), 0u);
  EXPECT_EQ(m.at("SPACED"), "around equals");
  EXPECT_EQ(m.at("DOUBLE"), "with spaces # not a comment");
  EXPECT_EQ(m.at("SINGLE"), "single quoted");
  EXPECT_EQ(m.at("TRAILING"), "value");
  EXPECT_EQ(m.at("HASH"), "abc#def");
  EXPECT_EQ(m.at("EQUALS"), "a=b=c");
  EXPECT_EQ(m.at("EMPTY"), "");
  EXPECT_EQ(m.at("EMPTY_QUOTES"), "");
  EXPECT_EQ(m.at("CRLF"), "windows");
  EXPECT_EQ(m.at("QUOTED_COMMENT"), "quoted value");
  EXPECT_EQ(m.at("SINGLE_COMMENT"), "x y");
  EXPECT_EQ(m.size(), 13u);
}

TEST(ParseDotenv, LaterLineWins) {
  auto m = parse_dotenv("A=1\nA=2\n", "x");
  EXPECT_EQ(m.at("A"), "2");
}

TEST(ParseDotenv, MalformedLineNamesFileAndLine) {
  try {
    parse_dotenv("A=1\n\nno equals sign here\n", "my.env");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("my.env:3"));
  }
  EXPECT_THROW(parse_dotenv("=value\n", "x"), ConfigError);
}

TEST(ClusterName, ValidNames) {
  for (const std::string& n : std::vector<std::string>{"cluster-0", "a", "EU_west.2", "0", "all-clusters", "hubble", std::string(64, 'x')})
    EXPECT_TRUE(is_valid_cluster_name(n)) << n;
}

TEST(ClusterName, InvalidNames) {
  for (const std::string& n : std::vector<std::string>{"", "all", "hub", "shard:0", "shard:", "guild:1234", "two words", "a/b", "a:b",
                        "tab\there", "caf\xc3\xa9", std::string(65, 'x'), std::string("nul\0x", 5)})
    EXPECT_FALSE(is_valid_cluster_name(n)) << n;
}

TEST_F(ConfigTest, ABlankSecretIsRefusedLikeAnEmptyOne) {
  for (const char* blank : {" ", "   \t  "}) {
    try {
      load_config(sources({{"SHARD_IPC_SECRET", blank}}));
      FAIL() << "a secret of spaces was accepted";
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(), HasSubstr("SHARD_IPC_SECRET"));
    }
  }
}

TEST_F(ConfigTest, RunWithoutTheShardManagerNeedsNoSecret) {
  auto s = sources({{"ENABLE_SHARD_MANAGER", "false"}});
  s.secret = SecretRule::with_shard_manager;
  EXPECT_FALSE(load_config(s).enable_shard_manager);
  s = sources({{"ENABLE_SHARD_MANAGER", "true"}});
  s.secret = SecretRule::with_shard_manager;
  EXPECT_THROW(load_config(s), ConfigError); // the IPC needs it
}

TEST_F(ConfigTest, TyposInShardlineNamesWarnWithTheClosestSetting) {
  auto c = load_config(with_secret({{"SHARD_IPC_SECERT", "x"}, {"SHARD_CLUSTER", "3"}, {"SHARD_FROB", "1"}}));
  ASSERT_EQ(c.warnings.size(), 3u);
  EXPECT_THAT(c.warnings, Contains(HasSubstr("did you mean SHARD_CLUSTERS?")));
  EXPECT_THAT(c.warnings, Contains(AllOf(HasSubstr("SHARD_FROB is not a Shardline setting"), Not(HasSubstr("did you mean")))));
  // Never the value: a typo of the secret's name must not print the secret.
  for (auto& w : c.warnings) EXPECT_THAT(w, Not(HasSubstr("=x")));
  // The same in a .env file names the file.
  auto s = with_secret();
  s.env_file = dir.write("typo.env", "SHARD_IPC_PROT=1\nOTHER_APP_SETTING=2\n");
  c = load_config(s);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_THAT(c.warnings[0], HasSubstr("typo.env"));
  EXPECT_THAT(c.warnings[0], HasSubstr("did you mean SHARD_IPC_PORT?"));
}

TEST_F(ConfigTest, LogLevelIsASettingLikeTheOthers) {
  EXPECT_EQ(load_config(with_secret()).log_level, "info");
  EXPECT_EQ(load_config(with_secret({{"SHARDLINE_LOG", "DEBUG"}})).log_level, "debug");
  EXPECT_EQ(load_config(with_secret({{"SHARDLINE_LOG", "warning"}})).log_level, "warn");
  // From .env and config.json too (both used to drop or refuse it).
  auto s = with_secret();
  s.env_file = dir.write("log.env", "SHARDLINE_LOG=error\n");
  EXPECT_EQ(load_config(s).log_level, "error");
  s = with_secret();
  s.config_json = dir.write("log.json", R"({"shardline": {"shardline_log": "trace"}})");
  EXPECT_EQ(load_config(s).log_level, "trace");
  // A bad value is refused, not read as "off" (which silenced every log).
  try {
    load_config(with_secret({{"SHARDLINE_LOG", "verbose"}}));
    FAIL() << "a bad log level was accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("SHARDLINE_LOG"));
  }
}

TEST(KnownSettings, ListsEverySettingReadFromTheEnvironment) {
  auto& k = known_settings();
  for (const char* s : {"ENABLE_SHARD_MANAGER", "SHARD_IPC_SECRET", "SHARD_IPC_HOST", "SHARD_IPC_PORT",
                        "SHARD_IPC_MODE", "SHARD_CLUSTER_NAME", "SHARD_COUNT", "SHARD_IDS", "DISCORD_TOKEN",
                        "SHARD_IPC_LEGACY_AUTH", "BOT_OWNER_ID"})
    EXPECT_NE(std::find(k.begin(), k.end(), s), k.end()) << s;
}

TEST(IpcModeNames, ToString) {
  EXPECT_STREQ(to_string(IpcMode::server), "server");
  EXPECT_STREQ(to_string(IpcMode::client), "client");
}

} // namespace
} // namespace shardline
