#include "supervisor/restart_policy.hpp"

#include "core/exit_codes.hpp"

#include <algorithm>

#include <sys/wait.h>

namespace shardline::supervisor {

namespace {

millis to_millis(double seconds) { return millis(static_cast<std::int64_t>(seconds * 1000)); }

} // namespace

RestartLimits RestartLimits::from_config(const Config& cfg) {
  return {to_millis(cfg.launch.backoff_min_s), to_millis(cfg.launch.backoff_max_s), cfg.launch.restart_max,
          to_millis(cfg.launch.restart_window_s), std::chrono::seconds(60)};
}

std::optional<FinalExit> final_exit(int wait_status) {
  if (!WIFEXITED(wait_status)) return std::nullopt;
  if (WEXITSTATUS(wait_status) == kExitConfig) return FinalExit::config_error;
  if (WEXITSTATUS(wait_status) == kExitSuperseded) return FinalExit::superseded;
  return std::nullopt;
}

RestartPolicy::RestartPolicy(RestartLimits limits, Clock clock)
    : limits_(limits), clock_(std::move(clock)), next_backoff_(limits.backoff_min) {}

void RestartPolicy::started() { started_at_ = clock_(); }

std::optional<millis> RestartPolicy::died() {
  const auto now = clock_();
  // A spawn that ran long enough was healthy: its death starts a fresh backoff.
  const bool healthy = started_at_ != steady::time_point{} && now - started_at_ >= limits_.stable_after;
  while (!restarts_.empty() && now - restarts_.front() >= limits_.window) restarts_.pop_front();
  if (restarts_.size() >= limits_.max_restarts) return std::nullopt;
  // The first death (none in the window, or after a healthy run) restarts at once: a cluster
  // killed by the OOM killer or by hand is back within its start-up and its shards RESUME,
  // while Discord still buffers their events. Only a second death in a row, the start of a
  // crash loop, waits, and each further one waits twice as long.
  const bool first = restarts_.empty() || healthy;
  restarts_.push_back(now);
  if (first) {
    next_backoff_ = limits_.backoff_min;
    return millis(0);
  }
  auto wait = next_backoff_;
  next_backoff_ = std::min(limits_.backoff_max, next_backoff_ * 2);
  return wait;
}

} // namespace shardline::supervisor
