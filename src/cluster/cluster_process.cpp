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
#include "proxy/cache_file.hpp"
#include "proxy/endpoint.hpp"
#include "proxy/proxy_server.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <set>

namespace shardline::cluster {

namespace {

// SIGTERM: shards close and save their sessions within this, then the process exits.
constexpr auto kShardShutdownDeadline = std::chrono::milliseconds(3000);
// After the link and the hub are stopped: time for their close frames to go out.
constexpr auto kCloseFramesGrace = std::chrono::milliseconds(300);
// The bot endpoint names the cluster holding a shard it does not (4010) from the hub's status,
// asked this often.
constexpr auto kHolderRefreshEvery = std::chrono::seconds(10);
// While some shard of the bot has no known holder (clusters still joining), ask every second, so
// a 4010 names the holder soon after that cluster joined.
constexpr auto kHolderRefreshIncomplete = std::chrono::seconds(1);

link::LinkOptions link_options(const Config& cfg, ssl::context* tls) {
  link::LinkOptions o;
  o.host = cfg.ipc_host;
  o.port = cfg.ipc_port;
  o.secret = cfg.ipc_secret;
  o.name = cfg.cluster_name;
  o.allow_v1 = cfg.legacy_auth;
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

// The parts of one `shardline run`, each owned here and stopped in order: shards first (they
// close resumably and save their sessions), then the IPC link and the hub.
class ClusterProcess {
public:
  ClusterProcess(const Config& cfg, const ClusterProcessOptions& opt)
      : cfg_(cfg), opt_(opt), signals_(io_, SIGINT, SIGTERM), exit_timer_(io_), holder_timer_(io_) {}

  int run() {
    const bool gateway = !cfg_.discord_token.empty();
    if (!cfg_.enable_shard_manager && !gateway) {
      spdlog::error("ENABLE_SHARD_MANAGER is false and DISCORD_TOKEN is not set: nothing to run (set DISCORD_TOKEN "
                    "to run shards alone, or ENABLE_SHARD_MANAGER=true to join the IPC network)");
      return kExitConfig;
    }
    if (!cfg_.enable_shard_manager)
      spdlog::info("ENABLE_SHARD_MANAGER is false: the shards run on their own (IDENTIFY paced in this process, "
                   "no hub, no IPC network)");
    else if (!gateway)
      spdlog::info("DISCORD_TOKEN is not set: running {} with no gateway shards (IPC only)", cfg_.cluster_name);

    if (gateway) {
      auto sc = std::make_unique<gateway::ShardCluster>(io_, cfg_, to_string(cfg_.ipc_mode));
      shards_ = sc.get();
      state_ = std::move(sc);
      trace_events();
      if (cfg_.commands_enabled) {
        // The operator commands (/clusters...) answer from this process's shards.
        commands_ = std::make_unique<commands::OperatorCommands>(io_, cfg_, *shards_);
        commands_->attach();
      }
    } else {
      state_ = std::make_unique<link::IpcOnlyClusterState>(cfg_.cluster_name, cfg_.shard_ids,
                                                           cfg_.shard_count.value_or(0), to_string(cfg_.ipc_mode));
    }

    // Every Discord REST call of this process waits its turn (docs/rest.md): the whole bot's,
    // decided by the hub, or with SHARD_REST_COORDINATION=local (or no hub) this process's own.
    ratelimit::RestLimitOptions rest;
    rest.global_per_sec = cfg_.rest.global_per_sec;
    rest.max_wait = millis(cfg_.rest.max_wait_ms);
    rest.invalid_limit = cfg_.rest.invalid_limit;
    rest.route_invalid_limit = cfg_.rest.route_invalid_limit;
    rest_gate_ = cfg_.enable_shard_manager && cfg_.rest.coordination == "hub" ? ratelimit::RestGate::through_hub(io_, rest)
                                                                              : ratelimit::RestGate::local(io_, rest);
    if (commands_) commands_->set_rest_gate(rest_gate_);
    state_->set_rest_report([gate = rest_gate_] { return gate->stats(); });

    client_tls_ = net::make_client_tls(cfg_);
    link_options_ = link_options(cfg_, client_tls_.get());
    if (cfg_.enable_shard_manager && cfg_.ipc_mode == IpcMode::server)
      if (auto hosted = host_hub(); !hosted) {
        spdlog::error("{}", hosted.error().message);
        return kExitFailure;
      }
    // With SHARD_COUNT and SHARD_IDS set (as `shardline launch` sets them) the shards are known
    // before Discord answers: the link comes up at once, so the cluster is seen alive (and gets
    // IDENTIFY slots) even while GET /gateway/bot is retried through a Discord incident.
    const bool layout_known = shards_ && cfg_.shard_count && !cfg_.shard_ids.empty();
    if (cfg_.enable_shard_manager && (!shards_ || layout_known)) start_link(link_options_);
    if (shards_)
      net::spawn_owned(io_, start_shards(this), "cluster shards", [this](const std::exception& e) {
        spdlog::error("cluster {} cannot run its shards: {}", cfg_.cluster_name, e.what());
        stop(kExitConfig);
      });
    signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      spdlog::info("signal {}: stopping cluster {}", sig, cfg_.cluster_name);
      stop(kExitOk);
    });
    io_.run();
    return exit_code_;
  }

private:
  // SHARD_TRACE_EVENTS: one log line per handled event of these types, with its id and shard,
  // so an operator (or a test) sees which process handled what. Like bot code, it only runs
  // while this layout is active.
  void trace_events() {
    for (auto& type : cfg_.trace_events)
      shards_->on(type, [](gateway::Shard& shard, std::string_view t, std::string_view data) {
        boost::system::error_code ec;
        auto v = boost::json::parse(data, ec);
        auto* id = !ec && v.is_object() ? v.as_object().if_contains("id") : nullptr;
        spdlog::info("handled {} {} on shard {}/{}", t, id && id->is_string() ? std::string(id->as_string()) : "?",
                     shard.id(), shard.count());
      });
  }

