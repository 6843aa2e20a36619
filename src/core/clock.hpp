#pragma once
// Time for rules that tests must drive. Every limiter, scheduler and store reads the time
// through a Clock its owner passes in, never steady_clock directly: unit tests then drive a
// ManualClock and check a 5-second identify window or a 60-second send window without waiting.

#include <chrono>
#include <cstdint>
#include <functional>

namespace shardline {

using steady = std::chrono::steady_clock;
using Clock = std::function<steady::time_point()>;
using millis = std::chrono::milliseconds;

// Milliseconds since the Unix epoch: for what must compare across processes and restarts
// (generations, cached answers), never for intervals inside a process.
inline std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline Clock real_clock() {
  return [] { return steady::now(); };
}

// A clock that moves only when told. Starts at an arbitrary non-zero point so code that
// treats time_point{} as "never" still sees every real time as later.
class ManualClock {
public:
  steady::time_point now() const { return now_; }
  void advance(steady::duration d) { now_ += d; }
  // The Clock to hand to the code under test; it reads this object, which must outlive it.
  Clock clock() {
    return [this] { return now_; };
  }

private:
  steady::time_point now_ = steady::time_point{} + std::chrono::hours(1);
};

} // namespace shardline
