#include "supervisor/supervisor.hpp"

#include "core/crypto.hpp"
#include "core/port_file.hpp"
#include "hub/hub.hpp"
#include "link/hub_link.hpp"
#include "net/spawn_owned.hpp"
#include "net/tls_context.hpp"
#include "protocol/body.hpp"
#include "rest/discord_rest.hpp"
#include "supervisor/child_process.hpp"
#include "supervisor/cluster_plan.hpp"
#include "supervisor/restart_policy.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <unistd.h>

extern char** environ;

namespace shardline::supervisor {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr auto kMonitorEvery = std::chrono::milliseconds(250);
constexpr auto kStatusEvery = std::chrono::seconds(10);
constexpr auto kHubStatusTimeout = std::chrono::seconds(2);
// On SIGTERM/SIGINT the clusters close their shards resumably and exit within 3 s; past this
// the leftovers are killed.
constexpr auto kStopDeadline = std::chrono::seconds(10);
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// A cluster leads its own process group (child_process.cpp): signalling the group reaches a
// wrapper's own children too (SHARD_CLUSTER_COMMAND="sh -c ..."). Falls back to the process.
void signal_group(pid_t pid, int sig) {
  if (pid <= 0) return;
  if (::kill(-pid, sig) != 0) ::kill(pid, sig);
}

millis to_millis(double seconds) { return millis(static_cast<std::int64_t>(seconds * 1000)); }

std::string self_exe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw ConfigError("cannot find the shardline executable (/proc/self/exe); set SHARD_CLUSTER_COMMAND");
  return p.string();
}

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

class Supervisor {
public:
  Supervisor(asio::io_context& io, const Config& cfg, const LaunchOptions& opt)
      : io_(io), cfg_(cfg), opt_(opt), chld_(io, SIGCHLD), stop_signals_(io, SIGINT, SIGTERM), hangup_(io, SIGHUP),
        monitor_(io), stop_timer_(io) {}

  int run() {
    // Resolved once: after an upgrade that replaces the binary, /proc/self/exe names a deleted
    // file, and every respawn would fail.
    try {
      if (cfg_.launch.command.empty()) exe_ = self_exe();
    } catch (const ConfigError& e) {
      spdlog::error("{}", e.what());
      return 2;
    }
    if (!cfg_.enable_shard_manager) {
      spdlog::error("ENABLE_SHARD_MANAGER is false: set ENABLE_SHARD_MANAGER=true to launch clusters");
      return 2;
    }
    if (cfg_.launch.dead_after_s <= cfg_.heartbeat_s) {
      spdlog::error("SHARD_DEAD_AFTER_S ({} s) is not above SHARD_IPC_HEARTBEAT_S ({} s): a healthy cluster would look "
                    "dead between two heartbeats; raise SHARD_DEAD_AFTER_S (3 heartbeats or more)",
                    cfg_.launch.dead_after_s, cfg_.heartbeat_s);
      return 2;
    }
    std::uint16_t port = cfg_.ipc_port;
    std::string hub_host = cfg_.ipc_host;
    if (cfg_.ipc_mode == IpcMode::server) {
      server_tls_ = net::make_server_tls(cfg_);
      auto ho = hub::HubOptions::from_config(cfg_);
      ho.name = "launch";
      ho.mode = "hub";
      ho.tls = server_tls_.get();
      ho.control = [this](const protocol::LaunchRequest& request) { return control(request); };
      hub_ = std::make_unique<hub::Hub>(io_, ho);
      auto listening = hub_->listen();
      if (!listening) {
        spdlog::error("{}", listening.error().message);
        return kExitFailure;
      }
      port = *listening;
      if (auto written = write_port_file(opt_.port_file, port); !written) {
        spdlog::error("{}", written.error().message);
        return kExitFailure;
      }
      hub_->start();
      if (hub_host == "0.0.0.0") hub_host = "127.0.0.1";
      if (hub_host == "::") hub_host = "::1";
    }
    hub_host_ = hub_host;
    hub_port_ = port;

    client_tls_ = net::make_client_tls(cfg_);
    link::LinkOptions lo;
    lo.host = hub_host;
    lo.port = port;
    lo.secret = cfg_.ipc_secret;
    lo.name = "launch-" + random_hex(4);
    lo.admin = true;
    lo.reconnect_min = std::chrono::milliseconds(200);
    lo.reconnect_max = std::chrono::seconds(5);
    lo.heartbeat = std::chrono::duration<double>(cfg_.heartbeat_s);
    lo.tls = client_tls_.get();
    link_ = link::HubLink::create(io_, lo, nullptr);
    link_->start();

    watch_children();
    stop_signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      spdlog::info("signal {}: stopping every cluster", sig);
      stop();
    });
    watch_hangup();
    asio::co_spawn(io_, start(), [this](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("launch: {}", ex.what());
      }
      exit_code_ = 2;
      stop();
    });
    io_.run();
    return exit_code_;
  }

