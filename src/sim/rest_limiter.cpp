#include "sim/rest_limiter.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>

namespace shardline::sim {

void RestLimiter::roll(Window& w, steady::time_point now, steady::duration length) {
  if (w.used == 0 || now - w.start >= length) {
    w.start = now;
    w.used = 0;
  }
}

double RestLimiter::seconds_left(const Window& w, steady::time_point now, steady::duration length) {
  auto left = w.start + length - now;
  return std::max(0.0, std::chrono::duration<double>(left).count());
}

RestVerdict RestLimiter::check(std::string_view route) {
  auto now = clock_();
  RestVerdict v;
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string_view>{}(route));
  v.bucket = hash;
  v.limit = limits_.route_limit;

  const steady::duration second = std::chrono::seconds(1);
  roll(global_, now, second);
  // Routes are few and fixed (the server's own list), so this map stays small.
  auto& w = routes_[std::string(route)];
  roll(w, now, limits_.route_window);

  if (global_.used >= limits_.global_per_second) {
    ++refused_global_;
    v.allowed = false;
    v.global = true;
    v.remaining = limits_.route_limit - std::min(w.used, limits_.route_limit);
    v.reset_after_s = seconds_left(global_, now, second);
    return v;
  }
  if (w.used >= limits_.route_limit) {
    ++refused_route_;
    v.allowed = false;
    v.remaining = 0;
    v.reset_after_s = seconds_left(w, now, limits_.route_window);
    return v;
  }
  ++global_.used;
  ++w.used;
  v.remaining = limits_.route_limit - w.used;
  v.reset_after_s = seconds_left(w, now, limits_.route_window);
  return v;
}

} // namespace shardline::sim
