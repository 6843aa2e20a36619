#pragma once
// The one backoff schedule for every retry loop (the link's reconnects, a shard's reconnects,
// REST retries, the supervisor's restarts): exponential from `min`, doubling up to `max`, with a
// random jitter added on top (a fraction of the delay), so processes that failed together do
// not retry together. Reset to `min` by a success. Pure arithmetic: the caller waits the delay,
// so the schedule is tested without waiting.
//
// The IPC contract (docs/protocol.md, "Reconnection") asks 5, 10, 20, 40, 80, then 120 s:
// those are the defaults.

#include <chrono>
#include <cstdint>
#include <random>

namespace shardline::net {

struct BackoffOptions {
  std::chrono::duration<double> min = std::chrono::seconds(5);
  std::chrono::duration<double> max = std::chrono::seconds(120);
  // next() returns the delay plus up to this fraction of it more.
  double jitter = 0.1;
};

class Backoff {
public:
  using duration = std::chrono::duration<double>;
  using Options = BackoffOptions;

  explicit Backoff(Options options = {}, std::uint64_t seed = std::random_device{}());
  Backoff(duration min, duration max, double jitter = 0.1, std::uint64_t seed = std::random_device{}())
      : Backoff(Options{min, max, jitter}, seed) {}

  // The delay before the next attempt, and advances the schedule.
  duration next();
  // next() in whole milliseconds, for timers.
  std::chrono::milliseconds next_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(next());
  }
  // The delay `next()` would return, without jitter.
  duration peek_base() const;
  void reset() { attempt_ = 0; }
  unsigned attempt() const { return attempt_; }

private:
  Options opt_;
  unsigned attempt_ = 0;
  std::mt19937_64 rng_;
};

} // namespace shardline::net
