#pragma once
// When a dead cluster may be started again: at once after a first death, then exponential
// backoff between attempts, and a cap on restarts within a window, past which the supervisor
// gives up on that cluster (a crash loop must not burn the IDENTIFY budget or the machine). A
// spawn that stays up for `stable_after` counts as healthy: its death is a first death again.
// Reads time through a Clock so tests drive it.

#include "core/clock.hpp"

#include <deque>
#include <optional>

namespace shardline::supervisor {

struct RestartLimits {
  millis backoff_min{1000};
  millis backoff_max{60'000};
  std::size_t max_restarts = 5;      // within `window`
  millis window{10 * 60 * 1000};
  millis stable_after{60'000};
};

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
