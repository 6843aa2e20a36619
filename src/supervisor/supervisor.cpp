// The supervisor's lifecycle: run (the hub, the link, the signals), start (the plan, every
// cluster at once), stop (every cluster saves its sessions and exits, or is killed after 10 s).
#include "supervisor/supervisor_impl.hpp"

#include "core/crypto.hpp"
#include "core/port_file.hpp"
#include "net/spawn_owned.hpp"
#include "net/tls_context.hpp"
#include "rest/discord_rest.hpp"
#include "supervisor/child_process.hpp"
#include "supervisor/command_words.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>

#include <unistd.h>

namespace shardline::supervisor {

namespace {

// On SIGTERM/SIGINT the clusters close their shards resumably and exit within 3 s; past this
// the leftovers are killed.
constexpr auto kStopDeadline = std::chrono::seconds(10);

// A bare program name is looked up in PATH when the child execs it; a name found nowhere is a
// configuration error before anything starts, not a crash loop of exit code 127.
bool findable(const std::string& program) {
  if (program.find('/') != std::string::npos) return true; // a path: exec says what is wrong
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    auto colon = dirs.find(':');
    auto dir = std::string(dirs.substr(0, colon));
    std::error_code ec;
    auto candidate = std::filesystem::path(dir.empty() ? "." : dir) / program;
    if (std::filesystem::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) return false;
    dirs.remove_prefix(colon + 1);
  }
}

Result<std::string> make_endpoint_dir() {
  auto pattern = (std::filesystem::temp_directory_path() / "shardline-launch-XXXXXX").string();
  if (!::mkdtemp(pattern.data()))
    return fail(Errc::io, fmt::format("cannot create a directory for the clusters' port files under {}",
                                      std::filesystem::temp_directory_path().string()));
  return pattern;
}

Result<std::string> self_exe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec)
    return fail(Errc::io, "cannot find the shardline executable (/proc/self/exe); set SHARD_CLUSTER_COMMAND");
  return p.string();
}

} // namespace

Supervisor::Supervisor(asio::io_context& io, const Config& cfg, const LaunchOptions& opt)
    : io_(io), cfg_(cfg), opt_(opt), chld_(io, SIGCHLD), stop_signals_(io, SIGINT, SIGTERM), hangup_(io, SIGHUP),
      monitor_(io), stop_timer_(io), changed_(io.get_executor()), limits_(RestartLimits::from_config(cfg)),
      health_(HealthSettings::from_config(cfg), clock_), auto_reshard_(AutoReshardSettings::from_config(cfg), clock_) {}