  // Server mode: this process hosts the hub, under its cluster name, as the seed's cluster-0
  // does; its own cluster joins it like any other, over loopback.
  Result<void> host_hub() {
    server_tls_ = net::make_server_tls(cfg_);
    auto ho = hub::HubOptions::from_config(cfg_);
    ho.mode = "server";
    ho.tls = server_tls_.get();
    ho.local_instance = link_options_.instance;
    hub_ = std::make_unique<hub::Hub>(io_, ho);
    auto port = hub_->listen();
    if (!port) return port.error();
    if (auto written = write_port_file(opt_.port_file, *port); !written) return written.error();
    hub_->start();
    link_options_.port = *port;
    if (link_options_.host == "0.0.0.0") link_options_.host = "127.0.0.1";
    if (link_options_.host == "::") link_options_.host = "::1";
    // The hub is this process's own: it speaks version 2, whatever legacy auth allows others.
    link_options_.allow_v1 = false;
    return {};
  }

  void start_link(link::LinkOptions options) {
    link_ = link::HubLink::create(io_, std::move(options), state_.get());
    rest_gate_->attach(link_);
    if (commands_) commands_->set_link(link_.get());
    if (shards_) {
      auto* sc = shards_;
      link_->on_layout([sc](bool active) { sc->set_active(active); });
    }
    if (cfg_.proxy.enabled())
      // A joining cluster names its shards: the endpoint's 4010 reasons name it at once. A leave
      // (or a join that replaces a generation) is settled by asking the hub's status again.
      link_->on_membership([this](const protocol::ClusterJoin* joined, std::string_view) {
        if (joined)
          for (auto id : joined->shard_ids) holders_[id] = joined->cluster_name;
        holder_timer_.cancel();
      });
    link_->on_superseded([this] {
      // A newer generation owns this cluster's shards now: leave at once, and leave the saved
      // sessions alone (they are the new process's).
      if (shards_) shards_->shutdown(std::chrono::milliseconds(0), [] {}, false);
      shards_ = nullptr;
      stop(kExitSuperseded);
    });
    link_->start();
  }

