#include "cluster/cluster_process.hpp"

#include "commands/operator_commands.hpp"
#include "core/crypto.hpp"
#include "core/exit_codes.hpp"
#include "core/port_file.hpp"
#include "gateway/shard_cluster.hpp"
#include "hub/hub.hpp"
#include "link/hub_link.hpp"
#include "net/spawn_owned.hpp"
#include "net/tls_context.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <filesystem>
#include <fstream>

namespace shardline::cluster {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

namespace {

// SIGTERM: shards close and save their sessions within this, then the process exits.
constexpr auto kShardShutdownDeadline = std::chrono::milliseconds(3000);

link::LinkOptions link_options(const Config& cfg, ssl::context* tls) {
  link::LinkOptions o;
  o.host = cfg.ipc_host;
  o.port = cfg.ipc_port;
  o.secret = cfg.ipc_secret;
  o.name = cfg.cluster_name;
  o.legacy = cfg.legacy_auth;
  o.shard_ids = cfg.shard_ids;
  o.shard_count = cfg.shard_count.value_or(0);
  o.instance = random_hex(8);
  o.generation = cfg.generation;
  o.heartbeat = std::chrono::duration<double>(cfg.heartbeat_s);
  o.stats_interval = std::chrono::duration<double>(cfg.stats_interval_s);
  o.connect_timeout = std::chrono::duration<double>(cfg.auth_timeout_s);
  o.idle_timeout = std::chrono::duration<double>(cfg.idle_timeout_s);
  o.reconnect_min = std::chrono::duration<double>(cfg.reconnect_min_s);
  o.reconnect_max = std::chrono::duration<double>(cfg.reconnect_max_s);
  o.tls = tls;
  return o;
}

// Server mode: the hub answers under this cluster's name.
hub::HubOptions server_hub_options(const Config& cfg, ssl::context* tls) {
  auto h = hub::HubOptions::from_config(cfg);
  h.mode = "server";
  h.tls = tls;
  return h;
}

} // namespace

int run_cluster(const Config& cfg, const ClusterProcessOptions& opt) {
  if (!cfg.enable_shard_manager) {
    spdlog::error("ENABLE_SHARD_MANAGER is false: set ENABLE_SHARD_MANAGER=true (or framework.enable_shard_manager "
                  "in config.json) to join the IPC network");
    return kExitConfig;
  }
  const bool gateway = !cfg.discord_token.empty();
  if (!gateway) spdlog::info("DISCORD_TOKEN is not set: running {} with no gateway shards (IPC only)", cfg.cluster_name);

  asio::io_context io;
  auto server_tls = net::make_server_tls(cfg);
  auto client_tls = net::make_client_tls(cfg);
  const bool server = cfg.ipc_mode == IpcMode::server;
  std::unique_ptr<link::ClusterState> state;
  gateway::ShardCluster* shards = nullptr;
  if (gateway) {
    auto sc = std::make_unique<gateway::ShardCluster>(io, cfg, to_string(cfg.ipc_mode));
    shards = sc.get();
    state = std::move(sc);
  } else {
    state = std::make_unique<link::IpcOnlyClusterState>(cfg.cluster_name, cfg.shard_ids, cfg.shard_count.value_or(0),
                                                       to_string(cfg.ipc_mode));
  }

  // SHARD_TRACE_EVENTS: one log line per handled event of these types, with its id and shard,
  // so an operator (or a test) sees which process handled what. Like bot code, it only runs
  // while this layout is active.
  if (shards)
    for (auto& type : cfg.trace_events)
      shards->on(type, [](gateway::Shard& shard, std::string_view type, std::string_view data) {
        boost::system::error_code ec;
        auto v = boost::json::parse(data, ec);
        auto* id = !ec && v.is_object() ? v.as_object().if_contains("id") : nullptr;
        spdlog::info("handled {} {} on shard {}/{}", type, id && id->is_string() ? std::string(id->as_string()) : "?",
                     shard.id(), shard.count());
      });

  // The operator commands (/clusters...) answer from this process's shards.
  std::unique_ptr<commands::OperatorCommands> operator_commands;
  if (shards && cfg.commands_enabled) {
    operator_commands = std::make_unique<commands::OperatorCommands>(io, cfg, *shards);
    operator_commands->attach();
  }

  std::unique_ptr<hub::Hub> hub;
  auto lo = link_options(cfg, client_tls.get());
  if (server) {
    auto ho = server_hub_options(cfg, server_tls.get());
    ho.local_instance = lo.instance;
    hub = std::make_unique<hub::Hub>(io, ho);
    auto port = hub->listen();
    if (!port) {
      spdlog::error("{}", port.error().message);
      return kExitFailure;
    }
    lo.port = *port;
    if (auto written = write_port_file(opt.port_file, lo.port); !written) {
      spdlog::error("{}", written.error().message);
      return kExitFailure;
    }
    hub->start();
    // The in-process cluster joins its own hub like any other, over loopback.
    if (lo.host == "0.0.0.0") lo.host = "127.0.0.1";
    if (lo.host == "::") lo.host = "::1";
  }
  std::shared_ptr<link::HubLink> link;
  int exit_code = 0;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer exit_timer(io);
  bool stopping = false;
  // Shards first: each closes with a resumable code and saves its session (so the next
  // process RESUMEs), within a few seconds; then the IPC link and the hub, and whatever still
  // waits (a heartbeat timer, a REST retry) is cut short.
  auto stop_all = [&] {
    if (stopping) return;
    stopping = true;
    signals.cancel();
    if (operator_commands) operator_commands->stop();
    auto stop_ipc = [&] {
      if (link) link->stop();
      if (hub) hub->stop();
      exit_timer.expires_after(std::chrono::milliseconds(300)); // for the close frames to go out
      exit_timer.async_wait([&](const boost::system::error_code&) { io.stop(); });
    };
    if (shards) shards->shutdown(kShardShutdownDeadline, stop_ipc);
    else stop_ipc();
  };
  auto start_link = [&](link::LinkOptions options) {
    link = link::HubLink::create(io, std::move(options), state.get());
    if (operator_commands) operator_commands->set_link(link.get());
    if (shards) {
      auto* sc = shards;
      link->on_layout([sc](bool active) { sc->set_active(active); });
    }
    link->on_superseded([&] {
      // A newer generation owns this cluster's shards now: leave at once, and leave the saved
      // sessions alone (they are the new process's).
      exit_code = kExitSuperseded;
      if (shards) shards->shutdown(std::chrono::milliseconds(0), [] {}, false);
      shards = nullptr;
      stop_all();
    });
    link->start();
  };
  // With SHARD_COUNT and SHARD_IDS set (as `shardline launch` sets them) the shards are known
  // before Discord answers: the link comes up at once, so the cluster is seen alive (and gets
  // IDENTIFY slots) even while GET /gateway/bot is retried through a Discord incident.
  const bool layout_known = shards && cfg.shard_count && !cfg.shard_ids.empty();
  if (!shards || layout_known) start_link(lo);
  if (shards) {
    // The link announces the shards this process runs, which with SHARD_COUNT=auto or no
    // SHARD_IDS are only known once /gateway/bot has answered: the hub routes shard: and
    // guild: targets by them.
    asio::co_spawn(
        io,
        [](gateway::ShardCluster* sc, link::LinkOptions options, std::function<void(link::LinkOptions)> link_up,
           std::shared_ptr<link::HubLink>* link, commands::OperatorCommands* oc) -> asio::awaitable<void> {
          co_await sc->plan();
          options.shard_ids = sc->shard_ids();
          options.shard_count = sc->shard_count();
          if (!*link) link_up(std::move(options));
          sc->set_link(link->get());
          // Owners and command registration go on beside the shards' start, never before it.
          if (oc) net::spawn_owned(co_await asio::this_coro::executor, oc->start(), "operator commands start");
          co_await sc->run();
        }(shards, lo, start_link, &link, operator_commands.get()),
        [&](std::exception_ptr e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            spdlog::error("cluster {} cannot run its shards: {}", cfg.cluster_name, ex.what());
          }
          exit_code = kExitConfig;
          stop_all();
        });
  }
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping cluster {}", sig, cfg.cluster_name);
    stop_all();
  });
  io.run();
  return exit_code;
}

} // namespace shardline::cluster
