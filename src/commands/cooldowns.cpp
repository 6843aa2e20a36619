#include "commands/cooldowns.hpp"

namespace shardline::commands {

Cooldowns::Cooldowns(Clock clock, millis period, std::size_t max_entries)
    : clock_(std::move(clock)), period_(period), max_entries_(max_entries) {}

std::optional<millis> Cooldowns::try_use(std::uint64_t user_id, std::string_view command) {
  if (period_.count() <= 0) return std::nullopt;
  const auto now = clock_();
  auto key = std::make_pair(user_id, std::string(command));
  if (auto it = until_.find(key); it != until_.end()) {
    if (now < it->second) {
      auto left = std::chrono::ceil<millis>(it->second - now);
      return left;
    }
    it->second = now + period_;
    return std::nullopt;
  }
  if (until_.size() >= max_entries_) forget_expired(now);
  // Still full of live cooldowns: many users at once. Refusing would punish a user who never
  // used the command; forgetting the oldest lets at most that one use it early.
  if (until_.size() >= max_entries_) {
    auto oldest = until_.begin();
    for (auto it = until_.begin(); it != until_.end(); ++it)
      if (it->second < oldest->second) oldest = it;
    until_.erase(oldest);
  }
  until_.emplace(std::move(key), now + period_);
  return std::nullopt;
}

void Cooldowns::forget_expired(steady::time_point now) {
  for (auto it = until_.begin(); it != until_.end();)
    it = it->second <= now ? until_.erase(it) : std::next(it);
}

} // namespace shardline::commands
