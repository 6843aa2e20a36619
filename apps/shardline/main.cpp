// shardline: one binary, one subcommand per role. Thin: parses the command line, loads the
// configuration, and hands over to the runtime and admin modules.

#include "admin/admin_commands.hpp"
#include "cluster/cluster_process.hpp"
#include "core/config.hpp"
#include "core/exit_codes.hpp"
#include "core/logging.hpp"
#include "hub/hub_process.hpp"
#include "sim/sim_server.hpp"
#include "supervisor/supervisor.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>

using namespace shardline;

int main(int argc, char** argv) {
  CLI::App app{"Shardline: shard and cluster manager for Discord bots"};
  app.require_subcommand(1);
  std::string env_file, config_file;
  app.add_option("--env-file", env_file, ".env file to read (default: ./.env if present)");
  app.add_option("--config", config_file, "config.json to read (default: ./config.json if present)");

  hub::HubProcessOptions hub_opt;
  cluster::ClusterProcessOptions cluster_opt;
  admin::AdminOptions adm;
  std::string message, preset, target = "all";

  auto* hub = app.add_subcommand("hub", "Run a standalone IPC hub (no shards)");
  hub->add_option("--port-file", hub_opt.port_file, "Write the listening port to this file");
  hub->add_option("--name", hub_opt.name, "The hub's name on the network")->capture_default_str();

  auto* run = app.add_subcommand("run", "Run a cluster (server mode also hosts the hub)");
  run->add_option("--port-file", cluster_opt.port_file, "Server mode: write the listening port to this file");
  run->add_option("--proxy-port-file", cluster_opt.proxy_port_file,
                  "With SHARD_PROXY_PORT: write the bot endpoint's listening port to this file");

  supervisor::LaunchOptions launch_opt;
  auto* launch = app.add_subcommand("launch", "Run the supervisor: plan shards, start and heal every cluster");
  launch->add_option("--port-file", launch_opt.port_file, "Server mode: write the hub's listening port to this file");

  // The Discord simulator: a local Discord for tests, demos and benchmarks (docs/simulator.md).
  sim::SimOptions simo;
  auto* sim = app.add_subcommand("sim", "Run a local Discord simulator (REST /api/v10 and the gateway)");
  sim->add_option("--port", simo.port, "Port on 127.0.0.1; 0 picks a free one and prints it")->capture_default_str();
  sim->add_option("--port-file", simo.port_file, "Write the listening port to this file");
  sim->add_option("--token", simo.token, "The one bot token the simulator accepts")->capture_default_str();
  sim->add_option("--guilds", simo.guilds, "Guilds of the simulated bot")->capture_default_str()->check(
      CLI::Range(std::size_t{0}, std::size_t{10'000'000}));
  sim->add_option("--shards", simo.shards, "Shard count GET /gateway/bot recommends (0: one per 1,000 guilds)")
      ->capture_default_str();
  sim->add_option("--max-concurrency", simo.max_concurrency, "IDENTIFY buckets (session_start_limit.max_concurrency)")
      ->capture_default_str()->check(CLI::Range(1, 1024));
  sim->add_option("--identify-window-ms", simo.identify_window_ms, "One IDENTIFY per bucket per this window")
      ->capture_default_str()->check(CLI::Range(1, 600'000));
  sim->add_option("--heartbeat-ms", simo.heartbeat_ms, "heartbeat_interval sent in HELLO")
      ->capture_default_str()->check(CLI::Range(50, 600'000));
  sim->add_option("--server-heartbeat-ms", simo.server_heartbeat_ms,
                  "Send each session a HEARTBEAT request this often (0: never)")
      ->capture_default_str()
      // The sweeper runs every 50 ms, so a shorter period means nothing. Under 1,000 ms a
      // client that answers every request nears 120 commands a minute (docs/simulator.md).
      ->check(CLI::Validator(
          [](std::string& v) {
            long n = std::strtol(v.c_str(), nullptr, 10);
            return n == 0 || (n >= 50 && n <= 600'000) ? std::string() : std::string("must be 0 or 50..600000");
          },
          "0 or 50..600000"));
  sim->add_option("--events-per-sec", simo.events_per_sec, "Rate of the steady guild event stream (0: none)")
      ->capture_default_str()->check(CLI::Range(0, 1'000'000));
  sim->add_option("--event-tick-ms", simo.event_tick_ms,
                  "The stream is dispatched in bursts this often (rate x tick events each; shorter is closer to a "
                  "real gateway, whose events arrive one by one)")
      ->capture_default_str()->check(CLI::Range(1, 100));
  sim->add_flag("--stamp-events", simo.stamp_events,
                "Each streamed MESSAGE_CREATE carries its send time as its nonce (microseconds since the epoch, "
                "CLOCK_REALTIME), for latency benchmarks");
  sim->add_option("--rest-global-per-sec", simo.rest_global_per_sec,
                  "REST requests per second, all rate-limited routes (not the interaction callback nor webhooks)")
      ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  sim->add_option("--rest-route-limit", simo.rest_route_limit,
                  "Requests per window of each generic REST bucket (gateway/bot, users/@me, applications, commands)")
      ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  sim->add_option("--rest-route-window-ms", simo.rest_route_window_ms, "Window of each generic REST bucket")
      ->capture_default_str()->check(CLI::Range(1, 3'600'000));
  sim->add_option_function<std::vector<std::string>>(
         "--rest-bucket",
         [&simo](const std::vector<std::string>& values) {
           for (const auto& v : values) {
             auto parsed = sim::parse_rest_bucket(v);
             if (!parsed) throw CLI::ValidationError("--rest-bucket", parsed.error().message);
             simo.rest_buckets.push_back(*parsed);
           }
         },
         "A REST bucket's limit and window by its name, e.g. messages=50/1000 (repeatable; names in "
         "docs/simulator.md and GET /_sim/rest/limits)")
      ->type_name("NAME=LIMIT/WINDOW_MS")
      ->allow_extra_args(false);
  sim->add_option("--rest-invalid-limit", simo.rest_invalid_limit,
                  "Invalid REST answers (401, 403, 429 but scope shared) within the window that ban the bot")
      ->capture_default_str()->check(CLI::Range(1, 100'000'000));
  sim->add_option("--rest-invalid-window-ms", simo.rest_invalid_window_ms, "The invalid requests' sliding window")
      ->capture_default_str()->check(CLI::Range(1, 86'400'000));
  sim->add_option("--rest-ban-ms", simo.rest_ban_ms, "How long the ban lasts: every REST request answered 429")
      ->capture_default_str()->check(CLI::Range(1, 86'400'000));
  sim->add_option("--session-budget", simo.session_budget, "session_start_limit.total: IDENTIFYs per 24 h")
      ->capture_default_str()->check(CLI::Range(0, 10'000'000));
  sim->add_option("--privileged-intents", simo.privileged_intents,
                  "Privileged intents enabled for the app, as a bit mask (GUILD_MEMBERS 2, GUILD_PRESENCES 256, "
                  "MESSAGE_CONTENT 32768); IDENTIFY asking for others is closed with 4014")
      ->capture_default_str()->check(CLI::Range(std::uint64_t{0}, std::uint64_t{2 + 256 + 32768}));
  sim->add_option("--deflate", simo.deflate, "zlib-stream engine: isal (fast, the default) or zlib (level 1: "
                  "the same ratio at about 4x the CPU)")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, shardline::net::DeflateEngine>{{"isal", shardline::net::DeflateEngine::isal},
                                                               {"zlib", shardline::net::DeflateEngine::zlib}},
          CLI::ignore_case));
  sim->add_option("--seed", simo.seed, "Seed of the generated world")->capture_default_str();
  sim->add_option("--outage-ms", simo.outage_ms, "Guilds unavailable at start come back after this")
      ->capture_default_str()->check(CLI::Range(0, 86'400'000));
  sim->add_option("--resume-ttl-ms", simo.resume_ttl_ms, "A dropped session stays resumable this long")
      ->capture_default_str()->check(CLI::Range(1, 86'400'000));
  sim->add_option_function<std::string>(
         "--team-members",
         [&simo](const std::string& v) {
           std::string error;
           if (!sim::parse_team_members(v, simo.team_members, error)) throw CLI::ValidationError("--team-members", error);
         },
         "A team owns the application: its members' user ids, comma separated, the first the owner "
         "(empty: one user owns it)")
      ->type_name("ID,ID,...");

  auto add_admin = [&](CLI::App* cmd) {
    cmd->add_flag("--json", adm.json, "Print JSON");
    cmd->add_option("--timeout-ms", adm.timeout_ms, "Deadline for answers")->capture_default_str()->check(
        CLI::Range(1, 600000));
  };
  auto* clusters = app.add_subcommand("clusters", "Per-cluster stats, health and totals");
  add_admin(clusters);
  auto* status = app.add_subcommand("ipc-status", "IPC configuration and connected clients");
  add_admin(status);
  auto* broadcast = app.add_subcommand("broadcast", "Send a message to every cluster (at most 500 characters)");
  broadcast->add_option("message", message, "The message")->required();
  add_admin(broadcast);
  bool rolling = false;
  bool restart_bots = false;
  int restart_timeout_s = 900;
  auto* restart = app.add_subcommand(
      "restart", "Restart the supervisor's clusters (--rolling) or bot processes (--bots), one at a time");
  restart->add_flag("--rolling", rolling, "One cluster at a time; the new process resumes the old one's sessions");
  restart->add_flag("--bots", restart_bots,
                    "The bot processes (SHARD_BOT_COMMAND), one cluster at a time, each new one beside the old; the "
                    "clusters go on");
  restart->add_option("--timeout-s", restart_timeout_s, "How long to follow the restart")->capture_default_str();
  add_admin(restart);
  std::uint32_t reshard_to = 0;
  int reshard_timeout_s = 1800;
  auto* reshard = app.add_subcommand("reshard", "Move the supervisor's bot to a new shard count without downtime");
  reshard->add_option("--shards", reshard_to, "The new shard count")->required()->check(CLI::Range(1, 65536));
  reshard->add_option("--timeout-s", reshard_timeout_s, "How long to follow the reshard")->capture_default_str();
  add_admin(reshard);
  auto* query = app.add_subcommand("query", "Run a preset query on clusters");
  query->add_option("preset", preset,
                    "guild_count, user_count, shard_count, latency, uptime, memory_rss, shard_status, cluster_info")
      ->required();
  query->add_option("--target", target, "all, a cluster name, shard:<id> or guild:<id>")->capture_default_str();
  int query_repeat = 1;
  query->add_option("--repeat", query_repeat, "Run it N times in a row on one connection and print latency percentiles")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  add_admin(query);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  // A cluster started by `shardline launch` logs under its own name: the supervisor's clusters
  // share one terminal.
  const char* cluster_name = std::getenv("SHARD_CLUSTER_NAME");
  init_logging(hub->parsed()      ? "hub"
               : run->parsed()    ? (cluster_name && *cluster_name && std::getenv("SHARD_CLUSTER_GENERATION") ? cluster_name : "cluster")
               : sim->parsed()    ? "sim"
               : launch->parsed() ? "launch"
                                  : "admin");
  if (!(hub->parsed() || run->parsed() || sim->parsed() || launch->parsed()))
    spdlog::set_level(spdlog::level::warn); // tools print results, not logs

  // The simulator stands in for Discord: it reads none of Shardline's configuration but its log
  // level.
  if (sim->parsed()) {
    if (const char* level = std::getenv("SHARDLINE_LOG"); level && !set_log_level(level)) {
      std::cerr << "configuration error: SHARDLINE_LOG: '" << level
                << "' is not a log level (trace, debug, info, warn, error, critical or off)\n";
      return kExitConfig;
    }
    try {
      return sim::run_sim(simo);
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << "\n";
      return 1;
    }
  }

  Config cfg;
  try {
    ConfigSources src;
    src.environment = process_environment();
    if (!env_file.empty()) src.env_file = env_file;
    if (!config_file.empty()) src.config_json = config_file;
    // `run` without the shard manager runs its shards alone: no IPC, so no secret.
    src.secret = run->parsed() ? SecretRule::with_shard_manager : SecretRule::required;
    cfg = load_config(src);
  } catch (const ConfigError& e) {
    std::cerr << "configuration error: " << e.what() << "\n";
    return 2;
  }
  const bool tool = !(hub->parsed() || run->parsed() || launch->parsed());
  // Tools print results, not logs, unless SHARDLINE_LOG asks for more than the default.
  if (!tool || cfg.log_level != "info") set_log_level(cfg.log_level);
  for (auto& w : cfg.warnings) spdlog::warn("{}", w);

  try {
    if (hub->parsed()) return hub::run_hub(cfg, hub_opt);
    if (run->parsed()) return cluster::run_cluster(cfg, cluster_opt);
    if (launch->parsed()) {
      launch_opt.env_file = env_file;
      launch_opt.config_file = config_file;
      return supervisor::run_launch(cfg, launch_opt);
    }
    if (clusters->parsed()) return admin::clusters_command(cfg, adm);
    if (status->parsed()) return admin::ipc_status_command(cfg, adm);
    if (broadcast->parsed()) return admin::broadcast_command(cfg, adm, message);
    if (query->parsed()) return admin::query_command(cfg, adm, preset, target, query_repeat);
    if (restart->parsed()) return admin::restart_command(cfg, adm, rolling, restart_bots, restart_timeout_s);
    if (reshard->parsed()) return admin::reshard_command(cfg, adm, reshard_to, reshard_timeout_s);
  } catch (const ConfigError& e) {
    std::cerr << "configuration error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
