#pragma once
// Discord's REST rate limits, as the simulator enforces them: a global limit per bot
// (50 requests per second) and one bucket per route (by default 5 requests per 5 s), each a
// fixed window that opens with its first request. A request over either gets a 429 with
// `retry_after`; every answer carries the route bucket's X-RateLimit-* state, so a client
// that follows the headers is never refused.

#include "core/clock.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace shardline::sim {

struct RestLimits {
  std::uint32_t global_per_second = 50;
  std::uint32_t route_limit = 5;
  millis route_window{5000};
};

struct RestVerdict {
  bool allowed = true;
  bool global = false;      // refused by the global limit (else by the route bucket)
  std::string bucket;       // X-RateLimit-Bucket: an opaque id of the route's bucket
  std::uint32_t limit = 0;  // X-RateLimit-Limit
  std::uint32_t remaining = 0;
  double reset_after_s = 0; // X-RateLimit-Reset-After; on a 429, also retry_after
};

class RestLimiter {
public:
  RestLimiter(RestLimits limits, Clock clock) : limits_(limits), clock_(std::move(clock)) {}

  // Decides on one request to `route` (e.g. "GET /gateway/bot") and records it if allowed.
  RestVerdict check(std::string_view route);

  std::uint64_t refused_global() const { return refused_global_; }
  std::uint64_t refused_route() const { return refused_route_; }

private:
  struct Window {
    steady::time_point start{};
    std::uint32_t used = 0;
  };
  // Opens a fresh window if the current one is over (or was never opened).
  static void roll(Window& w, steady::time_point now, steady::duration length);
  static double seconds_left(const Window& w, steady::time_point now, steady::duration length);

  RestLimits limits_;
  Clock clock_;
  Window global_;
  std::unordered_map<std::string, Window> routes_;
  std::uint64_t refused_global_ = 0;
  std::uint64_t refused_route_ = 0;
};

} // namespace shardline::sim
