#include "supervisor/restart_policy.hpp"

#include <algorithm>

namespace shardline::supervisor {

RestartPolicy::RestartPolicy(RestartLimits limits, Clock clock)
    : limits_(limits), clock_(std::move(clock)), next_backoff_(limits.backoff_min) {}

void RestartPolicy::started() { started_at_ = clock_(); }

std::optional<millis> RestartPolicy::died() {
  const auto now = clock_();
  // A spawn that ran long enough was healthy: its death starts a fresh backoff.
  if (started_at_ != steady::time_point{} && now - started_at_ >= limits_.stable_after) next_backoff_ = limits_.backoff_min;
  while (!restarts_.empty() && now - restarts_.front() >= limits_.window) restarts_.pop_front();
  if (restarts_.size() >= limits_.max_restarts) return std::nullopt;
  restarts_.push_back(now);
  auto wait = next_backoff_;
  next_backoff_ = std::min(limits_.backoff_max, next_backoff_ * 2);
  return wait;
}

} // namespace shardline::supervisor
