#pragma once
// The Supervisor behind `shardline launch`, shared by its translation units, one concept each:
//
//   supervisor.cpp       its lifecycle: run, start (the plan, every cluster at once), stop
//   children.cpp         the cluster processes: spawned, reaped, restarted after a death, retired
//   monitor.cpp          the 250 ms look at the hub: health verdicts applied, the auto-reshard
//                        decision, the status line; whether a cluster's shards are all READY
//   rolling_restart.cpp  one cluster at a time replaced, each resuming its shards
//   reshard.cpp          a new layout beside the old, the switch, the old one closed
//   control.cpp          operator requests (launch_request) and SIGHUP
//   bots.cpp             the bot process beside each cluster (SHARD_BOT_COMMAND): started once
//                        its cluster is READY, restarted after a death, replaced one cluster at a
//                        time by `shardline restart --bots`
//
// The rules these apply are pure and unit-tested: health_check (who is alive, who is killed),
// restart_policy (when a dead cluster starts again), cluster_plan, reshard (the new layout, when
// to reshard on its own), control (which request starts what, or why not), command_words and
// bot_process (a bot's port, URLs, environment and restarts). One io_context
// thread: no locks.

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "hub/hub.hpp"
#include "link/hub_link.hpp"
#include "net/event.hpp"
#include "protocol/hub_messages.hpp"
#include "supervisor/bot_process.hpp"
#include "supervisor/child_process.hpp"
#include "supervisor/cluster_plan.hpp"
#include "supervisor/control.hpp"
#include "supervisor/health_check.hpp"
#include "supervisor/reshard.hpp"
#include "supervisor/restart_policy.hpp"
#include "supervisor/supervisor.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace shardline::supervisor {

namespace json = boost::json;

// Asking the hub (its status) or a cluster through it (shard_status, layout_request).
inline constexpr auto kAskTimeout = std::chrono::seconds(2);

// One cluster of a layout: its plan entry and its current process.
struct Slot {
  Slot(ClusterSpec s, RestartPolicy p, asio::io_context& io)
      : spec(std::move(s)), policy(std::move(p)), restart(io), bot_restart(io) {}

  ClusterSpec spec;
  RestartPolicy policy;
  asio::steady_timer restart; // until a restart after a death
  pid_t pid = 0;              // 0: no process
  std::int64_t generation = 0;
  Liveness life;              // what the health check knows of the current process
  bool restart_pending = false;
  bool given_up = false;
  bool replacing = false;        // stopped on purpose by a rolling restart: its exit is no death
  std::uint32_t shard_count = 0; // of its layout
  bool standby_start = false;    // the new layout of a reshard: start without events
  std::uint32_t restarts = 0;
  // The cluster's endpoint, when the supervisor runs bots (or SHARD_PROXY_PORT asks for it):
  // where its process writes the port it bound, and the fixed port it is given (0: auto).
  std::string proxy_port_file;
  std::uint16_t proxy_port = 0;
  std::optional<BotProcess> bot; // with SHARD_BOT_COMMAND
  asio::steady_timer bot_restart; // until a restart after the bot's death

  // Running and seen heartbeating (the status's `up`).
  bool up() const { return pid != 0 && life.last_alive.has_value(); }
  // Whether its silence means anything: not while a restart is pending, after the supervisor
  // gave up on it, or while a rolling restart stops it.
  bool judged() const { return !restart_pending && !given_up && !replacing; }
};

class Supervisor {
public:
  Supervisor(asio::io_context& io, const Config& cfg, const LaunchOptions& opt);

  // Runs until every cluster has stopped after SIGINT/SIGTERM; the process exit code.
  int run();

private:
  // ---- supervisor.cpp: lifecycle ---------------------------------------------------------
  asio::awaitable<void> start();
  // SHARD_COUNT=auto: GET /gateway/bot's recommendation. bad_input (a configuration error), or
  // cancelled when the supervisor stops meanwhile.
  asio::awaitable<Result<std::uint32_t>> recommended_shards();
  // A configuration error found while starting: logged, exit code 2, every cluster stopped.
  void fail_start(const Error& error);
  void stop();
  void maybe_finish_stop();
  void finish();

  // ---- children.cpp: the cluster processes -----------------------------------------------
  void spawn(Slot& s);
  std::map<std::string, std::string> child_env(const Slot& s) const;
  void watch_children();
  void on_exit(pid_t pid, int status);
  void on_death(Slot& s, const std::string& how);
  // Stops processes that leave for good (a retired layout, a failed new one).
  void retire(std::vector<std::unique_ptr<Slot>> slots);
  // True once the slot's process has been reaped; false when `limit` passes first.
  asio::awaitable<bool> wait_exited(Slot* s, steady::duration limit);
  // The clusters health checks cover: the current layout and a new one still starting.
  std::vector<Slot*> watched() const;

