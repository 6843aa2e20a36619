#include "hub/identify_scheduler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace shardline::hub {

namespace {

// Discord announces reset_after in milliseconds, at most a day ahead; a week bounds what a
// peer can make the hub add to its clock without overflowing a time_point.
constexpr std::uint64_t kMaxResetAfterMs = 7ull * 24 * 3600 * 1000;

} // namespace

millis IdentifyScheduler::spacing(std::uint32_t window_ms) {
  return millis(window_ms) + std::max(millis(100), millis(window_ms / 20));
}

IdentifyScheduler::IdentifyScheduler(Clock clock, IdentifySchedulerOptions options)
    : clock_(std::move(clock)), opt_(options) {}

IdentifySubmitResult IdentifyScheduler::submit(std::uint64_t requester, std::string tag, const IdentifyRequest& req) {
  using S = IdentifySubmitResult::Status;
  // Ranges first: a bad request changes nothing, not even the queued one it would replace.
  if (req.shard_count < 1 || req.shard_count > kMaxShardCount)
    return {S::bad_request, fmt::format("shard_count must be 1..{}", kMaxShardCount)};
  if (req.shard_id >= req.shard_count)
    return {S::bad_request, fmt::format("shard_id {} is not below shard_count {}", req.shard_id, req.shard_count)};
  if (req.max_concurrency < 1 || req.max_concurrency > kMaxConcurrency)
    return {S::bad_request, fmt::format("max_concurrency must be 1..{}", kMaxConcurrency)};
  if (req.window_ms < kMinWindowMs || req.window_ms > kMaxWindowMs)
    return {S::bad_request, fmt::format("window_ms must be {}..{}", kMinWindowMs, kMaxWindowMs)};
  if (req.budget) {
    if (req.budget->remaining > req.budget->total)
      return {S::bad_request, "budget.remaining is larger than budget.total"};
    if (req.budget->reset_after_ms > kMaxResetAfterMs)
      return {S::bad_request, fmt::format("budget.reset_after_ms must be at most {}", kMaxResetAfterMs)};
  }

  const Key key{requester, req.shard_id, req.shard_count};
  std::optional<std::uint64_t> keep_seq;
  if (auto it = index_.find(key); it != index_.end()) {
    keep_seq = it->second;
    remove(it->second); // replaced: the old request gets no answer
  } else if (auto n = per_requester_.find(requester);
             n != per_requester_.end() && n->second >= opt_.max_queued_per_requester) {
    return {S::bad_request, fmt::format("{} IDENTIFY requests already queued from this connection",
                                        opt_.max_queued_per_requester)};
  }

  const auto now = clock_();
  refresh_budget(now);
  if (req.budget) merge_budget(*req.budget, now);

  // The newest request carries the bot's current facts (GET /gateway/bot).
  const std::uint32_t old_window = window_ms_;
  window_ms_ = req.window_ms;
  if (max_concurrency_ == 0) {
    max_concurrency_ = req.max_concurrency;
  } else if (req.max_concurrency != max_concurrency_) {
    // Buckets change meaning: which old bucket a new one overlaps is unknowable from here, so
    // every bucket waits a full spacing after the latest grant of any bucket.
    max_concurrency_ = req.max_concurrency;
    if (latest_grant_)
      hold_until_ = std::max(hold_until_, *latest_grant_ + std::max(spacing(old_window), spacing(window_ms_)));
    last_grant_.clear();
    by_bucket_.clear();
    for (auto& [seq, e] : queue_) by_bucket_[bucket_of(e.shard_id)].insert(seq);
  }

  if (remaining_) {
    // Grants already promised to queued requests come out of the budget first.
    const std::uint64_t promised = queue_.size();
    const std::uint64_t left = *remaining_ > promised ? *remaining_ - promised : 0;
    if (left < 1ull + opt_.reserve) {
      ++refused_budget_;
      return {S::refused_budget, budget_message(left, now)};
    }
  }

  const std::uint64_t seq = keep_seq ? *keep_seq : next_seq_++;
  queue_[seq] = Entry{requester, std::move(tag), req.shard_id, req.shard_count};
  index_[key] = seq;
  ++per_requester_[requester];
  by_bucket_[bucket_of(req.shard_id)].insert(seq);
  return {S::accepted, {}};
}

