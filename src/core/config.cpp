#include "core/config.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

extern char** environ;

namespace shardline {
namespace {

const std::vector<std::string> kSettings = {
    "ENABLE_SHARD_MANAGER", "SHARD_IPC_SECRET", "BOT_OWNER_ID", "SHARD_IPC_HOST",
    "SHARD_IPC_PORT", "SHARD_IPC_MODE", "SHARD_CLUSTER_NAME", "SHARD_COUNT", "SHARD_IDS",
    "DISCORD_TOKEN", "SHARD_IPC_LEGACY_AUTH", "SHARD_IPC_TLS_CERT", "SHARD_IPC_TLS_KEY",
    "SHARD_IPC_TLS_CA", "SHARD_IPC_HEARTBEAT_S", "SHARD_IPC_STATS_INTERVAL_S",
    "SHARD_IPC_AUTH_TIMEOUT_S", "SHARD_IPC_BODY_TIMEOUT_S", "SHARD_IPC_IDLE_TIMEOUT_S",
    "SHARD_IPC_RECONNECT_MIN_S", "SHARD_IPC_RECONNECT_MAX_S", "SHARD_IPC_MAX_PENDING",
    "SHARD_IPC_MAX_OUTBUF_KB", "SHARD_HEALTH_GREEN_S", "SHARD_HEALTH_YELLOW_S",
    "SHARD_STATS_GREEN_S", "SHARD_STATS_HIDE_S", "SHARD_DATA_DIR", "SHARD_CLUSTER_GENERATION",
    "DISCORD_API_URL", "DISCORD_INTENTS", "DISCORD_LARGE_THRESHOLD", "DISCORD_GATEWAY_COMPRESS",
    "SHARD_IDENTIFY_RESERVE", "DISCORD_IDENTIFY_WINDOW_MS", "SHARD_REST_GLOBAL_PER_SEC", "SHARD_REST_MAX_WAIT_MS",
    "SHARD_REST_INVALID_LIMIT", "SHARD_REST_ROUTE_INVALID_LIMIT", "SHARD_REST_COORDINATION", "SHARD_COMMANDS", "SHARD_COMMAND_PREFIX",
    "SHARD_COMMAND_COOLDOWN_S", "SHARD_COMMAND_TIMEOUT_MS", "SHARD_BROADCAST_CHANNEL_ID",
    "SHARD_CLUSTERS", "SHARD_PER_CLUSTER", "SHARD_CLUSTER_PREFIX", "SHARD_CLUSTER_COMMAND", "SHARD_DEAD_AFTER_S",
    "SHARD_START_TIMEOUT_S", "SHARD_RESTART_MAX", "SHARD_RESTART_WINDOW_S", "SHARD_RESTART_BACKOFF_MIN_S",
    "SHARD_RESTART_BACKOFF_MAX_S", "SHARD_STANDBY", "SHARD_TRACE_EVENTS", "SHARD_RESHARD_GUILDS_PER_SHARD",
    "SHARD_PROXY_HOST", "SHARD_PROXY_PORT", "SHARD_PROXY_CACHE_MEMBERS", "SHARD_PROXY_CACHE_PRESENCES",
    "SHARD_PROXY_CACHE_VOICE_STATES", "SHARD_PROXY_RESUME_EVENTS", "SHARD_PROXY_RESUME_S", "SHARD_BOT_COMMAND",
    "SHARD_BOT_SETTLE_S",
    "SHARDLINE_LOG",
};

bool is_known(const std::string& key) { return std::find(kSettings.begin(), kSettings.end(), key) != kSettings.end(); }

// A name in Shardline's own namespaces: a typo there is worth a warning. Other variables (the
// bot's own DISCORD_CLIENT_ID, PATH...) are none of Shardline's business.
bool looks_like_ours(const std::string& key) { return key.starts_with("SHARD_") || key.starts_with("SHARDLINE_"); }

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string unknown_setting_warning(const std::string& key, const std::string& where) {
  auto near = closest_setting(key);
  return fmt::format("{} is not a Shardline setting ({}){}: it is ignored", key, where,
                     near.empty() ? "" : fmt::format("; did you mean {}?", near));
}

const std::vector<std::string> kLogLevels = {"trace", "debug", "info", "warn", "error", "critical", "off"};

constexpr const char* kDefaultSecret = "change_me_please";

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

[[noreturn]] void fail(const std::string& setting, const std::string& value, const std::string& why) {
  throw ConfigError(fmt::format("{}: '{}' {}", setting, value, why));
}

bool parse_bool(const std::string& name, const std::string& v) {
  auto l = lower(trim(v));
  if (l == "true" || l == "1" || l == "yes" || l == "on") return true;
  if (l == "false" || l == "0" || l == "no" || l == "off" || l.empty()) return false;
  fail(name, v, "is not a boolean (use true or false)");
}

std::uint64_t parse_uint(const std::string& name, const std::string& v, std::uint64_t min,
                         std::uint64_t max, const char* what) {
  auto t = trim(v);
  std::uint64_t out = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
  if (t.empty() || ec != std::errc() || p != t.data() + t.size() || out < min || out > max)
    fail(name, v, fmt::format("is not {} ({}..{})", what, min, max));
  return out;
}

double parse_seconds(const std::string& name, const std::string& v, double min, double max) {
  auto t = trim(v);
  double out = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
  if (t.empty() || ec != std::errc() || p != t.data() + t.size() || !std::isfinite(out) ||
      out < min || out > max)
    fail(name, v, fmt::format("is not a duration in seconds ({}..{})", min, max));
  return out;
}

std::vector<std::uint32_t> parse_shard_ids(const std::string& name, const std::string& v) {
  std::vector<std::uint32_t> ids;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto t = trim(item);
    if (t.empty()) continue;
    // Ranges like 0-7 save operators typing long lists.
    if (auto dash = t.find('-'); dash != std::string::npos && dash > 0) {
      auto lo = parse_uint(name, t.substr(0, dash), 0, 1u << 20, "a shard id");
      auto hi = parse_uint(name, t.substr(dash + 1), 0, 1u << 20, "a shard id");
      if (hi < lo) fail(name, v, "has a range whose end is below its start");
      for (auto i = lo; i <= hi; ++i) ids.push_back(static_cast<std::uint32_t>(i));
    } else {
      ids.push_back(static_cast<std::uint32_t>(parse_uint(name, t, 0, 1u << 20, "a shard id")));
    }
  }
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end())
    fail(name, v, "lists a shard more than once");
  return ids;
}