  // The link announces the shards this process runs, which with SHARD_COUNT=auto or no
  // SHARD_IDS are only known once /gateway/bot has answered: the hub routes shard: and guild:
  // targets by them. A static coroutine taking `self`: no capturing coroutine lambdas (g++ 12).
  static asio::awaitable<void> start_shards(ClusterProcess* self) {
    auto* sc = self->shards_;
    co_await sc->plan();
    if (self->stopping_) co_return;
    if (self->cfg_.proxy.enabled())
      if (auto started = self->start_endpoint(); !started) {
        spdlog::error("{}", started.error().message);
        self->stop(kExitConfig);
        co_return;
      }
    if (self->cfg_.enable_shard_manager) {
      auto options = self->link_options_;
      options.shard_ids = sc->shard_ids();
      options.shard_count = sc->shard_count();
      if (!self->link_) self->start_link(std::move(options));
      sc->set_link(self->link_.get());
    }
    // Owners and command registration go on beside the shards' start, never before it.
    if (self->commands_) net::spawn_owned(self->io_, self->commands_->start(), "operator commands start");
    co_await sc->run();
  }

  // The bot endpoint (docs/bots.md), once the shards are planned: a feed per shard of this
  // process, fed every dispatch (standby layouts too), commands sent through the shards.
  Result<void> start_endpoint() {
    auto* sc = shards_;
    proxy::EndpointSettings s;
    s.token = cfg_.discord_token;
    s.shard_count = sc->shard_count();
    s.resume_events = cfg_.proxy.resume_events;
    s.resume_for = std::chrono::milliseconds(static_cast<std::int64_t>(cfg_.proxy.resume_s * 1000));
    s.cache = {cfg_.proxy.cache_members, cfg_.proxy.cache_presences, cfg_.proxy.cache_voice_states};
    endpoint_ = std::make_unique<proxy::Endpoint>(s, real_clock());
    for (auto id : sc->shard_ids()) endpoint_->add_shard(id);
    endpoint_->set_command_sink([sc](std::uint32_t shard, int op, std::string_view d) { return sc->send(shard, op, d); });
    endpoint_->set_holder_lookup([this](std::uint32_t shard, std::uint32_t count) -> std::optional<std::string> {
      (void)count;
      auto it = holders_.find(shard);
      if (it == holders_.end()) return std::nullopt;
      return it->second;
    });
    restore_pending_ = {sc->shard_ids().begin(), sc->shard_ids().end()};
    sc->set_dispatch_tap([this](gateway::Shard& shard, std::string_view type, std::string_view data) {
      auto* feed = endpoint_->feed(shard.id());
      if (!feed) return;
      // The first dispatch of a shard that RESUMEd a saved session: its cache comes from disk.
      if (restore_pending_.erase(shard.id()) && type != "READY") restore_cache(shard, *feed);
      feed->on_dispatch(type, data);
    });
    proxy::ProxyServerOptions o;
    o.host = cfg_.proxy.host;
    o.port = cfg_.proxy.port_auto ? 0 : cfg_.proxy.port;
    o.api_url = cfg_.discord_api_url;
    o.rest_gate = rest_gate_;
    proxy::ServerHooks hooks;
    hooks.start_limit = [sc] {
      proxy::ServerHooks::StartLimit l;
      l.total = sc->gateway_bot().total;
      l.remaining = sc->budget_remaining();
      l.reset_after_ms = sc->gateway_bot().reset_after_ms;
      l.max_concurrency = sc->gateway_bot().max_concurrency;
      return l;
    };
    hooks.shard_status = [sc](std::uint32_t id) -> std::string {
      auto* shard = sc->shard(id);
      return shard ? gateway::to_string(shard->status()) : "planned";
    };
    proxy_ = std::make_unique<proxy::ProxyServer>(io_, *endpoint_, o, std::move(hooks), sc->discord_tls());
    auto port = proxy_->listen();
    if (!port) return port.error();
    if (auto written = write_port_file(opt_.proxy_port_file, *port); !written) return written.error();
    proxy_->start();
    spdlog::info("bot endpoint on {} (API base http://{}/api/v10) for shards {} of {}", proxy_->ws_url(),
                 proxy_->ws_url().substr(5), fmt::join(sc->shard_ids(), ","), sc->shard_count());
    if (cfg_.enable_shard_manager) net::spawn_owned(io_, refresh_holders(this), "bot endpoint shard directory");
    return {};
  }

  std::filesystem::path cache_dir() const { return cfg_.data_dir / "proxy"; }

  void restore_cache(gateway::Shard& shard, proxy::ShardFeed& feed) {
    std::string error;
    auto cache = proxy::load_cache(cache_dir(), shard.id(), shard.count(), shard.session().session_id,
                                   endpoint_->settings().cache, error);
    if (!error.empty()) spdlog::warn("bot endpoint: shard {}: saved guild cache not used: {}", shard.id(), error);
    if (!cache) return;
    spdlog::info("bot endpoint: shard {}: guild cache of the resumed session restored ({} guilds)", shard.id(),
                 cache->guild_count());
    feed.restore(std::move(*cache));
  }

