#pragma once
// Whether each cluster of the supervisor is alive, judged from the hub's status (docs/supervisor.md,
// "Health"). Pure: the supervisor asks the hub every 250 ms and hands the answer here with its
// clusters; this decides which are alive and which must be killed, and why. No sockets, no
// timers; time through a Clock, so tests drive it.
//
// The rules:
// - A heartbeat counts for a cluster only when the hub saw it from the cluster's current
//   generation: a replaced process that still heartbeats does not keep its successor alive.
// - Silent for more than `dead_after` (no heartbeat of its generation): killed.
// - Never joined the hub within `start_timeout` of its start: killed.
// - Without the hub's answer nothing is judged (only exits count then). When the hub answers
//   again after it did not, clusters are still reconnecting with their own backoff: silence is
//   judged again only once `reconnect_max` has passed.
// - When the supervisor itself was stalled (two looks more than dead_after / 2 apart: swapped
//   out, suspended), the ages it reads grew while it slept: the first look after the gap judges
//   no cluster.

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "protocol/hub_messages.hpp"

#include <boost/json/value.hpp>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include <sys/types.h>

namespace shardline::supervisor {

struct HealthSettings {
  steady::duration dead_after = std::chrono::seconds(90);    // SHARD_DEAD_AFTER_S
  steady::duration start_timeout = std::chrono::seconds(60); // SHARD_START_TIMEOUT_S
  steady::duration reconnect_max = std::chrono::seconds(120); // SHARD_IPC_RECONNECT_MAX_S

  static HealthSettings from_config(const Config& cfg);
};

// SHARD_DEAD_AFTER_S must be above SHARD_IPC_HEARTBEAT_S: otherwise a healthy cluster looks dead
// between two heartbeats. bad_input saying what to change.
Result<void> check_dead_after(const Config& cfg);

// What the health check remembers of one cluster slot. The slot holds it; look() updates it.
struct Liveness {
  steady::time_point spawned_at{};              // its current process started
  std::optional<steady::time_point> last_alive; // the hub's last heartbeat of its current generation

  // A new process of the slot started now: nothing is known of it yet.
  void started(steady::time_point now) {
    spawned_at = now;
    last_alive.reset();
  }
};

// One cluster as the health check sees it.
struct WatchedCluster {
  std::string name;
  pid_t pid = 0;               // 0: no process (exited, not started yet): not judged
  std::int64_t generation = 0; // of its current process
  // false while a restart is pending, after the supervisor gave up on it, or while a rolling
  // restart stops it on purpose: its silence means nothing then.
  bool judged = true;
  Liveness* life = nullptr;
};

enum class KillReason {
  never_joined, // no heartbeat of its generation within start_timeout of its start
  silent,       // its heartbeats stopped for longer than dead_after
};

struct HealthKill {
  std::size_t cluster = 0;                 // index into the clusters given to look()
  KillReason why = KillReason::silent;
  std::chrono::duration<double> silent_for{}; // silent: since its last heartbeat
};

struct HealthVerdict {
  std::vector<HealthKill> kills;
  bool hub_back = false; // the hub answers again after it did not: silence waits reconnect_max
  bool stalled = false;  // the supervisor itself was stalled: no cluster judged on this look
};

class HealthCheck {
public:
  HealthCheck(HealthSettings settings, Clock clock) : settings_(settings), clock_(std::move(clock)) {}

  // One look. `hub`: the hub's status, nullopt when it did not answer (or the link is down).
  // Updates each cluster's Liveness (its last heartbeat; after a kill for silence, a fresh start,
  // so no start-timeout kill follows while the process is reaped) and says whom to kill. The
  // caller kills them.
  HealthVerdict look(const std::optional<protocol::HubStatus>& hub, std::span<const WatchedCluster> clusters);

  const HealthSettings& settings() const { return settings_; }

private:
  HealthSettings settings_;
  Clock clock_;
  std::optional<steady::time_point> last_look_; // the previous look with the hub's answer
  bool hub_seen_ = false;                       // the hub has answered once
  bool hub_lost_ = false;                       // it answered once, then the last look got no answer
  std::optional<steady::time_point> hub_back_at_; // when it answered again after that
};

// True when a cluster's answer to the preset query shard_status (an array of one object per
// shard) lists `expected` shards, every one with status "ready".
bool all_shards_ready(const boost::json::value& shard_status, std::size_t expected);

} // namespace shardline::supervisor