  // ---- monitor.cpp: health ---------------------------------------------------------------
  asio::awaitable<void> monitor();
  void check(const std::optional<protocol::HubStatus>& hub);
  void log_status() const;
  // Every shard of the slot's current process reports READY; false when `limit` passes, the
  // process is replaced, or the supervisor stops.
  asio::awaitable<bool> wait_ready(Slot* s, steady::duration limit);

  // ---- rolling_restart.cpp ---------------------------------------------------------------
  void start_rolling();
  asio::awaitable<void> rolling_restart();

  // ---- reshard.cpp -----------------------------------------------------------------------
  void start_reshard(std::uint32_t target);
  asio::awaitable<void> reshard(std::uint32_t target);
  // Asks every cluster of `slots` to give bot code events (or not); true when all confirmed.
  asio::awaitable<bool> set_layout_active(std::vector<Slot*> slots, bool active);

  // ---- control.cpp -----------------------------------------------------------------------
  void watch_hangup();
  json::object control(const protocol::LaunchRequest& request);
  protocol::SupervisorStatus status() const;
  Activity activity() const { return {stopping_, rolling_.running, reshard_.running, bot_job_.running}; }

  // ---- bots.cpp: the bot processes ---------------------------------------------------------
  // The endpoint's settings and --proxy-port-file for a cluster process about to start.
  void prepare_endpoint(Slot& s, ChildSpec& child);
  // After the slot's process started: its bot is started once its shards are READY.
  void follow_cluster(Slot& s);
  asio::awaitable<void> bring_up_bot(Slot* s, std::int64_t generation);
  // A new bot process for the slot (its pid), or the reason it could not be started.
  Result<pid_t> start_bot(Slot& s);
  void restart_bot_later(Slot& s, const std::string& how);
  // The cluster's process left (or the supervisor stops): its bot processes are stopped.
  void stop_bot(Slot& s, const char* why);
  // SIGTERM to a bot process, SIGKILL after a deadline; its exit is expected.
  void dismiss_bot(pid_t pid, const std::string& cluster);
  // True when `pid` was a bot process (handled here).
  bool on_bot_exit(pid_t pid, int status);
  bool bots_running() const;
  void start_bot_restart();
  asio::awaitable<void> restart_bots();

  asio::io_context& io_;
  const Config& cfg_;
  LaunchOptions opt_;
  Clock clock_ = real_clock();
  asio::signal_set chld_;
  asio::signal_set stop_signals_;
  asio::signal_set hangup_;
  asio::steady_timer monitor_;
  asio::steady_timer stop_timer_;
  // Notified when a child is reaped, when a slot's process is spawned, and when the supervisor
  // begins to stop: every wait on the children (an exit, a generation, the stop) wakes on it.
  net::Condition changed_;
  std::unique_ptr<asio::ssl::context> server_tls_, client_tls_;
  std::unique_ptr<hub::Hub> hub_;
  std::shared_ptr<link::HubLink> link_;
  std::string exe_; // this binary, for `run` children
  std::vector<std::string> cluster_words_; // SHARD_CLUSTER_COMMAND split into words; empty: exe_ run
  std::string hub_host_;
  std::uint16_t hub_port_ = 0;
  std::uint32_t shard_count_ = 0;
  RestartLimits limits_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> starting_;                // a reshard's new layout, until it takes over
  std::vector<std::unique_ptr<Slot>> retired_; // layouts that left; kept for their handlers
  std::map<pid_t, std::string> fenced_;        // processes of a retired layout not yet exited
  std::int64_t last_generation_ = 0;
  HealthCheck health_;
  AutoReshard auto_reshard_;
  protocol::ReshardJob reshard_;
  protocol::RollingJob rolling_; // `total` is filled in by status()
  BotSettings bots_;
  std::string endpoint_dir_;             // the clusters' port files; removed at the end
  std::vector<std::uint16_t> fixed_ports_; // held by slots (a fixed SHARD_PROXY_PORT)
  std::map<pid_t, std::string> bots_leaving_; // bot processes stopped on purpose, not yet reaped
  protocol::RollingJob bot_job_;           // `shardline restart --bots`
  bool stopping_ = false;
  bool finished_ = false;
  int exit_code_ = 0;
};

} // namespace shardline::supervisor
