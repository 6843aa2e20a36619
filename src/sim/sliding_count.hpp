#pragma once
// How many events happened in the last `window`: Discord's invalid-request count (10,000 in
// any 10 minutes). Events are tallied in steps of window/1000 (at least 1 ms; 600 ms for the
// default 10 minutes), so the memory is bounded (about 1,000 tallies) however many events
// arrive; an event leaves the count `window` after the start of its step, up to one step
// early. With a window of 1,000 ms or less the count is exact to the millisecond.

#include "core/clock.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>

namespace shardline::sim {

class SlidingCount {
public:
  explicit SlidingCount(millis window, std::int64_t steps = 1000)
      : window_ms_(std::max<std::int64_t>(1, window.count())),
        step_ms_(std::max<std::int64_t>(1, (window_ms_ + steps - 1) / steps)) {}

  void add(steady::time_point now, std::uint64_t n = 1) {
    const auto ms = ms_of(now);
    expire(ms);
    const auto step = ms / step_ms_;
    if (!tallies_.empty() && tallies_.back().first == step) tallies_.back().second += n;
    else tallies_.emplace_back(step, n);
    total_ += n;
  }

  std::uint64_t count(steady::time_point now) {
    expire(ms_of(now));
    return total_;
  }

  void clear() {
    tallies_.clear();
    total_ = 0;
  }

private:
  static std::int64_t ms_of(steady::time_point t) {
    return std::chrono::duration_cast<millis>(t.time_since_epoch()).count();
  }
  void expire(std::int64_t now_ms) {
    while (!tallies_.empty() && tallies_.front().first * step_ms_ + window_ms_ <= now_ms) {
      total_ -= tallies_.front().second;
      tallies_.pop_front();
    }
  }

  std::int64_t window_ms_;
  std::int64_t step_ms_;
  std::deque<std::pair<std::int64_t, std::uint64_t>> tallies_; // (step, events in it), oldest first
  std::uint64_t total_ = 0;
};

} // namespace shardline::sim