std::string json_scalar_to_string(const boost::json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_bool()) return v.get_bool() ? "true" : "false";
  if (v.is_null()) return "";
  if (v.is_array()) { // e.g. "SHARD_IDS": [0, 1, 2]
    std::string out;
    for (auto& e : v.get_array()) {
      if (!out.empty()) out += ',';
      out += json_scalar_to_string(e);
    }
    return out;
  }
  return boost::json::serialize(v);
}

std::map<std::string, std::string> read_config_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(fmt::format("--config: cannot read '{}'", path.string()));
  std::stringstream buf;
  buf << in.rdbuf();
  boost::system::error_code ec;
  auto doc = boost::json::parse(buf.str(), ec);
  if (ec || !doc.is_object())
    throw ConfigError(fmt::format("{}: not a JSON object ({})", path.string(),
                                  ec ? ec.message() : "top level is not an object"));
  std::map<std::string, std::string> out;
  auto& root = doc.get_object();
  if (auto* fw = root.if_contains("framework"); fw && fw->is_object()) {
    if (auto* e = fw->get_object().if_contains("enable_shard_manager"))
      out["ENABLE_SHARD_MANAGER"] = json_scalar_to_string(*e);
  }
  // Every other setting lives under "shardline", by its variable name in either case.
  if (auto* sl = root.if_contains("shardline"); sl && sl->is_object()) {
    for (auto& [k, v] : sl->get_object()) {
      std::string key(k);
      std::transform(key.begin(), key.end(), key.begin(),
                     [](unsigned char c) { return std::toupper(c); });
      if (std::find(kSettings.begin(), kSettings.end(), key) == kSettings.end())
        throw ConfigError(fmt::format("{}: unknown setting \"shardline.{}\"", path.string(),
                                      std::string(k)));
      out[key] = json_scalar_to_string(v);
    }
  }
  return out;
}

} // namespace

const std::vector<std::string>& known_settings() { return kSettings; }