  // At shutdown, beside the sessions the shards save: the next process RESUMEs them.
  void save_caches() {
    if (!endpoint_ || !shards_) return;
    for (auto& [id, feed] : endpoint_->feeds()) {
      auto* shard = shards_->shard(id);
      if (!shard || !feed->cache().has_ready()) continue;
      auto session = shard->session();
      if (session.session_id.empty()) continue;
      if (auto saved = proxy::save_cache(cache_dir(), id, shard->count(), session.session_id, feed->cache()); !saved)
        spdlog::warn("bot endpoint: shard {}: guild cache not saved: {}", id, saved.error().message);
    }
  }

  // Which cluster holds which shard, from the hub's status, for the endpoint's 4010 reasons.
  static asio::awaitable<void> refresh_holders(ClusterProcess* self) {
    while (!self->stopping_) {
      if (self->link_ && self->link_->linked()) {
        auto status = co_await self->link_->hub_status(std::chrono::milliseconds(3000));
        if (self->stopping_) co_return;
        if (status) {
          std::map<std::uint32_t, std::string> holders;
          for (auto* c : status->clusters())
            // By shard id alone: a cluster's shard_count in the hub's status is the count of its
            // own shards for version-1 compatibility (docs/protocol.md §3.3), not the bot's total;
            // the endpoint has already checked the client's total against this cluster's.
            for (auto id : c->shard_ids) holders[id] = c->name;
          self->holders_ = std::move(holders);
        }
      }
      bool complete = false;
      if (self->shards_ && self->shards_->shard_count() > 0) {
        const auto count = self->shards_->shard_count();
        complete = true;
        for (std::uint32_t id = 0; id < count && complete; ++id) complete = self->holders_.contains(id);
      }
      self->holder_timer_.expires_after(complete ? kHolderRefreshEvery : kHolderRefreshIncomplete);
      // A cancel is a wake-up: a cluster joined or left (start_link), ask again now.
      co_await self->holder_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  void stop(int exit_code) {
    if (stopping_) return;
    stopping_ = true;
    exit_code_ = exit_code;
    signals_.cancel();
    holder_timer_.cancel();
    // Clients first: nothing they send may reach a shard that is closing.
    if (proxy_) proxy_->stop();
    if (commands_) commands_->stop();
    auto stop_ipc = [this] {
      if (link_) link_->stop();
      if (hub_) hub_->stop();
      // Whatever still waits (a heartbeat timer, a REST retry) is cut short by stopping the loop.
      exit_timer_.expires_after(kCloseFramesGrace);
      exit_timer_.async_wait([this](const boost::system::error_code&) { io_.stop(); });
    };
    save_caches();
    if (shards_) shards_->shutdown(kShardShutdownDeadline, stop_ipc);
    else stop_ipc();
  }

  const Config& cfg_;
  ClusterProcessOptions opt_;
  asio::io_context io_;
  asio::signal_set signals_;
  asio::steady_timer exit_timer_;
  std::unique_ptr<ssl::context> server_tls_, client_tls_;
  std::unique_ptr<link::ClusterState> state_;
  gateway::ShardCluster* shards_ = nullptr; // owned by state_; null without a gateway or once superseded
  std::unique_ptr<commands::OperatorCommands> commands_;
  std::unique_ptr<proxy::Endpoint> endpoint_;
  std::unique_ptr<proxy::ProxyServer> proxy_;
  std::map<std::uint32_t, std::string> holders_; // shard id -> the cluster holding it
  asio::steady_timer holder_timer_;
  std::set<std::uint32_t> restore_pending_; // shards whose first dispatch has not come yet
  std::unique_ptr<hub::Hub> hub_;
  link::LinkOptions link_options_;
  std::shared_ptr<link::HubLink> link_;
  std::shared_ptr<ratelimit::RestGate> rest_gate_;
  bool stopping_ = false;
  int exit_code_ = kExitOk;
};

} // namespace

int run_cluster(const Config& cfg, const ClusterProcessOptions& opt) {
  ClusterProcess process(cfg, opt);
  return process.run();
}

} // namespace shardline::cluster
