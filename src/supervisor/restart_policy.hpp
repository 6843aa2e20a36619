#pragma once
// When a dead cluster may be started again: at once after a first death, then exponential
// backoff between attempts, and a cap on restarts within a window, past which the supervisor
// gives up on that cluster (a crash loop must not burn the IDENTIFY budget or the machine). A
// spawn that stays up for `stable_after` counts as healthy: its death is a first death again.
// Some exits are never answered by a restart (final_exit). Pure: reads time through a Clock so
// tests drive it.

#include "core/clock.hpp"
#include "core/config.hpp"

#include <deque>
#include <optional>

namespace shardline::supervisor {

struct RestartLimits {
  millis backoff_min{1000};
  millis backoff_max{60'000};
  std::size_t max_restarts = 5;      // within `window`
  millis window{10 * 60 * 1000};
  millis stable_after{60'000};

  // SHARD_RESTART_BACKOFF_MIN_S, SHARD_RESTART_BACKOFF_MAX_S, SHARD_RESTART_MAX,
  // SHARD_RESTART_WINDOW_S; a minute of good health.
  static RestartLimits from_config(const Config& cfg);
};

// An exit of a cluster's process that no restart would mend.
enum class FinalExit {
  config_error, // exit code 2: another start would fail the same way; its log says what to change
  superseded,   // exit code 3: fenced by a generation this supervisor did not start (another
                // supervisor runs the same shards)
};

// `wait_status` as from waitpid. nullopt: a death like any other (a crash, a signal, even exit
// code 0), restarted under the RestartPolicy.
std::optional<FinalExit> final_exit(int wait_status);

class RestartPolicy {
public:
  RestartPolicy(RestartLimits limits, Clock clock);

  // The cluster was (re)started now.
  void started();
  // The cluster died now. Returns how long to wait before starting it again, or nullopt when
  // the cap is reached (give up).
  std::optional<millis> died();

  std::size_t restarts_in_window() const { return restarts_.size(); }

private:
  RestartLimits limits_;
  Clock clock_;
  millis next_backoff_;
  steady::time_point started_at_{};
  std::deque<steady::time_point> restarts_;
};

} // namespace shardline::supervisor
