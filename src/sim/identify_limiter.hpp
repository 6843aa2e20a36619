#pragma once
// Discord's IDENTIFY rules: a shard belongs to bucket `shard_id % max_concurrency`; each
// bucket may start one session per window (5 s); every accepted IDENTIFY spends one unit of
// the daily session_start_limit budget, which refills `reset_after` later. The limiter decides
// and counts; the gateway turns a refusal into INVALID_SESSION.

#include "core/clock.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace shardline::sim {

struct IdentifyLimits {
  std::uint32_t max_concurrency = 1;
  millis window{5000};
  std::uint32_t session_budget = 1000;       // session_start_limit.total
  millis budget_period{24 * 60 * 60 * 1000}; // session_start_limit refill period
};

enum class IdentifyVerdict {
  accepted,
  bucket_busy,      // this bucket already identified within the window
  budget_exhausted, // session_start_limit.remaining is 0
};

const char* to_string(IdentifyVerdict v);

struct SessionStartLimit {
  std::uint32_t total = 0;
  std::uint32_t remaining = 0;
  std::uint64_t reset_after_ms = 0;
  std::uint32_t max_concurrency = 1;
};

class IdentifyLimiter {
public:
  IdentifyLimiter(IdentifyLimits limits, Clock clock);

  std::uint32_t bucket_of(std::uint32_t shard_id) const { return shard_id % limits_.max_concurrency; }
  // Decides on one IDENTIFY from `shard_id` now, and records it: an accepted one takes the
  // bucket's slot and a unit of budget; a refused one costs nothing and counts a violation.
  IdentifyVerdict try_identify(std::uint32_t shard_id);
  // When the bucket of `shard_id` may next identify (now, if it may already).
  steady::time_point bucket_free_at(std::uint32_t shard_id) const;
  SessionStartLimit session_start_limit() const;

  std::uint64_t accepted_total() const { return accepted_total_; }
  const std::vector<std::uint64_t>& accepted_per_bucket() const { return per_bucket_; }
  // Refusals by kind: "identify_bucket", "session_budget".
  const std::map<std::string, std::uint64_t>& violations() const { return violations_; }
  const IdentifyLimits& limits() const { return limits_; }

private:
  void refill(steady::time_point now);

  IdentifyLimits limits_;
  Clock clock_;
  std::vector<steady::time_point> last_in_bucket_; // time_point{}: never identified
  std::vector<std::uint64_t> per_bucket_;
  std::uint64_t accepted_total_ = 0;
  std::uint32_t remaining_;
  steady::time_point period_start_;
  std::map<std::string, std::uint64_t> violations_;
};

} // namespace shardline::sim
