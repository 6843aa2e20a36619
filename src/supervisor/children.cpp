// The cluster processes of the supervisor: each slot's process spawned with its environment and
// generation, reaped on SIGCHLD, and after a death started again under the restart policy (or
// given up on); processes of a layout that leaves are retired.
#include "supervisor/supervisor_impl.hpp"

#include "supervisor/child_process.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>

namespace shardline::supervisor {

std::map<std::string, std::string> Supervisor::child_env(const Slot& s) const {
  auto env = own_environment();
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

void Supervisor::spawn(Slot& s) {
  if (stopping_) return;
  // Higher than any earlier generation of the name, also across supervisor restarts: the hub
  // lets the newest take the name over and fences the others.
  s.generation = std::max(last_generation_ + 1, wall_clock_ms());
  last_generation_ = s.generation;
  ChildSpec child;
  const auto& words = cluster_words_;
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
  prepare_endpoint(s, child);
  auto pid = spawn_child(child);
  changed_.notify();
  if (!pid) {
    spdlog::error("launch: cannot start {}: {}", s.spec.name, pid.error().message);
    s.pid = 0;
    on_death(s, pid.error().message);
    return;
  }
  s.pid = *pid;
  s.life.started(clock_());
  s.restart_pending = false;
  s.policy.started();
  spdlog::info("launch: started {} (pid {}, generation {})", s.spec.name, s.pid, s.generation);
  follow_cluster(s);
}

void Supervisor::watch_children() {
  chld_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    for (auto e = reap_one(); e.pid > 0; e = reap_one()) on_exit(e.pid, e.status);
    changed_.notify();
    watch_children();
  });
}

void Supervisor::on_exit(pid_t pid, int status) {
  if (on_bot_exit(pid, status)) return;
  if (auto it = fenced_.find(pid); it != fenced_.end()) {
    spdlog::info("launch: retired process of {} (pid {}) exited: {}", it->second, pid, describe_exit(status));
    fenced_.erase(it);
    maybe_finish_stop();
    return;
  }
  for (auto* s : watched()) {
    if (s->pid != pid) continue;
    s->pid = 0;
    // Its bot was attached to this process's endpoint, which is gone: the bot is stopped and
    // started again once the next process's shards are READY.
    stop_bot(*s, "its cluster's process exited");
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
    if (auto ending = final_exit(status)) {
      if (*ending == FinalExit::config_error)
        spdlog::error("launch: {} exited with a configuration error (exit code 2): not restarting it; its log says "
                      "what to change",
                      s->spec.name);
      else
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

void Supervisor::on_death(Slot& s, const std::string& how) {
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

// SIGTERM, then SIGKILL after 10 s; their exits are expected.
void Supervisor::retire(std::vector<std::unique_ptr<Slot>> slots) {
  for (auto& s : slots) {
    s->restart.cancel();
    s->given_up = true;
    stop_bot(*s, "its cluster leaves");
    if (s->proxy_port) std::erase(fixed_ports_, s->proxy_port);
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

asio::awaitable<bool> Supervisor::wait_exited(Slot* s, steady::duration limit) {
  auto exited = [s] { return s->pid == 0; };
  co_return co_await changed_.wait_for(exited, limit);
}

std::vector<Slot*> Supervisor::watched() const {
  std::vector<Slot*> out;
  for (auto& s : slots_) out.push_back(s.get());
  out.insert(out.end(), starting_.begin(), starting_.end());
  return out;
}

} // namespace shardline::supervisor
