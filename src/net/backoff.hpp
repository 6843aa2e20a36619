#pragma once
// Reconnection delays (contract section 8): 5, 10, 20, 40, 80, then 120 s; reset to the
// first delay by a successful authentication. Pure arithmetic over a clock the caller
// drives, so the schedule is testable without waiting.

#include <chrono>
#include <cstdint>
#include <random>

namespace shardline::net {

class ReconnectBackoff {
public:
  using duration = std::chrono::duration<double>;

  ReconnectBackoff(duration min = std::chrono::seconds(5), duration max = std::chrono::seconds(120),
                   double jitter_fraction = 0.1, std::uint64_t seed = std::random_device{}());

  // The delay before the next attempt, and advances the schedule.
  duration next();
  // The delay `next()` would return, without jitter.
  duration peek_base() const;
  void reset() { attempt_ = 0; }
  unsigned attempt() const { return attempt_; }

private:
  duration min_, max_;
  double jitter_;
  unsigned attempt_ = 0;
  std::mt19937_64 rng_;
};

} // namespace shardline::net
