#pragma once
// Shardline's configuration: one struct shared by every subcommand, loaded from the process
// environment, a .env file and config.json (in that order of precedence, over defaults).

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace shardline {

// Thrown for any invalid setting; the message names the setting and says what to change.
// Subcommands turn it into exit code 2.
class ConfigError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

enum class IpcMode { server, client };

struct HealthThresholds {
  double heartbeat_green_s = 60;   // heartbeat age under this: green
  double heartbeat_yellow_s = 180; // under this: yellow, otherwise red
  double stats_green_s = 120;      // relayed stats age under this: green, otherwise yellow
  double stats_hide_s = 300;       // older relayed stats are hidden and left out of totals
};

struct Config {
  bool enable_shard_manager = false;
  std::string ipc_secret;
  std::string bot_owner_id;
  std::string ipc_host = "127.0.0.1";
  std::uint16_t ipc_port = 20000;
  IpcMode ipc_mode = IpcMode::server;
  std::string cluster_name = "cluster-0";
  std::optional<std::uint32_t> shard_count = 1; // nullopt: "auto" (ask /gateway/bot)
  std::vector<std::uint32_t> shard_ids;
  std::string discord_token;
  // Discord's REST base; point it at `shardline sim` (http://127.0.0.1:PORT/api/v10).
  std::string discord_api_url = "https://discord.com/api/v10";
  std::uint64_t intents = 513;           // DISCORD_INTENTS: GUILDS | GUILD_MESSAGES
  std::uint32_t large_threshold = 250;   // DISCORD_LARGE_THRESHOLD, 50..250
  bool gateway_compress = true;          // DISCORD_GATEWAY_COMPRESS: zlib-stream
  // IDENTIFYs kept back from the daily session_start_limit: below this many remaining, shards
  // resume what they can and refuse new sessions (SHARD_IDENTIFY_RESERVE).
  std::uint32_t identify_reserve = 10;
  // Discord's REST limits for the whole bot (docs/rest.md): the hub coordinates every process's
  // calls ("hub"), or each process keeps its own ("local", the ecosystem's default).
  struct RestLimits {
    std::uint32_t global_per_sec = 50;        // SHARD_REST_GLOBAL_PER_SEC: Discord's global limit
    std::uint32_t max_wait_ms = 10'000;       // SHARD_REST_MAX_WAIT_MS: longer, answered 429 here
    std::uint32_t invalid_limit = 9'000;      // SHARD_REST_INVALID_LIMIT: 401/403/429 per 10 min
    std::uint32_t route_invalid_limit = 1'000; // SHARD_REST_ROUTE_INVALID_LIMIT: one route's share
    std::string coordination = "hub";         // SHARD_REST_COORDINATION: hub or local
  } rest;
  // Discord's IDENTIFY window is 5 s; only a simulator started with a shorter
  // --identify-window-ms makes another value right (DISCORD_IDENTIFY_WINDOW_MS).
  std::uint32_t identify_window_ms = 5000;
  // Which spawn of this cluster slot this process is (set by a supervisor; 0 = unsupervised).
  // The hub lets a higher generation take the name over and fences the older process.
  std::int64_t generation = 0;

  // Operator commands in Discord (/clusters, /ipcstatus, /broadcastmsg; docs/commands.md).
  bool commands_enabled = true;          // SHARD_COMMANDS
  std::string command_prefix = "!";      // SHARD_COMMAND_PREFIX: the prefix-message form ("" = off)
  double command_cooldown_s = 10;        // SHARD_COMMAND_COOLDOWN_S: per user and command
  std::uint32_t command_timeout_ms = 3000; // SHARD_COMMAND_TIMEOUT_MS: how long /clusters waits for clusters
  std::uint64_t broadcast_channel_id = 0;  // SHARD_BROADCAST_CHANNEL_ID: post broadcasts there (0: log only)

  // Set by `shardline launch` for the new layout of a reshard: the shards connect, but bot
  // code gets no events until the supervisor switches the layout over (SHARD_STANDBY).
  bool standby = false;
  // Dispatch types whose handling is logged, one line per event with its id and shard
  // (SHARD_TRACE_EVENTS=MESSAGE_CREATE,INTERACTION_CREATE): which process handled what.
  std::vector<std::string> trace_events;

  // `shardline launch` (docs/supervisor.md).
  struct Launch {
    std::uint32_t clusters = 0;          // SHARD_CLUSTERS: processes (0: from per_cluster)
    std::uint32_t per_cluster = 8;       // SHARD_PER_CLUSTER: shards per process when clusters is 0
    std::string prefix = "cluster";      // SHARD_CLUSTER_PREFIX: names are <prefix>-<index>
    std::string command;                 // SHARD_CLUSTER_COMMAND: program and arguments of a cluster
    // SHARD_BOT_COMMAND: the bot's own program (e.g. `node bot.js`), one per cluster, started
    // once the cluster's shards are ready and pointed at its endpoint (docs/bots.md). Empty: none.
    std::string bot_command;
    // SHARD_BOT_SETTLE_S: `shardline restart --bots` counts a new bot process ready once it has
    // run this long (the supervisor cannot see into it), then stops the old one.
    double bot_settle_s = 2;
    double dead_after_s = 90;            // SHARD_DEAD_AFTER_S: no heartbeat for this long: dead
    double start_timeout_s = 60;         // SHARD_START_TIMEOUT_S: must join the hub within this
    std::uint32_t restart_max = 5;       // SHARD_RESTART_MAX: restarts within the window, then give up
    double restart_window_s = 600;       // SHARD_RESTART_WINDOW_S
    double backoff_min_s = 1;            // SHARD_RESTART_BACKOFF_MIN_S
    double backoff_max_s = 60;           // SHARD_RESTART_BACKOFF_MAX_S
    // SHARD_RESHARD_GUILDS_PER_SHARD: past this many guilds per shard on average, reshard
    // (0: never on its own; `shardline reshard` still works).
    std::uint32_t reshard_guilds_per_shard = 1500;
  } launch;

  // The bot endpoint of `shardline run` (docs/bots.md): a Discord look-alike gateway and REST
  // base that the bot's own library connects to, served from this cluster's shards.
  struct Proxy {
    std::string host = "127.0.0.1";     // SHARD_PROXY_HOST
    std::uint16_t port = 0;             // SHARD_PROXY_PORT (0: no endpoint)
    bool port_auto = false;             // SHARD_PROXY_PORT=auto: a free port (see --proxy-port-file)
    // What the cache keeps beyond guilds, channels, threads, roles, emojis, stickers and the
    // bot's own member (gateway-proxy's `cache` block): SHARD_PROXY_CACHE_MEMBERS,
    // SHARD_PROXY_CACHE_PRESENCES, SHARD_PROXY_CACHE_VOICE_STATES.
    bool cache_members = false;
    bool cache_presences = false;
    bool cache_voice_states = false;
    // Dispatches kept per shard for clients that RESUME (SHARD_PROXY_RESUME_EVENTS), and how
    // long a detached client session may be resumed (SHARD_PROXY_RESUME_S).
    std::uint32_t resume_events = 20000;
    double resume_s = 120;
    bool enabled() const { return port != 0 || port_auto; }
  } proxy;

  bool legacy_auth = false;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  double heartbeat_s = 30;
  double stats_interval_s = 60;
  double auth_timeout_s = 10;
  double body_timeout_s = 30;
  double idle_timeout_s = 120;
  double reconnect_min_s = 5;
  double reconnect_max_s = 120;
  std::size_t max_pending = 256;
  std::size_t max_outbuf_bytes = 8u << 20;
  HealthThresholds health;
  std::filesystem::path data_dir = "./data/shard_manager";

  // SHARDLINE_LOG: trace, debug, info, warn, error, critical or off.
  std::string log_level = "info";

  // Warnings found while loading (weak secret, unknown SHARD_* names...): the caller logs them
  // once logging is up.
  std::vector<std::string> warnings;

  bool tls_enabled() const { return !tls_cert.empty() || !tls_ca.empty(); }
};

// Whether loading fails without a real SHARD_IPC_SECRET.
enum class SecretRule {
  required,                 // every IPC tool: the hub refuses anyone without it
  with_shard_manager,       // `shardline run`: needed only when ENABLE_SHARD_MANAGER is true
  optional,                 // tests of unrelated settings
};

struct ConfigSources {
  std::map<std::string, std::string> environment;   // usually the process environment
  std::optional<std::filesystem::path> env_file;     // --env-file; else ./.env if present
  std::optional<std::filesystem::path> config_json;  // --config; else ./config.json if present
  SecretRule secret = SecretRule::required;
};

// The process environment as a map: every variable Shardline reads, and every other SHARD_* or
// SHARDLINE_* name (so load_config can warn about a typo).
std::map<std::string, std::string> process_environment();

// Parses a .env file's text: KEY=VALUE lines, `export` prefix, # comments, quotes.
std::map<std::string, std::string> parse_dotenv(const std::string& text, const std::string& origin);

// Loads and validates. Throws ConfigError.
Config load_config(const ConfigSources& sources);

// "abcd…wxyz" style masking used wherever a secret is shown (never the secret itself).
std::string mask_secret(const std::string& secret);

// Names of every setting Shardline reads, for docs and for filtering the environment.
const std::vector<std::string>& known_settings();

const char* to_string(IpcMode mode);

// The closest known setting to a name that is not one (edit distance 3 at most), or empty.
std::string closest_setting(std::string_view name);

// A cluster name the hub accepts: 1-64 of A-Z a-z 0-9 - _ . and not a routing keyword
// ("all", "hub", or a "shard:"/"guild:" target). Config and hub share this one rule.
bool is_valid_cluster_name(std::string_view name);

} // namespace shardline
