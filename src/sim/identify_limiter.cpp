#include "sim/identify_limiter.hpp"

#include <algorithm>

namespace shardline::sim {

const char* to_string(IdentifyVerdict v) {
  switch (v) {
  case IdentifyVerdict::accepted: return "accepted";
  case IdentifyVerdict::bucket_busy: return "identify_bucket";
  case IdentifyVerdict::budget_exhausted: return "session_budget";
  }
  return "?";
}

IdentifyLimiter::IdentifyLimiter(IdentifyLimits limits, Clock clock)
    : limits_(limits), clock_(std::move(clock)) {
  limits_.max_concurrency = std::max<std::uint32_t>(1, limits_.max_concurrency);
  last_in_bucket_.assign(limits_.max_concurrency, steady::time_point{});
  per_bucket_.assign(limits_.max_concurrency, 0);
  remaining_ = limits_.session_budget;
  period_start_ = clock_();
}

void IdentifyLimiter::refill(steady::time_point now) {
  if (limits_.budget_period.count() <= 0) return;
  if (now - period_start_ < limits_.budget_period) return;
  // Whole periods only: the reset time stays on the original schedule however late we look.
  auto periods = (now - period_start_) / limits_.budget_period;
  period_start_ += periods * limits_.budget_period;
  remaining_ = limits_.session_budget;
}

IdentifyVerdict IdentifyLimiter::try_identify(std::uint32_t shard_id) {
  auto now = clock_();
  refill(now);
  auto verdict = IdentifyVerdict::accepted;
  auto b = bucket_of(shard_id);
  if (remaining_ == 0) verdict = IdentifyVerdict::budget_exhausted;
  else if (last_in_bucket_[b] != steady::time_point{} && now - last_in_bucket_[b] < limits_.window)
    verdict = IdentifyVerdict::bucket_busy;
  if (verdict != IdentifyVerdict::accepted) {
    ++violations_[to_string(verdict)];
    return verdict;
  }
  last_in_bucket_[b] = now;
  --remaining_;
  ++per_bucket_[b];
  ++accepted_total_;
  return verdict;
}

steady::time_point IdentifyLimiter::bucket_free_at(std::uint32_t shard_id) const {
  auto now = clock_();
  auto last = last_in_bucket_[bucket_of(shard_id)];
  if (last == steady::time_point{}) return now;
  return std::max(now, last + limits_.window);
}

SessionStartLimit IdentifyLimiter::session_start_limit() const {
  auto now = clock_();
  SessionStartLimit s;
  s.total = limits_.session_budget;
  s.max_concurrency = limits_.max_concurrency;
  // Computed without mutating: a period that has already ended reads as a full budget.
  auto since = now - period_start_;
  if (limits_.budget_period.count() > 0 && since >= limits_.budget_period) {
    s.remaining = limits_.session_budget;
    since = since % limits_.budget_period;
  } else {
    s.remaining = remaining_;
  }
  auto left = limits_.budget_period - std::chrono::duration_cast<millis>(since);
  s.reset_after_ms = static_cast<std::uint64_t>(std::max<millis::rep>(0, left.count()));
  return s;
}

} // namespace shardline::sim
