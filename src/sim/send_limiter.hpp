#pragma once
// The gateway's send limit: at most 120 commands per connection per 60 s. A fixed window
// that opens with the first command after the previous one closed, the way Discord documents
// it and the way client libraries (discord.js among them) pace themselves, so a client that
// keeps its own count of 120 per 60 s is never flagged.

#include "core/clock.hpp"

#include <cstdint>

namespace shardline::sim {

class SendLimiter {
public:
  explicit SendLimiter(Clock clock, std::uint32_t limit = 120, millis window = millis(60'000))
      : clock_(std::move(clock)), limit_(limit), window_(window) {}

  // Counts one command; false if it is over the limit (the gateway then closes with 4008).
  bool allow() {
    auto now = clock_();
    if (used_ == 0 || now - window_start_ >= window_) {
      window_start_ = now;
      used_ = 0;
    }
    ++used_;
    return used_ <= limit_;
  }
  std::uint32_t used() const { return used_; }
  std::uint32_t limit() const { return limit_; }

private:
  Clock clock_;
  std::uint32_t limit_;
  millis window_;
  steady::time_point window_start_{};
  std::uint32_t used_ = 0;
};

} // namespace shardline::sim
