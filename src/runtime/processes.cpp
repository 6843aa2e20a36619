#include "runtime/processes.hpp"

#include "core/crypto.hpp"
#include "core/port_file.hpp"
#include "ipc/cluster_link.hpp"
#include "ipc/hub.hpp"
#include "ipc/tls_context.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <filesystem>
#include <fstream>

namespace shardline::runtime {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

namespace {

ipc::LinkOptions link_options(const Config& cfg, ssl::context* tls) {
  ipc::LinkOptions o;
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

ipc::HubOptions hub_options(const Config& cfg, std::string name, std::string mode, ssl::context* tls) {
  auto h = ipc::HubOptions::from_config(cfg);
  h.name = std::move(name);
  h.mode = std::move(mode);
  h.tls = tls;
  return h;
}

} // namespace

int run_hub(const Config& cfg, const ProcessOptions& opt) {
  asio::io_context io;
  auto tls = ipc::make_server_tls(cfg);
  ipc::Hub hub(io, hub_options(cfg, opt.hub_name, "hub", tls.get()));
  try {
    write_port_file(opt.port_file, hub.listen());
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  hub.start();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping the hub", sig);
    hub.stop();
  });
  io.run();
  return 0;
}

int run_cluster(const Config& cfg, const ProcessOptions& opt) {
  if (!cfg.enable_shard_manager) {
    spdlog::error("ENABLE_SHARD_MANAGER is false: set ENABLE_SHARD_MANAGER=true (or framework.enable_shard_manager "
                  "in config.json) to join the IPC network");
    return 2;
  }
  if (cfg.discord_token.empty())
    spdlog::info("DISCORD_TOKEN is not set: running {} with no gateway shards (IPC only)", cfg.cluster_name);
  else
    spdlog::warn("DISCORD_TOKEN is set, but this build has no gateway shards yet: running {} as IPC only",
                 cfg.cluster_name);

  asio::io_context io;
  auto server_tls = ipc::make_server_tls(cfg);
  auto client_tls = ipc::make_client_tls(cfg);
  const bool server = cfg.ipc_mode == IpcMode::server;
  ipc::IpcOnlyClusterState state(cfg.cluster_name, cfg.shard_ids, cfg.shard_count.value_or(0),
                                 to_string(cfg.ipc_mode));

  std::unique_ptr<ipc::Hub> hub;
  auto lo = link_options(cfg, client_tls.get());
  if (server) {
    auto ho = hub_options(cfg, cfg.cluster_name, "server", server_tls.get());
    ho.local_instance = lo.instance;
    hub = std::make_unique<ipc::Hub>(io, ho);
    try {
      lo.port = hub->listen();
      write_port_file(opt.port_file, lo.port);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      return 1;
    }
    hub->start();
    // The in-process cluster joins its own hub like any other, over loopback.
    if (lo.host == "0.0.0.0") lo.host = "127.0.0.1";
    if (lo.host == "::") lo.host = "::1";
  }
  auto link = ipc::ClusterLink::create(io, lo, &state);
  int exit_code = 0;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  auto stop_all = [&] {
    link->stop();
    if (hub) hub->stop();
    signals.cancel();
  };
  link->on_superseded([&] {
    exit_code = kExitSuperseded;
    stop_all();
  });
  link->start();
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping cluster {}", sig, cfg.cluster_name);
    stop_all();
  });
  io.run();
  return exit_code;
}

} // namespace shardline::runtime
