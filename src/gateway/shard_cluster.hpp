#pragma once
// The gateway side of `shardline run`: plans this process's shards from GET /gateway/bot and
// the configuration, runs them, gives them IDENTIFY slots (from the hub when the cluster is on
// the IPC network, paced locally otherwise), keeps their sessions in SHARD_DATA_DIR, and
// reports what they hold to the IPC network (stats_broadcast, preset queries). Also the small
// event API for bot code in the same process.

#include "core/config.hpp"
#include "gateway/session_file.hpp"
#include "gateway/shard.hpp"
#include "gateway/state_writer.hpp"
#include "link/cluster_state.hpp"
#include "net/event.hpp"
#include "rest/discord_rest.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shardline::link {
class HubLink;
}

namespace shardline::gateway {

// Thrown by start() when the cluster cannot run its shards; the message tells the operator
// what to change.
struct GatewayStartError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Lifetime: destroy a ShardCluster only once its io_context runs no more handlers (after
// shutdown()'s callback and io.run() has returned, as `shardline run` and
// examples/event_counter do). Its shards' pending operations refer to it and to their Shard.
class ShardCluster final : public link::ClusterState, public ShardHost {
public:
  using DispatchHandler = std::function<void(Shard& shard, std::string_view type, std::string_view data)>;

  ShardCluster(asio::io_context& io, const Config& cfg, std::string mode);
  ~ShardCluster() override;

  // IDENTIFY slots come from the hub through this link (null: pace locally).
  void set_link(link::HubLink* link) { link_ = link; }

  // Fetches GET /gateway/bot (retrying while Discord is unreachable) and plans the shards
  // (shard_count(), shard_ids()). Throws GatewayStartError (bad token, SHARD_IDS outside
  // SHARD_COUNT...).
  asio::awaitable<void> plan();
  // Starts the planned shards; saved sessions (from SHARD_DATA_DIR, else from the hub) are
  // resumed.
  asio::awaitable<void> run();
  // plan() then run().
  asio::awaitable<void> start();
  // Every shard closes with a resumable code and its session is saved; `done` runs when all
  // have closed or after `deadline`.
  // `save_state` false: a newer process owns these shards now; its saved state stays.
  void shutdown(std::chrono::milliseconds deadline, std::function<void()> done, bool save_state = true);

  // ---- event API for bot code in this process ----
  // Calls `handler` for every dispatch of type `type` ("*": every type), on the io thread.
  void on(std::string type, DispatchHandler handler);
  // Sends a gateway command on a shard of this process. False if the shard is not ours, not
  // ready, or the payload is over 4,096 bytes.
  bool send(std::uint32_t shard_id, int op, std::string_view d_json);
  // The shard a guild's events arrive on; nullopt if that shard is not run by this process.
  std::optional<std::uint32_t> shard_of_guild(std::uint64_t guild_id) const;
  Shard* shard(std::uint32_t shard_id);
  // The TLS context for Discord's REST API and gateway (verifies certificates).
  ssl::context& discord_tls() { return *tls_; }
  const Config& config() const { return cfg_; }

  // Sees every dispatch of every shard, in order, before the handlers of on() and whether or
  // not this layout is active (a standby layout's clients of the bot endpoint need its events
  // too). One tap; it must not throw.
  void set_dispatch_tap(DispatchHandler tap) { tap_ = std::move(tap); }
  // GET /gateway/bot as this process learned it (after plan()), and the IDENTIFY budget left.
  const rest::GatewayBot& gateway_bot() const { return bot_; }
  std::uint32_t budget_remaining() const { return budget_remaining_; }

  // Whether bot code gets the events (handlers of on()). A new layout started beside the old
  // one during a reshard runs its shards in standby until the supervisor switches it over.
  void set_active(bool active);
  bool active() const { return active_; }

  std::uint32_t shard_count() const { return shard_count_; }
  const std::vector<std::uint32_t>& shard_ids() const { return shard_ids_; }
  bool all_ready() const;

  // ---- link::ClusterState ----
  protocol::ClusterStats stats() override;
  boost::json::value eval(std::string_view query) override;
  std::uint64_t guild_count() override;

  // ---- ShardHost ----
  asio::awaitable<Result<void>> acquire_identify(std::uint32_t shard_id) override;
  void on_dispatch(Shard& shard, std::string_view type, std::string_view data) override;
  void on_ready(Shard& shard, bool resumed) override;
  void on_session_update(Shard& shard) override;
  void on_session_lost(Shard& shard) override;
  void on_stopped(Shard& shard, const std::string& reason) override;
  asio::awaitable<std::string> fresh_gateway_url(std::uint32_t shard_id) override;

private:
  asio::awaitable<Result<void>> local_slot(std::uint32_t shard_id);
  // Why no new session may start now (budget at the reserve), refilling it first if its reset
  // time has passed.
  std::optional<std::string> budget_low();
  std::chrono::milliseconds budget_resets_in() const;
  // Waits until the budget may have refilled (at most a minute at a time); false if the wait
  // no longer matters (shutting down, or a newer wait of the shard).
  asio::awaitable<bool> wait_for_budget(std::uint32_t shard_id, std::string reason, std::function<bool()> abandoned);
  boost::json::array shard_status();
  double uptime() const;
  void save_state(Shard& shard, bool all_guilds);
  asio::awaitable<std::map<std::uint32_t, SavedSession>> sessions_from_hub(std::vector<std::uint32_t> ids);
  void report_sessions();
  void schedule_reports();

  asio::io_context& io_;
  Config cfg_;
  std::string mode_;
  std::unique_ptr<ssl::context> tls_;
  SessionFileStore sessions_;
  GuildSnapshotStore guild_snapshots_;
  // After the stores: destroyed (joined) first, while the jobs' stores still exist.
  StateWriter state_writer_;
  link::HubLink* link_ = nullptr;
  rest::GatewayBot bot_;
  // fresh_gateway_url(): the request in flight (shards that ask meanwhile wait for it), and
  // when the last one started.
  std::shared_ptr<net::Event> gateway_refresh_;
  std::optional<steady::time_point> gateway_refreshed_at_;
  std::uint32_t shard_count_ = 0;
  std::vector<std::uint32_t> shard_ids_;
  std::map<std::uint32_t, std::shared_ptr<Shard>> shards_;
  // Transparent comparator: looked up with the dispatch's type without building a string.
  std::multimap<std::string, DispatchHandler, std::less<>> handlers_;
  DispatchHandler tap_;
  // Local pacing (no hub): when each bucket may next IDENTIFY.
  std::vector<steady::time_point> bucket_free_;
  // The daily budget as this process knows it: from /gateway/bot, minus its own IDENTIFYs
  // (and the hub's view when it grants).
  std::uint32_t budget_remaining_ = 0;
  steady::time_point budget_reset_at_{};
  // Per shard, which acquire_identify call is current: a shard that reconnects while waiting
  // asks again, and the older wait must end instead of asking the hub on its own.
  std::map<std::uint32_t, std::uint64_t> slot_waits_;
  // Sessions are reported to the hub (so a process elsewhere can take the shards over):
  // every few seconds, and shards whose session Discord ended are reported as deleted.
  std::unique_ptr<asio::steady_timer> report_timer_;
  std::vector<std::uint32_t> lost_sessions_;
  bool shutting_down_ = false;
  bool active_ = true;
  steady::time_point started_ = steady::now();
};

} // namespace shardline::gateway
