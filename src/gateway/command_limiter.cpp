#include "gateway/command_limiter.hpp"

#include <algorithm>
#include <utility>

namespace shardline::gateway {

namespace {
// Ordinary commands keep at least one slot: a reserve that swallowed the whole limit would
// block presence updates and member requests for good instead of merely slowing them.
std::uint32_t clamp_reserve(std::uint32_t reserve, std::uint32_t limit) {
  return limit == 0 ? 0 : std::min(reserve, limit - 1);
}
} // namespace

CommandLimiter::CommandLimiter(Clock clock, std::uint32_t limit, millis window, std::uint32_t heartbeat_reserve)
    : clock_(std::move(clock)), limit_(limit), window_(window), reserve_(clamp_reserve(heartbeat_reserve, limit)) {}

std::uint32_t CommandLimiter::reserve_for(millis heartbeat_interval, millis window) {
  // Sends expire once they are `window` old, so a window is the half-open span (now-window, now]
  // and holds at most ceil(window / interval) beats of a regular heartbeat.
  const auto interval = std::max<millis::rep>(heartbeat_interval.count(), 1);
  const auto span = std::max<millis::rep>(window.count(), 0);
  const auto beats = (span + interval - 1) / interval;
  return static_cast<std::uint32_t>(std::min<millis::rep>(beats, 1'000'000)) + 2;
}

void CommandLimiter::set_heartbeat_reserve(std::uint32_t reserve) { reserve_ = clamp_reserve(reserve, limit_); }

bool CommandLimiter::try_acquire(bool heartbeat) {
  const auto now = clock_();
  expire(now);
  const std::uint32_t cap = heartbeat ? limit_ : limit_ - reserve_;
  if (sent_.size() >= cap) return false;
  sent_.push_back(now);
  return true;
}

steady::time_point CommandLimiter::next_allowed(bool heartbeat) const {
  const auto now = clock_();
  expire(now);
  const std::uint32_t cap = heartbeat ? limit_ : limit_ - reserve_;
  if (sent_.size() < cap) return now;
  if (cap == 0) return steady::time_point::max(); // limit 0: nothing may ever go
  // Enough of the oldest sends must expire to leave one free slot under the cap.
  return sent_[sent_.size() - cap] + window_;
}

std::uint32_t CommandLimiter::used() const {
  expire(clock_());
  return static_cast<std::uint32_t>(sent_.size());
}

void CommandLimiter::reset() { sent_.clear(); }

void CommandLimiter::expire(steady::time_point now) const {
  while (!sent_.empty() && sent_.front() + window_ <= now) sent_.pop_front();
}

} // namespace shardline::gateway
