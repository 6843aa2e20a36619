#pragma once
// Discord allows 120 gateway commands per connection per 60 s and disconnects (4008) beyond.
// This limiter keeps a shard under that with room for heartbeats: a sliding log of send
// times, so no 60-second span, however the server aligns its window, holds more than `limit`
// commands; ordinary commands (presence updates, member requests...) may use at most
// `limit - heartbeat_reserve` of them, so a heartbeat never has to wait. Pure, clock-driven.

#include "core/clock.hpp"

#include <cstdint>
#include <deque>

namespace shardline::gateway {

class CommandLimiter {
public:
  // `limit` below Discord's 120 leaves margin for the server seeing two sends closer together
  // than they left. `heartbeat_reserve`: see reserve_for().
  explicit CommandLimiter(Clock clock, std::uint32_t limit = 115, millis window = millis(60'000),
                          std::uint32_t heartbeat_reserve = 5);

  // The reserve a heartbeat interval needs: the heartbeats of one window, plus 2 for answers
  // to the server's own HEARTBEAT requests. E.g. 41,250 ms -> 2 + 2 = 4.
  static std::uint32_t reserve_for(millis heartbeat_interval, millis window = millis(60'000));
  void set_heartbeat_reserve(std::uint32_t reserve);

  // True, and the send is recorded, if a command may go now. Heartbeats may use the whole
  // limit; other commands stop at limit - heartbeat_reserve.
  bool try_acquire(bool heartbeat);
  // When the next command of that kind may go (now or earlier if it may already).
  steady::time_point next_allowed(bool heartbeat) const;
  // Commands recorded within the current window.
  std::uint32_t used() const;
  // Forget everything: a new connection has a new window.
  void reset();

private:
  void expire(steady::time_point now) const;

  Clock clock_;
  std::uint32_t limit_;
  millis window_;
  std::uint32_t reserve_;
  mutable std::deque<steady::time_point> sent_; // send times within the window, oldest first
};

} // namespace shardline::gateway
