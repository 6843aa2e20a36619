#include "sim/rest_limiter.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace shardline::sim {

namespace {

constexpr steady::duration kGlobalWindow = std::chrono::seconds(1);

} // namespace

const char* to_string(RestScope s) {
  switch (s) {
  case RestScope::none: return "none";
  case RestScope::user: return "user";
  case RestScope::global: return "global";
  case RestScope::shared: return "shared";
  case RestScope::banned: return "banned";
  }
  return "none";
}

RestLimiter::RestLimiter(RestModel model, Clock clock)
    : model_(std::move(model)), clock_(std::move(clock)), by_start_(model_.groups().size()),
      shared_(model_.groups().size()), invalid_(model_.invalid_window()) {
  counters_.by_group.resize(model_.groups().size());
}

bool RestLimiter::roll(Window& w, steady::time_point now, steady::duration length) {
  if (w.used != 0 && now - w.start < length) return false;
  w.start = now;
  w.used = 0;
  return true;
}

std::uint64_t RestLimiter::ms_left(const Window& w, steady::time_point now, steady::duration length) {
  auto left = std::chrono::ceil<millis>(w.start + length - now).count();
  return left > 0 ? static_cast<std::uint64_t>(left) : 0;
}

RestLimiter::Bucket& RestLimiter::bucket(std::size_t group, std::uint64_t major, steady::time_point now) {
  const Key key{static_cast<std::uint32_t>(group), major};
  if (auto it = buckets_.find(key); it != buckets_.end()) return it->second;
  if (buckets_.size() >= model_.max_bucket_states()) evict_one(now);
  auto& order = by_start_[group];
  order.push_back(key);
  auto [it, inserted] = buckets_.emplace(key, Bucket{Window{}, std::prev(order.end())});
  return it->second;
}

// Drops the bucket whose window ends first: one that has ended if any (forgetting it changes
// nothing, its next request opens a fresh window anyway); else the simulator turns lenient for
// that one bucket, never stricter. Looks at the front of each group's list: O(groups).
void RestLimiter::evict_one(steady::time_point now) {
  std::optional<std::size_t> victim;
  auto best = steady::time_point::max();
  for (std::size_t g = 0; g < by_start_.size(); ++g) {
    if (by_start_[g].empty()) continue;
    const auto& b = buckets_.at(by_start_[g].front());
    const auto ends = b.window.used == 0 ? now : b.window.start + model_.group(g).window;
    if (ends < best) {
      best = ends;
      victim = g;
    }
  }
  if (!victim) return;
  auto& order = by_start_[*victim];
  buckets_.erase(order.front());
  order.pop_front();
}

RestVerdict RestLimiter::check(std::size_t group, std::uint64_t major) {
  const auto now = clock_();
  const RestGroup& g = model_.group(group);
  auto& stats = counters_.by_group[group];
  ++stats.requests;
  auto& b = bucket(group, major, now);
  if (roll(b.window, now, g.window)) by_start_[group].splice(by_start_[group].end(), by_start_[group], b.order);

  RestVerdict v;
  v.group = &g;
  v.limit = g.limit;
  auto fill = [&] {
    v.remaining = g.limit - std::min(b.window.used, g.limit);
    v.reset_after_ms = ms_left(b.window, now, g.window);
  };
  if (auto& s = shared_[group]; s.count > 0) {
    --s.count;
    v.refused = RestScope::shared;
    v.retry_after_ms = static_cast<std::uint64_t>(s.retry_after.count());
    fill();
    ++stats.refused;
    return v;
  }
  roll(global_, now, kGlobalWindow);
  if (global_.used >= model_.global_per_sec()) {
    v.refused = RestScope::global;
    v.retry_after_ms = ms_left(global_, now, kGlobalWindow);
    fill();
    ++stats.refused;
    return v;
  }
  if (b.window.used >= g.limit) {
    v.refused = RestScope::user;
    fill();
    v.retry_after_ms = v.reset_after_ms;
    ++stats.refused;
    return v;
  }
  ++global_.used;
  ++b.window.used;
  fill();
  return v;
}

std::optional<millis> RestLimiter::ban_left() {
  if (!banned_until_) return std::nullopt;
  const auto now = clock_();
  if (now >= *banned_until_) {
    banned_until_.reset();
    return std::nullopt;
  }
  return std::chrono::ceil<millis>(*banned_until_ - now);
}

bool RestLimiter::answered(unsigned status, RestScope scope) {
  ++counters_.requests;
  if (status >= 200 && status < 300) ++counters_.ok;
  switch (scope) {
  case RestScope::none: break;
  case RestScope::user: ++counters_.user; break;
  case RestScope::global: ++counters_.global; break;
  case RestScope::shared: ++counters_.shared; break;
  case RestScope::banned: ++counters_.banned; break;
  }
  const bool invalid = status == 401 || status == 403 || (status == 429 && scope != RestScope::shared);
  if (!invalid) return false;
  const auto now = clock_();
  ++counters_.invalid_total;
  invalid_.add(now);
  if (banned_until_ && now < *banned_until_) return false;
  if (invalid_.count(now) < model_.invalid_limit()) return false;
  banned_until_ = now + model_.ban();
  return true;
}

void RestLimiter::share_limit(std::size_t group, std::uint32_t count, millis retry_after) {
  shared_[group] = Shared{count, std::max(retry_after, millis(0))};
}

void RestLimiter::reset() {
  global_ = {};
  buckets_.clear();
  for (auto& order : by_start_) order.clear();
  for (auto& s : shared_) s = {};
  invalid_.clear();
  banned_until_.reset();
  counters_ = {};
  counters_.by_group.resize(model_.groups().size());
}

std::string seconds_text(std::uint64_t ms) { return fmt::format("{}.{:03}", ms / 1000, ms % 1000); }

} // namespace shardline::sim
