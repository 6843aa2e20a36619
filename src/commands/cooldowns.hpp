#pragma once
// Per-user, per-command cooldowns (10 s by default): a second use within the period is refused
// with the time left. Read through a Clock so tests drive it; bounded in memory.

#include "core/clock.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace shardline::commands {

class Cooldowns {
public:
  Cooldowns(Clock clock, millis period, std::size_t max_entries = 10'000);

  // nullopt: allowed, and this use starts the user's cooldown for the command. Otherwise the
  // time left before the user may use it again.
  std::optional<millis> try_use(std::uint64_t user_id, std::string_view command);

  std::size_t size() const { return until_.size(); }

private:
  void forget_expired(steady::time_point now);

  Clock clock_;
  millis period_;
  std::size_t max_entries_;
  std::map<std::pair<std::uint64_t, std::string>, steady::time_point, std::less<>> until_;
};

} // namespace shardline::commands
