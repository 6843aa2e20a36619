#pragma once
// The guard against Discord's invalid-request ban (10,000 answers of 401, 403 or 429 in 10
// minutes ban the bot's IP from the API for an hour). Counts those answers over a sliding
// window, per route and for the bot: a route over its share is blocked until its count falls
// back, and at the bot-wide limit every route is. Each change is announced once, for the log.
// Pure; the coordinator (rest_limit_state.hpp) asks it before every grant.

#include "core/clock.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace shardline::ratelimit {

class InvalidRequestGuard {
public:
  InvalidRequestGuard(std::uint32_t bot_limit, std::uint32_t route_limit, millis window)
      : bot_limit_(bot_limit), route_limit_(route_limit), window_(window) {}

  // One invalid answer on `route` ("PUT /guilds/{guild}/bans/{id}").
  void count(const std::string& route, steady::time_point now);
  // Drops what left the window, and lifts the blocks that no longer hold.
  void slide(steady::time_point now);
  // Why a request on `route` is refused now; nullopt: it may go.
  std::optional<std::string> refusal(const std::string& route) const;
  // When the oldest counted answer leaves the window (at least a second from now).
  double retry_after_s(steady::time_point now) const;

  std::uint32_t in_window() const { return static_cast<std::uint32_t>(answers_.size()); }
  std::vector<std::string> blocked_routes() const { return {blocked_.begin(), blocked_.end()}; }
  // Blocks and lifts since the last call, for the operator's log.
  std::vector<std::string> take_alerts();

private:
  struct Answer {
    steady::time_point at;
    std::string route;
  };
  void forget_oldest();

  std::uint32_t bot_limit_, route_limit_;
  millis window_;
  std::deque<Answer> answers_;
  std::unordered_map<std::string, std::uint32_t> by_route_;
  std::set<std::string> blocked_; // over their share, alerted
  bool bot_blocked_ = false;
  std::vector<std::string> alerts_;
};

} // namespace shardline::ratelimit
