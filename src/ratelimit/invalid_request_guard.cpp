#include "ratelimit/invalid_request_guard.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace shardline::ratelimit {

namespace {
constexpr std::size_t kMaxKept = 200'000; // far above any limit: a bound, not a rule
}

void InvalidRequestGuard::forget_oldest() {
  auto& front = answers_.front();
  if (auto it = by_route_.find(front.route); it != by_route_.end() && --it->second == 0) by_route_.erase(it);
  answers_.pop_front();
}

void InvalidRequestGuard::count(const std::string& route, steady::time_point now) {
  if (answers_.size() >= kMaxKept) forget_oldest();
  answers_.push_back({now, route});
  auto n = ++by_route_[route];
  const auto window_s = window_.count() / 1000;
  if (n >= route_limit_ && blocked_.insert(route).second)
    alerts_.push_back(fmt::format("REST guard: blocked {} after {} answers of 401, 403 or 429 in {} s; its requests "
                                  "are refused here until they age out (Discord bans the bot's IP for an hour at "
                                  "10,000 in 10 minutes). Other routes keep working.",
                                  route, n, window_s));
  if (!bot_blocked_ && answers_.size() >= bot_limit_) {
    bot_blocked_ = true;
    alerts_.push_back(fmt::format("REST guard: {} answers of 401, 403 or 429 in {} s: every REST request of the bot "
                                  "is refused here until they age out (Discord's ban comes at 10,000); the last "
                                  "was on {}",
                                  answers_.size(), window_s, route));
  }
}

void InvalidRequestGuard::slide(steady::time_point now) {
  while (!answers_.empty() && answers_.front().at + window_ <= now) forget_oldest();
  for (auto it = blocked_.begin(); it != blocked_.end();) {
    auto c = by_route_.find(*it);
    if (c == by_route_.end() || c->second < route_limit_) {
      alerts_.push_back(fmt::format("REST guard: {} is allowed again", *it));
      it = blocked_.erase(it);
    } else {
      ++it;
    }
  }
  if (bot_blocked_ && answers_.size() < bot_limit_) {
    bot_blocked_ = false;
    alerts_.push_back("REST guard: the bot's REST requests are allowed again");
  }
}

std::optional<std::string> InvalidRequestGuard::refusal(const std::string& route) const {
  const auto window_s = window_.count() / 1000;
  if (bot_blocked_)
    return fmt::format("Shardline stopped the bot's REST requests: {} answers of 401, 403 or 429 in the last {} s "
                       "(Discord bans the bot's IP for an hour at 10,000 in 10 minutes)",
                       answers_.size(), window_s);
  if (blocked_.count(route)) {
    auto c = by_route_.find(route);
    return fmt::format("Shardline blocked {}: {} answers of 401, 403 or 429 on it in the last {} s (the guard "
                       "against Discord's invalid-request ban); fix the bot's requests on this route",
                       route, c == by_route_.end() ? 0 : c->second, window_s);
  }
  return std::nullopt;
}

double InvalidRequestGuard::retry_after_s(steady::time_point now) const {
  if (answers_.empty()) return 1.0;
  return std::max(1.0, std::chrono::duration<double>(answers_.front().at + window_ - now).count());
}

std::vector<std::string> InvalidRequestGuard::take_alerts() { return std::exchange(alerts_, {}); }

} // namespace shardline::ratelimit