std::vector<IdentifyOutcome> IdentifyScheduler::poll() {
  std::vector<IdentifyOutcome> out;
  if (queue_.empty()) return out;
  const auto now = clock_();
  refresh_budget(now);
  // Ascending bucket order: Discord asks to start buckets in order.
  std::vector<std::uint32_t> buckets;
  for (auto& [b, seqs] : by_bucket_)
    if (!seqs.empty() && due(b) <= now) buckets.push_back(b);
  for (auto b : buckets) {
    for (;;) {
      auto bit = by_bucket_.find(b);
      if (bit == by_bucket_.end() || bit->second.empty()) break;
      const auto seq = *bit->second.begin();
      const Entry& e = queue_.at(seq);
      IdentifyOutcome o;
      o.requester = e.requester;
      o.tag = e.tag;
      o.shard_id = e.shard_id;
      o.shard_count = e.shard_count;
      o.bucket = b;
      if (remaining_ && *remaining_ < 1ull + opt_.reserve) {
        // The budget shrank while this one waited. A refusal spends no slot, so the next
        // request of the bucket is looked at too (and is refused the same way).
        o.kind = IdentifyOutcome::Kind::refused_budget;
        o.message = budget_message(*remaining_, now);
        ++refused_budget_;
        remove(seq);
        out.push_back(std::move(o));
        continue;
      }
      if (remaining_) --*remaining_;
      o.remaining = remaining_;
      last_grant_[b] = now;
      latest_grant_ = now;
      ++granted_;
      remove(seq);
      out.push_back(std::move(o));
      break; // one grant per bucket per spacing
    }
  }
  return out;
}

std::optional<steady::time_point> IdentifyScheduler::next_due() const {
  std::optional<steady::time_point> next;
  for (auto& [b, seqs] : by_bucket_)
    if (!seqs.empty() && (!next || due(b) < *next)) next = due(b);
  return next;
}

std::size_t IdentifyScheduler::drop(std::uint64_t requester) {
  std::vector<std::uint64_t> seqs;
  for (auto it = index_.lower_bound(Key{requester, 0, 0}); it != index_.end() && std::get<0>(it->first) == requester;
       ++it)
    seqs.push_back(it->second);
  for (auto s : seqs) remove(s);
  return seqs.size();
}

IdentifyStats IdentifyScheduler::stats() {
  refresh_budget(clock_());
  return IdentifyStats{granted_, queue_.size(), max_concurrency_, window_ms_, remaining_, refused_budget_};
}

void IdentifyScheduler::refresh_budget(steady::time_point now) {
  if (remaining_ && reset_at_ && now >= *reset_at_) {
    remaining_ = total_;
    reset_at_.reset(); // the next reset time is unknown until a cluster reports again
  }
}

void IdentifyScheduler::merge_budget(const SessionBudget& b, steady::time_point now) {
  // Reports are snapshots taken at different times by different clusters: a higher number
  // than the hub's is an older snapshot (grants since then are not in it), never trusted.
  remaining_ = remaining_ ? std::min(*remaining_, b.remaining) : b.remaining;
  total_ = b.total;
  const auto reset = now + millis(b.reset_after_ms);
  if (!reset_at_ || reset > *reset_at_) reset_at_ = reset;
}

steady::time_point IdentifyScheduler::due(std::uint32_t bucket) const {
  auto t = hold_until_;
  if (auto it = last_grant_.find(bucket); it != last_grant_.end()) t = std::max(t, it->second + spacing(window_ms_));
  return t;
}

void IdentifyScheduler::remove(std::uint64_t seq) {
  auto it = queue_.find(seq);
  if (it == queue_.end()) return;
  const Entry& e = it->second;
  index_.erase(Key{e.requester, e.shard_id, e.shard_count});
  if (auto r = per_requester_.find(e.requester); r != per_requester_.end() && --r->second == 0)
    per_requester_.erase(r);
  if (auto b = by_bucket_.find(bucket_of(e.shard_id)); b != by_bucket_.end()) {
    b->second.erase(seq);
    if (b->second.empty()) by_bucket_.erase(b);
  }
  queue_.erase(it);
}

std::string IdentifyScheduler::budget_message(std::uint64_t left, steady::time_point now) const {
  std::string when = "reset time unknown";
  if (reset_at_) {
    auto ms = std::chrono::duration_cast<millis>(*reset_at_ - now).count();
    when = fmt::format("resets in {} s", ms <= 0 ? 0 : (ms + 999) / 1000);
  }
  return fmt::format("session_start_limit: {} IDENTIFYs left, keeping {} in reserve; {}", left, opt_.reserve, when);
}

} // namespace shardline::hub