int Supervisor::run() {
  // Resolved once: after an upgrade that replaces the binary, /proc/self/exe names a deleted
  // file, and every respawn would fail.
  auto cluster_words = split_command_words(cfg_.launch.command, "SHARD_CLUSTER_COMMAND");
  if (!cluster_words) {
    spdlog::error("{}", cluster_words.error().message);
    return kExitConfig;
  }
  cluster_words_ = std::move(*cluster_words);
  auto bots = BotSettings::from_config(cfg_);
  if (!bots) {
    spdlog::error("{}", bots.error().message);
    return kExitConfig;
  }
  bots_ = std::move(*bots);
  if (bots_.enabled() && !findable(bots_.words[0])) {
    spdlog::error("SHARD_BOT_COMMAND: `{}` is not a program found in PATH", bots_.words[0]);
    return kExitConfig;
  }
  if (!cluster_words_.empty() && !findable(cluster_words_[0])) {
    spdlog::error("SHARD_CLUSTER_COMMAND: `{}` is not a program found in PATH", cluster_words_[0]);
    return kExitConfig;
  }
  if (bots_.endpoint) {
    auto dir = make_endpoint_dir();
    if (!dir) {
      spdlog::error("{}", dir.error().message);
      return kExitFailure;
    }
    endpoint_dir_ = std::move(*dir);
  }
  if (cluster_words_.empty()) {
    auto exe = self_exe();
    if (!exe) {
      spdlog::error("{}", exe.error().message);
      return kExitConfig;
    }
    exe_ = std::move(*exe);
  }
  if (!cfg_.enable_shard_manager) {
    spdlog::error("ENABLE_SHARD_MANAGER is false: set ENABLE_SHARD_MANAGER=true to launch clusters");
    return kExitConfig;
  }
  if (auto checked = check_dead_after(cfg_); !checked) {
    spdlog::error("{}", checked.error().message);
    return kExitConfig;
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
  // A bug (an exception) while starting ends the supervisor as a configuration error did.
  net::spawn_owned(io_, start(), "launch", [this](const std::exception&) {
    exit_code_ = kExitConfig;
    stop();
  });
  io_.run();
  return exit_code_;
}

asio::awaitable<void> Supervisor::start() {
  std::uint32_t shard_count = 0;
  if (cfg_.shard_count) {
    shard_count = *cfg_.shard_count;
  } else {
    auto recommended = co_await recommended_shards();
    if (!recommended) {
      if (!recommended.error().is(Errc::cancelled)) fail_start(recommended.error());
      co_return;
    }
    shard_count = *recommended;
  }
  auto plan = plan_layout(shard_count, cfg_.shard_ids, cfg_.launch.clusters, cfg_.launch.per_cluster,
                          cfg_.launch.prefix);
  if (!plan) {
    fail_start(plan.error());
    co_return;
  }
  shard_count_ = shard_count;
  const auto owned = cfg_.shard_ids.empty() ? shard_count : cfg_.shard_ids.size();
  spdlog::info("launch: {} shards of {} in {} clusters, hub on {}:{}", owned, shard_count, plan->size(), hub_host_,
               hub_port_);
  // Every cluster at once: none waits on another, and IDENTIFYs are paced by the hub's slots.
  for (auto& spec : *plan) {
    spdlog::info("launch: {} runs shards {}", spec.name, format_shard_ids(spec.shard_ids));
    slots_.push_back(std::make_unique<Slot>(spec, RestartPolicy(limits_, clock_), io_));
    slots_.back()->shard_count = shard_count;
    spawn(*slots_.back());
  }
  net::spawn_owned(io_, monitor(), "launch monitor");
}

asio::awaitable<Result<std::uint32_t>> Supervisor::recommended_shards() {
  if (cfg_.discord_token.empty())
    co_return fail(Errc::bad_input, "SHARD_COUNT=auto needs DISCORD_TOKEN to ask GET /gateway/bot");
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_default_verify_paths();
  tls.set_verify_mode(asio::ssl::verify_peer);
  // Discord down or busy: retried for about two minutes; a refused token is not.
  for (int attempt = 1;; ++attempt) {
    // Named, not temporaries in the co_await: g++ 12 destroys such temporaries twice.
    std::string api_url = cfg_.discord_api_url;
    std::string path = "/gateway/bot";
    std::string token = cfg_.discord_token;
    auto r = co_await rest::rest_get(io_, tls, std::move(api_url), std::move(path), std::move(token),
                                     std::chrono::seconds(15));
    rest::GatewayBot bot;
    std::string error;
    if (r && r->status == 200 && rest::parse_gateway_bot(r->body, bot, error)) {
      spdlog::info("GET /gateway/bot recommends {} shards", bot.shards);
      co_return bot.shards;
    }
    auto why = rest::describe(r);
    if ((r && (r->status == 401 || r->status == 403)) || attempt == 8)
      co_return fail(Errc::bad_input,
                     fmt::format("SHARD_COUNT=auto: GET /gateway/bot failed ({}); check DISCORD_TOKEN or set "
                                 "SHARD_COUNT",
                                 why));
    auto wait = std::chrono::seconds(std::min(30, 1 << attempt));
    spdlog::warn("launch: GET /gateway/bot failed ({}); retrying in {} s", why, wait.count());
    auto stopped = [this] { return stopping_; };
    if (co_await changed_.wait_for(stopped, wait)) co_return fail(Errc::cancelled, "the supervisor is stopping");
  }
}

void Supervisor::fail_start(const Error& error) {
  spdlog::error("launch: {}", error.message);
  exit_code_ = kExitConfig;
  stop();
}

void Supervisor::stop() {
  if (stopping_) return;
  stopping_ = true;
  changed_.notify();
  stop_signals_.cancel();
  hangup_.cancel();
  monitor_.cancel();
  for (auto* s : watched()) {
    s->restart.cancel();
    // Bots first (or at once): a bot outliving its cluster would only see its endpoint vanish.
    stop_bot(*s, "the supervisor is stopping");
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
    for (auto& [pid, name] : bots_leaving_) {
      spdlog::warn("launch: the bot of {} (pid {}) did not stop in time: killing it", name, pid);
      signal_group(pid, SIGKILL);
    }
    finish();
  });
  maybe_finish_stop();
}

void Supervisor::maybe_finish_stop() {
  if (!stopping_) return;
  for (auto* s : watched())
    if (s->pid) return;
  if (!fenced_.empty() || !bots_leaving_.empty()) return;
  finish();
}

void Supervisor::finish() {
  if (finished_) return;
  finished_ = true;
  stop_timer_.cancel();
  chld_.cancel();
  if (link_) link_->stop();
  if (hub_) hub_->stop();
  if (!endpoint_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(endpoint_dir_, ec);
  }
  spdlog::info("launch: every cluster stopped");
  // Close frames of the hub go out, then the loop ends.
  auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
  t->async_wait([this, t](const boost::system::error_code&) { io_.stop(); });
}

int run_launch(const Config& cfg, const LaunchOptions& opt) {
  asio::io_context io;
  Supervisor supervisor(io, cfg, opt);
  return supervisor.run();
}

} // namespace shardline::supervisor
