// The bot processes of the supervisor (SHARD_BOT_COMMAND; docs/supervisor.md, "Bot processes"):
// one beside each cluster process, started once that process's shards are READY and its
// endpoint's port is known, pointed at that endpoint. A bot that dies is restarted under its own
// RestartPolicy and its cluster is not touched. A bot belongs to one cluster process: when the
// process leaves (a death, a rolling restart, a reshard), the bot is stopped, and the next
// process gets a fresh bot once its shards are READY. `shardline restart --bots` replaces the
// bots one cluster at a time, the new one settled before the old one stops.
#include "supervisor/supervisor_impl.hpp"

#include "net/spawn_owned.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <filesystem>

namespace shardline::supervisor {

namespace {

// Asked again this often while a port file is awaited.
constexpr auto kPortFileEvery = std::chrono::milliseconds(50);
constexpr auto kReadyWait = std::chrono::minutes(10);
// A bot stopped on purpose gets this long after SIGTERM before SIGKILL.
constexpr auto kBotStopDeadline = std::chrono::seconds(5);

} // namespace

void Supervisor::prepare_endpoint(Slot& s, ChildSpec& child) {
  if (!bots_.endpoint) return;
  if (s.proxy_port_file.empty())
    s.proxy_port_file = (std::filesystem::path(endpoint_dir_) / (s.spec.name + ".proxy-port")).string();
  // The previous process's port must not be taken for this one's.
  std::error_code ec;
  std::filesystem::remove(s.proxy_port_file, ec);
  if (bots_.base_port == 0) {
    child.env["SHARD_PROXY_PORT"] = "auto";
  } else {
    // Kept across respawns of the slot: the port is the slot's while it lives.
    if (s.proxy_port == 0) {
      auto port = next_endpoint_port(bots_.base_port, fixed_ports_);
      if (port) {
        s.proxy_port = *port;
        fixed_ports_.push_back(*port);
      } else {
        spdlog::error("launch: no port left above SHARD_PROXY_PORT={} for {}'s endpoint: it gets a free one",
                      bots_.base_port, s.spec.name);
      }
    }
    child.env["SHARD_PROXY_PORT"] = s.proxy_port ? std::to_string(s.proxy_port) : "auto";
  }
  child.env["SHARD_PROXY_HOST"] = bots_.host;
  child.args.insert(child.args.end(), {"--proxy-port-file", s.proxy_port_file});
}

void Supervisor::follow_cluster(Slot& s) {
  if (!bots_.enabled()) return;
  if (!s.bot) s.bot.emplace(bots_.limits, clock_);
  auto& bot = *s.bot;
  bot.generation = s.generation;
  bot.endpoint.reset();
  bot.error.clear();
  // A new cluster process is a fresh start for its bot too, also one given up on.
  bot.state = BotProcess::State::waiting;
  bot.policy = RestartPolicy(bots_.limits, clock_);
  net::spawn_owned(io_, bring_up_bot(&s, s.generation), "bot start");
}

asio::awaitable<void> Supervisor::bring_up_bot(Slot* s, std::int64_t generation) {
  auto gone = [this, s, generation] { return stopping_ || s->generation != generation || s->pid == 0; };
  if (!co_await wait_ready(s, kReadyWait)) {
    if (!gone()) {
      s->bot->error = "its cluster's shards were not all READY within 10 minutes";
      spdlog::error("launch: the bot of {} is not started: {}", s->spec.name, s->bot->error);
    }
    co_return;
  }
  // The endpoint listens before the shards connect, so its port file is there by now; a cluster
  // program without the endpoint never writes one.
  const auto deadline = steady::now() + bots_.endpoint_wait;
  std::optional<std::uint16_t> port;
  while (!gone() && !(port = read_port_file(s->proxy_port_file)) && steady::now() < deadline)
    co_await changed_.wait_until(gone, std::min(deadline, steady::now() + kPortFileEvery));
  if (gone()) co_return;
  auto& bot = *s->bot;
  if (!port) {
    bot.state = BotProcess::State::no_endpoint;
    bot.error = fmt::format("its cluster's process wrote no --proxy-port-file within {:.0f} s of its shards being "
                            "READY: the cluster command serves no bot endpoint (a shardline older than the endpoint, "
                            "or a SHARD_CLUSTER_COMMAND without it)",
                            std::chrono::duration<double>(bots_.endpoint_wait).count());
    spdlog::error("launch: the bot of {} is not started: {}", s->spec.name, bot.error);
    co_return;
  }
  bot.endpoint = BotEndpoint{bots_.host, *port};
  if (bot.pid) co_return;
  auto pid = start_bot(*s);
  if (!pid) {
    restart_bot_later(*s, pid.error().message);
    co_return;
  }
  bot.pid = *pid;
  bot.started_at = clock_();
  bot.state = BotProcess::State::running;
  bot.policy.started();
  spdlog::info("launch: started the bot of {} (pid {}) on {}", s->spec.name, bot.pid, bot.endpoint->api_url());
}

Result<pid_t> Supervisor::start_bot(Slot& s) {
  ChildSpec child;
  child.exe = bots_.words[0];
  child.args.assign(bots_.words.begin() + 1, bots_.words.end());
  BotContext ctx;
  ctx.cluster = s.spec.name;
  ctx.shard_ids = s.spec.shard_ids;
  ctx.shard_count = s.shard_count;
  ctx.endpoint = *s.bot->endpoint;
  ctx.ipc_host = hub_host_;
  ctx.ipc_port = hub_port_;
  ctx.ipc_secret = cfg_.ipc_secret;
  ctx.ipc_tls_ca = cfg_.tls_ca;
  ctx.token = cfg_.discord_token;
  child.env = bot_environment(own_environment(), ctx);
  auto pid = spawn_child(child);
  changed_.notify();
  return pid;
}

void Supervisor::restart_bot_later(Slot& s, const std::string& how) {
  auto& bot = *s.bot;
  auto wait = bot.policy.died();
  if (!wait) {
    bot.state = BotProcess::State::given_up;
    bot.error = fmt::format("died {} times within {:.0f} s (last: {})", bot.policy.restarts_in_window() + 1,
                            cfg_.launch.restart_window_s, how);
    spdlog::error("launch: the bot of {} {}: not restarting it; its cluster goes on. Fix the bot and run `shardline "
                  "restart --bots`",
                  s.spec.name, bot.error);
    return;
  }
  ++bot.restarts;
  bot.state = BotProcess::State::restarting;
  bot.error = "restarting after: " + how;
  spdlog::info("launch: restarting the bot of {} in {:.1f} s", s.spec.name, wait->count() / 1000.0);
  const auto generation = s.generation;
  s.bot_restart.expires_after(*wait);
  s.bot_restart.async_wait([this, &s, generation](const boost::system::error_code& ec) {
    if (ec || stopping_ || s.generation != generation || s.pid == 0 || !s.bot || s.bot->pid) return;
    auto& b = *s.bot;
    if (!b.endpoint) return;
    auto pid = start_bot(s);
    if (!pid) {
      restart_bot_later(s, pid.error().message);
      return;
    }
    b.pid = *pid;
    b.started_at = clock_();
    b.state = BotProcess::State::running;
    b.error.clear();
    b.policy.started();
    spdlog::info("launch: restarted the bot of {} (pid {})", s.spec.name, b.pid);
  });
}

void Supervisor::dismiss_bot(pid_t pid, const std::string& cluster) {
  if (!pid) return;
  bots_leaving_[pid] = cluster;
  signal_group(pid, SIGTERM);
  auto t = std::make_shared<asio::steady_timer>(io_, kBotStopDeadline);
  t->async_wait([this, pid, t](const boost::system::error_code& ec) {
    if (ec || !bots_leaving_.count(pid)) return;
    spdlog::warn("launch: the bot of {} (pid {}) did not stop within {} s of SIGTERM: killing it", bots_leaving_[pid],
                 pid, kBotStopDeadline.count());
    signal_group(pid, SIGKILL);
  });
}

void Supervisor::stop_bot(Slot& s, const char* why) {
  if (!s.bot) return;
  auto& bot = *s.bot;
  s.bot_restart.cancel();
  if (bot.pid) spdlog::info("launch: stopping the bot of {} (pid {}): {}", s.spec.name, bot.pid, why);
  dismiss_bot(bot.pid, s.spec.name);
  dismiss_bot(bot.next, s.spec.name);
  bot.pid = 0;
  bot.next = 0;
  bot.endpoint.reset();
  if (bot.state != BotProcess::State::given_up) {
    bot.state = BotProcess::State::waiting;
    bot.error.clear();
  }
  changed_.notify();
}

bool Supervisor::on_bot_exit(pid_t pid, int status) {
  if (auto it = bots_leaving_.find(pid); it != bots_leaving_.end()) {
    spdlog::info("launch: the bot of {} (pid {}) stopped ({})", it->second, pid, describe_exit(status));
    bots_leaving_.erase(it);
    maybe_finish_stop();
    return true;
  }
  if (!bots_.enabled()) return false;
  for (auto* s : watched()) {
    if (!s->bot) continue;
    auto& bot = *s->bot;
    const auto how = describe_exit(status);
    if (bot.next == pid) {
      // The replacement of `restart --bots` died while settling: the job sees it, the old one
      // goes on.
      bot.next = 0;
      bot.error = "its replacement exited while settling: " + how;
      spdlog::warn("launch: the new bot of {} (pid {}) exited while settling: {}", s->spec.name, pid, how);
      return true;
    }
    if (bot.pid != pid) continue;
    bot.pid = 0;
    spdlog::warn("launch: the bot of {} (pid {}) died: {}", s->spec.name, pid, how);
    if (!stopping_ && s->pid != 0 && bot.generation == s->generation) restart_bot_later(*s, how);
    return true;
  }
  return false;
}

bool Supervisor::bots_running() const {
  for (auto* s : watched())
    if (s->bot && (s->bot->pid || s->bot->next)) return true;
  return !bots_leaving_.empty();
}

void Supervisor::start_bot_restart() {
  const auto now = activity();
  if (now.bots || now.rolling || now.resharding || now.stopping || !bots_.enabled()) return;
  bot_job_ = {};
  bot_job_.running = true;
  net::spawn_owned(io_, restart_bots(), "bot restart");
}

// One cluster at a time: a new bot beside the old one, given SHARD_BOT_SETTLE_S to connect (the
// endpoint lets several clients attach to one shard, each getting every event), then the old one
// is stopped. The clusters are not touched: no shard reconnects to Discord.
asio::awaitable<void> Supervisor::restart_bots() {
  const auto began = steady::now();
  for (auto& sp : slots_) {
    auto& s = *sp;
    if (stopping_) break;
    bot_job_.current = s.spec.name;
    if (!s.bot || !s.bot->endpoint || s.pid == 0) {
      spdlog::warn("launch: bot restart skips {} (its cluster's endpoint is not up)", s.spec.name);
      ++bot_job_.skipped;
      continue;
    }
    auto& bot = *s.bot;
    const auto generation = s.generation;
    auto pid = start_bot(s);
    if (!pid) {
      bot_job_.error = fmt::format("cannot start a new bot for {}: {}", s.spec.name, pid.error().message);
      break;
    }
    bot.next = *pid;
    spdlog::info("launch: bot restart: a new bot of {} (pid {}) beside the old one (pid {})", s.spec.name, bot.next,
                 bot.pid);
    const auto next = bot.next;
    auto ended = [this, &s, &bot, next, generation] {
      return stopping_ || bot.next != next || s.generation != generation;
    };
    if (co_await changed_.wait_for(ended, bots_.settle)) {
      // The new one exited, the cluster left, or the supervisor stops: the old one (if any) goes
      // on; a replacement still running is stopped.
      if (bot.next == next) {
        dismiss_bot(next, s.spec.name);
        bot.next = 0;
      }
      if (stopping_) break;
      if (s.generation != generation) {
        ++bot_job_.skipped;
        continue;
      }
      bot_job_.error = fmt::format("the new bot of {} exited within SHARD_BOT_SETTLE_S ({}); the old one goes on",
                                   s.spec.name, bot.error);
      spdlog::error("launch: bot restart stopped: {}", bot_job_.error);
      break;
    }
    const auto old = bot.pid;
    bot.pid = next;
    bot.next = 0;
    bot.started_at = clock_();
    bot.state = BotProcess::State::running;
    bot.error.clear();
    // A replaced bot (perhaps a new version, perhaps one given up on) starts a fresh budget.
    bot.policy = RestartPolicy(bots_.limits, clock_);
    bot.policy.started();
    s.bot_restart.cancel();
    dismiss_bot(old, s.spec.name);
    // "Done" means the old bot is gone, not only told to go: wait for its exit (dismiss_bot kills
    // it at kBotStopDeadline), so one cluster's old and new bots never overlap the next one's.
    auto gone = [this, old] { return stopping_ || !bots_leaving_.count(old); };
    if (!co_await changed_.wait_for(gone, kBotStopDeadline + std::chrono::seconds(2)))
      spdlog::warn("launch: bot restart: the old bot of {} (pid {}) has not been reaped yet", s.spec.name, old);
    if (stopping_) break;
    ++bot_job_.done;
    spdlog::info("launch: bot restart: {}'s bot replaced (pid {} -> {}) ({}/{})", s.spec.name, old, next,
                 bot_job_.done, slots_.size());
  }
  if (stopping_ && bot_job_.error.empty()) bot_job_.error = "the supervisor is stopping";
  if (bot_job_.error.empty())
    spdlog::info("launch: bot restart done: {} bot(s) in {:.1f} s", bot_job_.done,
                 std::chrono::duration<double>(steady::now() - began).count());
  bot_job_.current.clear();
  bot_job_.running = false;
}

} // namespace shardline::supervisor