std::string closest_setting(std::string_view name) {
  std::string best;
  std::size_t best_d = 4;
  for (auto& s : kSettings) {
    auto d = edit_distance(name, s);
    if (d < best_d) best_d = d, best = s;
  }
  return best;
}

bool is_valid_cluster_name(std::string_view n) {
  if (n.empty() || n.size() > 64 || n == "all" || n == "hub" || n.rfind("shard:", 0) == 0 ||
      n.rfind("guild:", 0) == 0)
    return false;
  return std::all_of(n.begin(), n.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

const char* to_string(IpcMode mode) { return mode == IpcMode::server ? "server" : "client"; }

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string key(kv.substr(0, eq));
    if (is_known(key) || looks_like_ours(key)) env[key] = std::string(kv.substr(eq + 1));
  }
  return env;
}

std::map<std::string, std::string> parse_dotenv(const std::string& text, const std::string& origin) {
  std::map<std::string, std::string> out;
  std::stringstream ss(text);
  std::string line;
  int lineno = 0;
  while (std::getline(ss, line)) {
    ++lineno;
    auto t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (t.rfind("export ", 0) == 0) t = trim(t.substr(7));
    auto eq = t.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError(fmt::format("{}:{}: expected KEY=VALUE", origin, lineno));
    auto key = trim(t.substr(0, eq));
    auto value = trim(t.substr(eq + 1));
    const bool quoted = value.size() >= 2 && (value.front() == '"' || value.front() == '\'');
    const auto close = quoted ? value.find(value.front(), 1) : std::string::npos;
    const auto after = close == std::string::npos ? close : value.find_first_not_of(" \t", close + 1);
    if (after != std::string::npos && value[after] == '#') {
      value = value.substr(1, close - 1); // "quoted value" # trailing comment
    } else if (quoted && value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    } else if (auto hash = value.find(" #"); hash != std::string::npos) {
      value = trim(value.substr(0, hash)); // trailing comment on an unquoted value
    }
    out[key] = value;
  }
  return out;
}

std::string mask_secret(const std::string& secret) {
  if (secret.size() <= 8) return std::string(secret.size(), '*');
  return secret.substr(0, 2) + std::string(secret.size() - 4, '*') + secret.substr(secret.size() - 2);
}