private:
  struct Slot {
    Slot(ClusterSpec s, RestartPolicy p, asio::io_context& io) : spec(std::move(s)), policy(std::move(p)), restart(io) {}
    ClusterSpec spec;
    RestartPolicy policy;
    asio::steady_timer restart;
    pid_t pid = 0;
    std::int64_t generation = 0;
    steady::time_point spawned_at{};
    std::optional<steady::time_point> last_alive; // hub saw a heartbeat of this generation
    bool restart_pending = false;
    bool given_up = false;
    bool replacing = false; // stopped on purpose by a rolling restart: its exit is no death
    std::uint32_t shard_count = 0; // of its layout
    bool standby_start = false;    // the new layout of a reshard: start without events
    std::uint32_t restarts = 0;
  };

  asio::awaitable<void> start() {
    std::uint32_t shard_count = 0;
    if (cfg_.shard_count) {
      shard_count = *cfg_.shard_count;
    } else {
      if (cfg_.discord_token.empty()) throw ConfigError("SHARD_COUNT=auto needs DISCORD_TOKEN to ask GET /gateway/bot");
      asio::ssl::context tls(asio::ssl::context::tls_client);
      tls.set_default_verify_paths();
      tls.set_verify_mode(asio::ssl::verify_peer);
      rest::GatewayBot bot;
      std::string error;
      // Discord down or busy: retried for about two minutes; a refused token is not.
      for (int attempt = 1;; ++attempt) {
        auto r = co_await rest::rest_get(io_, tls, cfg_.discord_api_url, "/gateway/bot", cfg_.discord_token,
                                            std::chrono::seconds(15));
        if (r && r->status == 200 && rest::parse_gateway_bot(r->body, bot, error)) break;
        auto why = rest::describe(r);
        if ((r && (r->status == 401 || r->status == 403)) || attempt == 8)
          throw ConfigError(fmt::format("SHARD_COUNT=auto: GET /gateway/bot failed ({}); check DISCORD_TOKEN or set "
                                        "SHARD_COUNT", why));
        auto wait = std::chrono::seconds(std::min(30, 1 << attempt));
        spdlog::warn("launch: GET /gateway/bot failed ({}); retrying in {} s", why, wait.count());
        co_await sleep(wait);
        if (stopping_) co_return;
      }
      shard_count = bot.shards;
      spdlog::info("GET /gateway/bot recommends {} shards", shard_count);
    }
    std::vector<std::uint32_t> ids = cfg_.shard_ids;
    if (ids.empty())
      for (std::uint32_t i = 0; i < shard_count; ++i) ids.push_back(i);
    for (auto id : ids)
      if (id >= shard_count)
        throw ConfigError(fmt::format("SHARD_IDS has shard {} but the bot has {} shards", id, shard_count));
    std::vector<ClusterSpec> plan;
    try {
      plan = plan_clusters(ids, cfg_.launch.clusters, cfg_.launch.per_cluster, cfg_.launch.prefix);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(e.what());
    }
    shard_count_ = shard_count;
    limits_ = RestartLimits{to_millis(cfg_.launch.backoff_min_s), to_millis(cfg_.launch.backoff_max_s),
                            cfg_.launch.restart_max, to_millis(cfg_.launch.restart_window_s), std::chrono::seconds(60)};
    RestartLimits limits{to_millis(cfg_.launch.backoff_min_s), to_millis(cfg_.launch.backoff_max_s),
                         cfg_.launch.restart_max, to_millis(cfg_.launch.restart_window_s), std::chrono::seconds(60)};
    spdlog::info("launch: {} shards of {} in {} clusters, hub on {}:{}", ids.size(), shard_count, plan.size(), hub_host_,
                 hub_port_);
    // Every cluster at once: none waits on another, and IDENTIFYs are paced by the hub's slots.
    for (auto& spec : plan) {
      spdlog::info("launch: {} runs shards {}", spec.name, format_shard_ids(spec.shard_ids));
      slots_.push_back(std::make_unique<Slot>(spec, RestartPolicy(limits, real_clock()), io_));
      slots_.back()->shard_count = shard_count;
      spawn(*slots_.back());
    }
    net::spawn_owned(io_, monitor(), "launch monitor");
    co_return;
  }

  std::map<std::string, std::string> child_env(const Slot& s) const {
    std::map<std::string, std::string> env;
    for (char** e = environ; e && *e; ++e) {
      std::string_view kv(*e);
      auto eq = kv.find('=');
      if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
    }
    env["ENABLE_SHARD_MANAGER"] = "true";
    env["SHARD_IPC_MODE"] = "client";
    env["SHARD_IPC_HOST"] = hub_host_;
    env["SHARD_IPC_PORT"] = std::to_string(hub_port_);
    env["SHARD_CLUSTER_NAME"] = s.spec.name;
    env["SHARD_COUNT"] = std::to_string(s.shard_count);
    if (s.standby_start) env["SHARD_STANDBY"] = "true";
    else env.erase("SHARD_STANDBY");
    env["SHARD_IDS"] = format_shard_ids(s.spec.shard_ids);
    env["SHARD_CLUSTER_GENERATION"] = std::to_string(s.generation);
    return env;
  }

  void spawn(Slot& s) {
    if (stopping_) return;
    // Higher than any earlier generation of the name, also across supervisor restarts: the hub
    // lets the newest take the name over and fences the others.
    s.generation = std::max(last_generation_ + 1, wall_clock_ms());
    last_generation_ = s.generation;
    ChildSpec child;
    auto words = split_words(cfg_.launch.command);
    if (words.empty()) {
      child.exe = exe_;
      if (!opt_.env_file.empty()) child.args.insert(child.args.end(), {"--env-file", opt_.env_file});
      if (!opt_.config_file.empty()) child.args.insert(child.args.end(), {"--config", opt_.config_file});
      child.args.push_back("run");
    } else {
      child.exe = words[0];
      child.args.assign(words.begin() + 1, words.end());
    }
    child.env = child_env(s);
    try {
      s.pid = spawn_child(child);
    } catch (const std::exception& e) {
      spdlog::error("launch: cannot start {}: {}", s.spec.name, e.what());
      s.pid = 0;
      on_death(s, e.what());
      return;
    }
    s.spawned_at = steady::now();
    s.last_alive.reset();
    s.restart_pending = false;
    s.policy.started();
    spdlog::info("launch: started {} (pid {}, generation {})", s.spec.name, s.pid, s.generation);
  }

  // ---- children ----------------------------------------------------------------------------

  void watch_children() {
    chld_.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      for (auto e = reap_one(); e.pid > 0; e = reap_one()) on_exit(e.pid, e.status);
      watch_children();
    });
  }

  void on_exit(pid_t pid, int status) {
    if (auto it = fenced_.find(pid); it != fenced_.end()) {
      spdlog::info("launch: retired process of {} (pid {}) exited: {}", it->second, pid, describe_exit(status));
      fenced_.erase(it);
      maybe_finish_stop();
      return;
    }
    for (auto* s : watched()) {
      if (s->pid != pid) continue;
      s->pid = 0;
      auto how = describe_exit(status);
      if (stopping_) {
        spdlog::info("launch: {} stopped ({})", s->spec.name, how);
        s->replacing = false;
        maybe_finish_stop();
        return;
      }
      if (s->replacing) {
        spdlog::info("launch: {} stopped for the rolling restart ({})", s->spec.name, how);
        s->replacing = false;
        return;
      }
      if (stopping_) {
        spdlog::info("launch: {} stopped ({})", s->spec.name, how);
        maybe_finish_stop();
        return;
      }
      if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
        // A configuration error: another start would fail the same way.
        spdlog::error("launch: {} exited with a configuration error (exit code 2): not restarting it; its log says "
                      "what to change",
                      s->spec.name);
        s->given_up = true;
        return;
      }
      if (WIFEXITED(status) && WEXITSTATUS(status) == kExitSuperseded) {
        spdlog::error("launch: {} was fenced by a newer generation started elsewhere: not restarting it (is another "
                      "supervisor running the same shards?)",
                      s->spec.name);
        s->given_up = true;
        return;
      }
      spdlog::warn("launch: {} (pid {}) died: {}", s->spec.name, pid, how);
      on_death(*s, how);
      return;
    }
  }

  void on_death(Slot& s, const std::string& how) {
    if (stopping_ || s.given_up) return;
    auto wait = s.policy.died();
    if (!wait) {
      spdlog::error("launch: {} died {} times within {:.0f} s (last: {}): not restarting it; fix the cause and "
                    "restart the supervisor",
                    s.spec.name, s.policy.restarts_in_window() + 1, cfg_.launch.restart_window_s, how);
      s.given_up = true;
      return;
    }
    ++s.restarts;
    s.restart_pending = true;
    spdlog::info("launch: restarting {} in {:.1f} s", s.spec.name, wait->count() / 1000.0);
    s.restart.expires_after(*wait);
    s.restart.async_wait([this, &s](const boost::system::error_code& ec) {
      if (!ec) spawn(s);
    });
  }

  // ---- health ------------------------------------------------------------------------------

  asio::awaitable<void> monitor() {
    auto next_status = steady::now() + kStatusEvery;
    while (!stopping_) {
      monitor_.expires_after(kMonitorEvery);
      co_await monitor_.async_wait(use_tuple);
      if (stopping_) break;
      std::optional<protocol::HubStatus> hub;
      if (link_->linked()) {
        auto r = co_await link_->hub_status(kHubStatusTimeout);
        if (r) hub = std::move(*r);
      }
      if (stopping_) break;
      check(hub);
      if (hub) maybe_auto_reshard(*hub);
      if (steady::now() >= next_status) {
        next_status = steady::now() + kStatusEvery;
        log_status();
      }
    }
  }

  void check(const std::optional<protocol::HubStatus>& hub) {
    const auto now = steady::now();
    if (hub)
      for (auto& c : hub->clients)
        for (auto* s : watched())
          if (s->spec.name == c.name && s->generation == c.generation && s->pid)
            s->last_alive =
                now - std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(c.last_heartbeat_age));
    // Without the hub's view, heartbeats cannot be judged: only exits count then. When the hub
    // comes back, clusters reconnect with their own backoff (up to SHARD_IPC_RECONNECT_MAX_S):
    // silence is not death until that has passed.
    if (!hub) {
      hub_lost_ = hub_seen_;
      return;
    }
    hub_seen_ = true;
    if (hub_lost_) {
      hub_lost_ = false;
      hub_back_at_ = now;
      spdlog::info("launch: the hub answers again; heartbeats are judged again in {:.0f} s", cfg_.reconnect_max_s);
    }
    // A supervisor that was itself stalled (swapped out, suspended) reads ages that grew while
    // it slept: no cluster is judged on the first look after such a gap.
    const bool stalled = last_check_ != steady::time_point{} && now - last_check_ > to_millis(cfg_.launch.dead_after_s / 2);
    last_check_ = now;
    if (stalled) spdlog::warn("launch: the supervisor itself was stalled; heartbeats are judged from the next look");
    const bool judge_heartbeats = !stalled && now - hub_back_at_ > to_millis(cfg_.reconnect_max_s);
    for (auto* s : watched()) {
      if (!s->pid || s->restart_pending || s->given_up || s->replacing) continue;
      if (!s->last_alive) {
        if (now - s->spawned_at > to_millis(cfg_.launch.start_timeout_s) && judge_heartbeats) {
          spdlog::warn("launch: {} (pid {}) did not join the hub within {:.0f} s: killing it", s->spec.name, s->pid,
                       cfg_.launch.start_timeout_s);
          signal_group(s->pid, SIGKILL); // reaped, then restarted like any death
        }
        continue;
      }
      auto silent = std::chrono::duration<double>(now - *s->last_alive).count();
      if (silent <= cfg_.launch.dead_after_s || !judge_heartbeats) continue;
      // Frozen or wedged: it is killed and started again like any death (its replacement
      // resumes the sessions). A process the supervisor cannot kill (another machine's) is
      // fenced at the hub by the replacement's higher generation.
      spdlog::warn("launch: {} (pid {}) sent no heartbeat for {:.1f} s: killing it", s->spec.name, s->pid, silent);
      signal_group(s->pid, SIGKILL);
      s->last_alive.reset();
      s->spawned_at = now; // no start-timeout kill on top while it is reaped
    }
  }

  // The clusters health checks cover: the current layout and a new one still starting.
  std::vector<Slot*> watched() const {
    std::vector<Slot*> out;
    for (auto& s : slots_) out.push_back(s.get());
    out.insert(out.end(), starting_.begin(), starting_.end());
    return out;
  }

  void log_status() {
    std::size_t up = 0, restarts = 0, given_up = 0;
    for (auto& s : slots_) {
      if (s->pid && s->last_alive) ++up;
      restarts += s->restarts;
      given_up += s->given_up;
    }
    spdlog::info("launch: {}/{} clusters up, {} restart(s){}", up, slots_.size(), restarts,
                 given_up ? fmt::format(", {} given up", given_up) : std::string());
  }

  // ---- operator requests and the rolling restart ---------------------------------------

  void watch_hangup() {
    hangup_.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      spdlog::info("SIGHUP: rolling restart");
      start_rolling();
      watch_hangup();
    });
  }

  json::object control(const protocol::LaunchRequest& request) {
    auto refused = [](std::string why) { return protocol::to_data(protocol::LaunchStarted{false, std::move(why)}); };
    if (request.action == "status") return status_json();
    if (request.action == "restart") {
      if (!request.rolling)
        return refused("only a rolling restart is offered: {\"action\": \"restart\", \"rolling\": true}");
      if (stopping_) return refused("the supervisor is stopping");
      if (rolling_running_) return refused("a rolling restart is already under way");
      if (reshard_running_) return refused("a reshard is under way");
      if (slots_.empty()) return refused("no cluster is planned yet");
      start_rolling();
      protocol::LaunchStarted started{true};
      started.clusters = slots_.size();
      return protocol::to_data(started);
    }
    if (request.action == "reshard") {
      if (!request.shards || *request.shards < 1 || *request.shards > 65536)
        return refused("reshard needs shards: a shard count (1..65536)");
      auto target = *request.shards;
      auto why = reshard_refusal(target);
      if (!why.empty()) return refused(why);
      start_reshard(target);
      protocol::LaunchStarted started{true};
      started.from = shard_count_;
      started.to = target;
      return protocol::to_data(started);
    }
    return refused("unknown action (status, restart, reshard)");
  }

  json::object status_json() const {
    json::array clusters;
    for (auto& s : slots_) {
      json::array ids;
      for (auto id : s->spec.shard_ids) ids.emplace_back(id);
      clusters.push_back(json::object{{"name", s->spec.name},
                                      {"shard_ids", std::move(ids)},
                                      {"pid", s->pid},
                                      {"generation", s->generation},
                                      {"up", s->pid != 0 && s->last_alive.has_value()},
                                      {"restarts", s->restarts},
                                      {"given_up", s->given_up}});
    }
    return json::object{{"clusters", std::move(clusters)},
                        {"shard_count", shard_count_},
                        {"reshard", json::object{{"running", reshard_running_},
                                                 {"target", reshard_target_},
                                                 {"phase", reshard_phase_},
                                                 {"error", reshard_error_}}},
                        {"rolling", json::object{{"running", rolling_running_},
                                                 {"done", rolling_done_},
                                                 {"skipped", rolling_skipped_},
                                                 {"total", slots_.size()},
                                                 {"current", rolling_current_},
                                                 {"error", rolling_error_}}}};
  }

  void start_rolling() {
    if (rolling_running_ || reshard_running_ || stopping_ || slots_.empty()) return;
    rolling_running_ = true;
    rolling_done_ = 0;
    rolling_skipped_ = 0;
    rolling_error_.clear();
    net::spawn_owned(io_, rolling_restart(), "rolling restart");
  }

  asio::awaitable<void> sleep(steady::duration d) {
    asio::steady_timer t(io_, d);
    co_await t.async_wait(use_tuple);
  }

  // One cluster at a time: the old process saves its sessions and exits, the new generation
  // resumes them; the next cluster only once every shard of this one is READY again. No
  // other cluster is touched meanwhile.
  asio::awaitable<void> rolling_restart() {
    const auto began = steady::now();
    for (auto& sp : slots_) {
      auto& s = *sp;
      if (stopping_) break;
      rolling_current_ = s.spec.name;
      if (s.given_up || !s.pid || s.restart_pending) {
        spdlog::warn("launch: rolling restart skips {} (not running)", s.spec.name);
        ++rolling_skipped_;
        continue;
      }
      const auto t0 = steady::now();
      s.replacing = true;
      signal_group(s.pid, SIGTERM);
      // The cluster closes its shards resumably and exits within 3 s; then it is killed.
      for (auto deadline = steady::now() + std::chrono::seconds(5); s.pid && steady::now() < deadline;)
        co_await sleep(std::chrono::milliseconds(20));
      if (s.pid) {
        signal_group(s.pid, SIGKILL);
        for (auto deadline = steady::now() + std::chrono::seconds(5); s.pid && steady::now() < deadline;)
          co_await sleep(std::chrono::milliseconds(20));
      }
      if (s.pid) {
        s.replacing = false; // its exit, whenever it comes, is a death again
        rolling_error_ = s.spec.name + " did not exit";
        break;
      }
      if (stopping_) break;
      spawn(s);
      if (!co_await wait_ready(s, std::chrono::minutes(10))) {
        rolling_error_ = fmt::format("{}'s shards were not all READY within 10 minutes", s.spec.name);
        spdlog::error("launch: rolling restart stopped: {}", rolling_error_);
        break;
      }
      ++rolling_done_;
      spdlog::info("launch: rolling restart: {} replaced in {:.2f} s ({}/{})", s.spec.name,
                   std::chrono::duration<double>(steady::now() - t0).count(), rolling_done_, slots_.size());
    }
    if (stopping_ && rolling_error_.empty()) rolling_error_ = "the supervisor is stopping";
    if (rolling_error_.empty())
      spdlog::info("launch: rolling restart done: {} clusters in {:.1f} s", slots_.size(),
                   std::chrono::duration<double>(steady::now() - began).count());
    rolling_current_.clear();
    rolling_running_ = false;
  }

  // Every shard of the slot's current process reports READY (preset query shard_status).
  asio::awaitable<bool> wait_ready(Slot& s, steady::duration limit) {
    const auto deadline = steady::now() + limit;
    const auto generation = s.generation;
    while (steady::now() < deadline && !stopping_ && s.generation == generation) {
      if (s.pid && link_->linked()) {
        // Named, not a temporary in the co_await: g++ 12 destroys such temporaries twice.
        const protocol::EvalRequest query{"shard_status"};
        auto r = co_await link_->request("eval_request", query, s.spec.name, kHubStatusTimeout);
        if (auto answer = r && !r->is_error() ? r->as<protocol::EvalResponse>() : fail(Errc::refused, "")) {
          auto& res = answer->result;
          if (res.is_array() && !res.get_array().empty()) {
            bool all = res.get_array().size() == s.spec.shard_ids.size();
            for (auto& v : res.get_array()) {
              auto* st = v.is_object() ? v.get_object().if_contains("status") : nullptr;
              all = all && st && st->is_string() && st->get_string() == "ready";
            }
            if (all) co_return true;
          }
        }
      }
      co_await sleep(std::chrono::milliseconds(50));
    }
    co_return false;
  }

  // ---- resharding ------------------------------------------------------------------------

  std::string reshard_refusal(std::uint32_t target) const {
    if (stopping_) return "the supervisor is stopping";
    if (reshard_running_) return "a reshard is already under way";
    if (rolling_running_) return "a rolling restart is under way";
    if (!cfg_.shard_ids.empty())
      return "this supervisor owns only SHARD_IDS; resharding needs one supervisor that owns every shard";
    if (target == shard_count_) return fmt::format("the bot already has {} shards", target);
    return {};
  }

  void start_reshard(std::uint32_t target) {
    reshard_running_ = true;
    reshard_target_ = target;
    reshard_error_.clear();
    net::spawn_owned(io_, reshard(target), "reshard");
  }

  // Asks every cluster of `slots` to give bot code events (or not); true when all answered.
  asio::awaitable<bool> set_layout_active(std::vector<Slot*> slots, bool active) {
    bool all = true;
    for (auto* s : slots) {
      bool ok = false;
      for (int attempt = 0; attempt < 3 && !ok && link_->linked(); ++attempt) {
        const protocol::Layout layout{active};
        auto r = co_await link_->request("layout_request", layout, s->spec.name, kHubStatusTimeout);
        ok = r && r->op == "layout_response";
      }
      if (!ok) spdlog::warn("launch: {} did not confirm it is {}", s->spec.name, active ? "active" : "in standby");
      all = all && ok;
    }
    co_return all;
  }

  // Stops processes that leave for good (a retired layout, a failed new one): SIGTERM, then
  // SIGKILL after 10 s; their exits are expected.
  void retire(std::vector<std::unique_ptr<Slot>> slots) {
    for (auto& s : slots) {
      s->restart.cancel();
      s->given_up = true;
      if (s->pid) {
        fenced_[s->pid] = s->spec.name;
        signal_group(s->pid, SIGTERM);
        auto pid = s->pid;
        auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::seconds(10));
        t->async_wait([this, pid, t](const boost::system::error_code& ec) {
          if (!ec && fenced_.count(pid)) signal_group(pid, SIGKILL);
        });
        s->pid = 0;
      }
      retired_.push_back(std::move(s)); // kept: timers and handlers may still refer to it
    }
  }

  // Starts the new layout beside the old one (its shards IDENTIFY through the hub's slots, and
  // give bot code no events yet), switches event handling over once every new shard is READY,
  // then closes the old layout. Events reach both layouts while both are connected (Discord
  // sends each to every session of the guild's shard), so every event is handled by the old
  // layout, the new one, or both for the moment of the switch.
  asio::awaitable<void> reshard(std::uint32_t target) {
    const auto began = steady::now();
    const auto from = shard_count_;
    spdlog::info("launch: resharding from {} to {} shards", from, target);
    std::vector<std::uint32_t> ids(target);
    for (std::uint32_t i = 0; i < target; ++i) ids[i] = i;
    std::vector<ClusterSpec> plan;
    try {
      auto clusters = cfg_.launch.clusters ? std::min<std::uint32_t>(cfg_.launch.clusters, target) : 0u;
      plan = plan_clusters(ids, clusters, cfg_.launch.per_cluster, fmt::format("{}-{}s", cfg_.launch.prefix, target));
    } catch (const std::exception& e) {
      reshard_error_ = e.what();
    }
    std::vector<std::unique_ptr<Slot>> fresh;
    if (reshard_error_.empty()) {
      reshard_phase_ = "starting the new layout";
      for (auto& spec : plan) {
        fresh.push_back(std::make_unique<Slot>(spec, RestartPolicy(limits_, real_clock()), io_));
        fresh.back()->shard_count = target;
        fresh.back()->standby_start = true;
        spawn(*fresh.back());
      }
      // Watched like every cluster (exits, heartbeats) while it starts.
      for (auto& f : fresh) starting_.push_back(f.get());
      for (auto& f : fresh)
        if (reshard_error_.empty() && !co_await wait_ready(*f, std::chrono::minutes(10)))
          reshard_error_ = fmt::format("{}'s shards were not all READY within 10 minutes", f->spec.name);
      starting_.clear();
    }
    if (reshard_error_.empty() && !stopping_) {
      reshard_phase_ = "switching event handling";
      std::vector<Slot*> news, olds;
      for (auto& f : fresh) news.push_back(f.get());
      for (auto& o : slots_) olds.push_back(o.get());
      // New first, then old: for a moment both hand events to bot code, never neither.
      if (!co_await set_layout_active(news, true)) reshard_error_ = "the new layout did not confirm the switch";
      else co_await set_layout_active(olds, false);
    }
    if (!reshard_error_.empty() || stopping_) {
      if (!reshard_error_.empty()) spdlog::error("launch: reshard to {} shards abandoned: {}; the {} shards go on", target, reshard_error_, from);
      retire(std::move(fresh));
      reshard_phase_.clear();
      reshard_running_ = false;
      co_return;
    }
    reshard_phase_ = "closing the old layout";
    for (auto& f : fresh) f->standby_start = false; // a respawn of the new layout starts active
    auto old = std::move(slots_);
    slots_ = std::move(fresh);
    shard_count_ = target;
    retire(std::move(old));
    for (auto deadline = steady::now() + std::chrono::seconds(15); !fenced_.empty() && steady::now() < deadline;)
      co_await sleep(std::chrono::milliseconds(50));
    spdlog::info("launch: reshard done: {} -> {} shards in {:.1f} s", from, target,
                 std::chrono::duration<double>(steady::now() - began).count());
    reshard_phase_ = "done";
    reshard_running_ = false;
    last_reshard_ = steady::now();
  }

  // Average guilds per shard past SHARD_RESHARD_GUILDS_PER_SHARD: reshard to about 1,000 per
  // shard (Discord's own recommendation), at most once every 10 minutes.
  void maybe_auto_reshard(const protocol::HubStatus& hub) {
    auto limit = cfg_.launch.reshard_guilds_per_shard;
    if (!limit || !cfg_.shard_ids.empty() || cfg_.ipc_mode != IpcMode::server || shard_count_ == 0) return;
    if (reshard_running_ || rolling_running_ || stopping_) return;
    if (last_reshard_ != steady::time_point{} && steady::now() - last_reshard_ < std::chrono::minutes(10)) return;
    double guilds = 0;
    for (auto& c : hub.clients)
      if (c.stats && c.stats->layout.value_or(0) == shard_count_) guilds += static_cast<double>(c.stats->guild_count);
    if (guilds / shard_count_ <= limit) return;
    auto target = std::max<std::uint32_t>(shard_count_ + 1, static_cast<std::uint32_t>(std::ceil(guilds / 1000.0)));
    spdlog::info("launch: {:.0f} guilds on {} shards is past {} per shard: resharding to {}", guilds, shard_count_,
                 limit, target);
    last_reshard_ = steady::now();
    start_reshard(target);
  }

  // ---- stopping ----------------------------------------------------------------------------

  void stop() {
    if (stopping_) return;
    stopping_ = true;
    stop_signals_.cancel();
    hangup_.cancel();
    monitor_.cancel();
    for (auto* s : watched()) {
      s->restart.cancel();
      if (s->pid) signal_group(s->pid, SIGTERM); // each saves its sessions and exits within 3 s
    }
    for (auto& [pid, name] : fenced_) signal_group(pid, SIGKILL);
    stop_timer_.expires_after(kStopDeadline);
    stop_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      for (auto* s : watched())
        if (s->pid) {
          spdlog::warn("launch: {} (pid {}) did not stop in time: killing it", s->spec.name, s->pid);
          signal_group(s->pid, SIGKILL);
        }
      finish();
    });
    maybe_finish_stop();
  }

  void maybe_finish_stop() {
    if (!stopping_) return;
    for (auto* s : watched())
      if (s->pid) return;
    if (!fenced_.empty()) return;
    finish();
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    stop_timer_.cancel();
    chld_.cancel();
    if (link_) link_->stop();
    if (hub_) hub_->stop();
    spdlog::info("launch: every cluster stopped");
    // Close frames of the hub go out, then the loop ends.
    auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
    t->async_wait([this, t](const boost::system::error_code&) { io_.stop(); });
  }

  asio::io_context& io_;
  const Config& cfg_;
  LaunchOptions opt_;
  asio::signal_set chld_;
  asio::signal_set stop_signals_;
  asio::signal_set hangup_;
  asio::steady_timer monitor_;
  asio::steady_timer stop_timer_;
  std::unique_ptr<asio::ssl::context> server_tls_, client_tls_;
  std::unique_ptr<hub::Hub> hub_;
  std::shared_ptr<link::HubLink> link_;
  std::string exe_; // this binary, for `run` children
  std::string hub_host_;
  std::uint16_t hub_port_ = 0;
  std::uint32_t shard_count_ = 0;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> starting_;                  // a reshard's new layout, until it takes over
  std::vector<std::unique_ptr<Slot>> retired_;   // layouts that left; kept for their handlers
  RestartLimits limits_;
  std::map<pid_t, std::string> fenced_; // processes of a retired layout not yet exited, by pid
  std::int64_t last_generation_ = 0;
  bool stopping_ = false;
  bool finished_ = false;
  steady::time_point last_check_{}; // the previous health check with the hub's view
  bool hub_seen_ = false;           // the hub has answered a hub_status request
  bool hub_lost_ = false;           // it answered once, then the last request got no answer
  steady::time_point hub_back_at_{}; // when it answered again after that
  bool reshard_running_ = false;
  std::uint32_t reshard_target_ = 0;
  std::string reshard_phase_, reshard_error_;
  steady::time_point last_reshard_{};
  bool rolling_running_ = false;
  std::size_t rolling_done_ = 0, rolling_skipped_ = 0;
  std::string rolling_current_, rolling_error_;
  int exit_code_ = 0;
};

} // namespace

int run_launch(const Config& cfg, const LaunchOptions& opt) {
  asio::io_context io;
  Supervisor launcher(io, cfg, opt);
  return launcher.run();
}

} // namespace shardline::supervisor