Config load_config(const ConfigSources& sources) {
  // Layers, lowest precedence first: config.json, .env, environment.
  std::map<std::string, std::string> raw;
  std::vector<std::string> unknown; // SHARD_* names that are no setting: typos, warned about
  auto json_path = sources.config_json;
  if (!json_path && std::filesystem::exists("config.json")) json_path = "config.json";
  if (json_path) raw = read_config_json(*json_path);

  auto env_path = sources.env_file;
  if (!env_path && std::filesystem::exists(".env")) env_path = ".env";
  if (env_path) {
    std::ifstream in(*env_path);
    if (!in) throw ConfigError(fmt::format("--env-file: cannot read '{}'", env_path->string()));
    std::stringstream buf;
    buf << in.rdbuf();
    for (auto& [k, v] : parse_dotenv(buf.str(), env_path->string())) {
      if (is_known(k)) raw[k] = v;
      else if (looks_like_ours(k)) unknown.push_back(unknown_setting_warning(k, env_path->string()));
    }
  }
  for (auto& [k, v] : sources.environment) {
    if (is_known(k)) raw[k] = v;
    else if (looks_like_ours(k)) unknown.push_back(unknown_setting_warning(k, "environment"));
  }

  Config c;
  c.warnings = std::move(unknown);
  auto get = [&](const char* k) -> const std::string* {
    auto it = raw.find(k);
    return it == raw.end() ? nullptr : &it->second;
  };
  if (auto v = get("ENABLE_SHARD_MANAGER")) c.enable_shard_manager = parse_bool("ENABLE_SHARD_MANAGER", *v);
  if (auto v = get("SHARD_IPC_SECRET")) c.ipc_secret = *v;
  if (auto v = get("SHARDLINE_LOG")) {
    c.log_level = lower(trim(*v));
    if (c.log_level == "warning") c.log_level = "warn";
    if (std::find(kLogLevels.begin(), kLogLevels.end(), c.log_level) == kLogLevels.end())
      fail("SHARDLINE_LOG", *v, "is not a log level (trace, debug, info, warn, error, critical or off)");
  }
  if (auto v = get("BOT_OWNER_ID")) {
    c.bot_owner_id = trim(*v);
    if (!c.bot_owner_id.empty()) parse_uint("BOT_OWNER_ID", c.bot_owner_id, 0, UINT64_MAX, "a Discord user id");
  }
  if (auto v = get("SHARD_IPC_HOST")) {
    c.ipc_host = trim(*v);
    if (c.ipc_host.empty()) fail("SHARD_IPC_HOST", *v, "is empty (use 127.0.0.1, or 0.0.0.0 to listen on every interface)");
  }
  if (auto v = get("SHARD_IPC_PORT"))
    c.ipc_port = static_cast<std::uint16_t>(parse_uint("SHARD_IPC_PORT", *v, 0, 65535, "a port number"));
  if (auto v = get("SHARD_IPC_MODE")) {
    auto m = lower(trim(*v));
    if (m == "server") c.ipc_mode = IpcMode::server;
    else if (m == "client") c.ipc_mode = IpcMode::client;
    else fail("SHARD_IPC_MODE", *v, "is not a mode (use server or client)");
  }
  if (auto v = get("SHARD_CLUSTER_NAME")) {
    c.cluster_name = trim(*v);
    if (!is_valid_cluster_name(c.cluster_name))
      fail("SHARD_CLUSTER_NAME", *v, "is not a cluster name (1-64 of A-Z a-z 0-9 - _ ., not \"all\" or \"hub\")");
  }
  if (auto v = get("SHARD_COUNT")) {
    if (lower(trim(*v)) == "auto") c.shard_count.reset();
    else c.shard_count = static_cast<std::uint32_t>(parse_uint("SHARD_COUNT", *v, 1, 1u << 20, "a shard count or auto"));
  }
  if (auto v = get("SHARD_IDS")) c.shard_ids = parse_shard_ids("SHARD_IDS", *v);
  if (auto v = get("DISCORD_TOKEN")) c.discord_token = trim(*v);
  if (auto v = get("DISCORD_API_URL")) {
    c.discord_api_url = trim(*v);
    while (!c.discord_api_url.empty() && c.discord_api_url.back() == '/') c.discord_api_url.pop_back();
    if (c.discord_api_url.rfind("http://", 0) != 0 && c.discord_api_url.rfind("https://", 0) != 0)
      fail("DISCORD_API_URL", *v, "is not an http:// or https:// URL (e.g. https://discord.com/api/v10)");
  }
  if (auto v = get("DISCORD_INTENTS"))
    c.intents = parse_uint("DISCORD_INTENTS", *v, 0, (1ull << 26) - 1, "an intents bit mask (e.g. 513)");
  if (auto v = get("DISCORD_LARGE_THRESHOLD"))
    c.large_threshold = static_cast<std::uint32_t>(parse_uint("DISCORD_LARGE_THRESHOLD", *v, 50, 250, "50..250"));
  if (auto v = get("DISCORD_GATEWAY_COMPRESS")) c.gateway_compress = parse_bool("DISCORD_GATEWAY_COMPRESS", *v);
  if (auto v = get("DISCORD_IDENTIFY_WINDOW_MS"))
    c.identify_window_ms =
        static_cast<std::uint32_t>(parse_uint("DISCORD_IDENTIFY_WINDOW_MS", *v, 100, 60000, "milliseconds, 100..60000"));
  if (auto v = get("SHARD_IDENTIFY_RESERVE"))
    c.identify_reserve = static_cast<std::uint32_t>(parse_uint("SHARD_IDENTIFY_RESERVE", *v, 0, 100000, "a count of IDENTIFYs"));
  if (auto v = get("SHARD_REST_GLOBAL_PER_SEC"))
    c.rest.global_per_sec =
        static_cast<std::uint32_t>(parse_uint("SHARD_REST_GLOBAL_PER_SEC", *v, 1, 100000, "requests per second"));
  if (auto v = get("SHARD_REST_MAX_WAIT_MS"))
    c.rest.max_wait_ms = static_cast<std::uint32_t>(parse_uint("SHARD_REST_MAX_WAIT_MS", *v, 0, 600000, "milliseconds"));
  if (auto v = get("SHARD_REST_INVALID_LIMIT"))
    c.rest.invalid_limit =
        static_cast<std::uint32_t>(parse_uint("SHARD_REST_INVALID_LIMIT", *v, 1, 10000, "answers in 10 minutes, 1..10000"));
  if (auto v = get("SHARD_REST_ROUTE_INVALID_LIMIT"))
    c.rest.route_invalid_limit = static_cast<std::uint32_t>(
        parse_uint("SHARD_REST_ROUTE_INVALID_LIMIT", *v, 1, 10000, "answers in 10 minutes, 1..10000"));
  if (auto v = get("SHARD_REST_COORDINATION")) {
    if (*v != "hub" && *v != "local") fail("SHARD_REST_COORDINATION", *v, "is not hub or local");
    c.rest.coordination = *v;
  }
  if (auto v = get("SHARD_CLUSTER_GENERATION"))
    c.generation = static_cast<std::int64_t>(parse_uint("SHARD_CLUSTER_GENERATION", *v, 0, INT64_MAX, "a generation number"));
  if (auto v = get("SHARD_COMMANDS")) c.commands_enabled = parse_bool("SHARD_COMMANDS", *v);
  if (auto v = get("SHARD_COMMAND_PREFIX")) {
    // Matched against raw message text: no spaces (the command name follows at once), and short.
    // Empty turns the prefix form off (slash commands only).
    c.command_prefix = trim(*v);
    bool ok = c.command_prefix.size() <= 16;
    for (unsigned char ch : c.command_prefix) ok = ok && ch > ' ' && ch != 0x7f;
    if (!ok) fail("SHARD_COMMAND_PREFIX", *v, "is not a command prefix (up to 16 characters, no spaces; e.g. !)");
  }
  if (auto v = get("SHARD_COMMAND_TIMEOUT_MS"))
    c.command_timeout_ms =
        static_cast<std::uint32_t>(parse_uint("SHARD_COMMAND_TIMEOUT_MS", *v, 100, 60000, "milliseconds, 100..60000"));
  if (auto v = get("SHARD_BROADCAST_CHANNEL_ID"); v && !trim(*v).empty())
    c.broadcast_channel_id = parse_uint("SHARD_BROADCAST_CHANNEL_ID", *v, 1, UINT64_MAX, "a Discord channel id");
  if (auto v = get("SHARD_STANDBY")) c.standby = parse_bool("SHARD_STANDBY", *v);
  if (auto v = get("SHARD_TRACE_EVENTS")) {
    std::stringstream ss(*v);
    for (std::string t; std::getline(ss, t, ',');) {
      t = trim(t);
      if (t.empty()) continue;
      for (unsigned char ch : t)
        if (!(std::isupper(ch) || ch == '_')) fail("SHARD_TRACE_EVENTS", *v, "is not a list of dispatch types (e.g. MESSAGE_CREATE)");
      c.trace_events.push_back(t);
    }
  }
  if (auto v = get("SHARD_RESHARD_GUILDS_PER_SHARD"))
    c.launch.reshard_guilds_per_shard =
        static_cast<std::uint32_t>(parse_uint("SHARD_RESHARD_GUILDS_PER_SHARD", *v, 0, 2500, "guilds per shard (0: off)"));
  if (auto v = get("SHARD_CLUSTERS"))
    c.launch.clusters = static_cast<std::uint32_t>(parse_uint("SHARD_CLUSTERS", *v, 0, 65536, "a count of cluster processes"));
  if (auto v = get("SHARD_PER_CLUSTER"))
    c.launch.per_cluster = static_cast<std::uint32_t>(parse_uint("SHARD_PER_CLUSTER", *v, 1, 1u << 20, "shards per cluster"));
  if (auto v = get("SHARD_CLUSTER_PREFIX")) {
    c.launch.prefix = trim(*v);
    // Cluster names are <prefix>-<index>: the prefix must leave room for the index.
    if (c.launch.prefix.size() > 56 || !is_valid_cluster_name(c.launch.prefix + "-0"))
      fail("SHARD_CLUSTER_PREFIX", *v, "is not a name prefix (1-56 of A-Z a-z 0-9 - _ .)");
  }
  if (auto v = get("SHARD_CLUSTER_COMMAND")) c.launch.command = trim(*v);
  if (auto v = get("SHARD_BOT_COMMAND")) c.launch.bot_command = trim(*v);
  if (auto v = get("SHARD_PROXY_HOST")) {
    c.proxy.host = trim(*v);
    if (c.proxy.host.empty()) fail("SHARD_PROXY_HOST", *v, "is empty (an address to listen on, e.g. 127.0.0.1)");
  }
  if (auto v = get("SHARD_PROXY_PORT")) {
    if (lower(trim(*v)) == "auto") c.proxy.port_auto = true;
    else
      c.proxy.port = static_cast<std::uint16_t>(
          parse_uint("SHARD_PROXY_PORT", *v, 0, 65535, "a port number, 0 (off) or auto (a free port)"));
  }
  if (auto v = get("SHARD_PROXY_CACHE_MEMBERS")) c.proxy.cache_members = parse_bool("SHARD_PROXY_CACHE_MEMBERS", *v);
  if (auto v = get("SHARD_PROXY_CACHE_PRESENCES"))
    c.proxy.cache_presences = parse_bool("SHARD_PROXY_CACHE_PRESENCES", *v);
  if (auto v = get("SHARD_PROXY_CACHE_VOICE_STATES"))
    c.proxy.cache_voice_states = parse_bool("SHARD_PROXY_CACHE_VOICE_STATES", *v);
  if (auto v = get("SHARD_PROXY_RESUME_EVENTS"))
    c.proxy.resume_events =
        static_cast<std::uint32_t>(parse_uint("SHARD_PROXY_RESUME_EVENTS", *v, 0, 1'000'000, "a count of events"));
  if (auto v = get("SHARD_RESTART_MAX"))
    c.launch.restart_max = static_cast<std::uint32_t>(parse_uint("SHARD_RESTART_MAX", *v, 0, 1000, "a count of restarts"));
  if (auto v = get("SHARD_IPC_LEGACY_AUTH")) c.legacy_auth = parse_bool("SHARD_IPC_LEGACY_AUTH", *v);
  if (auto v = get("SHARD_IPC_TLS_CERT")) c.tls_cert = trim(*v);
  if (auto v = get("SHARD_IPC_TLS_KEY")) c.tls_key = trim(*v);
  if (auto v = get("SHARD_IPC_TLS_CA")) c.tls_ca = trim(*v);

  struct Seconds { const char* name; double* field; double min; double max; };
  const Seconds durations[] = {
      {"SHARD_IPC_HEARTBEAT_S", &c.heartbeat_s, 0.05, 3600},
      {"SHARD_IPC_STATS_INTERVAL_S", &c.stats_interval_s, 0.05, 86400},
      {"SHARD_IPC_AUTH_TIMEOUT_S", &c.auth_timeout_s, 0.05, 600},
      {"SHARD_IPC_BODY_TIMEOUT_S", &c.body_timeout_s, 0.05, 600},
      {"SHARD_IPC_IDLE_TIMEOUT_S", &c.idle_timeout_s, 0.1, 86400},
      {"SHARD_IPC_RECONNECT_MIN_S", &c.reconnect_min_s, 0.01, 3600},
      {"SHARD_IPC_RECONNECT_MAX_S", &c.reconnect_max_s, 0.01, 86400},
      {"SHARD_HEALTH_GREEN_S", &c.health.heartbeat_green_s, 0.1, 86400},
      {"SHARD_HEALTH_YELLOW_S", &c.health.heartbeat_yellow_s, 0.1, 86400},
      {"SHARD_STATS_GREEN_S", &c.health.stats_green_s, 0.1, 86400},
      {"SHARD_STATS_HIDE_S", &c.health.stats_hide_s, 0.1, 86400},
      {"SHARD_COMMAND_COOLDOWN_S", &c.command_cooldown_s, 0, 3600},
      {"SHARD_DEAD_AFTER_S", &c.launch.dead_after_s, 0.5, 86400},
      {"SHARD_START_TIMEOUT_S", &c.launch.start_timeout_s, 1, 3600},
      {"SHARD_RESTART_WINDOW_S", &c.launch.restart_window_s, 1, 86400 * 7},
      {"SHARD_RESTART_BACKOFF_MIN_S", &c.launch.backoff_min_s, 0.01, 3600},
      {"SHARD_RESTART_BACKOFF_MAX_S", &c.launch.backoff_max_s, 0.01, 86400},
      {"SHARD_PROXY_RESUME_S", &c.proxy.resume_s, 0, 86400},
      {"SHARD_BOT_SETTLE_S", &c.launch.bot_settle_s, 0, 600},
  };
  for (auto& d : durations)
    if (auto v = get(d.name)) *d.field = parse_seconds(d.name, *v, d.min, d.max);
  if (auto v = get("SHARD_IPC_MAX_PENDING"))
    c.max_pending = parse_uint("SHARD_IPC_MAX_PENDING", *v, 1, 1'000'000, "a connection count");
  if (auto v = get("SHARD_IPC_MAX_OUTBUF_KB"))
    c.max_outbuf_bytes = 1024 * parse_uint("SHARD_IPC_MAX_OUTBUF_KB", *v, 16, 16u << 20, "a size in KiB");
  if (auto v = get("SHARD_DATA_DIR")) {
    if (trim(*v).empty()) fail("SHARD_DATA_DIR", *v, "is empty");
    c.data_dir = trim(*v);
  }

  // Cross-setting rules.
  if (c.reconnect_max_s < c.reconnect_min_s)
    fail("SHARD_IPC_RECONNECT_MAX_S", fmt::format("{}", c.reconnect_max_s), "is below SHARD_IPC_RECONNECT_MIN_S");
  if (c.health.heartbeat_yellow_s < c.health.heartbeat_green_s)
    fail("SHARD_HEALTH_YELLOW_S", fmt::format("{}", c.health.heartbeat_yellow_s), "is below SHARD_HEALTH_GREEN_S");
  if (c.health.stats_hide_s < c.health.stats_green_s)
    fail("SHARD_STATS_HIDE_S", fmt::format("{}", c.health.stats_hide_s), "is below SHARD_STATS_GREEN_S");
  if (c.launch.backoff_max_s < c.launch.backoff_min_s)
    fail("SHARD_RESTART_BACKOFF_MAX_S", fmt::format("{}", c.launch.backoff_max_s), "is below SHARD_RESTART_BACKOFF_MIN_S");
  if (c.tls_cert.empty() != c.tls_key.empty())
    throw ConfigError("SHARD_IPC_TLS_CERT and SHARD_IPC_TLS_KEY: set both or neither");
  for (auto* f : {&c.tls_cert, &c.tls_key, &c.tls_ca})
    if (!f->empty() && !std::filesystem::exists(*f))
      throw ConfigError(fmt::format("{}: file '{}' does not exist",
                                    f == &c.tls_cert ? "SHARD_IPC_TLS_CERT"
                                    : f == &c.tls_key ? "SHARD_IPC_TLS_KEY" : "SHARD_IPC_TLS_CA", *f));
  if (c.shard_count)
    for (auto id : c.shard_ids)
      if (id >= *c.shard_count)
        fail("SHARD_IDS", raw["SHARD_IDS"], fmt::format("has shard {} but SHARD_COUNT is {}", id, *c.shard_count));

  const bool need_secret = sources.secret == SecretRule::required ||
                           (sources.secret == SecretRule::with_shard_manager && c.enable_shard_manager);
  if (need_secret) {
    if (trim(c.ipc_secret).empty())
      throw ConfigError(c.ipc_secret.empty()
                            ? "SHARD_IPC_SECRET: is empty; set the same long random secret on every cluster"
                            : "SHARD_IPC_SECRET: is only spaces; set the same long random secret on every cluster");
    if (c.ipc_secret == kDefaultSecret)
      throw ConfigError("SHARD_IPC_SECRET: is the default 'change_me_please'; set a long random secret on every cluster");
    if (c.ipc_secret.size() < 16)
      c.warnings.push_back(fmt::format("SHARD_IPC_SECRET is only {} characters ({}); use at least 16",
                                       c.ipc_secret.size(), mask_secret(c.ipc_secret)));
  }
  if (c.legacy_auth)
    c.warnings.push_back("SHARD_IPC_LEGACY_AUTH=true: version-1 peers send the secret in clear text; use it only on a trusted network or with TLS");
  return c;
}

} // namespace shardline
